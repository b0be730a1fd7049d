"""``cryoviz bench ultrasound``: time one TRUS-like frame, beside a naive peer that rebuilds every frame.

The measured path is what the app and the video do per frame: :meth:`UltrasoundView.image_at` on a cached
view (two thermal snapshots read along the scanlines, ice front, shadow, needles, overlays). The naive peer
builds the picture from scratch each frame (sampling maps, speckle, static picture), as code without the
cache would. Goal: a 512×512 frame in ≤ 50 ms median after warm-up.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["run"]

GOAL_MS = 50.0


def _default_story(grid_mm: float):
    """Anatomy and thermal result of the default scene (thermal cache reused when present)."""
    from cryoviz.model.anatomy import build_anatomy
    from cryoviz.model.scene import DEFAULT_SCENE
    from cryoviz.model.scene_load import load_scene
    from cryoviz.physics.thermal import simulate

    scene = load_scene(DEFAULT_SCENE)
    anatomy = build_anatomy(scene.anatomy)
    result = simulate(scene, grid_mm=grid_mm, use_cache=True, anatomy=anatomy)
    return anatomy, result


def _stats_ms(samples_s: list[float]) -> dict:
    a = np.asarray(samples_s) * 1000.0
    return {"median": round(float(np.median(a)), 2), "p95": round(float(np.percentile(a, 95)), 2),
            "n": len(a)}


def run(quick: bool = False, out=None) -> dict:
    """Run the benchmark and return its figures.

    Parameters
    ----------
    quick : bool
        Fewer frames and a 2 mm thermal grid (a smoke run); the full run uses the 1 mm grid.
    out : path-like, text stream or None
        A directory: the figures are also written to ``out/ultrasound.json``. A stream (has ``write``):
        the summary lines go there instead of stdout.

    Returns
    -------
    dict
        ``frame_ms`` per plane (median, p95), ``view_build_ms``, ``naive_frame_ms``, ``speedup``, ``goal_ms``,
        ``ok`` (median of every plane ≤ goal).
    """
    from cryoviz.story import ultrasound as us

    stream = out if hasattr(out, "write") else sys.stdout
    grid_mm = 2.0 if quick else 1.0
    n_frames = 10 if quick else 60
    n_naive = 2 if quick else 5
    size = (512, 512)
    anatomy, result = _default_story(grid_mm)
    times = np.linspace(float(result.times_s[0]), float(result.times_s[-1]), n_frames)
    figures: dict = {"what": "ultrasound", "quick": bool(quick), "size_px": list(size), "grid_mm": grid_mm,
                     "grid_shape": list(result.grid.labels.shape), "n_probes": len(result.probes),
                     "goal_ms": GOAL_MS, "frame_ms": {}, "view_build_ms": {}}
    naive = []
    for plane in us.PLANES:
        us._VIEWS.clear()
        t0 = time.perf_counter()
        us.ultrasound_frame(anatomy, result, float(times[0]), plane=plane, size_px=size)
        figures["view_build_ms"][plane] = round((time.perf_counter() - t0) * 1000.0, 1)
        for t in times[:3]:   # warm-up
            us.ultrasound_frame(anatomy, result, float(t), plane=plane, size_px=size)
        samples = []
        for t in times:
            t0 = time.perf_counter()
            us.ultrasound_frame(anatomy, result, float(t), plane=plane, size_px=size)
            samples.append(time.perf_counter() - t0)
        figures["frame_ms"][plane] = _stats_ms(samples)
        for t in times[:n_naive]:   # the naive peer: nothing reused between frames
            us._VIEWS.clear()
            t0 = time.perf_counter()
            us.ultrasound_frame(anatomy, result, float(t), plane=plane, size_px=size)
            naive.append(time.perf_counter() - t0)
    figures["naive_frame_ms"] = _stats_ms(naive)
    worst = max(v["median"] for v in figures["frame_ms"].values())
    figures["speedup"] = round(figures["naive_frame_ms"]["median"] / max(worst, 1e-6), 1)
    figures["ok"] = bool(worst <= GOAL_MS)
    for plane, st in figures["frame_ms"].items():
        print(f"ultrasound {plane} {size[0]}x{size[1]}: {st['median']:.1f} ms median, {st['p95']:.1f} ms p95 "
              f"per frame (goal <= {GOAL_MS:.0f} ms); view build {figures['view_build_ms'][plane]:.0f} ms",
              file=stream)
    print(f"ultrasound naive peer (rebuild every frame): {figures['naive_frame_ms']['median']:.0f} ms median "
          f"-> {figures['speedup']:.0f}x faster with the cached view", file=stream)
    if out is not None and not hasattr(out, "write"):
        from cryoviz.core.files import atomic_write_text

        path = Path(out) / "ultrasound.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(figures, indent=2) + "\n")
    return figures
