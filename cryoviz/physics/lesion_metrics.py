"""Did the lethal ice cover each lesion, with its margin? (the ``lesions`` block of the metrics JSON).

Per lesion (design contract, round 2)::

    {"name", "sector", "pirads", "volume_ml", "fraction_below_minus40", "min_temp_c", "warmest_min_temp_c",
     "margin_mm", "margin_target_mm", "covered"}

* ``fraction_below_minus40``: fraction of the lesion's voxels whose coldest temperature over the protocol
  reached −40 °C (the lethal temperature, clinical-facts.md §1) or colder.
* ``min_temp_c``: the coldest temperature any voxel of the lesion reached; ``warmest_min_temp_c``: the
  coldest temperature reached by the lesion's *warmest* voxel (the figure that decides coverage).
* ``margin_mm``: smallest distance from the lesion's surface to the −40 °C front at its largest (the region
  whose coldest temperature reached −40 °C); negative where the front falls inside the lesion (then it is
  how far the deepest unfrozen part of the lesion lies from the lethal ice). ``null`` if nothing reached
  −40 °C. Measured on the voxel grid: the front's distance field (scipy's exact Euclidean distance
  transform, the front placed half a voxel from the last lethal voxel) is interpolated at the lesion's
  voxels and at points on its true surface, so the figure is good to about a quarter of a voxel.
* ``covered``: all of the lesion at or below −40 °C and ``margin_mm`` at least the margin the scene asked
  for (``margin_target_mm``).

:func:`lesion_target_mask` is what a focal or hemi plan with lesions meant to treat: each lesion grown by its
margin, in tissue that can be frozen (not the catheter, rectum, bladder or saline).
"""

from __future__ import annotations

import numpy as np

__all__ = ["LESION_WARNINGS", "LETHAL_C", "lesion_masks", "lesion_metrics", "lesion_target_mask",
           "lesion_warnings", "lethal_depth_mm"]

#: The lethal isotherm, °C (clinical-facts.md §1).
LETHAL_C = -40.0
#: Labels a margin can be frozen into: tissue, prostate, sphincter, seminal vesicles, bundles
#: (codes of :data:`cryoviz.model.anatomy.LABELS`).
_TREATABLE_LABELS = (0, 1, 3, 8, 9)
_LABEL_URETHRA = 2


def _box_slices(ax, box_mm, pad_mm: float) -> list[slice]:
    """Index slices of the grid axes ``ax`` covering ``box_mm`` (xmin, xmax, ...) plus ``pad_mm``."""
    return [slice(int(np.searchsorted(ax[k], box_mm[2 * k] - pad_mm)),
                  int(np.searchsorted(ax[k], box_mm[2 * k + 1] + pad_mm))) for k in range(3)]


def _voxel_points(grid) -> tuple[np.ndarray, ...]:
    return tuple(np.asarray(a, float) for a in grid.axes_mm())


def lesion_masks(grid, placed) -> list[np.ndarray]:
    """Voxel masks (bool, grid shape) of each placed lesion: voxel centres inside its surface.

    Voxels of the urethra's lumen (the warming catheter) are left out; a lesion smaller than a voxel still
    gets the voxel holding its centre.
    """
    ax = _voxel_points(grid)
    sp = float(grid.spacing_mm)
    out = []
    for les in placed:
        r = les.radius_mm if les.mesh is None else None
        if les.mesh is not None:
            b = np.asarray(les.mesh.bounds, float)
        else:
            c = les.centre_mm
            b = np.repeat(c, 2) + np.tile([-r, r], 3)
        sl = _box_slices(ax, b, sp)
        X, Y, Z = np.meshgrid(ax[0][sl[0]], ax[1][sl[1]], ax[2][sl[2]], indexing="ij")
        inside = les.signed_distance(np.column_stack([X.ravel(), Y.ravel(), Z.ravel()])) <= 0.0
        m = np.zeros(grid.labels.shape, bool)
        m[sl[0], sl[1], sl[2]] = inside.reshape(X.shape)
        m &= grid.labels != _LABEL_URETHRA  # the catheter's lumen is never part of a lesion
        if not m.any():
            idx = np.clip(np.round((les.centre_mm - grid.origin_mm) / sp).astype(int), 0,
                          np.array(m.shape) - 1)
            m[tuple(idx)] = True
        out.append(m)
    return out


def lethal_depth_mm(tmin_c: np.ndarray, spacing_mm: float) -> np.ndarray | None:
    """Signed distance to the −40 °C front at its largest, mm: positive inside the lethal ice.

    ``None`` when no voxel reached −40 °C.
    """
    from scipy.ndimage import distance_transform_edt

    lethal = np.asarray(tmin_c) <= LETHAL_C
    if not lethal.any():
        return None
    half = 0.5 * spacing_mm
    inside = distance_transform_edt(lethal, sampling=spacing_mm) - half
    outside = distance_transform_edt(~lethal, sampling=spacing_mm) - half
    return np.where(lethal, inside, -outside).astype(np.float32)


def _at_points(field: np.ndarray, grid, pts_mm: np.ndarray) -> np.ndarray:
    from scipy.ndimage import map_coordinates

    u = (np.asarray(pts_mm, float) - np.asarray(grid.origin_mm, float)) / float(grid.spacing_mm)
    return map_coordinates(field, u.T, order=1, mode="nearest")


