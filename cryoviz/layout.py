"""Probe layouts sized to the gland, probe geometry and temperature-sensor sites.

Coordinates are the patient frame of :mod:`cryoviz.anatomy` (x = patient left, y = posterior, z = superior,
mm). Probes enter through template holes (:mod:`cryoviz.template`) and go straight along +z from the
perineal skin; ``depth_mm`` is measured from the skin to the tip.

The whole-gland layout follows the published pattern (clinical-facts.md §1): 6–8 probes on a ring about
7–9 mm inside the capsule, out of a zone around the urethra and away from the posterior capsule, anterior
probes frozen first (group 1), posterior ones next (group 2). The numeric constants below are meant to be
tuned against the thermal model for coverage.
"""

from __future__ import annotations

import math

import numpy as np

from cryoviz import template
from cryoviz.errors import InputError
from cryoviz.scene import LAYOUT_PRESETS, SENSOR_SITES, Probe, ProbeLayout

__all__ = [
    "DEFAULT_SENSOR_SITES",
    "auto_layout",
    "probe_segment_mm",
    "resolve_probes",
    "resolve_sensors",
    "sensor_site_mm",
]

#: Ring inset from the capsule at mid-gland for a 30 ml gland, mm; scaled with the gland and clipped.
RING_INSET_MM = 8.0
RING_INSET_MIN_MM = 7.0
RING_INSET_MAX_MM = 9.0
#: Tolerance around the ring when choosing template holes, mm.
RING_BAND_MM = 3.0
#: Keep-out radius around the urethra centreline (the warming catheter), mm.
URETHRA_KEEPOUT_MM = 8.0
#: Smallest distance from a probe to the posterior capsule (the rectal side), mm.
POSTERIOR_MARGIN_MM = 5.0
#: Smallest spacing between two probes of one layout, mm (a diagonal template step is 7.1 mm).
MIN_SPACING_MM = 7.0
#: Small glands: (urethra keep-out, capsule margin) tried in turn, mm, until the preset's minimum number of
#: probes fits (the first pair is the rule; later ones still keep the needles well off the catheter).
CONSTRAINT_TIERS_MM = ((URETHRA_KEEPOUT_MM, POSTERIOR_MARGIN_MM), (7.0, 4.0), (6.0, 3.5))
#: Fewest probes per preset before a tier is relaxed.
MIN_PROBES = {"whole_gland": 6, "hemi_left": 3, "hemi_right": 3, "focal": 3}
#: Spacing accepted when a small gland has too few holes at ``MIN_SPACING_MM`` (one template step).
SPACING_MM_SMALL_GLAND = 5.0
#: Ring angles (degrees clockwise from anterior, 90 = patient left) by number of probes.
RING_ANGLES_DEG = {
    8: (30.0, 70.0, 110.0, 150.0, -30.0, -70.0, -110.0, -150.0),
    6: (45.0, 95.0, 145.0, -45.0, -95.0, -145.0),
}
#: Glands at least this big (ml) get 8 probes, smaller ones 6.
EIGHT_PROBES_FROM_ML = 35.0
#: The tip stops this far below the base (so the iceball covers the base), mm ...
TIP_BELOW_BASE_MM = 5.0
#: ... and at least this deep inside the capsule.
TIP_INSIDE_MM = 2.5
#: Hemi-gland ring angles (one side) and focal target (fraction of the half-sizes, left side).
HEMI_ANGLES_DEG = (30.0, 75.0, 120.0, 160.0)
FOCAL_TARGET = (0.45, 0.35)
FOCAL_PROBES = 3
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
        from cryoviz.anatomy import build_anatomy

        anatomy = build_anatomy()
    skin_z = float(anatomy.landmarks.skin_z_mm)
    tip = np.array([probe.x_mm, probe.y_mm, skin_z + probe.depth_mm], dtype=float)
    entry = np.array([probe.x_mm, probe.y_mm, skin_z], dtype=float)
    return tip, entry


def _ring_inset_mm(anatomy) -> float:
    scale = (anatomy.landmarks.prostate_volume_ml / 30.0) ** (1.0 / 3.0)
    return float(np.clip(RING_INSET_MM * scale, RING_INSET_MIN_MM, RING_INSET_MAX_MM))


