"""State logic of the consultation app that needs no trame: numbers, text, images, re-simulation.

The trame app (:mod:`cryoviz.deliver.app`) keeps its handlers thin and calls these functions, so every
control's effect can be tested in process. Nothing here renders: images arrive as numpy arrays from the
renderer or the ultrasound module and are only encoded here.
"""

from __future__ import annotations

import base64
import dataclasses
import math
import struct
import threading
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from html import escape
from typing import Any

import numpy as np

from cryoviz.core.errors import InputError

__all__ = [
    "ISOTHERMS_C", "LIMITS", "OWN_PLAN", "SPEEDS", "Resimulator", "chapter_index_at", "chapter_jump_s",
    "encode_png", "format_clock", "map_in", "organ_display_name", "plan_of", "png_data_url", "probe_rows",
    "release_freed_memory", "sensor_chart_svg", "sized_scene", "spared_numbers", "step_chapter",
]

#: Isotherms the app can show, °C, with their state keys.
ISOTHERMS_C: dict[str, float] = {"iso_0": 0.0, "iso_m20": -20.0, "iso_m40": -40.0}
#: Playback speeds offered (story seconds per wall second).
SPEEDS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
#: Ranges the sizing controls accept (the scene model's ranges): name -> (low, high).
LIMITS: dict[str, tuple[float, float]] = {"volume_ml": (15.0, 100.0), "rectum_gap_mm": (3.0, 15.0)}


# ------------------------------------------------------------------------------------------------ text
def organ_display_name(organ: str, text: dict | None = None) -> str:
    """Human name of an organ: from the language file's ``organs`` table, else the name in words.

    Parameters
    ----------
    organ : str
        Public organ name, e.g. ``"seminal_vesicles"``.
    text : dict, optional
        The loaded language file (:func:`cryoviz.story.text.load_text`).
    """
    names = (text or {}).get("organs", {})
    entry = names.get(organ)
    if isinstance(entry, dict):
        entry = entry.get("name")
    if isinstance(entry, str) and entry:
        return entry
    return organ.replace("_", " ").capitalize()


def format_clock(procedure_s: float) -> str:
    """Procedure clock as ``MM:SS`` (``--:--`` before the first freeze, i.e. negative or None)."""
    if procedure_s is None or not math.isfinite(procedure_s) or procedure_s < 0:
        return "--:--"
    whole = int(procedure_s)
    return f"{whole // 60:02d}:{whole % 60:02d}"


