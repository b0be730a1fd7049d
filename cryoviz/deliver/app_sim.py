"""The consultation's solver in a process of its own, at a lower CPU priority than the page.

In a thread of the server the solver (numba compiling it on a new machine, then the run's Python loop)
shared the interpreter lock with the event loop: the first picture, the page and every timeline change
waited behind it. Here :class:`SolverProcess` runs :func:`cryoviz.physics.thermal.simulate` in one
long-lived child process (``spawn``, ``nice`` +5) that stores the result in the on-disk cache; the app then
loads it from there (memory-mapped) as on any warm start. The child stays up for the consultation, so a
re-planning pays neither the start nor the compile again, and the run's working memory is the child's, not
the server's. The child reports progress to the terminal. If the child cannot run (no process, broken pool)
the solve runs in the calling thread as before.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import CancelledError, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

__all__ = ["NICE", "WARM_GRID_MM", "SolverProcess"]

log = logging.getLogger("cryoviz.deliver.app")
#: Niceness added to the solver process: the page's pictures come first on a 2-core machine.
NICE = 5
#: Grid of the warm-up run (:meth:`SolverProcess.warm_up`), mm: coarse, it only loads the solver.
WARM_GRID_MM = 4.0


#: In the child: the pipe end it writes a byte to as it takes a job (:meth:`SolverProcess.handed_over`).
_TAKEN = None


def _child_init(nice: int, taken=None) -> None:
    global _TAKEN
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl+C is the server's: it closes this process
    with contextlib.suppress(OSError):
        os.nice(int(nice))
    _TAKEN = taken


def _say_taken() -> None:
    if _TAKEN is not None:
        with contextlib.suppress(OSError, ValueError):
            _TAKEN.send_bytes(b"t")


class _Progress:
    """Terminal lines while the run goes: when the solver is ready (compiled), then every quarter."""

    def __init__(self, grid_mm: float, say_prefix: str) -> None:
        self.grid_mm, self.prefix = grid_mm, say_prefix
        self.t0 = time.perf_counter()
        self.next = 0.25
        self.first = True

    def __call__(self, t_s: float, duration_s: float) -> None:
        done = t_s / duration_s if duration_s > 0 else 1.0
        wall = time.perf_counter() - self.t0
        if self.first:
            self.first = False
            print(f"{self.prefix}solver running at {self.grid_mm:g} mm after {wall:.1f} s (compiled on first "
                  "use on a new machine)", file=sys.stderr, flush=True)
        if done >= self.next - 1e-9:
            print(f"{self.prefix}simulating at {self.grid_mm:g} mm: {100 * done:.0f} % of the protocol "
                  f"({wall:.1f} s)", file=sys.stderr, flush=True)
            while self.next <= done + 1e-9:
                self.next += 0.25


def _solve(scene, grid_mm: float, say_prefix: str) -> float:
    """In the child: simulate ``scene`` at ``grid_mm`` into the cache (a hit does nothing); wall seconds."""
    _say_taken()
    from cryoviz.physics.thermal import is_cached, simulate

    t0 = time.perf_counter()
    if not is_cached(scene, grid_mm):
        simulate(scene, grid_mm=grid_mm, progress=_Progress(grid_mm, say_prefix))
    return time.perf_counter() - t0


def _warm(scene, grid_mm: float) -> float:
    """In the child: load the solver (numba's cached machine code, or compile it) with a coarse run of
    ``scene`` that is not stored; wall seconds."""
    _say_taken()
    from cryoviz.physics.thermal import simulate

    t0 = time.perf_counter()
    simulate(scene, grid_mm=grid_mm, use_cache=False)
    return time.perf_counter() - t0


class SolverProcess:
    """One child process that fills the thermal cache for the app (see the module docstring).

    Parameters
    ----------
    nice : int
        Niceness added to the child.
    say_prefix : str
        Start of the child's terminal lines (``cryoviz serve``'s own).
    """

    def __init__(self, nice: int = NICE, say_prefix: str = "cryoviz serve: ") -> None:
        self.nice, self.say_prefix = int(nice), say_prefix
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._running: dict = {}      # (scene repr, grid mm) -> Future of a run started ahead (:meth:`start`)
        self._taken = None            # reading end of a pipe the child writes a byte to as it takes a job
        self._warm = False            # the child has taken a job before (it is up, imports done)
        self._taken_lock = threading.Lock()   # one reader at a time (the event loop, the worker)
        # at interpreter exit, end the child before concurrent.futures joins it: otherwise an exit that
        # skipped close() (an error while starting the server) waits for the whole run. This is the hook
        # concurrent.futures itself uses; hooks run last-registered first, so this one runs before its join.
        threading._register_atexit(self.close)

    def _executor(self) -> ProcessPoolExecutor | None:
        with self._lock:
            if self._closed:
                return None
            if self._pool is None:
                # a pipe, not a multiprocessing Event: a child terminated while it held the Event's
                # shared lock would leave the server's next wait on it blocked for ever
                ctx = multiprocessing.get_context("spawn")
                self._taken, writer = ctx.Pipe(duplex=False)
                self._warm = False
                self._pool = ProcessPoolExecutor(1, mp_context=ctx, initializer=_child_init,
                                                 initargs=(self.nice, writer))
            return self._pool

    def start(self, scene, grid_mm: float):
        """Start the run of ``scene`` at ``grid_mm`` now, without waiting (the app starts the full result
        while it draws the anatomy chapters); :meth:`simulate` of the same run then waits for this one.
        Returns the Future, or None when there is no child."""
        key = (repr(scene), float(grid_mm))       # scenes hold dicts: not hashable, but their repr is exact
        with self._lock:
            fut = self._running.get(key)
            if fut is not None and not fut.done():
                return fut
        pool = self._executor()
        if pool is None:
            return None
        try:
            self._warm = self._drain_taken() or self._warm
            fut = pool.submit(_solve, scene, float(grid_mm), self.say_prefix)
        except (BrokenProcessPool, RuntimeError, OSError):
            return None
        with self._lock:
            self._running = {k: f for k, f in self._running.items() if not f.done()}
            self._running[key] = fut
        return fut

    def warm_up(self, scene):
        """Start the child and load the solver in it now, if no child is up yet; the Future, or None.

        A consultation that starts from a cached result needs no solver until the first sizing change,
        which then paid for the child's start, its imports and loading the solver: 1.4-2 s of the first
        re-planning (docs/app.md). The app calls this a few seconds after the page is up; the run is a
        coarse one (:data:`WARM_GRID_MM`) of the scene shown and is not stored.
        """
        with self._lock:
            if self._pool is not None or self._closed:
                return None
        pool = self._executor()
        if pool is None:
            return None
        try:
            return pool.submit(_warm, scene, WARM_GRID_MM)
        except (BrokenProcessPool, RuntimeError, OSError):
            return None

    def handed_over(self, timeout_s: float = 0.3) -> bool:
        """Wait until the child has taken the job :meth:`start` gave it (at most ``timeout_s``); True if so.

        The hand-over runs through the executor's own threads in this process, which need the interpreter
        lock: started beside the anatomy chapters (meshes and labels that hold the lock for long C calls)
        the job reached the child only when they were done, 0.5-0.6 s later (measured at a sizing change,
        docs/app.md). The re-planning worker waits here first. A child that has never taken a job (it is
        still starting, the first run of a consultation) is not waited for: False at once.
        """
        taken = self._taken
        if taken is None or not self._warm or self._closed:
            return False
        try:
            if not taken.poll(timeout_s):
                return False
        except (OSError, ValueError, EOFError):
            return False
        self._drain_taken()
        return True

    def _drain_taken(self) -> bool:
        """Read every byte the child wrote so far; True if there was one (it has taken a job)."""
        taken, seen = self._taken, False
        with self._taken_lock:
            try:
                while taken is not None and taken.poll():
                    taken.recv_bytes()
                    seen = True
            except (OSError, ValueError, EOFError):
                pass
        return seen

    def simulate(self, scene, grid_mm: float) -> bool:
        """Put the result of ``scene`` at ``grid_mm`` (mm) in the cache from the child; True if it did.

        False when the child broke: the caller then simulates itself. Once :meth:`close` was called (the
        server is closing) it raises RuntimeError instead: a fallback run in the server's thread would
        hold its exit for as long as the run takes. Errors of the simulation itself (a full disk, a bad
        mesh) are raised as they are.
        """
        closed = RuntimeError("the solver process was closed")
        try:
            fut = self.start(scene, grid_mm)
            if fut is None:
                if self._closed:
                    raise closed
                return False
            fut.result()
        except (BrokenProcessPool, RuntimeError, CancelledError) as exc:
            if self._closed:
                raise closed from None
            if not isinstance(exc, BrokenProcessPool) and "shutdown" not in str(exc):
                raise               # the simulation's own error: reported like any other
            log.warning("solver process unavailable (%s); simulating in the server", exc)
            with self._lock:
                self._pool = None
            return False
        return True

    def close(self) -> None:
        """Stop the child (a run in progress is abandoned)."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            procs = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in procs:           # do not wait for a long run to end
                if proc.is_alive():
                    proc.terminate()
