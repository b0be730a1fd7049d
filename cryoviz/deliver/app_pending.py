"""The consultation before the simulation is ready: the anatomy chapters first, the rest marked as pending.

:class:`PendingMixin` is part of :class:`cryoviz.deliver.app.ConsultationApp`. On a cold start (no cached
result) and after every sizing change the app shows the patient's anatomy chapters at once
(:func:`cryoviz.story.pending.anatomy_story`: no thermal figure in them) while the solver compiles and runs
in the background; the chapters that need the result are listed as pending ("the freezing is being
computed for this patient") and cannot be opened. When the result arrives it replaces the pending story in
place: same story time (the anatomy chapters have the same timing in both), and a story that was left
playing at the end of the anatomy chapters plays on.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from trame.decorators import change

from cryoviz.deliver.app_content import finite_or

__all__ = ["PendingMixin", "is_pending"]

log = logging.getLogger("cryoviz.deliver.app")
#: Seconds after the server is up before the solver process is started and warmed (a consultation that
#: starts from a cached result; the page's first picture comes first).
WARM_SOLVER_AFTER_S = 3.0
#: Seconds the event loop gets to send the page the withdrawn numbers before the re-planning worker starts
#: the anatomy chapters (whose meshes hold the interpreter lock in long calls: the page heard of the
#: withdrawal only with the new anatomy, 0.4-0.9 s later, measured in docs/app.md).
WITHDRAW_SEND_S = 0.05


def is_pending(story) -> bool:
    """Whether ``story`` is an anatomy story waiting for its thermal result."""
    return bool(getattr(story, "is_pending", False))


class PendingMixin:
    """Anatomy first, result after (see the module docstring)."""

    _wanted_t: float | None = None
    _withdrawn_sent = None      # threading.Event set once the page was sent the withdrawal (a sizing change)
    _play_on_result = False

    def _anatomy_story(self, scene):
        """The anatomy chapters of ``scene`` in the page's language (None: the scene has none)."""
        from cryoviz.story.pending import anatomy_story

        sent = getattr(self, "_withdrawn_sent", None)
        if sent is not None:      # a sizing change: the page hears first that the old numbers are gone
            sent.wait(0.5)
        if getattr(self, "solver", None) is not None:   # and the full run reaches the solver process
            self.solver.handed_over()

        return anatomy_story(scene, lang=self.state.lang, grid_mm=self.resim.full_grid_mm)

    def _start(self, scene, first_grid_mm: float, two_stage: bool):
        """Show the first picture; return the background job that brings the result (or None).

        With the full result cached it is loaded at once. Otherwise the anatomy chapters are drawn now and
        the coarse preview, then the full result, are computed in the background; a scene without anatomy
        chapters waits for the coarse preview as before.
        """
        if not two_stage:
            self.say(f"loading the {first_grid_mm:g} mm thermal result from the cache")
            self._install(self._build_story(scene, first_grid_mm), "full", 0)
            return None
        story = None
        if getattr(self, "solver", None) is not None:   # the solver process starts (and compiles) now
            self.solver.start(scene, self.resim.full_grid_mm)
        try:
            story = self._anatomy_story(scene)
        except Exception:   # the anatomy chapters are a head start, never a reason not to simulate
            log.exception("anatomy chapters could not be built; waiting for the simulation")
        if story is None:
            self.say(f"simulating the freeze at {first_grid_mm:g} mm for a quick first picture (on a new "
                     "machine the solver is compiled first); the full result follows in the background")
            self._install(self._build_story(scene, first_grid_mm), "preview", 0)
            return self.resim.submit(scene, preview=False)
        self._install(story, "anatomy", 0)
        full = self.resim.full_grid_mm
        self.say(f"anatomy chapters ready; the freezing is being computed in the background at {full:g} mm "
                 "(on a new machine the solver is compiled first)")
        self.sim_started = time.perf_counter()
        # no coarse preview: the anatomy chapters show the patient now, and the full result comes sooner
        return self.resim.submit(scene, preview=self.resim.preview_after_anatomy, anatomy=False)

    def _send_withdrawal_first(self) -> None:
        """At a sizing change, before the worker starts: let the event loop send the page the withdrawn
        numbers first (:data:`WITHDRAW_SEND_S`); :meth:`_anatomy_story` waits for it."""
        self._withdrawn_sent = sent = threading.Event()
        loop = getattr(self, "_loop", None)
        if loop is not None and loop.is_running():
            loop.call_later(WITHDRAW_SEND_S, sent.set)
        else:
            sent.set()

    def _warm_solver(self, **_):
        """Server ready: a little later, start the solver process and load the solver in it (if no run did
        already), so that the first sizing change does not wait for it (:meth:`SolverProcess.warm_up`)."""
        solver = getattr(self, "solver", None)
        if solver is None:
            return
        asyncio.get_event_loop().call_later(WARM_SOLVER_AFTER_S, lambda: solver.warm_up(self.scene))

    def _install_stage(self, story, stage: str, previous) -> None:
        """Pending bookkeeping of :meth:`_install` (``story`` replaces ``previous``, before it is shown)."""
        s = self.state
        t = finite_or(s.t_s, 0.0)
        self._pending_panel()
        if is_pending(story):
            if t > story.duration_s:       # re-planning from a later chapter: come back there afterwards
                self._wanted_t = t
            return
        at_end = is_pending(previous) and t >= float(previous.duration_s) - 1e-6
        if at_end and self._wanted_t is not None:
            s.t_s = min(self._wanted_t, float(story.duration_s))
        self._wanted_t = None
        if self._play_on_result and stage in ("preview", "full"):
            self._play_on_result = False
            s.playing = True

    def _pending_panel(self) -> None:
        """The pending chapters and words of the story shown, in its language (none once a result is in)."""
        s, story = self.state, self.story
        if is_pending(story):
            s.pending_chapters = [{"id": cid, "title": title} for cid, title in story.pending]
            s.pending_text = str(story.text.get("pending", {}).get("computing", ""))
        else:
            s.pending_chapters, s.pending_text = [], ""

    @property
    def _pending_end(self) -> float | None:
        """End of the pending story shown (s), None when a result is shown."""
        return float(self.story.duration_s) if is_pending(self.story) else None

    @change("playing")
    def _on_playing(self, playing, **_):
        # the story stopped at the end of the anatomy chapters: play on when the freezing is computed
        end = self._pending_end
        if not playing and end is not None and finite_or(self.state.t_s, 0.0) >= end - 1e-6:
            self._play_on_result = True
        elif playing:
            self._play_on_result = False
