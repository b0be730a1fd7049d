"""Frames to an MP4 in parallel: the frame range split into chunks, rendered by worker processes.

Every frame is a pure function of its state, so :func:`encode_frames` splits the states into contiguous
chunks (:func:`split_ranges`), rendered by spawned worker processes with one renderer each while this
process renders the first; each pipes raw RGB to its own ffmpeg (:mod:`cryoviz.deliver.encode`) and the
pieces are joined without re-encoding. Consecutive equal states reuse the last picture. Ctrl-C, SIGTERM or
a crash leaves no pieces and no worker or ffmpeg process. Progress is a tqdm bar on stderr.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import multiprocessing as mp
import os
import queue
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any, Protocol, TextIO

import numpy as np

from cryoviz.deliver.encode import PieceEncoder, concat_pieces, die_with_parent

__all__ = ["FrameSource", "cores", "encode_frames", "raise_terminated", "split_ranges"]


class FrameSource(Protocol):
    """What a worker draws with: a picture for a state, and a way to let go of the renderer."""

    def frame(self, state: Any) -> np.ndarray: ...

    def close(self) -> None: ...


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


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
def _progress_bar(total: int, stream: TextIO | None):
    """A tqdm bar on ``stream`` (stderr by default): frames done/total, elapsed time, time left, rate."""
    from tqdm import tqdm

    return tqdm(total=total, file=sys.stderr if stream is None else stream, desc="render", unit="frame",
                mininterval=0.5, ascii=True, ncols=100)


def _advance(bar, done: int) -> None:
    """Move ``bar`` (or nothing) to ``done`` frames in all: the workers report totals, tqdm counts steps."""
    if bar is not None and done > bar.n:
        bar.update(done - bar.n)


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


def raise_terminated(signum, frame) -> None:
    """SIGTERM handler: unwind like Ctrl-C, so temporary files and child processes are cleaned up."""
    raise _Terminated(f"signal {signum}")


def _worker(index: int, make_source: Callable[[], FrameSource], states: Sequence[Hashable], piece: str,
            size: tuple[int, int], fps: int, lp_threads: int | None, msgs) -> None:
    """Worker process: build a renderer, render one contiguous range into one piece."""
    die_with_parent(signal.SIGTERM)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; it terminates us on Ctrl-C
    signal.signal(signal.SIGTERM, raise_terminated)
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
    except OSError as exc:  # a full or read-only disk: the parent raises it again as what it is
        msgs.put(("oserror", index, (exc.errno, exc.strerror or str(exc), exc.filename)))
        raise SystemExit(1) from None
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
    bar = None if progress is False else _progress_bar(n, None if progress is True else progress)
    ranges = split_ranges(states, jobs)
    if len(ranges) == 1:
        source = make_source()
        try:
            with PieceEncoder(out_path, size, fps, faststart=True) as enc:
                stats = _encode_range(source, states, enc, functools.partial(_advance, bar))
        finally:
            source.close()
        stats["jobs"] = 1
    else:
        stats = _encode_parallel(states, ranges, make_source, out_path, size, fps, bar, lp_threads)
    if bar is not None:
        bar.close()
    stats["wall_s"] = time.perf_counter() - t0
    return stats


def _encode_parallel(states, ranges, make_source, out_path, size, fps, bar, lp_threads) -> dict:
    """This process renders the first range while spawned workers render the others; then join."""
    if lp_threads is None and "LP_NUM_THREADS" not in os.environ:
        lp_threads = max(1, cores() // len(ranges))
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
        elif kind == "oserror":
            raise OSError(*payload)
        else:
            raise RuntimeError(f"render worker {i} failed:\n{payload}")
        _advance(bar, sum(done_frames))

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
        _advance(bar, sum(done_frames))

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
