"""Probe layouts sized to the gland, probe geometry and temperature-sensor sites.

Coordinates are the patient frame of :mod:`cryoviz.model.anatomy` (x = patient left, y = posterior, z =
superior,
mm). Probes enter through template holes (:mod:`cryoviz.model.template`) and go straight along +z from the
perineal skin; ``depth_mm`` is measured from the skin to the tip.

The whole-gland layout follows the published pattern (clinical-facts.md §1): 6–8 needles (9 in a large
gland) on a ring inside the capsule, the active segments out of a zone around the urethra, the posterior
needles far enough from the rectum, anterior probes frozen first (group 1), posterior ones next (group 2).
The numeric constants below were tuned against the thermal model (figures beside them).
"""

from __future__ import annotations

import math

import numpy as np

from cryoviz.core.errors import InputError
from cryoviz.model import template
from cryoviz.model.probes import PROBE_CATALOGUE
from cryoviz.model.scene import LAYOUT_PRESETS, SENSOR_SITES, Probe, ProbeLayout

__all__ = [
    "DEFAULT_SENSOR_SITES",
    "auto_layout",
    "probe_segment_mm",
    "rectal_wall_estimate_c",
    "resolve_probes",
    "resolve_sensors",
    "sensor_site_mm",
]

#: Ring inset from the capsule at mid-gland for a 30 ml gland, mm; scaled with the gland and clipped
#: (hemi-gland and focal layouts aim at it; the whole-gland layout prefers holes this deep, see below).
RING_INSET_MM = 8.0
RING_INSET_MIN_MM = 7.0
RING_INSET_MAX_MM = 9.0
#: Tolerance around the ring when choosing template holes, mm.
RING_BAND_MM = 3.0
#: Keep-out radius around the urethra centreline (the warming catheter, radius 3 mm), mm. It applies along
#: the probe's *active* (freezing) segment only: the insulated shaft does not freeze. The urethra bends
#: forward toward the bladder neck, so an anterior needle's tip is pulled back until its active segment
#: clears this radius (E6/G6 of a 30 ml gland: tip 13.5 mm above mid-gland instead of 16 mm; the lining
#: stays at 37 °C with the warmer on in the thermal model, and the bladder neck above +6 °C).
URETHRA_KEEPOUT_MM = 5.5
#: Smallest distance from a probe to the capsule at mid-gland, mm (C3/I3 of a 30 ml gland sit 3.9 mm inside).
POSTERIOR_MARGIN_MM = 3.5
#: Smallest spacing between two probes of one layout, mm (a diagonal template step is 7.1 mm).
MIN_SPACING_MM = 7.0
#: Small glands: (urethra keep-out, capsule margin) tried in turn, mm, until the preset's minimum number of
#: probes fits (the first pair is the rule; later ones still keep the needles off the catheter).
CONSTRAINT_TIERS_MM = ((URETHRA_KEEPOUT_MM, POSTERIOR_MARGIN_MM), (URETHRA_KEEPOUT_MM, 2.5),
                       (5.0, 2.5))
#: Fewest probes per preset before a tier is relaxed.
MIN_PROBES = {"whole_gland": 6, "hemi_left": 3, "hemi_right": 3, "focal": 3}
#: Spacing accepted when a small gland has too few holes at ``MIN_SPACING_MM`` (one template step).
SPACING_MM_SMALL_GLAND = 5.0
#: The tip stops this far below the base (so the iceball covers the base), mm ...
TIP_BELOW_BASE_MM = 5.0
#: ... and at least this deep inside the capsule (the needle is advanced up to the base capsule; 2.5 mm
#: left the base-lateral corners 1-2 % less frozen) ...
TIP_INSIDE_MM = 1.0
#: ... and at least this far from the bladder, mm (tips 6.8-7.5 mm away froze the bladder neck of the
#: 24.5 ml post-radiation hemi scene to -3 °C; the default gland's tips are 8.3 mm or more away) ...
TIP_BLADDER_CLEARANCE_MM = 8.0
#: ... and no lower than this fraction of the gland length above the apex (a needle whose active segment
#: can only clear the urethra lower down is not used).
TIP_LOWEST_FRACTION = 0.55
#: Hemi-gland ring angles (one side) and focal target (fraction of the half-sizes, left side).
HEMI_ANGLES_DEG = (30.0, 75.0, 120.0, 160.0)
FOCAL_TARGET = (0.45, 0.35)
FOCAL_PROBES = 3

