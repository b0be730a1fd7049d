"""The metrics JSON of a thermal result (design contract, ``cryoviz simulate --json``).

Definitions (every figure is defined once, here):

* ``organs.<organ>``: ``volume_ml`` and, volume-weighted over the organ's own voxels, ``fraction_below_0``,
  ``fraction_below_minus20``, ``fraction_below_minus40`` (share whose coldest temperature over the whole
  protocol reached that temperature or colder) and ``min_temp_c`` (the coldest). An organ that lies outside
  the simulated box (the perineal skin, usually) reports the far-field temperature and no cold fraction.
* ``organs.urethra``: the **urethral wall**, the tissue within 1 mm of the catheter surface, sampled below
  the voxel size (:mod:`cryoviz.physics.bands`), not the catheter voxels (which the warmer holds at its
  set-point); ``catheter_temp_c`` is that set-point (``null`` with the warmer off).
* ``organs.rectum_wall``: the rectal wall between its outer surface and the lumen, sampled the same way
  (its coldest point is the outer surface facing the prostate); ``min_distance_to_minus40_mm`` /
  ``..._to_0_mm``: shortest distance from a rectal-wall voxel centre to a voxel that reached −40 °C / 0 °C
  (0 if the wall itself reached it, ``null`` if nothing did).
* ``sensors.<name>.min_temp_c``: coldest temperature at the named sensor's own position (trilinear, from
  the snapshots every 10 s).
* ``isotherms.<T>`` (T = −40, −20, 0 °C): ``volume_ml`` and ``extent_mm`` (bounding box x, y, z) of the
  region at or below T at the snapshot where *that* region is largest, ``at_s`` that time (the first
  snapshot at that volume), and ``ever_ml``
  the volume that reached T at any time.
* ``target``: what the plan meant to treat (:mod:`cryoviz.physics.target`); ``null`` for a phantom.
* ``uncertainty``: per headline figure, how much it moves with the grid (:mod:`cryoviz.physics.uncertainty`).
* ``warnings`` / ``warning_codes``: :mod:`cryoviz.physics.warnings`.
"""

from __future__ import annotations

import math

import numpy as np

from cryoviz.physics.bands import band_points, project_to_level, sample_field
from cryoviz.physics.target import plan_target, target_metrics
from cryoviz.physics.uncertainty import uncertainty_for
from cryoviz.physics.warnings import evaluate_warnings

__all__ = ["ORGAN_LABELS", "THRESHOLDS_C", "URETHRAL_WALL_MM", "compute_metrics"]

#: Metrics organ name -> anatomy label codes.
ORGAN_LABELS: dict[str, tuple[int, ...]] = {
    "prostate": (1,), "urethra": (2,), "rectum_wall": (6,), "sphincter": (3,), "bladder": (4, 5),
    "seminal_vesicles": (8,), "neurovascular_bundles": (9,), "pubic_bone": (10,), "perineum": (),
    "gel": (12,),
}
_SCENE_TO_METRIC = {"rectum": "rectum_wall"}
#: The isotherms reported, °C (order of ``thermal_run.ISOTHERMS_C``).
THRESHOLDS_C = (-40.0, -20.0, 0.0)
#: Thickness of the urethral wall reported as ``organs.urethra``, mm (issue #11: tissue within 1 mm of the
#: catheter surface).
URETHRAL_WALL_MM = 1.0
#: Lattice step of the sub-voxel wall samples, mm (a quarter of the 1 mm default voxel).
WALL_STEP_MM = 0.25
#: Lattice step of the rectal-wall samples, mm (a wall 2-4 mm thick; coarser than the urethral wall's, which
#: is 1 mm thick, to keep the sample count down along the long rectum).
RECTAL_STEP_MM = 0.5
_LABEL_URETHRA, _LABEL_URINE = 2, 5


def _r(x: float | None, nd: int = 2) -> float | None:
    return None if x is None else round(float(x), nd)


def _distance_mm(reached: np.ndarray, target: np.ndarray, spacing_mm: float) -> float | None:
    from scipy.ndimage import distance_transform_edt

    if not reached.any() or not target.any():
        return None
    d = distance_transform_edt(~reached, sampling=spacing_mm)
    return float(d[target].min())


