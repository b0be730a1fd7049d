"""``cryoviz bench thermal``: the thermal engine beside the naive numpy peer, same machine, same invocation.

Measured on the default scene (double freeze–thaw, 1800 s simulated):

* ``warm_s``: ``simulate(scene, grid_mm=1.0, use_cache=False)`` in this process after one run (numba
  kernels loaded), median over repeats — the time-to-solution compared with the peer;
* ``first_run_s``: the same in a fresh process with numba's on-disk kernel cache present (what a user
  sees the second time they use cryoviz), with its peak resident memory;
* ``cold_s``: a fresh process with an empty numba cache (kernels compiled during the run);
* ``preview_2mm_s``: the 2 mm grid, warm, median;
* ``cached_s``: a re-run served from the result cache (hash, load, memory-map), median.

The naive peer (``shared/bench/naive_thermal.py``: plain numpy explicit scheme) runs in a subprocess on a
small grid for a short time; its cost per voxel-step is extrapolated to our grid and protocol at its own
stable time step. Goals: ≥ 30× faster than the peer, ≤ 5 s warm on 2 cores, ≤ 1 GB peak, cached ≤ 0.5 s,
2 mm preview ≤ 0.5 s.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["run"]

GOAL_SPEEDUP = 30.0
GOAL_WARM_S = 5.0
GOAL_PEAK_MB = 1024.0
GOAL_CACHED_S = 0.5
GOAL_PREVIEW_S = 0.5
_REPO = Path(__file__).resolve().parents[2]

_CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from cryoviz.model.scene import DEFAULT_SCENE
from cryoviz.model.scene_load import load_scene
from cryoviz.physics.thermal import simulate
scene = load_scene(DEFAULT_SCENE)
r = simulate(scene, grid_mm=float(sys.argv[1]), use_cache=False)
wall = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print(json.dumps({"wall_s": wall, "peak_mb": peak, "steps": r.metrics["steps"]}))
"""


def _naive_script() -> Path | None:
    for cand in (os.environ.get("CRYOVIZ_SHARED"), _REPO.parent / "shared", Path("/work/shared")):
        if cand:
            p = Path(cand) / "bench" / "naive_thermal.py"
            if p.is_file():
                return p
    return None


def _child(grid_mm: float, env_extra: dict | None = None) -> dict:
    env = {**os.environ, **(env_extra or {})}
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(grid_mm)], capture_output=True, text=True,
                          env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"thermal bench child failed: {proc.stderr.strip()[-400:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _naive(n: int, sim_s: float) -> dict:
    script = _naive_script()
    if script is None:
        return {"available": False}
    proc = subprocess.run([sys.executable, str(script), str(n), str(sim_s)], capture_output=True, text=True,
                          check=False)
    m = re.search(r"steps=(\d+) dt=([\d.]+)s .*wall=([\d.]+)s voxel_steps_per_s=([\d.e+]+)", proc.stdout)
    if proc.returncode != 0 or m is None:
        return {"available": False, "error": (proc.stderr or proc.stdout).strip()[-300:]}
    return {"available": True, "grid": [n, n, n], "sim_s": sim_s, "steps": int(m.group(1)),
            "dt_s": float(m.group(2)), "wall_s": float(m.group(3)),
            "voxel_steps_per_s": float(m.group(4))}


def _median_time(fn, repeats: int) -> tuple[float, list[float]]:
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs), runs