# --------------------------------------------------------------------------------------------- numbers
def _num(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def spared_numbers(metrics: dict) -> dict[str, float | None]:
    """The "What was spared" figures from a metrics dict (contract JSON).

    Returns
    -------
    dict
        ``rectal_wall_min_temp_c``, ``rectal_wall_distance_to_lethal_mm`` (distance from the rectal wall to
        the −40 °C zone), ``urethra_min_temp_c`` and ``prostate_fraction_lethal`` (0..1, share of the
        gland reaching −40 °C). A figure the metrics lack is None.
    """
    organs = metrics.get("organs", {}) if isinstance(metrics, dict) else {}
    rect = organs.get("rectum_wall", {})
    return {
        "rectal_wall_min_temp_c": _num(rect.get("min_temp_c")),
        "rectal_wall_distance_to_lethal_mm": _num(rect.get("min_distance_to_minus40_mm")),
        "urethra_min_temp_c": _num(organs.get("urethra", {}).get("min_temp_c")),
        "prostate_fraction_lethal": _num(organs.get("prostate", {}).get("fraction_below_minus40")),
    }


def probe_rows(probes: Sequence[Any]) -> list[dict[str, str]]:
    """Probe coordinates for the clinician table: name, hole, x/y mm, depth mm, kind, freeze group."""
    rows = []
    for p in probes:
        rows.append({
            "name": str(getattr(p, "name", "?")),
            "hole": str(getattr(p, "hole", None) or "–"),
            "x_mm": f"{float(getattr(p, 'x_mm', float('nan'))):.1f}",
            "y_mm": f"{float(getattr(p, 'y_mm', float('nan'))):.1f}",
            "depth_mm": f"{float(getattr(p, 'depth_mm', float('nan'))):.1f}",
            "kind": str(getattr(p, "kind", "")),
            "group": str(getattr(p, "group", "")),
        })
    return rows


_CURVE_COLOURS = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#CC79A7", "#D55E00", "#0072B2")


def sensor_chart_svg(times_s: np.ndarray, sensors: dict[str, np.ndarray], now_s: float | None,
                     width_px: int = 420, height_px: int = 180) -> str:
    """Sensor temperature curves as a small inline SVG, with a marker at the current procedure time.

    Parameters
    ----------
    times_s : ndarray, shape (nt,)
        Snapshot times of the thermal result, seconds.
    sensors : dict of str to ndarray, shape (nt,)
        Temperature history per sensor, °C.
    now_s : float or None
        Procedure time to mark, seconds (None: no marker).
    """
    times_s = np.asarray(times_s, dtype=float)
    pad_l, pad_r, pad_t, pad_b = 36, 8, 8, 22
    w, h = width_px - pad_l - pad_r, height_px - pad_t - pad_b
    if times_s.size < 2 or not sensors:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width_px}" height="{height_px}" '
                'role="img" aria-label="Sensor temperatures"></svg>')
    t0, t1 = float(times_s[0]), float(times_s[-1])
    lo = min(-40.0, *(float(np.nanmin(v)) for v in sensors.values()))
    hi = max(40.0, *(float(np.nanmax(v)) for v in sensors.values()))

    def sx(t):
        return pad_l + w * (np.asarray(t, float) - t0) / max(t1 - t0, 1e-9)

    def sy(c):
        return pad_t + h * (hi - np.asarray(c, float)) / max(hi - lo, 1e-9)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width_px}" height="{height_px}" '
             f'role="img" aria-label="Sensor temperatures" font-size="11" font-family="sans-serif">',
             f'<rect x="{pad_l}" y="{pad_t}" width="{w}" height="{h}" fill="none" stroke="#888"/>']
    for ref_c in (0.0, -40.0):
        y = float(sy(ref_c))
        parts.append(f'<line x1="{pad_l}" x2="{pad_l + w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#666" '
                     'stroke-dasharray="3 3"/>')
        parts.append(f'<text x="{pad_l - 4}" y="{y + 4:.1f}" text-anchor="end" '
                     f'fill="#ccc">{ref_c:.0f}</text>')
    for i, (name, temps) in enumerate(sorted(sensors.items())):
        temps = np.asarray(temps, float)
        n = min(temps.size, times_s.size)
        stride = max(1, n // 200)
        xs, ys = sx(times_s[:n:stride]), sy(temps[:n:stride])
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True) if math.isfinite(y))
        colour = _CURVE_COLOURS[i % len(_CURVE_COLOURS)]
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        parts.append(f'<text x="{pad_l + 4 + 90 * (i % 4)}" y="{height_px - 6 - 0 * (i // 4)}" '
                     f'fill="{colour}">{escape(str(name))}</text>')
    if now_s is not None and t0 <= now_s <= t1:
        x = float(sx(now_s))
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{pad_t}" y2="{pad_t + h}" stroke="#fff"/>')
    parts.append("</svg>")
    return "".join(parts)


# ---------------------------------------------------------------------------------------------- chapters
def chapter_index_at(chapters: Sequence[Any], t_s: float) -> int:
    """Index of the chapter that contains story time ``t_s`` (the last one past the end)."""
    for i, ch in enumerate(chapters):
        if t_s < float(ch.end_s):
            return i
    return max(len(chapters) - 1, 0)


def step_chapter(chapters: Sequence[Any], t_s: float, step: int) -> int:
    """Index of the chapter ``step`` chapters away from the one at ``t_s`` (clamped to the story)."""
    if not chapters:
        return 0
    return min(max(chapter_index_at(chapters, t_s) + step, 0), len(chapters) - 1)


def chapter_jump_s(chapter: Any, cue_starts_s: Sequence[float]) -> float:
    """Where a chapter button jumps: the chapter's first subtitle (past its title card), else its start."""
    inside = [float(t) for t in cue_starts_s if float(chapter.start_s) <= float(t) < float(chapter.end_s)]
    return min(inside) if inside else float(chapter.start_s)


