"""The metrics JSON of a thermal result (design contract, ``cryoviz simulate --json``).

Definitions:

* ``fraction_below_X``: fraction of the organ's voxels whose coldest temperature over the whole protocol
  reached X °C or colder.
* ``min_temp_c``: coldest temperature any voxel of the organ reached. The urethra is its lumen and lining
  (the voxels labelled ``urethra``): with the warming catheter on they touch the warm catheter and are held
  at its temperature; with it off they are ordinary tissue and freeze when the ice reaches them. An organ
  that lies outside the simulated box (the perineal skin, usually) reports the far-field temperature, at
  which the faces of the box are held.
* ``rectum_wall.min_distance_to_minus40_mm`` / ``..._to_0_mm``: shortest distance from a rectal-wall voxel
  centre to a voxel that reached −40 °C / 0 °C (0 if the wall itself reached it, ``null`` if nothing did).
* ``isotherms``: volume and bounding-box extent (x, y, z) of the ≤ −40, ≤ −20 and ≤ 0 °C regions at the
  snapshot with the largest iceball (most voxels at or below 0 °C).
* ``warnings``: plain sentences for a patient-facing summary.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ORGAN_LABELS", "compute_metrics", "warnings_for"]

#: Metrics organ name -> anatomy label codes.
ORGAN_LABELS: dict[str, tuple[int, ...]] = {
    "prostate": (1,), "urethra": (2,), "rectum_wall": (6,), "sphincter": (3,), "bladder": (4, 5),
    "seminal_vesicles": (8,), "neurovascular_bundles": (9,), "pubic_bone": (10,), "perineum": (),
    "gel": (12,),
}
_SCENE_TO_METRIC = {"rectum": "rectum_wall"}
THRESHOLDS_C = (-40.0, -20.0, 0.0)


def _r(x: float | None, nd: int = 2) -> float | None:
    return None if x is None else round(float(x), nd)


def _distance_mm(reached: np.ndarray, target: np.ndarray, spacing_mm: float) -> float | None:
    from scipy.ndimage import distance_transform_edt

    if not reached.any() or not target.any():
        return None
    d = distance_transform_edt(~reached, sampling=spacing_mm)
    return float(d[target].min())


def _largest_iceball(temps_c: np.ndarray) -> int:
    counts = [int(np.count_nonzero(np.asarray(temps_c[q]) <= 0.0)) for q in range(temps_c.shape[0])]
    return int(np.argmax(counts))


def warnings_for(organs: dict, urethral_warmer_on: bool) -> list[str]:
    """Plain-language warnings from the ``organs`` block of the metrics."""
    out = []
    rw = organs.get("rectum_wall")
    if rw is not None and rw["min_temp_c"] <= 0.0:
        out.append(f"The rectal wall reached {rw['min_temp_c']:.0f} °C: the ice touched the rectum.")
    elif rw is not None and rw["min_temp_c"] <= 10.0:
        out.append(f"The rectal wall cooled to {rw['min_temp_c']:.0f} °C: the ice came close to the rectum.")
    ur = organs.get("urethra")
    if ur is not None and ur["min_temp_c"] <= 0.0:
        if urethral_warmer_on:
            out.append(f"The lining of the urethra reached {ur['min_temp_c']:.0f} °C even with the warming "
                       "catheter on.")
        else:
            out.append(f"The urethra reached {ur['min_temp_c']:.0f} °C with the warming catheter off: "
                       "the ice reached the urethra.")
    sp = organs.get("sphincter")
    if sp is not None and sp["min_temp_c"] <= 0.0:
        out.append(f"The urinary sphincter muscle reached {sp['min_temp_c']:.0f} °C: ice there can make "
                   "leaking urine more likely.")
    pr = organs.get("prostate")
    if pr is not None and pr["fraction_below_minus40"] < 0.5:
        out.append(f"Only {100 * pr['fraction_below_minus40']:.0f} % of the prostate reached -40 °C, "
                   "the temperature that reliably destroys tissue.")
    return out


def compute_metrics(result, scene, anatomy, steps: int, wall_s: float,
                    iceball_index: int | None = None) -> dict:
    """The contract metrics of ``result`` (a :class:`cryoviz.physics.thermal.ThermalResult`).

    Parameters
    ----------
    result : ThermalResult
    scene : cryoviz.model.scene.Scene
    anatomy : cryoviz.model.anatomy.Anatomy
    steps : int
        Time steps taken (super steps of the solver).
    wall_s : float
        Wall-clock seconds of the run.
    iceball_index : int, optional
        Snapshot with the largest iceball if already known (else found from the snapshots).
    """
    g = result.grid
    labels = g.labels
    sp = float(g.spacing_mm)
    vox_ml = sp ** 3 / 1000.0
    tmin = np.asarray(result.min_temp_c, np.float32)
    far_c = float(scene.phantom.temp_c) if scene.phantom is not None else 37.0
    organs: dict[str, dict] = {}
    names = [_SCENE_TO_METRIC.get(o, o) for o in anatomy.organs]
    for key in ("prostate", "urethra", "rectum_wall"):  # contract order first
        if key in names:
            names.remove(key)
            names.insert(["prostate", "urethra", "rectum_wall"].index(key), key)
    for name in names:
        codes = ORGAN_LABELS.get(name, ())
        mask = np.isin(labels, codes) if codes else np.zeros(labels.shape, bool)
        entry: dict = {"min_temp_c": _r(tmin[mask].min()) if mask.any() else far_c}
        if name == "prostate":
            n = int(mask.sum())
            vals = tmin[mask]
            entry = {"volume_ml": _r(n * vox_ml),
                     "fraction_below_minus40": _r((vals <= -40).mean() if n else 0.0, 4),
                     "fraction_below_minus20": _r((vals <= -20).mean() if n else 0.0, 4),
                     "fraction_below_0": _r((vals <= 0).mean() if n else 0.0, 4),
                     "min_temp_c": entry["min_temp_c"]}
        if name == "rectum_wall":
            entry["min_distance_to_minus40_mm"] = _r(_distance_mm(tmin <= -40, mask, sp))
            entry["min_distance_to_0_mm"] = _r(_distance_mm(tmin <= 0, mask, sp))
        organs[name] = entry

    q = _largest_iceball(result.temps_c) if iceball_index is None else int(iceball_index)
    snap = np.asarray(result.temps_c[q], np.float32)
    isotherms = {}
    for th in THRESHOLDS_C:
        m = snap <= th
        if m.any():
            ext = [float((np.ptp(np.flatnonzero(m.any(axis=tuple(a for a in range(3) if a != ax)))) + 1) * sp)
                   for ax in range(3)]
            isotherms[f"{th:.0f}"] = {"volume_ml": _r(m.sum() * vox_ml), "extent_mm": ext}
        else:
            isotherms[f"{th:.0f}"] = {"volume_ml": 0.0, "extent_mm": [0.0, 0.0, 0.0]}

    sensors = {name: {"min_temp_c": _r(float(np.min(s)))} for name, s in result.sensors.items()}
    out = {
        "scene": str(scene.path), "grid_mm": sp, "grid_shape": [int(n) for n in labels.shape],
        "steps": int(steps), "simulated_s": float(scene.protocol.duration_s), "wall_s": _r(wall_s, 3),
        "organs": organs, "isotherms": isotherms, "sensors": sensors,
        "warnings": warnings_for(organs, bool(scene.warmer.urethral) and scene.phantom is None),
    }
    if getattr(scene, "lesions", ()):  # issue #17: coverage of each known cancer
        from cryoviz.model.lesions import resolve_lesions
        from cryoviz.physics.lesion_metrics import lesion_metrics

        out["lesions"] = lesion_metrics(result, resolve_lesions(scene, anatomy))
    return out