# Whole gland: a ring of needles just inside the capsule, with an odd count so that one needle sits on the
# midline behind the urethra and a pair sits in front of it. Ring points lie WHOLE_GLAND_INSET_MM inside the
# capsule at mid-gland along rays at WHOLE_GLAND_ANGLES_DEG (clockwise from anterior, 90 = patient left);
# each takes the nearest free hole (posterior midline first, then front to back) that keeps the rectal-wall
# estimate below warm enough. Needles in front of the gland centre freeze first (group 1).
# Chosen against the thermal model (default scene, 10 + 10 min double freeze): on the 30 ml gland this
# gives E6/G6 in front of the urethra, C5/I5 and C3/I3 at the sides and F3 behind the urethra; 0.76 of the
# gland at -40 °C with the rectal wall at +6 °C on the 2 mm grid (1 mm grid: 0.74, +14 °C). The old
# 6-needle ring 8 mm inside had no needle in front of y = -5 mm and froze 0.60. Rings with the
# posterolateral pair deeper inside (D3/H3 or D4/H4) froze 0.68-0.72 or froze the rectal wall: one 17G
# needle's lethal core is only about 8 mm in radius, so the ring sits about 5 mm inside the capsule to put
# the -40 °C edge near the capsule (the published 7-9 mm hull is for larger probes). An apical pair of
# shallower needles reached 0.85 but froze the sphincter or the rectal wall, so depths are not staggered.
WHOLE_GLAND_INSET_MM = 5.0
WHOLE_GLAND_ANGLES_DEG = (180.0, 25.0, -25.0, 75.0, -75.0, 115.0, -115.0)
#: Glands at least this big (ml) get a ring of nine.
LARGE_GLAND_ML = 50.0
WHOLE_GLAND_ANGLES_LARGE_DEG = (180.0, 20.0, -20.0, 60.0, -60.0, 95.0, -95.0, 135.0, -135.0)
# Rectal wall estimate: each needle cools the nearest rectal wall (outer surface, mid-gland) by
# RECTAL_COOLING_C * exp(-(d - RECTAL_COOLING_AT_MM) / RECTAL_COOLING_DECAY_MM) at distance d (xy), summed
# over needles from 37 °C. Fitted to ten layouts on the default anatomy in the thermal model at 2 mm (the
# 1 mm grid leaves the wall warmer): one needle 14 mm from the wall took it from 37 to ~11 °C, a pair at
# 15 mm to about -2 °C, a pair at 17.4 mm cost ~9 °C each and a pair at 20.7 mm ~3 °C each.
RECTAL_COOLING_C = 26.0
RECTAL_COOLING_AT_MM = 14.2
RECTAL_COOLING_DECAY_MM = 3.0
#: The layout keeps this estimate of the coldest rectal wall temperature at or above this, °C.
RECTAL_WALL_MIN_C = 3.0
#: Sensor sites used when a scene lists none.
DEFAULT_SENSOR_SITES = ("rectal_wall", "apex", "sphincter")