def _cold_figures(values: np.ndarray, volume_ml: float) -> dict:
    """The five organ figures of equally weighted samples ``values`` (°C) of a ``volume_ml`` region."""
    n = values.size
    return {"volume_ml": _r(volume_ml),
            "fraction_below_0": _r((values <= 0).mean() if n else 0.0, 4),
            "fraction_below_minus20": _r((values <= -20).mean() if n else 0.0, 4),
            "fraction_below_minus40": _r((values <= -40).mean() if n else 0.0, 4),
            "min_temp_c": _r(values.min()) if n else None}


def _near(labels: np.ndarray, codes: tuple[int, ...], reach_vox: int) -> np.ndarray:
    from scipy.ndimage import binary_dilation

    m = np.isin(labels, codes)
    return binary_dilation(m, iterations=reach_vox) if m.any() else m


def _urethral_wall(tmin, grid, anatomy, catheter_c: float | None) -> dict | None:
    """Figures of the tissue within ``URETHRAL_WALL_MM`` of the catheter (urethra) surface."""
    if "urethra" not in anatomy.organs:
        return None
    sp = float(grid.spacing_mm)
    reach = math.ceil((URETHRAL_WALL_MM + sp) / sp) + 1
    pts, sd = band_points(anatomy, "urethra", grid, 0.0, URETHRAL_WALL_MM, WALL_STEP_MM,
                          candidates=_near(grid.labels, (_LABEL_URETHRA,), reach))
    if len(pts) == 0:
        return None
    vox = np.rint((pts - grid.origin_mm) / sp).astype(np.int64)
    tissue = grid.labels[vox[:, 0], vox[:, 1], vox[:, 2]] != _LABEL_URINE  # tissue only, not the bladder
    pts, sd = pts[tissue], sd[tissue]
    field = tmin
    if catheter_c is not None:  # the catheter voxels are at the set-point for as long as the warmer runs
        field = np.where(grid.labels == _LABEL_URETHRA, np.float32(catheter_c), tmin)
    vals = sample_field(field, grid, pts)
    out = _cold_figures(vals, len(pts) * WALL_STEP_MM ** 3 / 1000.0)
    # the coldest tissue of the wall is its outer edge (the cold comes from outside): sample the edge itself
    edge = project_to_level(anatomy, "urethra", pts[sd > URETHRAL_WALL_MM - 0.5 * WALL_STEP_MM],
                            URETHRAL_WALL_MM)
    if len(edge):
        out["min_temp_c"] = _r(min(float(vals.min()), float(sample_field(field, grid, edge).min())))
    out["catheter_temp_c"] = None if catheter_c is None else float(catheter_c)
    return out


def _rectal_wall(tmin, grid, anatomy) -> dict | None:
    """Figures of the rectal wall (outer surface to lumen), sub-voxel."""
    lm = anatomy.landmarks
    wall = float(getattr(lm, "rectum_wall_mm", 0.0) or 0.0)
    if "rectum" not in anatomy.organs or wall <= 0:
        return None
    pts, sd = band_points(anatomy, "rectum", grid, -wall, 0.0, RECTAL_STEP_MM,
                          candidates=_near(grid.labels, (ORGAN_LABELS["rectum_wall"][0],), 2))
    if len(pts) == 0:
        return None
    vals = sample_field(tmin, grid, pts)
    out = _cold_figures(vals, len(pts) * RECTAL_STEP_MM ** 3 / 1000.0)
    # its coldest tissue is the outer surface, facing the prostate: sample the surface itself
    edge = project_to_level(anatomy, "rectum", pts[sd > -0.5 * RECTAL_STEP_MM], 0.0)
    if len(edge):
        out["min_temp_c"] = _r(min(float(vals.min()), float(sample_field(tmin, grid, edge).min())))
    return out


def _organs(result, scene, anatomy, tmin, catheter_c) -> dict:
    g = result.grid
    labels, sp = g.labels, float(g.spacing_mm)
    vox_ml = sp ** 3 / 1000.0
    far_c = float(scene.phantom.temp_c) if scene.phantom is not None else 37.0
    names = [_SCENE_TO_METRIC.get(o, o) for o in anatomy.organs]
    for key in ("prostate", "urethra", "rectum_wall"):  # contract order first
        if key in names:
            names.remove(key)
            names.insert(["prostate", "urethra", "rectum_wall"].index(key), key)
    organs: dict[str, dict] = {}
    for name in names:
        codes = ORGAN_LABELS.get(name, ())
        mask = np.isin(labels, codes) if codes else np.zeros(labels.shape, bool)
        entry = _cold_figures(tmin[mask], int(mask.sum()) * vox_ml)
        if entry["min_temp_c"] is None:
            entry["min_temp_c"] = far_c
        if name == "urethra" and hasattr(anatomy, "landmarks"):
            entry = _urethral_wall(tmin, g, anatomy, catheter_c) or entry
        if name == "rectum_wall":
            if hasattr(anatomy, "landmarks"):
                entry = _rectal_wall(tmin, g, anatomy) or entry
            entry["min_distance_to_minus40_mm"] = _r(_distance_mm(tmin <= -40, mask, sp))
            entry["min_distance_to_0_mm"] = _r(_distance_mm(tmin <= 0, mask, sp))
        organs[name] = entry
    return organs


