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

__all__ = ["NICE", "SolverProcess"]

log = logging.getLogger("cryoviz.deliver.app")
#: Niceness added to the solver process: the page's pictures come first on a 2-core machine.
NICE = 5


def _child_init(nice: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl+C is the server's: it closes this process
    with contextlib.suppress(OSError):
        os.nice(int(nice))


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
    from cryoviz.physics.thermal import is_cached, simulate

    t0 = time.perf_counter()
    if not is_cached(scene, grid_mm):
        simulate(scene, grid_mm=grid_mm, progress=_Progress(grid_mm, say_prefix))
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
        # at interpreter exit, end the child before concurrent.futures joins it: otherwise an exit that
        # skipped close() (an error while starting the server) waits for the whole run. This is the hook
        # concurrent.futures itself uses; hooks run last-registered first, so this one runs before its join.
        threading._register_atexit(self.close)

    def _executor(self) -> ProcessPoolExecutor | None:
        with self._lock:
            if self._closed:
                return None
            if self._pool is None:
                self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_child_init, initargs=(self.nice,))
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
            fut = pool.submit(_solve, scene, float(grid_mm), self.say_prefix)
        except (BrokenProcessPool, RuntimeError):
            return None
        with self._lock:
            self._running = {k: f for k, f in self._running.items() if not f.done()}
            self._running[key] = fut
        return fut

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