def probe_segment_mm(probe: Probe, anatomy=None, kind=None) -> tuple[np.ndarray, np.ndarray]:
    """Tip and skin-entry points (mm) of a straight probe going along +z from the perineal skin.

    Parameters
    ----------
    probe : Probe
    anatomy : Anatomy, optional
        Gives ``landmarks.skin_z_mm``; default the default anatomy.
    kind : ProbeKind, optional
        Unused for straight probes (kept for probes that may bend).
    """
    if anatomy is None:
        from cryoviz.model.anatomy import build_anatomy

        anatomy = build_anatomy()
    skin_z = float(anatomy.landmarks.skin_z_mm)
    tip = np.array([probe.x_mm, probe.y_mm, skin_z + probe.depth_mm], dtype=float)
    entry = np.array([probe.x_mm, probe.y_mm, skin_z], dtype=float)
    return tip, entry


def _ring_inset_mm(anatomy) -> float:
    scale = (anatomy.landmarks.prostate_volume_ml / 30.0) ** (1.0 / 3.0)
    return float(np.clip(RING_INSET_MM * scale, RING_INSET_MIN_MM, RING_INSET_MAX_MM))


def _candidates(anatomy, active_mm: float, keepout_mm: float = URETHRA_KEEPOUT_MM,
                margin_mm: float = POSTERIOR_MARGIN_MM):
    """Valid holes: (names, xy (n, 2), depth to capsule at mid-gland (n,), tip z (n,)).

    A hole is valid when it lies ``margin_mm`` inside the capsule at mid-gland and a tip exists, at most
    ``TIP_BELOW_BASE_MM`` below the base and no lower than ``TIP_LOWEST_FRACTION`` of the gland, that is
    ``TIP_INSIDE_MM`` inside the capsule and ``TIP_BLADDER_CLEARANCE_MM`` off the bladder, with the whole
    active segment ``keepout_mm`` off the urethra centreline. The deepest such tip is kept.
    """
    lm = anatomy.landmarks
    names = template.all_holes()
    xy = np.array([template.hole_to_xy_mm(h) for h in names])
    depth = -anatomy.signed_distance("prostate", np.column_stack([xy, np.zeros(len(xy))]))
    line = anatomy.urethra_centreline_mm(200)
    order = np.argsort(line[:, 2])
    lz, lx, ly = line[order, 2], line[order, 0], line[order, 1]
    lowest = lm.apex_z_mm + TIP_LOWEST_FRACTION * (lm.base_z_mm - lm.apex_z_mm)
    tips = np.full(len(xy), np.nan)
    for i in np.flatnonzero(depth >= margin_mm):
        for z in np.arange(lm.base_z_mm - TIP_BELOW_BASE_MM, lowest - 1e-9, -0.5):
            tip = np.array([[xy[i, 0], xy[i, 1], z]])
            if anatomy.signed_distance("prostate", tip)[0] > -TIP_INSIDE_MM:
                continue
            near_bladder = "bladder" in anatomy.organs and (
                anatomy.signed_distance("bladder", tip)[0] < TIP_BLADDER_CLEARANCE_MM)
            if near_bladder:
                continue
            zs = np.linspace(z - active_mm, z, 26)
            gap = np.hypot(xy[i, 0] - np.interp(zs, lz, lx), xy[i, 1] - np.interp(zs, lz, ly))
            if np.min(gap) >= keepout_mm:
                tips[i] = z
                break
    idx = np.flatnonzero(np.isfinite(tips))
    return [names[i] for i in idx], xy[idx], depth[idx], tips[idx]


def _pick(xy, depth, targets_xy, inset_mm: float, allowed: np.ndarray, chosen=None,
          spacing_mm: float = MIN_SPACING_MM) -> list[int]:
    """For each target, the nearest allowed hole (preferring the ring depth) not too close to the others."""
    chosen = list(chosen or [])
    for t in targets_xy:
        cost = np.linalg.norm(xy - t, axis=1) + 0.5 * np.abs(depth - inset_mm)
        for i in np.argsort(cost, kind="stable"):
            if not allowed[i] or i in chosen:
                continue
            if all(np.linalg.norm(xy[i] - xy[j]) >= spacing_mm for j in chosen):
                chosen.append(int(i))
                break
    return chosen


