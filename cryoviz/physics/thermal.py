"""Thermal model: Pennes bioheat with freezing, on the voxel labels of the anatomy, driven by the probes.

``simulate(scene)`` builds the label grid, places the probes and the warming devices, runs the protocol
(:func:`cryoviz.physics.thermal_run.run_thermal`, where the boundary conditions and the probe calibration
are described) and returns a :class:`~cryoviz.physics.result.ThermalResult`: temperature snapshots every
``SNAPSHOT_S`` seconds, the coldest temperature each voxel reached, sensor and probe temperature series, and
the metrics JSON of the design contract (:mod:`cryoviz.physics.metrics`). Results are cached on disk
(:mod:`cryoviz.physics.thermal_cache`).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from cryoviz.core import cache as _cache
from cryoviz.model import probes as P
from cryoviz.model.tissue import BODY_TEMP_C, TissueTable, default_table
from cryoviz.physics.result import ThermalResult
from cryoviz.physics.thermal_cache import MODEL_VERSION, cache_key, is_cached, load_result, store_result
from cryoviz.physics.thermal_run import (
    MAX_STEP_S,
    SCHEME,
    SNAPSHOT_S,
    run_thermal,
)

__all__ = [
    "MAX_STEP_S",
    "MODEL_VERSION",
    "SCHEME",
    "SNAPSHOT_S",
    "ThermalResult",
    "is_cached",
    "run_thermal",
    "sample_series",
    "scene_grid",
    "simulate",
]


def _centred_bounds(anatomy, grid_mm: float, margin_mm: float) -> np.ndarray:
    """The anatomy's default bounds, widened in x to be symmetric about x = 0 with a voxel layer on it.

    The anatomy is left-right symmetric unless a patient's own mesh makes it otherwise; a grid that is
    symmetric too lets :func:`run_thermal` solve half of it (``thermal_run._mirror_plan``).
    """
    b = np.asarray(anatomy.default_bounds_mm(margin_mm), float).copy()
    half_width = math.ceil(max(-b[0], b[1]) / grid_mm - 1e-9) * grid_mm
    b[0], b[1] = -half_width, half_width
    return b


def scene_grid(scene, anatomy, grid_mm: float):
    """The label grid :func:`simulate` solves on for ``scene`` at ``grid_mm`` (mm): same bounds, same labels.

    The app draws a patient's anatomy (and quotes its prostate volume, counted on this grid as the metrics
    count it) before the simulation has run.
    """
    grid_mm = float(grid_mm)
    return anatomy.label_grid(grid_mm, bounds_mm=_centred_bounds(anatomy, grid_mm, scene.thermal.margin_mm))


def simulate(scene, grid_mm: float | None = None, use_cache: bool = True, anatomy=None,
             cache_dir: str | Path | None = None, table: TissueTable | None = None,
             progress=None) -> ThermalResult:
    """Run (or load from the cache) the thermal model of a scene.

    Parameters
    ----------
    scene : cryoviz.model.scene.Scene
        A validated scene.
    grid_mm : float, optional
        Voxel size, mm; default ``scene.thermal.grid_mm``.
    use_cache : bool
        Read and write the on-disk cache.
    anatomy : cryoviz.model.anatomy.Anatomy, optional
        The scene's anatomy if already built.
    cache_dir : path, optional
        Cache folder (default ``$CRYOVIZ_CACHE`` or ``~/.cache/cryoviz``).
    table : TissueTable, optional
        Tissue properties (default :func:`cryoviz.model.tissue.default_table`).
    progress : callable, optional
        ``progress(t_s, duration_s)`` as the run goes (:func:`run_thermal`); not called on a cache hit.

    Returns
    -------
    ThermalResult
    """
    from cryoviz.model.anatomy import build_anatomy, phantom_anatomy
    from cryoviz.model.layout import resolve_probes, resolve_sensors
    from cryoviz.physics.metrics import compute_metrics

    t0 = time.perf_counter()
    grid_mm = float(scene.thermal.grid_mm if grid_mm is None else grid_mm)
    table = default_table() if table is None else table
    folder = _cache.cache_dir(cache_dir)
    key = cache_key(scene, grid_mm, table) if use_cache else ""
    if use_cache:
        hit = load_result(folder, key)
        if hit is not None:  # the cached metrics name no scene file: this run's is written in
            hit.metrics = {**hit.metrics, "scene": str(scene.path)}
            return hit

    if anatomy is None:
        anatomy = (phantom_anatomy(scene.phantom) if scene.phantom is not None
                   else build_anatomy(scene.anatomy, base_dir=Path(scene.path).parent))
    grid = scene_grid(scene, anatomy, grid_mm)
    probes = resolve_probes(scene, anatomy)
    sensor_pos = resolve_sensors(scene, anatomy)
    skin_z = float(anatomy.landmarks.skin_z_mm)
    geoms = [P.ProbeGeometry.from_probe(p, skin_z) for p in probes]
    body_c = float(scene.phantom.temp_c) if scene.phantom is not None else BODY_TEMP_C
    w = scene.warmer
    is_body = scene.phantom is None
    mapped: list[np.ndarray] = []

    def snapshots(shape, dtype):
        # straight into the cache entry's file: no copy of the snapshots to store them afterwards
        out = _cache.open_temps(folder, key, shape, dtype) if use_cache else None
        if out is not None:
            mapped.append(out)
        return out

    try:
        run = run_thermal(
            grid.labels, grid.origin_mm, grid.spacing_mm, geoms, scene.protocol,
            urethral_temp_c=w.urethral_temp_c if (w.urethral and is_body) else None,
            rectal_temp_c=w.rectal_temp_c if (w.rectal and is_body) else None,
            table=table, post_radiation=scene.anatomy.post_radiation and is_body, body_temp_c=body_c,
            progress=progress, snapshots=snapshots)
        sensors = {name: sample_series(run.temps_c, grid, pos) for name, pos in sensor_pos.items()}
        result = ThermalResult(grid=grid, times_s=run.times_s, temps_c=run.temps_c,
                               min_temp_c=run.min_temp_c, sensors=sensors,
                               sensor_positions_mm=dict(sensor_pos), probe_temps_c=run.probe_temps_c,
                               probes=tuple(probes))
        wall = time.perf_counter() - t0
        result.metrics = compute_metrics(result, scene, anatomy, steps=run.steps, wall_s=wall,
                                         iso_counts=run.iso_counts)
    except BaseException:   # no result: its half-written cache file goes
        for out in mapped:
            _cache.discard(folder, key, out)
        raise
    if use_cache:
        store_result(folder, key, result)
    return result


def sample_series(temps_c: np.ndarray, grid, pos_mm) -> np.ndarray:
    """Temperature history (nt,) at a point, trilinear inside the grid (nearest voxel at the border)."""
    from scipy.ndimage import map_coordinates

    u = (np.asarray(pos_mm, float) - np.asarray(grid.origin_mm, float)) / grid.spacing_mm
    u = np.clip(u, 0, np.array(grid.labels.shape) - 1)
    i0 = np.floor(u).astype(int)
    i0 = np.minimum(i0, np.array(grid.labels.shape) - 2).clip(0)
    block = np.asarray(temps_c[:, i0[0]:i0[0] + 2, i0[1]:i0[1] + 2, i0[2]:i0[2] + 2], np.float32)
    frac = u - i0
    out = np.empty(block.shape[0], np.float32)
    for q in range(block.shape[0]):
        out[q] = map_coordinates(block[q], frac.reshape(3, 1), order=1, mode="nearest")[0]
    return out