def lesion_metrics(result, placed, depth_mm: np.ndarray | None = None,
                   plan_codes: dict[str, list[str]] | None = None) -> list[dict]:
    """The ``lesions`` block of the metrics for a thermal result and the scene's placed lesions.

    Parameters
    ----------
    result : ThermalResult
        Gives ``grid`` and ``min_temp_c`` (°C).
    placed : sequence of cryoviz.model.lesions.PlacedLesion
    depth_mm : ndarray, optional
        :func:`lethal_depth_mm` of the result if already computed.
    plan_codes : dict, optional
        Lesion name -> plan warning codes (:func:`cryoviz.model.lesion_plan.plan_warning_codes`); those of
        a lesion that is not covered become its ``why_not`` (empty when covered or when geometry gives no
        reason).
    """
    grid = result.grid
    sp = float(grid.spacing_mm)
    tmin = np.asarray(result.min_temp_c, np.float32)
    if depth_mm is None:
        depth_mm = lethal_depth_mm(tmin, sp)
    out = []
    for les, m in zip(placed, lesion_masks(grid, placed), strict=True):
        vals = tmin[m]
        frac = float((vals <= LETHAL_C).mean())
        if depth_mm is None:
            margin = None
        else:
            inner = float(depth_mm[m].min())
            surface = float(_at_points(depth_mm, grid, les.surface_points_mm()).min())
            margin = round(min(inner, surface), 1) + 0.0  # never "-0.0"
        covered = bool(frac >= 1.0 and margin is not None and margin >= les.margin_mm - 1e-9)
        out.append({
            "name": les.name, "sector": les.sector, "pirads": les.lesion.pirads,
            "volume_ml": round(float(m.sum()) * sp ** 3 / 1000.0, 2),
            "fraction_below_minus40": round(frac, 4),
            "min_temp_c": round(float(vals.min()), 2), "warmest_min_temp_c": round(float(vals.max()), 2),
            "margin_mm": margin, "margin_target_mm": les.margin_mm, "covered": covered,
            "why_not": [] if covered else list((plan_codes or {}).get(les.name, [])),
        })
    return out


def lesion_target_mask(grid, placed) -> np.ndarray:
    """Voxels a lesion-directed plan meant to kill: every lesion grown by its own margin, in treatable tissue.

    The growth uses the lesion's own signed distance (``<= margin_mm``), so it is exact for balls and
    meshes alike; tissue that cannot or must not be frozen (the warmed catheter, rectum, bladder, saline)
    is left out.
    """
    ax = _voxel_points(grid)
    sp = float(grid.spacing_mm)
    target = np.zeros(grid.labels.shape, bool)
    for les in placed:
        reach = les.radius_mm + les.margin_mm if les.mesh is None else None
        if les.mesh is not None:
            b = np.asarray(les.mesh.bounds, float) + np.array([-1, 1, -1, 1, -1, 1]) * les.margin_mm
        else:
            c = les.centre_mm
            b = np.repeat(c, 2) + np.tile([-reach, reach], 3)
        sl = _box_slices(ax, b, sp)
        X, Y, Z = np.meshgrid(ax[0][sl[0]], ax[1][sl[1]], ax[2][sl[2]], indexing="ij")
        near = les.signed_distance(np.column_stack([X.ravel(), Y.ravel(), Z.ravel()])) <= les.margin_mm
        target[sl[0], sl[1], sl[2]] |= near.reshape(X.shape)
    return target & np.isin(grid.labels, _TREATABLE_LABELS)


#: Lesion warning id -> English sentence (``{name}`` the lesion, ``{figure}`` its own figure). Stable ids.
LESION_WARNINGS: dict[str, str] = {
    "lesion_not_covered": "The lethal ice (-40 °C) did not cover {name} with its {target} mm margin "
                          "({fraction} % of it reached -40 °C; margin {margin}).",
    "lesion_margin_reaches_rectum": "Covering {name} with its full margin would bring ice into the rectal "
                                    "wall: a safe plan holds back on that side.",
    "lesion_margin_reaches_urethra": "{name} lies close to the warmed urethra: the warming catheter keeps "
                                     "the ice from reaching its full margin on that side.",
    "lesion_outside_plan": "{name} lies on the side this half-gland plan does not treat.",
}


def lesion_warnings(lesions: list[dict]) -> tuple[list[str], list[str]]:
    """``(codes, sentences)`` for the lesions block: each code once, its sentence naming the first lesion.

    ``lesion_not_covered`` for every lesion that is not covered, followed by the reasons (``why_not``).
    Figures are rounded toward the less reassuring side (fraction down).
    """
    codes: list[str] = []
    sentences: list[str] = []
    for les in lesions:
        if les["covered"]:
            continue
        margin = "none: nothing reached -40 °C" if les["margin_mm"] is None else f"{les['margin_mm']:.1f} mm"
        figure = {"name": les["name"], "target": f"{les['margin_target_mm']:g}", "margin": margin,
                  "fraction": f"{int(np.floor(100 * les['fraction_below_minus40'] + 1e-9)):d}"}
        for code in ["lesion_not_covered", *les.get("why_not", [])]:
            if code in codes or code not in LESION_WARNINGS:
                continue
            codes.append(code)
            sentences.append(LESION_WARNINGS[code].format(**figure))
    return codes, sentences