def _pick_ring(anatomy, xy, depth, angles_deg, spacing_mm: float) -> list[int]:
    """Whole-gland ring: per angle the nearest hole to its ring point, mirrored for +/- angle pairs.

    A midline angle (0 or 180) takes a midline hole; a pair of angles takes a hole and its mirror image.
    Holes closer than ``spacing_mm`` to a chosen one, or that would bring :func:`rectal_wall_estimate_c`
    below ``RECTAL_WALL_MIN_C``, are passed over.
    """
    chosen: list[int] = []
    done = set()
    for ang in angles_deg:
        if abs(ang) in done:
            continue
        done.add(abs(ang))
        (t,) = _ring_targets(anatomy, [abs(ang)], WHOLE_GLAND_INSET_MM)
        cost = np.linalg.norm(xy - t, axis=1) + 0.5 * np.abs(depth - WHOLE_GLAND_INSET_MM)
        midline = abs(math.sin(math.radians(ang))) < 1e-6
        for i in np.argsort(cost, kind="stable"):
            if i in chosen or (abs(xy[i, 0]) < 1e-6) != midline:
                continue
            move = [int(i)]
            if not midline:
                twin = np.flatnonzero((np.abs(xy[:, 0] + xy[i, 0]) < 1e-6)
                                      & (np.abs(xy[:, 1] - xy[i, 1]) < 1e-6))
                if len(twin) == 0 or abs(xy[i, 0]) * 2.0 < spacing_mm:
                    continue
                move.append(int(twin[0]))
            if any(np.linalg.norm(xy[m] - xy[j]) < spacing_mm for m in move for j in chosen):
                continue
            if rectal_wall_estimate_c(anatomy, xy[chosen + move]) < RECTAL_WALL_MIN_C:
                continue
            chosen.extend(move)
            break
    return chosen


def _ring_targets(anatomy, angles_deg, inset_mm: float) -> np.ndarray:
    """Points ``inset_mm`` inside the capsule at mid-gland along rays from the gland centre."""
    out = []
    for ang in angles_deg:
        d = np.array([math.sin(math.radians(ang)), -math.cos(math.radians(ang))])
        r = np.linspace(0.0, 60.0, 601)
        pts = np.column_stack([r * d[0], r * d[1], np.zeros_like(r)])
        sd = anatomy.signed_distance("prostate", pts)
        inside = np.flatnonzero(sd <= -inset_mm)
        k = inside[-1] if len(inside) else 0
        out.append(pts[k, :2])
    return np.array(out)


def rectal_wall_estimate_c(anatomy, xy_mm) -> float:
    """Rough coldest rectal-wall temperature (°C) that needles at ``xy_mm`` (n, 2) would cause.

    The sum of one exponential cooling term per needle (the ``RECTAL_COOLING_*`` constants, fitted to the
    thermal model) at the worst point of the rectum's outer surface facing the gland. Only a guard for the
    automatic layout; the thermal model gives the real figure.
    """
    lm = anatomy.landmarks
    xy = np.asarray(xy_mm, dtype=float).reshape(-1, 2)
    if len(xy) == 0 or "rectum" not in anatomy.organs:
        return 37.0
    phi = np.radians(np.arange(-60.0, 60.1, 5.0))
    wall = np.column_stack([lm.rectum_axis_x_mm + lm.rectum_outer_radius_mm * np.sin(phi),
                            lm.rectum_axis_y_mm - lm.rectum_outer_radius_mm * np.cos(phi)])
    d = np.linalg.norm(wall[:, None, :] - xy[None, :, :], axis=2)
    cooling = RECTAL_COOLING_C * np.exp(-(d - RECTAL_COOLING_AT_MM) / RECTAL_COOLING_DECAY_MM)
    return float(37.0 - cooling.sum(axis=1).max())


