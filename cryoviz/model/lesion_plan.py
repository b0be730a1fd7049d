"""Plans that aim at the cancer: a focal layout around the lesions, and what the plan cannot do safely.

Focal layout (``[layout] preset = "focal"`` with ``[[lesions]]``): for each lesion, needles are added one at
a time (greedy cover) from the template holes the whole-gland rules allow (off the urethra, inside the
capsule, tips clear of the bladder), each time the hole that makes the most of the lesion-plus-margin disc
lethal by a rough rule (:func:`_lethal_estimate`), never one that brings the rectal-wall estimate of
:func:`cryoviz.model.layout.rectal_wall_estimate_c` below ``RECTAL_WALL_MIN_C``; 2 to 5 needles per lesion
(focal plans use about 3–5, clinical-facts.md §1). Tips go as deep as the whole-gland rules allow, lower only
for an apical lesion. All needles freeze together (group 1). The thermal model then says what was covered.

Plan warnings (:func:`plan_warning_codes`), decided from geometry before any simulation:

* ``lesion_margin_reaches_rectum``: freezing the lesion and its margin to −40 °C would put the 0 °C edge of
  the ice (about ``ICE_EDGE_BEYOND_LETHAL_MM`` beyond the −40 °C front) into the rectal wall, so a safe plan
  cannot cover it fully; the thermal result says how far it got.
* ``lesion_margin_reaches_urethra``: the margin reaches within ``URETHRA_WARM_ZONE_MM`` of the urethra,
  which the warming catheter keeps from freezing.
* ``lesion_outside_plan``: a hemi plan on the side that does not hold the lesion.
"""

from __future__ import annotations

import numpy as np

from cryoviz.model import layout as L
from cryoviz.model.probes import PROBE_CATALOGUE
from cryoviz.model.scene import Probe

__all__ = ["focal_lesion_layout", "plan_warning_codes"]

#: How far one 17G needle's lethal (−40 °C) ice reaches in tissue when merged with its neighbours, mm
#: (gel calibration: about 5 mm alone, thermal.py; the layout comments measure ~8 mm in a ring).
NEEDLE_LETHAL_REACH_MM = 4.0
#: A focal needle may sit this close inside the capsule at mid-gland, mm (the whole-gland ring keeps
#: 3.5 mm): the margin of a lesion on the capsule lies outside it, and the rectal-wall estimate still
#: guards the back.
FOCAL_CAPSULE_MARGIN_MM = 1.0
#: ... or within this distance of two needles (merged balls), mm.
MERGED_REACH_MM = 6.0
#: Needles per lesion: at least this many (a single needle's ice is a narrow ball) ...
MIN_FOCAL_PER_LESION = 2
#: ... and at most this many (focal plans use about 3-5 needles, clinical-facts.md section 1).
MAX_FOCAL_PER_LESION = 5
#: The active segment's lower end stops this far below the bottom of lesion + margin, mm.
TIP_BEYOND_TARGET_MM = -2.0
#: The 0 °C edge lies about this far beyond the −40 °C front in the calibrated model (−40 °C at about
#: 5 mm, 0 °C at 12–13 mm around one needle; thermal.py), mm.
ICE_EDGE_BEYOND_LETHAL_MM = 7.0
#: Next to the warming catheter (42 °C) tissue stays above −40 °C for about this far from the urethra's
#: surface: in the focal trials of issue #17 (2 mm grid) the −40 °C front stopped about 2 mm from it, mm.
URETHRA_WARM_ZONE_MM = 2.0


def _clears_urethra(anatomy, x: float, y: float, tip_z: float, active_mm: float, keepout_mm: float) -> bool:
    line = anatomy.urethra_centreline_mm(200)
    if len(line) == 0:
        return True
    order = np.argsort(line[:, 2])
    zs = np.linspace(tip_z - active_mm, tip_z, 26)
    gap = np.hypot(x - np.interp(zs, line[order, 2], line[order, 0]),
                   y - np.interp(zs, line[order, 2], line[order, 1]))
    return bool(np.min(gap) >= keepout_mm)


def _lethal_estimate(d_mm: np.ndarray) -> np.ndarray:
    """Whether points at distances ``d_mm`` (points, needles) from the needles are lethal (a rough guide).

    Lethal within ``NEEDLE_LETHAL_REACH_MM`` of one needle, or within ``MERGED_REACH_MM`` of two (the
    balls merge and deepen between neighbouring needles).
    """
    if d_mm.shape[1] == 0:
        return np.zeros(d_mm.shape[0], bool)
    one = d_mm.min(axis=1) <= NEEDLE_LETHAL_REACH_MM
    two = (np.sort(d_mm, axis=1)[:, 1] <= MERGED_REACH_MM) if d_mm.shape[1] > 1 else np.zeros_like(one)
    return one | two