def _candidates(anatomy, inset_mm: float, keepout_mm: float = URETHRA_KEEPOUT_MM,
                margin_mm: float = POSTERIOR_MARGIN_MM):
    """Valid holes: (names, xy (n, 2), depth to capsule at mid-gland (n,), tip z (n,))."""
    lm = anatomy.landmarks
    names = template.all_holes()
    xy = np.array([template.hole_to_xy_mm(h) for h in names])
    depth = -anatomy.signed_distance("prostate", np.column_stack([xy, np.zeros(len(xy))]))
    keep = depth >= margin_mm
    tips = np.full(len(xy), np.nan)
    for i in np.flatnonzero(keep):
        for z in np.arange(lm.base_z_mm - TIP_BELOW_BASE_MM, lm.apex_z_mm, -1.0):
            p = np.array([[xy[i, 0], xy[i, 1], z]])
            if anatomy.signed_distance("prostate", p)[0] <= -TIP_INSIDE_MM:
                tips[i] = z
                break
    keep &= np.isfinite(tips)
    # out of the urethra zone: the part of the needle inside the gland, level by level
    line = anatomy.urethra_centreline_mm(200)
    order = np.argsort(line[:, 2])
    for i in np.flatnonzero(keep):
        zs = np.linspace(lm.apex_z_mm, tips[i], 30)
        ux = np.interp(zs, line[order, 2], line[order, 0])
        uy = np.interp(zs, line[order, 2], line[order, 1])
        if np.min(np.hypot(xy[i, 0] - ux, xy[i, 1] - uy)) < keepout_mm:
            keep[i] = False
    keep &= np.isfinite(tips)
    idx = np.flatnonzero(keep)
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


def _choose(anatomy, preset: str, names, xy, depth, inset: float) -> list[int]:
    """Indices of the chosen holes among the candidates."""
    lm = anatomy.landmarks
    allowed = np.ones(len(xy), dtype=bool)
    if preset == "whole_gland":
        n = 8 if lm.prostate_volume_ml >= EIGHT_PROBES_FROM_ML else 6
        targets = _ring_targets(anatomy, RING_ANGLES_DEG[n], inset)
        chosen = _pick(xy, depth, targets, inset, allowed)
        if len(chosen) < MIN_PROBES[preset]:  # a small gland: closer spacing rather than too few probes
            chosen = _pick(xy, depth, targets, inset, allowed, chosen, spacing_mm=SPACING_MM_SMALL_GLAND)
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
        ``whole_gland`` (6–8 probes on a ring), ``hemi_left`` / ``hemi_right`` (one side),
        ``focal`` (3 probes on the left posterolateral side).
    kind : str
        Probe kind of :data:`cryoviz.scene.PROBE_KINDS`.
    """
    if preset not in LAYOUT_PRESETS:
        raise InputError.one("layout", "layout.preset", "unknown probe layout", ", ".join(LAYOUT_PRESETS),
                             preset)
    if "prostate" not in anatomy.organs:
        raise InputError.one("layout", "layout.preset", "an automatic layout needs a prostate",
                             "explicit [[probes]] for a phantom", preset)
    lm = anatomy.landmarks
    inset = _ring_inset_mm(anatomy)
    for keepout, margin in CONSTRAINT_TIERS_MM:
        names, xy, depth, tips = _candidates(anatomy, inset, keepout, margin)
        chosen = _choose(anatomy, preset, names, xy, depth, inset)
        if len(chosen) >= MIN_PROBES[preset]:
            break
    y_mid = float(np.median(xy[chosen, 1])) if chosen else 0.0
    probes = []
    for i in sorted(chosen, key=lambda j: (xy[j, 1], xy[j, 0])):
        group = 1 if (xy[i, 1] < y_mid or preset == "focal") else 2
        probes.append(Probe(name=names[i], x_mm=float(xy[i, 0]), y_mm=float(xy[i, 1]),
                            depth_mm=round(float(tips[i] - lm.skin_z_mm), 1), kind=kind, group=group,
                            hole=names[i]))
    return tuple(probes)


def resolve_probes(scene, anatomy) -> tuple[Probe, ...]:
    """The scene's explicit probes, or its automatic layout (``whole_gland`` when it gives neither)."""
    if scene.probes:
        return tuple(scene.probes)
    layout = scene.layout if scene.layout is not None else ProbeLayout()
    return auto_layout(anatomy, layout.preset, layout.kind)


def sensor_site_mm(anatomy, site: str) -> tuple[float, float, float]:
    """Position (mm) of a named sensor site of :data:`cryoviz.scene.SENSOR_SITES`."""
    if site not in SENSOR_SITES:
        raise InputError.one("sensors", "sensors.site", "unknown sensor site", ", ".join(SENSOR_SITES), site)
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