def _choose(anatomy, preset: str, xy, depth, inset: float) -> list[int]:
    """Indices of the chosen holes among the candidates."""
    lm = anatomy.landmarks
    if preset == "whole_gland":
        big = lm.prostate_volume_ml >= LARGE_GLAND_ML
        angles = WHOLE_GLAND_ANGLES_LARGE_DEG if big else WHOLE_GLAND_ANGLES_DEG
        chosen = _pick_ring(anatomy, xy, depth, angles, MIN_SPACING_MM)
        if len(chosen) < MIN_PROBES[preset]:  # a small gland: closer spacing rather than too few probes
            chosen = _pick_ring(anatomy, xy, depth, angles, SPACING_MM_SMALL_GLAND)
    elif preset in ("hemi_left", "hemi_right"):
        sign = 1.0 if preset == "hemi_left" else -1.0
        allowed = sign * xy[:, 0] > 0.0
        targets = _ring_targets(anatomy, [sign * a for a in HEMI_ANGLES_DEG], inset)
        chosen = _pick(xy, depth, targets, inset, allowed)
        if len(chosen) < MIN_PROBES[preset]:
            chosen = _pick(xy, depth, targets, inset, allowed, chosen, spacing_mm=SPACING_MM_SMALL_GLAND)
    else:
        allowed = xy[:, 0] > 0.0
        c = np.array([FOCAL_TARGET[0] * lm.prostate_half_width_mm,
                      FOCAL_TARGET[1] * lm.prostate_half_ap_posterior_mm])
        targets = np.repeat(c[None, :], FOCAL_PROBES, axis=0)
        chosen = _pick(xy, depth, targets, inset, allowed)
        if len(chosen) < FOCAL_PROBES:
            chosen = _pick(xy, depth, targets, inset, allowed, chosen, spacing_mm=SPACING_MM_SMALL_GLAND)
    return chosen


def auto_layout(anatomy, preset: str = "whole_gland", kind: str = "needle17g_25") -> tuple[Probe, ...]:
    """Probes on template holes sized to this gland.

    Parameters
    ----------
    anatomy : Anatomy
    preset : str
        ``whole_gland`` (6–8 needles packed into the gland, up to 10 in a large one), ``hemi_left`` /
        ``hemi_right`` (one side), ``focal`` (3 probes on the left posterolateral side).
    kind : str
        Probe kind of :data:`cryoviz.model.scene.PROBE_KINDS`.
    """
    if preset not in LAYOUT_PRESETS:
        raise InputError.one("layout", "layout.preset", "unknown probe layout", ", ".join(LAYOUT_PRESETS),
                             preset)
    if "prostate" not in anatomy.organs:
        raise InputError.one("layout", "layout.preset", "an automatic layout needs a prostate",
                             "explicit [[probes]] for a phantom", preset)
    if kind not in PROBE_CATALOGUE:
        raise InputError.one("layout", "layout.kind", "unknown probe kind", ", ".join(PROBE_CATALOGUE), kind)
    lm = anatomy.landmarks
    inset = _ring_inset_mm(anatomy)
    active_mm = PROBE_CATALOGUE[kind].active_length_mm
    for keepout, margin in CONSTRAINT_TIERS_MM:
        names, xy, depth, tips = _candidates(anatomy, active_mm, keepout, margin)
        chosen = _choose(anatomy, preset, xy, depth, inset)
        if len(chosen) >= MIN_PROBES[preset]:
            break
    # anterior probes freeze first: those in front of the gland centre (whole gland) or of the median
    y_mid = 0.0 if preset == "whole_gland" else (float(np.median(xy[chosen, 1])) if chosen else 0.0)
    probes = []
    for i in sorted(chosen, key=lambda j: (xy[j, 1], xy[j, 0])):
        group = 1 if (xy[i, 1] < y_mid or preset == "focal") else 2
        probes.append(Probe(name=names[i], x_mm=float(xy[i, 0]), y_mm=float(xy[i, 1]),
                            depth_mm=round(float(tips[i] - lm.skin_z_mm), 1), kind=kind, group=group,
                            hole=names[i]))
    return tuple(probes)