def _isotherms(result, tmin, iso_counts) -> dict:
    g = result.grid
    sp = float(g.spacing_mm)
    vox_ml = sp ** 3 / 1000.0
    temps, times = result.temps_c, np.asarray(result.times_s, float)
    if iso_counts is None:
        iso_counts = np.array([[int(np.count_nonzero(np.asarray(temps[q], np.float32) <= th))
                                for th in THRESHOLDS_C] for q in range(temps.shape[0])])
    out = {}
    for n, th in enumerate(THRESHOLDS_C):
        counts = np.asarray(iso_counts)[:, n]
        q = int(np.argmax(counts))
        entry = {"volume_ml": 0.0, "extent_mm": [0.0, 0.0, 0.0], "at_s": None,
                 "ever_ml": _r(np.count_nonzero(tmin <= th) * vox_ml)}
        if counts[q] > 0:
            m = np.asarray(temps[q], np.float32) <= th
            ext = [float((np.ptp(np.flatnonzero(m.any(axis=tuple(a for a in range(3) if a != ax)))) + 1) * sp)
                   for ax in range(3)]
            entry.update(volume_ml=_r(counts[q] * vox_ml), extent_mm=ext, at_s=float(times[q]))
        out[f"{th:.0f}"] = entry
    return out


def compute_metrics(result, scene, anatomy, steps: int, wall_s: float,
                    iso_counts: np.ndarray | None = None) -> dict:
    """The contract metrics of ``result`` (a :class:`cryoviz.physics.result.ThermalResult`).

    Parameters
    ----------
    result : ThermalResult
    scene : cryoviz.model.scene.Scene
    anatomy : cryoviz.model.anatomy.Anatomy
    steps : int
        Time steps taken (super steps of the solver).
    wall_s : float
        Wall-clock seconds of the run.
    iso_counts : ndarray (nt, 3), optional
        Voxels at or below each of :data:`THRESHOLDS_C` per snapshot, if already counted during the run
        (otherwise counted here from the snapshots).
    """
    g = result.grid
    sp = float(g.spacing_mm)
    tmin = np.asarray(result.min_temp_c, np.float32)
    w = scene.warmer
    warmer_on = bool(w.urethral) and scene.phantom is None
    catheter_c = float(w.urethral_temp_c) if warmer_on else None
    organs = _organs(result, scene, anatomy, tmin, catheter_c)
    sensors = {name: {"min_temp_c": _r(float(np.min(s)))} for name, s in result.sensors.items()}
    out = {
        "scene": str(scene.path), "grid_mm": sp, "grid_shape": [int(n) for n in g.labels.shape],
        "steps": int(steps), "simulated_s": float(scene.protocol.duration_s), "wall_s": _r(wall_s, 3),
        "organs": organs, "isotherms": _isotherms(result, tmin, iso_counts), "sensors": sensors,
    }
    placed = ()
    if getattr(scene, "lesions", ()):  # issue #17: coverage of each known cancer
        from cryoviz.model.lesion_plan import plan_warning_codes
        from cryoviz.model.lesions import resolve_lesions
        from cryoviz.physics.lesion_metrics import lesion_metrics

        placed = resolve_lesions(scene, anatomy)
        out["lesions"] = lesion_metrics(result, placed, plan_codes=plan_warning_codes(scene, anatomy, placed))
    out["target"] = target_metrics(plan_target(scene, g, placed), tmin, sp)
    out["uncertainty"] = uncertainty_for(out)
    out["warning_codes"], out["warnings"] = evaluate_warnings(out, warmer_on)
    if placed:
        from cryoviz.physics.lesion_metrics import lesion_warnings

        codes, sentences = lesion_warnings(out["lesions"])
        out["warning_codes"] += codes
        out["warnings"] += sentences
    return out
