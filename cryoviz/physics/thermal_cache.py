"""The on-disk cache of thermal results: what goes into the key, and a result in and out of a cache entry.

The storage itself (folders, atomic writes, memory-mapping) is :mod:`cryoviz.core.cache`; this module says
which inputs change a result (scene, meshes, grid, tissue table, solver settings, probe catalogue and the
source of ``model/`` and ``physics/``) and how a :class:`~cryoviz.physics.result.ThermalResult` is stored.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np

from cryoviz.core import cache as _cache
from cryoviz.model import probes as P
from cryoviz.model.mesh_guard import file_digest
from cryoviz.model.tissue import TissueTable, default_table
from cryoviz.physics.result import ThermalResult
from cryoviz.physics.thermal_run import (
    EVENT_STEP_GROWTH,
    EVENT_STEP_S,
    MAX_STEP_S,
    SCHEME,
    SNAPSHOT_S,
)

__all__ = ["MODEL_VERSION", "cache_key", "is_cached", "load_result", "store_result"]

#: Version of the numerical model; part of the cache key.
MODEL_VERSION = "thermal-2"


def _source_digest() -> str:
    return _cache.source_digest(("model", "physics"))


def _cache_parts(scene, grid_mm: float, table: TissueTable) -> dict:
    scene_d = asdict(scene)
    for k in ("path", "title", "story"):
        scene_d.pop(k, None)
    meshes = {}
    base = Path(scene.path).parent
    for organ, path in sorted(dict(scene.anatomy.meshes).items()):
        p = Path(path)
        p = p if p.is_absolute() else base / p
        try:   # chunked, regular files only: a FIFO or /dev/zero must not hang or fill memory here
            meshes[organ] = file_digest(p) or f"refused:{p}"
        except OSError:
            meshes[organ] = f"missing:{p}"
    return {"model": MODEL_VERSION, "code": _source_digest(), "scene": scene_d, "meshes": meshes,
            "grid_mm": float(grid_mm), "table": table.as_dict(), "snapshot_s": SNAPSHOT_S,
            "max_step_s": MAX_STEP_S, "scheme": SCHEME,
            "event_step": [EVENT_STEP_S, EVENT_STEP_GROWTH],
            "catalogue": {k: asdict(v) for k, v in P.PROBE_CATALOGUE.items()}}


def cache_key(scene, grid_mm: float, table: TissueTable) -> str:
    """The cache key of ``scene`` on a ``grid_mm`` grid with tissue ``table``."""
    return _cache.hash_key(_cache_parts(scene, grid_mm, table))


def is_cached(scene, grid_mm: float | None = None, cache_dir: str | Path | None = None) -> bool:
    """Whether :func:`~cryoviz.physics.thermal.simulate` would load ``scene`` at ``grid_mm`` from the
    on-disk cache (no solve).

    Only the cache entry's presence is checked (cheap); an entry found unreadable later is recomputed.
    """
    grid_mm = float(scene.thermal.grid_mm if grid_mm is None else grid_mm)
    return _cache.is_stored(_cache.cache_dir(cache_dir), cache_key(scene, grid_mm, default_table()))


def load_result(folder: Path, key: str) -> ThermalResult | None:
    """The result stored under ``key`` in ``folder``, or None (missing or unreadable)."""
    from cryoviz.model.anatomy import LabelGrid
    from cryoviz.model.scene import Probe

    hit = _cache.load(folder, key)
    if hit is None:
        return None
    meta, arr = hit["meta"], hit["arrays"]
    grid = LabelGrid(labels=arr["labels"], origin_mm=arr["origin_mm"], spacing_mm=meta["spacing_mm"])
    sensors = {n: arr[f"sensor_{i}"] for i, n in enumerate(meta["sensor_names"])}
    return ThermalResult(
        grid=grid, times_s=arr["times_s"], temps_c=hit["temps"], min_temp_c=arr["min_temp_c"],
        sensors=sensors, sensor_positions_mm={n: tuple(p) for n, p in meta["sensor_positions"]},
        probe_temps_c=arr["probe_temps_c"], probes=tuple(Probe(**p) for p in meta["probes"]),
        metrics=meta["metrics"])


def store_result(folder: Path, key: str, result: ThermalResult) -> None:
    """Store ``result`` (with its metrics) under ``key`` in ``folder``.

    The key leaves the scene's path out (the same scene from two files shares one entry), so the stored
    metrics do too: their ``scene`` is blank, and :func:`~cryoviz.physics.thermal.simulate` writes the
    path of the run that loads them. No file name (perhaps a patient's) is kept in the cache.
    """
    grid = result.grid
    meta = {"spacing_mm": float(grid.spacing_mm), "sensor_names": list(result.sensors),
            "sensor_positions": [[n, list(p)] for n, p in result.sensor_positions_mm.items()],
            "probes": [asdict(p) for p in result.probes], "metrics": {**result.metrics, "scene": ""}}
    arrays = {"times_s": result.times_s, "min_temp_c": result.min_temp_c, "labels": grid.labels,
              "origin_mm": np.asarray(grid.origin_mm, float), "probe_temps_c": result.probe_temps_c,
              **{f"sensor_{i}": s for i, s in enumerate(result.sensors.values())}}
    _cache.store(folder, key, meta, arrays, result.temps_c)