# ------------------------------------------------------------------------------------------------ images
def encode_png(image: np.ndarray) -> bytes:
    """Encode an (H, W, 3) or (H, W) uint8 image as PNG (zlib, no imaging library needed)."""
    img = np.ascontiguousarray(image)
    if img.dtype != np.uint8 or img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (3, 4)):
        raise ValueError(f"expected uint8 (H, W[, 3|4]) image, got {img.dtype} {img.shape}")
    h, w = img.shape[:2]
    colour_type = 0 if img.ndim == 2 else (2 if img.shape[2] == 3 else 6)
    rows = img.reshape(h, -1)
    raw = np.hstack([np.zeros((h, 1), np.uint8), rows]).tobytes()

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", w, h, 8, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + \
        chunk(b"IEND", b"")


def png_data_url(image: np.ndarray) -> str:
    """A ``data:image/png;base64,...`` URL of an image (for an ``<img>`` in the page)."""
    return "data:image/png;base64," + base64.b64encode(encode_png(image)).decode("ascii")


# --------------------------------------------------------------------------------------------- re-sizing
#: The probe-layout choice that keeps the probes the scene file places (its own plan).
OWN_PLAN = "scene"


def plan_of(scene: Any) -> str:
    """The probe-layout choice ``scene`` shows: :data:`OWN_PLAN` for placed probes, else its layout preset."""
    return scene.layout.preset if scene.layout is not None and not scene.probes else OWN_PLAN


def sized_scene(scene: Any, *, volume_ml: float | None = None, rectum_gap_mm: float | None = None,
                hydrodissection: bool | None = None, preset: str | None = None,
                planned: Any = None) -> Any:
    """The scene sized to this patient: a copy with new prostate volume, rectal gap and probe layout.

    The probes change only when ``preset`` differs from the layout ``scene`` shows (:func:`plan_of`): a new
    preset replaces them by the automatic layout (sized to the gland), and :data:`OWN_PLAN` brings back the
    probes the scene file placed (``planned``, the scene as loaded). Changing only the volume or the gap
    keeps the plan, so the patient never sees a plan other than the one chosen.

    Raises
    ------
    InputError
        A value out of range, or :data:`OWN_PLAN` for a scene file that places no probes, in the contract's
        one-line form (path ``app``).
    """
    from cryoviz.model.scene import LAYOUT_PRESETS, ProbeLayout

    anatomy = scene.anatomy
    changes: dict[str, Any] = {}
    for key, value in (("volume_ml", volume_ml), ("rectum_gap_mm", rectum_gap_mm)):
        if value is None:
            continue
        lo, hi = LIMITS[key]
        v = _num(value)
        if v is None or not lo <= v <= hi:
            raise InputError.one("app", f"anatomy.{key}", "value out of range", f"{lo:g} to {hi:g}", value)
        changes[key] = v
    if hydrodissection is not None:
        changes["hydrodissection"] = bool(hydrodissection)
    new = dataclasses.replace(scene, anatomy=dataclasses.replace(anatomy, **changes))
    if preset is None or preset == plan_of(scene):
        return new
    own = planned is not None and bool(planned.probes)
    if preset == OWN_PLAN and own:
        return dataclasses.replace(new, probes=planned.probes, layout=planned.layout)
    if preset not in LAYOUT_PRESETS:
        allowed = ", ".join(((OWN_PLAN,) if own else ()) + tuple(LAYOUT_PRESETS))
        raise InputError.one("app", "layout.preset", "unknown probe layout", allowed, preset)
    kind = scene.layout.kind if scene.layout is not None else ProbeLayout().kind
    return dataclasses.replace(new, probes=(), layout=ProbeLayout(preset=preset, kind=kind))