def _target_points(anatomy, les) -> np.ndarray:
    """Points (n, 2) of the lesion plus its margin seen along the needles (a disc, 1 mm apart).

    Points the warmed catheter keeps from freezing (within the urethra keep-out) and points in the rectum
    are left out: no plan may freeze them.
    """
    reach = les.radius_mm + les.margin_mm
    g = np.arange(-reach, reach + 1e-9, 1.0)
    X, Y = np.meshgrid(g, g, indexing="ij")
    keep = np.hypot(X, Y) <= reach
    pts = les.centre_mm[:2] + np.column_stack([X[keep], Y[keep]])
    z = float(les.centre_mm[2])
    line = anatomy.urethra_centreline_mm(200) if "urethra" in anatomy.organs else np.zeros((0, 3))
    if len(line):
        order = np.argsort(line[:, 2])
        ux, uy = (float(np.interp(z, line[order, 2], line[order, k])) for k in (0, 1))
        pts = pts[np.hypot(pts[:, 0] - ux, pts[:, 1] - uy) >= L.URETHRA_KEEPOUT_MM]
    if "rectum" in anatomy.organs and len(pts):
        p3 = np.column_stack([pts, np.full(len(pts), z)])
        pts = pts[anatomy.signed_distance("rectum", p3) > 0.0]
    return pts


def focal_lesion_layout(anatomy, placed, kind: str = "needle17g_25") -> tuple[Probe, ...]:
    """Needles around each placed lesion (see the module docstring); ``()`` when no hole fits."""
    active_mm = PROBE_CATALOGUE[kind].active_length_mm
    lm = anatomy.landmarks
    for keepout, _margin in L.CONSTRAINT_TIERS_MM:
        names, xy, _depth, tips = L._candidates(anatomy, active_mm, keepout, FOCAL_CAPSULE_MARGIN_MM)
        chosen: list[int] = []
        for les in placed:
            pts = _target_points(anatomy, les)
            mine: list[int] = []
            while len(mine) < MAX_FOCAL_PER_LESION:
                lethal = _lethal_estimate(np.linalg.norm(pts[:, None, :] - xy[None, chosen, :], axis=2))
                if lethal.all() and len(mine) >= MIN_FOCAL_PER_LESION:
                    break
                best, best_gain = None, 0
                for i in range(len(xy)):
                    if np.linalg.norm(xy[i] - les.centre_mm[:2]) > les.radius_mm + les.margin_mm:
                        continue  # a focal needle stays within the lesion-plus-margin disc
                    if i in chosen or any(np.linalg.norm(xy[i] - xy[j]) < L.SPACING_MM_SMALL_GLAND
                                          for j in chosen):
                        continue
                    if L.rectal_wall_estimate_c(anatomy, xy[[*chosen, i]]) < L.RECTAL_WALL_MIN_C:
                        continue
                    d = np.linalg.norm(pts[:, None, :] - xy[None, [*chosen, i], :], axis=2)
                    # gain: newly lethal points; ties go to the hole nearer the lesion centre
                    gain = int(_lethal_estimate(d).sum() - lethal.sum())
                    gain = gain * 1000 - int(np.linalg.norm(xy[i] - les.centre_mm[:2]))
                    if best is None or gain > best_gain:
                        best, best_gain = i, gain
                if best is None or (best_gain < 0 and len(mine) >= MIN_FOCAL_PER_LESION):
                    break
                chosen.append(best)
                mine.append(best)
        if len(chosen) >= MIN_FOCAL_PER_LESION or keepout == L.CONSTRAINT_TIERS_MM[-1][0]:
            break
    bottom = min(float(les.centre_mm[2] - les.radius_mm - les.margin_mm) for les in placed) if placed else 0.0
    probes = []
    for i in sorted(chosen, key=lambda j: (xy[j, 1], xy[j, 0])):
        tip = float(tips[i])
        # an apical lesion: lower the tip until the active segment reaches the bottom of lesion + margin
        lower = bottom + TIP_BEYOND_TARGET_MM + active_mm
        if lower < tip and _clears_urethra(anatomy, xy[i, 0], xy[i, 1], lower, active_mm, keepout):
            tip = lower
        probes.append(Probe(name=names[i], x_mm=float(xy[i, 0]), y_mm=float(xy[i, 1]),
                            depth_mm=float(round(tip - lm.skin_z_mm, 1)), kind=kind, group=1, hole=names[i]))
    return tuple(probes)


def plan_warning_codes(scene, anatomy, placed) -> dict[str, list[str]]:
    """Lesion name -> warning codes of the plan (see the module docstring), from geometry alone."""
    out: dict[str, list[str]] = {}
    preset = scene.layout.preset if (scene.layout is not None and not scene.probes) else None
    for les in placed:
        codes = []
        if "rectum" in anatomy.organs:
            gap = float(np.min(anatomy.signed_distance("rectum", les.surface_points_mm())))
            if gap - les.margin_mm < ICE_EDGE_BEYOND_LETHAL_MM:
                codes.append("lesion_margin_reaches_rectum")
        if "urethra" in anatomy.organs:
            gap = float(np.min(anatomy.signed_distance("urethra", les.surface_points_mm())))
            if gap - les.margin_mm < URETHRA_WARM_ZONE_MM:
                codes.append("lesion_margin_reaches_urethra")
        if preset in ("hemi_left", "hemi_right"):
            side = 1.0 if preset == "hemi_left" else -1.0
            if side * les.centre_mm[0] < 0.0:
                codes.append("lesion_outside_plan")
        out[les.name] = codes
    return out
