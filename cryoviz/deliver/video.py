"""The education video: the story rendered frame by frame to H.264 MP4, with WebVTT subtitles beside it.

Every frame is a pure function of time (``Story.state_at``), so the frame range is split into contiguous
chunks rendered by worker processes (spawn context, one renderer each); each worker pipes raw RGB to its
own ffmpeg, and the pieces are joined without re-encoding (:mod:`cryoviz.deliver.encode`). Consecutive equal
frame states (title cards, held shots) reuse the last picture instead of rendering it again.

Nothing is half-written: the MP4 and the VTT are written to temporary files beside the targets and renamed
when complete. Ctrl-C, SIGTERM or a crash leaves neither target, no pieces and no worker or ffmpeg process.
Bad arguments fail before any rendering with the contract's one-line :class:`~cryoviz.core.errors.InputError`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import math
import multiprocessing as mp
import os
import queue
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any, Protocol, TextIO

import numpy as np

from cryoviz.core.errors import InputError
from cryoviz.deliver.encode import PieceEncoder, concat_pieces, die_with_parent
from cryoviz.deliver.vtt import Cue

__all__ = ["FPS_MAX", "FPS_MIN", "VideoPlan", "check_video_args", "encode_frames", "picture_key",
           "render_video", "split_ranges", "video_plan"]

FPS_MIN, FPS_MAX = 24, 60
_MAX_JOBS = 32


class FrameSource(Protocol):
    """What a worker draws with: a picture for a state, and a way to let go of the renderer."""

    def frame(self, state: Any) -> np.ndarray: ...

    def close(self) -> None: ...


# ---------------------------------------------------------------------------------------------- arguments
def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def check_video_args(out_path: Path, size: Sequence[int], fps: int, jobs: int | None,
                     duration_s: float | None = None) -> tuple[Path, tuple[int, int], int, int]:
    """Validate the video options before any work; return ``(out_path, size, fps, jobs)``.

    Raises
    ------
    InputError
        One contract line for the first bad option (``argument: --fps: ...``).
    """
    from cryoviz.core.files import check_writable_target

    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise InputError.one("argument", "--size", "not a WIDTHxHEIGHT size",
                             "two even whole numbers such as 1280x720", str(size)) from None
    if not (16 <= w <= 7680 and 16 <= h <= 4320) or w % 2 or h % 2:
        raise InputError.one("argument", "--size", "size out of range or odd",
                             "even sizes from 16x16 to 7680x4320", f"{w}x{h}")
    if isinstance(fps, bool) or not isinstance(fps, int | np.integer) or not FPS_MIN <= fps <= FPS_MAX:
        raise InputError.one("argument", "--fps", "frame rate out of range",
                             f"whole numbers {FPS_MIN} to {FPS_MAX}", str(fps))
    if jobs is None:
        jobs = _cores()
    elif isinstance(jobs, bool) or not isinstance(jobs, int | np.integer) or not 1 <= jobs <= _MAX_JOBS:
        raise InputError.one("argument", "--jobs", "number of worker processes out of range",
                             f"1 to {_MAX_JOBS}", str(jobs))
    if duration_s is not None and not (math.isfinite(duration_s) and duration_s > 0):
        raise InputError.one("argument", "--duration", "not a positive number of seconds",
                             "a number of seconds above 0", str(duration_s))
    out_path = Path(out_path)
    if out_path.suffix.lower() != ".mp4":
        raise InputError.one("argument", "-o", "the video must be an .mp4 file", "a path ending in .mp4",
                             str(out_path))
    check_writable_target(out_path, "-o")
    check_writable_target(out_path.with_suffix(".vtt"), "-o")
    return out_path, (w, h), int(fps), int(jobs)


# ---------------------------------------------------------------------------------------------- chunks
def split_ranges(states: Sequence[Hashable], jobs: int, reuse_cost: float = 0.05) -> list[tuple[int, int]]:
    """Split frame indices into at most ``jobs`` contiguous ``(start, stop)`` ranges of similar cost.

    A frame whose state equals the previous one costs ``reuse_cost`` (only encoding); any other frame costs
    1 (a render). The first frame of every range is rendered.

    Parameters
    ----------
    states : sequence of hashable
        One state per frame.
    jobs : int
        Number of ranges wanted (fewer when there are fewer frames).
    reuse_cost : float
        Cost of a reused frame relative to a rendered one.

    Returns
    -------
    list of (int, int)
        Ranges covering ``0..len(states)`` in order, none empty.
    """
    n = len(states)
    if n == 0:
        return []
    jobs = max(1, min(int(jobs), n))
    cost = np.ones(n)
    for i in range(1, n):
        if states[i] == states[i - 1]:
            cost[i] = reuse_cost
    cum = np.cumsum(cost)
    bounds = [0]
    for k in range(1, jobs):
        cut = int(np.searchsorted(cum, cum[-1] * k / jobs))
        cut = min(max(cut, bounds[-1] + 1), n - (jobs - k))
        bounds.append(cut)
    bounds.append(n)
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]


# ---------------------------------------------------------------------------------------------- progress
class _Progress:
    """A one-line progress bar on stderr: frames done/total, elapsed time and time left."""

    def __init__(self, total: int, stream: TextIO | None = None, label: str = "render"):
        self.total = max(1, int(total))
        self.stream = sys.stderr if stream is None else stream
        self.label = label
        self.t0 = time.perf_counter()
        self.done = 0
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = -1e9
        self._last_pct = -1

    @staticmethod
    def _clock(s: float) -> str:
        s = max(0, round(s))
        return f"{s // 60:d}:{s % 60:02d}"

    def line(self) -> str:
        """The bar as text (without a line ending)."""
        el = time.perf_counter() - self.t0
        frac = min(1.0, self.done / self.total)
        left = el * (1 - frac) / frac if frac > 0 else float("nan")
        bar = "#" * round(24 * frac) + "-" * (24 - round(24 * frac))
        left_s = self._clock(left) if math.isfinite(left) else "?:??"
        return (f"{self.label} [{bar}] {self.done}/{self.total} frames  {self._clock(el)} elapsed  "
                f"{left_s} left")

    def update(self, done: int, force: bool = False) -> None:
        """Set the number of frames done and redraw (rate-limited)."""
        self.done = int(done)
        now = time.perf_counter()
        pct = 100 * self.done // self.total
        if self._tty:
            if force or now - self._last >= 0.2:
                self.stream.write("\r" + self.line())
                self.stream.flush()
                self._last = now
        elif force or (now - self._last >= 5.0 and pct != self._last_pct):
            self.stream.write(self.line() + "\n")
            self.stream.flush()
            self._last, self._last_pct = now, pct

    def finish(self) -> None:
        """Draw the final state and end the line."""
        self.update(self.done, force=True)
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()


# ---------------------------------------------------------------------------------------------- encoding
def _encode_range(source: FrameSource, states: Sequence[Hashable], encoder: PieceEncoder,
                  report: Callable[[int], None] | None = None) -> dict:
    """Render ``states`` in order into ``encoder``, reusing the last picture for repeated states."""
    rendered = 0
    render_s = 0.0
    buf = None
    prev: object = object()
    for i, state in enumerate(states):
        if buf is None or state != prev:
            t0 = time.perf_counter()
            img = source.frame(state)
            buf = np.ascontiguousarray(img, dtype=np.uint8).tobytes()
            render_s += time.perf_counter() - t0
            rendered += 1
            prev = state
        encoder.write_bytes(buf)
        if report is not None:
            report(i + 1)
    return {"frames": len(states), "rendered": rendered, "render_s": render_s}


class _Terminated(KeyboardInterrupt):
    """SIGTERM turned into an exception so that ``finally`` blocks clean up."""


def _raise_terminated(signum, frame) -> None:
    raise _Terminated(f"signal {signum}")


def _worker(index: int, make_source: Callable[[], FrameSource], states: Sequence[Hashable], piece: str,
            size: tuple[int, int], fps: int, lp_threads: int | None, msgs) -> None:
    """Worker process: build a renderer, render one contiguous range into one piece."""
    die_with_parent(signal.SIGTERM)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; it terminates us on Ctrl-C
    signal.signal(signal.SIGTERM, _raise_terminated)
    if lp_threads:
        os.environ["LP_NUM_THREADS"] = str(lp_threads)
    source = None
    try:
        source = make_source()
        last = [0.0]

        def report(done: int) -> None:
            now = time.perf_counter()
            if done == len(states) or now - last[0] > 0.1:
                msgs.put(("progress", index, done))
                last[0] = now

        with PieceEncoder(Path(piece), size, fps) as enc:
            stats = _encode_range(source, states, enc, report)
        msgs.put(("done", index, stats))
    except _Terminated:
        raise SystemExit(143) from None
    except BaseException:
        msgs.put(("error", index, traceback.format_exc()))
        raise SystemExit(1) from None
    finally:
        if source is not None:
            with contextlib.suppress(Exception):
                source.close()


def _stop_processes(procs: Sequence[mp.process.BaseProcess]) -> None:
    for p in procs:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + 10.0
    for p in procs:
        p.join(max(0.1, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join()


def encode_frames(states: Sequence[Hashable], make_source: Callable[[], FrameSource], out_path: Path,
                  size: tuple[int, int], fps: int, *, jobs: int = 1, progress: bool | TextIO = True,
                  lp_threads: int | None = None) -> dict:
    """Render one frame per state and encode them to an H.264 MP4 at ``out_path``.

    Parameters
    ----------
    states : sequence of hashable
        One picklable state per frame; equal consecutive states are rendered once.
    make_source : callable
        Builds a :class:`FrameSource`; must be picklable (a module-level function or ``functools.partial``)
        when ``jobs > 1``, since each worker process builds its own.
    out_path : Path
        The MP4 to write (written in place: the caller makes it atomic).
    size : (int, int)
        Width and height in pixels.
    fps : int
        Frames per second.
    jobs : int
        Processes drawing at once: this one draws the first range, ``jobs - 1`` spawned workers the rest.
    progress : bool or text stream
        Draw a progress bar (on stderr, or on the given stream).
    lp_threads : int, optional
        Mesa llvmpipe threads per worker (``LP_NUM_THREADS``); cores // jobs when None and not set.

    Returns
    -------
    dict
        ``frames``, ``rendered`` (frames actually drawn), ``render_s`` (summed over workers), ``wall_s``,
        ``jobs``.
    """
    out_path = Path(out_path)
    n = len(states)
    if n == 0:
        raise ValueError("no frames to encode")
    t0 = time.perf_counter()
    bar = None if progress is False else _Progress(n, None if progress is True else progress)
    ranges = split_ranges(states, jobs)
    if len(ranges) == 1:
        source = make_source()
        try:
            with PieceEncoder(out_path, size, fps, faststart=True) as enc:
                stats = _encode_range(source, states, enc, None if bar is None else bar.update)
        finally:
            source.close()
        stats["jobs"] = 1
    else:
        stats = _encode_parallel(states, ranges, make_source, out_path, size, fps, bar, lp_threads)
    if bar is not None:
        bar.finish()
    stats["wall_s"] = time.perf_counter() - t0
    return stats


def _encode_parallel(states, ranges, make_source, out_path, size, fps, bar, lp_threads) -> dict:
    """This process renders the first range while spawned workers render the others; then join."""
    if lp_threads is None and "LP_NUM_THREADS" not in os.environ:
        lp_threads = max(1, _cores() // len(ranges))
    ctx = mp.get_context("spawn")
    msgs = ctx.Queue()
    pieces_dir = Path(tempfile.mkdtemp(prefix=f".{out_path.name}.pieces-", dir=out_path.resolve().parent))
    pieces = [pieces_dir / f"piece{i:03d}.mp4" for i in range(len(ranges))]
    procs = {i: ctx.Process(target=_worker, name=f"cryoviz-render-{i}", daemon=True,
                            args=(i, make_source, list(states[a:b]), str(pieces[i]), size, fps, lp_threads,
                                  msgs))
             for i, (a, b) in enumerate(ranges) if i > 0}
    done_frames = [0] * len(ranges)
    results: dict[int, dict] = {}

    def handle(msg) -> None:
        kind, i, payload = msg
        if kind == "progress":
            done_frames[i] = payload
        elif kind == "done":
            results[i] = payload
            done_frames[i] = ranges[i][1] - ranges[i][0]
        else:
            raise RuntimeError(f"render worker {i} failed:\n{payload}")
        if bar is not None:
            bar.update(sum(done_frames))

    def own_progress(done: int) -> None:  # between our own frames: pass on the workers' news
        done_frames[0] = done
        with contextlib.suppress(queue.Empty):
            while True:
                handle(msgs.get_nowait())
        for i, p in procs.items():
            if i not in results and p.exitcode is not None and p.exitcode != 0:
                with contextlib.suppress(queue.Empty):
                    handle(msgs.get(timeout=1.0))
                raise RuntimeError(f"render worker {i} died (exit code {p.exitcode})")
        if bar is not None:
            bar.update(sum(done_frames))

    old_lp = os.environ.get("LP_NUM_THREADS")
    try:
        for p in procs.values():
            p.start()
        if lp_threads:  # Mesa reads it when this process makes its first GL context
            os.environ["LP_NUM_THREADS"] = str(lp_threads)
        a, b = ranges[0]
        source = make_source()
        try:
            with PieceEncoder(pieces[0], size, fps) as enc:
                results[0] = _encode_range(source, states[a:b], enc, own_progress)
        finally:
            source.close()
        while len(results) < len(ranges):
            msg = _next_message(msgs, procs, results)
            if msg is not None:
                handle(msg)
        for p in procs.values():
            p.join()
        concat_pieces(pieces, out_path)
    finally:
        if old_lp is None:
            os.environ.pop("LP_NUM_THREADS", None)
        else:
            os.environ["LP_NUM_THREADS"] = old_lp
        _stop_processes(list(procs.values()))
        msgs.cancel_join_thread()
        msgs.close()
        shutil.rmtree(pieces_dir, ignore_errors=True)
    return {"frames": len(states), "rendered": sum(r["rendered"] for r in results.values()),
            "render_s": sum(r["render_s"] for r in results.values()), "jobs": len(ranges)}


def _next_message(msgs, procs: dict, results: dict) -> tuple | None:
    """The next worker message, or None after a short wait; raise if a worker died without a word."""
    try:
        return msgs.get(timeout=0.2)
    except queue.Empty:
        pass
    for i, p in procs.items():
        if i not in results and p.exitcode is not None:
            try:  # a message sent just before exiting may still be in the pipe
                return msgs.get(timeout=1.0)
            except queue.Empty:
                raise RuntimeError(f"render worker {i} died (exit code {p.exitcode})") from None
    return None


# ---------------------------------------------------------------------------------------------- the story
@dataclasses.dataclass(frozen=True)
class VideoPlan:
    """What the video shows, frame by frame, before anything is drawn.

    Parameters
    ----------
    fps : int
        Frames per second.
    states : tuple
        One frame state per frame, with the story time blanked (``t_s = 0``): the picture depends on what
        is shown, not on when, so a held shot is a run of equal states drawn once. While a title card is up
        its first state is repeated (the card covers the scene, whose camera may still be moving).
    cues : tuple of Cue
        Subtitles in video time (the story's, cut at the end of the stretch shown).
    story_s : float
        Seconds of the story shown (the whole story, or the first ``duration_s``).
    """

    fps: int
    states: tuple
    cues: tuple[Cue, ...]
    story_s: float

    @property
    def duration_s(self) -> float:
        """Length of the video in seconds (frames / fps)."""
        return len(self.states) / self.fps


def picture_key(state):
    """``state`` without the fields that do not change the picture (the story clock ``t_s``)."""
    if dataclasses.is_dataclass(state) and any(f.name == "t_s" for f in dataclasses.fields(state)):
        return dataclasses.replace(state, t_s=0.0)
    return state


def _same_card(prev, state) -> bool:
    """Both states show the same title card (the nearly opaque card covers whatever moves behind it)."""
    card = getattr(state, "card", None)
    return bool(card) and card == getattr(prev, "card", None) and \
        getattr(state, "card_sub", None) == getattr(prev, "card_sub", None)


def video_plan(story, fps: int, duration_s: float | None = None, start_s: float = 0.0) -> VideoPlan:
    """Lay out the video: the story (opening card, chapters with title cards, closing card) at ``fps``.

    Parameters
    ----------
    story : cryoviz.story.timeline.Story
        The story; only ``duration_s``, ``cues`` and ``state_at`` are used.
    fps : int
        Frames per second.
    duration_s : float, optional
        Show only this many seconds of the story (previews, tests, benchmarks).
    start_s : float
        Story time of the first frame (0: from the opening card).

    Returns
    -------
    VideoPlan
    """
    start_s = min(max(0.0, float(start_s)), float(story.duration_s))
    left_s = float(story.duration_s) - start_s
    story_s = left_s if duration_s is None else min(float(duration_s), left_s)
    n = max(1, round(story_s * fps))
    states: list = []
    for i in range(n):
        state = picture_key(story.state_at(start_s + i / fps))
        if states and _same_card(states[-1], state):
            state = states[-1]  # the card hides the scene: hold the picture instead of redrawing it
        states.append(state)
    cues = []
    for cue in story.cues:
        c0, c1, text = ((cue.start_s, cue.end_s, cue.text) if hasattr(cue, "start_s") else cue)
        c0, c1 = float(c0) - start_s, min(float(c1) - start_s, story_s)
        if c1 > 0 and c0 < story_s and str(text).strip():
            cues.append(Cue(max(c0, 0.0), c1, str(text)))
    return VideoPlan(fps=int(fps), states=tuple(states), cues=tuple(cues), story_s=story_s)


def _file_mode() -> int:
    """Permissions an ordinary new file gets here (0666 less the umask)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


#: Stories already loaded in this process, so a one-process render does not load its story twice.
_LOADED: dict[tuple, Any] = {}


class _StorySource:
    """Frames of a story from a :class:`~cryoviz.view.render.SceneRenderer`."""

    def __init__(self, story, size: tuple[int, int], captions: bool, ultrasound: bool):
        from cryoviz.view.render import SceneRenderer

        self.renderer = SceneRenderer(story, size, captions=captions, ultrasound=ultrasound)

    def frame(self, state) -> np.ndarray:
        self.renderer.apply(state)
        return self.renderer.image()

    def close(self) -> None:
        self.renderer.close()


def _story_source(scene_path: str, lang: str | None, size: tuple[int, int], captions: bool,
                  ultrasound: bool) -> _StorySource:
    """Build a frame source for a scene (picklable through ``functools.partial``)."""
    story = _LOADED.get((scene_path, lang))
    if story is None:
        from cryoviz.story.session import load_story

        story = load_story(scene_path, lang=lang)
    return _StorySource(story, size, captions, ultrasound)


def render_video(scene_path, out_path, *, size: tuple[int, int] = (1280, 720), fps: int = 30,
                 lang: str | None = None, jobs: int | None = None, captions: bool = True,
                 ultrasound: bool = False, duration_s: float | None = None,
                 progress: bool | TextIO = True) -> dict:
    """Render the education video (H.264 MP4) and its WebVTT subtitles (``OUT.vtt``) beside it.

    Parameters
    ----------
    scene_path : path-like
        Scene TOML file.
    out_path : path-like
        The ``.mp4`` to write; the subtitles go to the same name with ``.vtt``.
    size : (int, int)
        Width and height in pixels (even numbers).
    fps : int
        Frames per second, 24 to 60.
    lang : str, optional
        Language of captions and cards; the scene's when None.
    jobs : int, optional
        Worker processes; the machine's cores when None.
    captions : bool
        Burn the captions into the picture (the VTT is written either way).
    ultrasound : bool
        Show the ultrasound view picture-in-picture.
    duration_s : float, optional
        Render only the first seconds of the story (previews; the story opens with its title card).
    progress : bool or text stream
        Progress bar on stderr (or the given stream).

    Returns
    -------
    dict
        ``frames``, ``rendered``, ``render_s``, ``wall_s``, ``jobs``, ``duration_s``, ``cues``, ``mp4``,
        ``vtt``.

    Raises
    ------
    InputError
        Bad options or a bad scene, before anything is rendered or written.
    """
    from cryoviz.core.files import atomic_path
    from cryoviz.deliver.vtt import vtt_text
    from cryoviz.story.session import check_lang, load_story

    out_path, size, fps, jobs = check_video_args(out_path, size, fps, jobs, duration_s)
    check_lang(lang)
    vtt_path = out_path.with_suffix(".vtt")
    scene_key = str(Path(scene_path))
    story = load_story(scene_key, lang=lang)
    plan = video_plan(story, fps, duration_s)
    jobs = min(jobs, len(split_ranges(plan.states, jobs)))
    make_source = functools.partial(_story_source, scene_key, lang, size, bool(captions), bool(ultrasound))
    _LOADED[(scene_key, lang)] = story  # this process draws the first range with it; workers load their own
    del story

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        with atomic_path(out_path) as tmp_mp4, atomic_path(vtt_path) as tmp_vtt:
            tmp_vtt.write_text(vtt_text(plan.cues), encoding="utf-8")
            stats = encode_frames(plan.states, make_source, tmp_mp4, size, fps, jobs=jobs, progress=progress)
            mode = _file_mode()  # temporary files are private (0600); the video is an ordinary file
            os.chmod(tmp_mp4, mode)
            os.chmod(tmp_vtt, mode)
    finally:
        _LOADED.pop((scene_key, lang), None)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    stats.update(duration_s=plan.duration_s, cues=len(plan.cues), mp4=str(out_path), vtt=str(vtt_path))
    return stats