class Resimulator:
    """Re-simulate in the background: a coarse preview first, then the full result; drop stale requests.

    Parameters
    ----------
    build : callable
        ``build(scene, grid_mm) -> story`` (runs in a worker thread).
    on_ready : callable
        ``on_ready(story, stage, generation)`` called from the worker thread for each finished stage
        (``"preview"`` then ``"full"``); the app hands it to its event loop.
    on_error : callable
        ``on_error(exc, generation)`` called when a stage fails.
    preview_grid_mm, full_grid_mm : float or None
        Grid spacings of the two stages; ``preview_grid_mm`` None skips the preview, ``full_grid_mm`` None
        uses the scene's own.
    build_anatomy : callable, optional
        ``build_anatomy(scene) -> story or None``: a first ``"anatomy"`` stage, the new patient's anatomy
        chapters without any thermal result (:func:`cryoviz.story.pending.anatomy_story`), shown within a
        second or two while the full result is computed. When it shows, the coarse preview is skipped
        (``preview_after_anatomy`` False): on two cores it delayed the full result by its own run and
        install (measured in docs/app.md), and the anatomy chapters already show the new patient at once.
    """

    #: Run the coarse preview after the anatomy stage too.
    preview_after_anatomy = False

    def __init__(self, build: Callable[[Any, float | None], Any], on_ready: Callable[[Any, str, int], None],
                 on_error: Callable[[BaseException, int], None], preview_grid_mm: float | None = 2.0,
                 full_grid_mm: float | None = None, build_anatomy: Callable[[Any], Any] | None = None):
        self._build, self._on_ready, self._on_error = build, on_ready, on_error
        self._build_anatomy = build_anatomy
        self.preview_grid_mm, self.full_grid_mm = preview_grid_mm, full_grid_mm
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cryoviz-sim")
        self._lock = threading.Lock()
        self.generation = 0

    def submit(self, scene: Any, *, preview: bool = True, anatomy: bool | None = None) -> Future:
        """Queue a re-simulation of ``scene``; any older request still queued is skipped.

        ``preview`` runs the coarse stage first; ``anatomy`` (default: as ``preview``) the anatomy stage.
        """
        with self._lock:
            self.generation += 1
            gen = self.generation
        return self._pool.submit(self._run, scene, gen, preview, preview if anatomy is None else anatomy)

    def _current(self, gen: int) -> bool:
        with self._lock:
            return gen == self.generation

    def _run(self, scene: Any, gen: int, preview: bool, anatomy: bool = True) -> None:
        stages: list[tuple[str, float | None]] = []
        if anatomy and self._build_anatomy is not None:
            stages.append(("anatomy", None))
        if preview and self.preview_grid_mm is not None:
            stages.append(("preview", self.preview_grid_mm))
        stages.append(("full", self.full_grid_mm))
        shown = False
        for stage, grid_mm in stages:
            if not self._current(gen):
                return
            if stage == "preview" and shown and not self.preview_after_anatomy:
                continue
            try:
                story = (self._build_anatomy(scene) if stage == "anatomy" else self._build(scene, grid_mm))
            except Exception as exc:  # reported to the page, the server stays up
                self._on_error(exc, gen)
                return
            if story is not None and self._current(gen):
                shown = shown or stage == "anatomy"
                self._on_ready(story, stage, gen)

    def close(self) -> None:
        """Stop taking work; a running stage finishes in its thread."""
        with self._lock:
            self.generation += 1
        self._pool.shutdown(wait=False, cancel_futures=True)


def release_freed_memory() -> bool:
    """Hand memory that Python and VTK have freed back to the system (glibc ``malloc_trim``).

    Every frame allocates and frees large picture buffers, and glibc keeps freed pages for reuse; the play
    loop calls this now and then so that a long consultation holds no more than it uses. (Most of the growth
    once seen while playing was the memory-mapped thermal result, see :func:`map_in`.) Returns False where
    there is no glibc.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        return bool(ctypes.CDLL(name).malloc_trim(0))
    except (OSError, AttributeError):
        return False


def map_in(array: Any) -> int:
    """Read one byte of every page of a memory-mapped array, so that all of it is resident; return the count.

    A cached thermal result is memory-mapped (``temps.npy``, about 180 MB at 1 mm) and pages arrive as the
    story first plays through them: the server's memory then grows during the first minutes of a
    consultation, and the first pass through the freeze jumps to the disk. Mapping it in once at install
    (in a background thread) settles the memory before Play and keeps it flat. The pages stay file-backed:
    the kernel may drop them under pressure and several consultation processes on one scene share them.
    Arrays that are not memory-mapped are left alone (returns 0).
    """
    import mmap

    if not isinstance(array, np.memmap) or array.size == 0:
        return 0
    flat = np.asarray(array).reshape(-1).view(np.uint8)
    step = mmap.PAGESIZE
    touched = flat[::step]
    int(touched.sum(dtype=np.int64))   # the read is what matters; the sum only keeps it from being elided
    return int(touched.size)