def run(quick: bool = False, out=None) -> dict:
    """Run the thermal benchmark; print a summary and write ``bench-results/thermal.json``.

    Parameters
    ----------
    quick : bool
        One repeat each and a shorter peer run (smoke run).
    out : text stream, folder or None
        A stream receives the summary lines; a folder receives ``thermal.json`` (default
        ``bench-results`` under the current folder).
    """
    from cryoviz.core.files import atomic_write_text
    from cryoviz.model.scene import DEFAULT_SCENE
    from cryoviz.model.scene_load import load_scene
    from cryoviz.physics.thermal import simulate

    stream = out if hasattr(out, "write") else sys.stdout
    repeats = 1 if quick else 3
    scene = load_scene(DEFAULT_SCENE)
    fig: dict = {"what": "thermal", "quick": bool(quick), "scene": str(DEFAULT_SCENE),
                 "cores": os.cpu_count(), "load_avg_1min": os.getloadavg()[0],
                 "goals": {"speedup": GOAL_SPEEDUP, "warm_s": GOAL_WARM_S, "peak_mb": GOAL_PEAK_MB,
                           "cached_s": GOAL_CACHED_S, "preview_2mm_s": GOAL_PREVIEW_S}}
    with tempfile.TemporaryDirectory(prefix="cryoviz-bench-thermal-") as tmp:
        fig["cold_s"] = _child(1.0, {"NUMBA_CACHE_DIR": str(Path(tmp) / "numba")})["wall_s"]
        first = _child(1.0)
        fig["first_run_s"], fig["peak_mb"] = first["wall_s"], first["peak_mb"]
        result = simulate(scene, grid_mm=1.0, use_cache=False)  # load kernels, warm caches
        fig["warm_s"], fig["warm_runs_s"] = _median_time(
            lambda: simulate(scene, grid_mm=1.0, use_cache=False), repeats)
        m = result.metrics
        fig["grid_shape"], fig["steps"], fig["simulated_s"] = m["grid_shape"], m["steps"], m["simulated_s"]
        fig["coverage"] = {k: m["organs"]["prostate"][k] for k in
                           ("fraction_below_minus40", "fraction_below_0")}
        simulate(scene, grid_mm=2.0, use_cache=False)
        fig["preview_2mm_s"], _ = _median_time(lambda: simulate(scene, grid_mm=2.0, use_cache=False),
                                               max(repeats, 3))
        cache = Path(tmp) / "cache"
        simulate(scene, grid_mm=1.0, use_cache=True, cache_dir=cache)
        fig["cached_s"], _ = _median_time(lambda: simulate(scene, grid_mm=1.0, use_cache=True,
                                                           cache_dir=cache), max(repeats, 3))
    naive = _naive(40 if quick else 60, 5.0 if quick else 20.0)
    fig["naive"] = naive
    if naive.get("available"):
        nvox = 1
        for n in fig["grid_shape"]:
            nvox *= n
        steps = int(fig["simulated_s"] / naive["dt_s"]) + 1
        naive["extrapolated_s"] = nvox * steps / naive["voxel_steps_per_s"]
        fig["speedup"] = naive["extrapolated_s"] / fig["warm_s"]
    else:
        fig["speedup"] = None
    fig["ok"] = {
        "speedup": fig["speedup"] is not None and fig["speedup"] >= GOAL_SPEEDUP,
        "warm_s": fig["warm_s"] <= GOAL_WARM_S, "peak_mb": fig["peak_mb"] <= GOAL_PEAK_MB,
        "cached_s": fig["cached_s"] <= GOAL_CACHED_S, "preview_2mm_s": fig["preview_2mm_s"] <= GOAL_PREVIEW_S,
    }
    p = lambda s: print(s, file=stream)  # noqa: E731
    p(f"thermal: default scene, 1 mm grid {tuple(fig['grid_shape'])}, {fig['simulated_s']:.0f} s simulated, "
      f"{fig['steps']} steps (load average {fig['load_avg_1min']:.1f} on {fig['cores']} cores)")
    p(f"  warm median {fig['warm_s']:.2f} s (runs {', '.join(f'{r:.2f}' for r in fig['warm_runs_s'])}); "
      f"first run in a fresh process {fig['first_run_s']:.2f} s; cold (compiling) {fig['cold_s']:.2f} s")
    p(f"  2 mm preview {fig['preview_2mm_s']:.2f} s; cached re-run {fig['cached_s']:.3f} s; "
      f"peak memory {fig['peak_mb']:.0f} MB")
    if naive.get("available"):
        p(f"  naive peer: {naive['voxel_steps_per_s']:.2e} voxel-steps/s at dt {naive['dt_s']} s -> "
          f"{naive['extrapolated_s']:.0f} s for the same grid and protocol; "
          f"ours is {fig['speedup']:.1f}x faster")
    else:
        p("  naive peer: not found (set CRYOVIZ_SHARED to the folder holding bench/naive_thermal.py)")
    p(f"  coverage: {100 * fig['coverage']['fraction_below_minus40']:.0f}% of the prostate reached -40 C")
    p("  goals met: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in fig["ok"].items()))
    folder = Path(out) if out is not None and not hasattr(out, "write") else Path("bench-results")
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "thermal.json", json.dumps(fig, indent=2) + "\n")
    return fig