def resolve_probes(scene, anatomy) -> tuple[Probe, ...]:
    """The scene's explicit probes, or its automatic layout (``whole_gland`` when it gives neither).

    A ``focal`` layout in a scene with lesions is placed around them
    (:func:`cryoviz.model.lesion_plan.focal_lesion_layout`).
    """
    if scene.probes:
        return tuple(scene.probes)
    layout = scene.layout if scene.layout is not None else ProbeLayout()
    if layout.preset == "focal" and getattr(scene, "lesions", ()):  # aim at the cancer (issue #17)
        from cryoviz.model.lesion_plan import focal_lesion_layout
        from cryoviz.model.lesions import resolve_lesions

        probes = focal_lesion_layout(anatomy, resolve_lesions(scene, anatomy), layout.kind)
        if probes:
            return probes
    return auto_layout(anatomy, layout.preset, layout.kind)


def sensor_site_mm(anatomy, site: str) -> tuple[float, float, float]:
    """Position (mm) of a named sensor site of :data:`cryoviz.model.scene.SENSOR_SITES`."""
    if site not in SENSOR_SITES:
        raise InputError.one("sensors", "sensors.site", "unknown sensor site", ", ".join(SENSOR_SITES), site)
    measured = anatomy.patient_site_mm(site) if hasattr(anatomy, "patient_site_mm") else None
    if measured is not None:  # on the patient's own surfaces (cryoviz.model.fitted)
        return tuple(float(v) for v in measured)
    lm = anatomy.landmarks
    if site == "rectal_wall":  # anterior rectal wall, facing the prostate (Denonvilliers' side), mid-gland
        p = (lm.rectum_axis_x_mm, lm.rectum_axis_y_mm - lm.rectum_outer_radius_mm, 0.0)
    elif site == "apex":  # just inside the apex, behind the urethra
        ax, ay, az = lm.apex_urethra_mm
        p = (ax, ay + lm.urethra_radius_mm + 1.5, az + 3.0)
    elif site == "sphincter":  # in the muscle ring, posterior side, near its top
        ax, ay, _ = lm.apex_urethra_mm
        p = (ax, ay + 5.0, lm.sphincter_z_mm[1] - 2.0)
    else:  # on the capsule at mid-gland, 3 o'clock (left) or 9 o'clock (right)
        sign = 1.0 if site == "capsule_left" else -1.0
        r = np.linspace(0.0, 80.0, 1601)
        pts = np.column_stack([sign * r, np.zeros_like(r), np.zeros_like(r)])
        sd = anatomy.signed_distance("prostate", pts)
        k = int(np.flatnonzero(sd <= 0.0)[-1])
        p = (float(pts[k, 0]), 0.0, 0.0)
    return tuple(float(v) for v in p)


def resolve_sensors(scene, anatomy) -> dict[str, tuple[float, float, float]]:
    """Sensor name -> position (mm): the scene's sensors, or ``rectal_wall``, ``apex`` and ``sphincter``."""
    has_body = "prostate" in anatomy.organs
    if not scene.sensors:
        return {s: sensor_site_mm(anatomy, s) for s in DEFAULT_SENSOR_SITES} if has_body else {}
    out = {}
    for i, s in enumerate(scene.sensors, start=1):
        if s.position_mm is not None:
            out[s.name] = tuple(float(v) for v in s.position_mm)
        elif has_body:
            out[s.name] = sensor_site_mm(anatomy, s.site)
        else:
            raise InputError.one(scene.path, f"sensors[{i}].site", "a phantom has no anatomical sites",
                                 "position_mm = [x, y, z]", s.site)
    return out
