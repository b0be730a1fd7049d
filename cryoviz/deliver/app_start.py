"""The consultation's start: the web server first, the first story built beside it.

On a fresh machine (empty mesh and thermal caches) the server's own part of the first picture (the
patient's anatomy meshes, the renderer) took about 4 s, and only then did the web server start; the page's
own load (Vue, Vuetify and vtk.js bundles, the websocket, the first remote picture) took 2–7 s more on this
2-core machine, after it. With :class:`StartMixin` (``first_in_background``) ``cryoviz serve`` starts the
web server at once and builds the first story in the re-simulation's worker thread, so the page loads while
the anatomy is built; the renderer is then swapped into the 3D view as after any re-planning
(``replace_view``). Until then the 3D view streams an empty window of the background colour, the page says
the view is being prepared, and no client change is accepted (:mod:`cryoviz.deliver.app_guard`): nothing
is shown that the first story has not drawn.
"""

from __future__ import annotations

import logging
import threading
import time

__all__ = ["PICTURE_GRACE_S", "SOLVER_WAIT_LOADING_S", "SOLVER_WAIT_MAX_S", "SOLVER_WAIT_S", "StartMixin",
           "blank_window"]

log = logging.getLogger("cryoviz.deliver.app")
#: Seconds after a page connected to the first story (or the first story came to a connected page) for its
#: first picture to be drawn, encoded and sent before the solver starts.
PICTURE_GRACE_S = 1.0
#: Seconds after the first story is installed that the solver starts even if no page has connected.
SOLVER_WAIT_S = 3.0
#: Seconds after the first story that the solver starts while a page is still loading (its scripts).
SOLVER_WAIT_LOADING_S = 20.0
#: The longest a background start's solver waits for the first picture (a server without an event loop).
SOLVER_WAIT_MAX_S = 30.0


def blank_window(size: tuple[int, int]):
    """An off-screen VTK render window with one empty renderer of the scene background colour.

    It stands in for the 3D view's window until the first story's renderer exists; its pictures are of the
    background colour only (:data:`cryoviz.view.palette.BACKGROUND`).
    """
    import os

    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")   # as cryoviz.view.render
    import vtkmodules.vtkRenderingOpenGL2  # noqa: F401  (the OpenGL implementation of the window)
    from vtkmodules.vtkRenderingCore import vtkRenderer, vtkRenderWindow, vtkRenderWindowInteractor

    from cryoviz.view.palette import BACKGROUND

    hexa = BACKGROUND.lstrip("#")
    ren = vtkRenderer()
    ren.SetBackground(*(int(hexa[i:i + 2], 16) / 255.0 for i in (0, 2, 4)))
    win = vtkRenderWindow()
    win.SetOffScreenRendering(1)
    win.AddRenderer(ren)
    win.SetSize(int(size[0]), int(size[1]))
    # trame-vtk's picture push switches the window's interactor off first: without one, a push of this
    # window failed ("'NoneType' object has no attribute 'EnableRenderOff'"): the page kept its last picture
    win.cv_interactor = vtkRenderWindowInteractor()   # (the window itself holds no reference to it)
    win.cv_interactor.SetRenderWindow(win)
    return win


class StartMixin:
    """Start of :class:`cryoviz.deliver.app.ConsultationApp` (see the module docstring)."""

    _blank = None
    _page_seen = False      # a page has asked for the first story's picture
    _page_asked = False     # a page was asked for over HTTP
    _warm_waits = False     # the solver's warm-up waits for the first picture
    _handed_over = False    # a story was handed to the event loop (worker thread)
    _remounted_for: set = frozenset()   # replaced window ids a remount was made for (a set once used)

    def _init_start(self) -> None:
        self.t_created = time.perf_counter()
        self._pending_lock = threading.Lock()       # the worker's hand-over against the loop's start
        self.first_picture_out = threading.Event()  # set at once unless a background start waits for it

    @property
    def render_window(self):
        """The window the 3D view streams: the renderer's, or the empty one until the first story is in."""
        if self.renderer is not None:
            return self.renderer.plotter.render_window
        if self._blank is None:
            self._blank = blank_window(self.size)
        return self._blank

    @property
    def _view_key(self) -> str | None:
        """The state key of the 3D view's window id (trame-vtk's ``REFId``)."""
        return None if self.view is None else f"{self.view.ref_name}Id"

    @property
    def started(self) -> bool:
        """Whether the first story is installed (clients may act on the page)."""
        return self.story is not None

    def _start_in_background(self, scene, first_grid_mm: float, two_stage: bool):
        """Queue the first story in the worker thread; return its Future (see the module docstring)."""
        s = self.state
        s.sim_status, s.sim_busy = "starting", True
        s.pending_text = str(self.text.get("pending", {}).get("starting", ""))
        if not two_stage:
            self.say(f"loading the {first_grid_mm:g} mm thermal result from the cache")
            return self.resim.submit(scene, preview=False, anatomy=False)
        self.say("drawing this patient's anatomy chapters while the web server starts; then the freezing "
                 f"is computed in the background at {self.resim.full_grid_mm:g} mm (on a new machine the "
                 "solver is compiled first)")
        self.sim_started = time.perf_counter()
        # no anatomy chapters (a scene without them): the coarse preview is the first picture, as before
        return self.resim.submit(scene, preview=True, anatomy=True)

    def _first_anatomy(self, scene):
        """The anatomy chapters for the worker; None when they cannot be built (the freezing still runs)."""
        try:
            story = self._anatomy_story(scene)
        except Exception:   # the anatomy chapters are a head start, never a reason not to simulate
            log.exception("anatomy chapters could not be built; waiting for the simulation")
            return None
        import cryoviz.view.render  # noqa: F401  (its imports here, not on the event loop that builds it)

        return story

    def _said_first(self, stage: str) -> None:
        """The first story of a background start is in (once): say so, and let the solver start after the
        first picture (:meth:`_solver_after`)."""
        if self.startup_s is not None or self.first_picture_out.is_set():
            return
        self.startup_s = time.perf_counter() - self.t_created
        what = {"anatomy": "anatomy chapters", "full": "thermal result"}.get(stage, "preview") + " ready"
        self.say(f"{what}: first picture of the 3D view ready {self.startup_s:.1f} s after the start")
        if self._page_seen:
            self._solver_after(PICTURE_GRACE_S)
        else:   # no page yet: the solver starts when one has its picture, or when none is on its way
            self._solver_after(SOLVER_WAIT_S, unless_loading=True)
            self._solver_after(SOLVER_WAIT_LOADING_S)

    def _solver_after(self, delay_s: float, unless_loading: bool = False) -> None:
        """Let the waiting solver start in ``delay_s`` seconds (at once without an event loop); with
        ``unless_loading`` not while a page is loading (asked for, not yet connected).

        On a fresh machine the solver's start (a new process, its imports, numba compiling it: a core for
        about 10 s) ran beside the page's own load and the first picture, on two cores: cold first picture
        12.0, 10.6 and 18.5 s with it at once, 6.7, 7.4 and 8.0 s with it 10 s later, back to back at load
        10 to 15. So the solver waits until a page has had the first story's picture for a moment
        (:data:`PICTURE_GRACE_S` after it asked for it); when no page came, :data:`SOLVER_WAIT_S` after
        the first story; while one loads, at most :data:`SOLVER_WAIT_LOADING_S` (a page took 15 s to load
        at load 13). The anatomy chapters last about two minutes of story: a later start is not seen when
        they play.
        """
        def go():
            if not (unless_loading and self._page_asked and not self._page_seen):
                self.first_picture_out.set()
                if self._warm_waits:    # the warm-up of a start from the cache waited for this too
                    self._warm_waits = False
                    super(StartMixin, self)._warm_solver()

        loop = self._loop
        if loop is None or not loop.is_running():
            go()
        else:
            loop.call_later(delay_s, go)

    def _warm_solver(self, **kwargs):
        """Server ready: the solver's warm-up (``PendingMixin._warm_solver``, for the first re-planning)
        waits for the first picture like the solver's run (:meth:`_solver_after`)."""
        if self.first_picture_out.is_set():
            return super()._warm_solver(**kwargs)
        self._warm_waits = True
        return None

    def page_asked(self) -> None:
        """The page itself was asked for (HTTP, by :class:`cryoviz.deliver.app_security.ServerGuard`)."""
        self._page_asked = True

    def picture_asked(self, view_id: str) -> None:
        """A page asked for a picture of window ``view_id`` (trame-vtk's ``viewport.image.push``, drawn and
        sent at once): once it is the first story's, the solver may start after :data:`PICTURE_GRACE_S`."""
        if self._page_seen or not self.started or view_id != str(self.state[self._view_key]):
            return
        self._page_seen = True
        if not self.first_picture_out.is_set():
            self._solver_after(PICTURE_GRACE_S)

    def _wait_first_picture(self) -> None:
        """Worker thread, before the solver starts: once a first story is on its way to the page, wait until
        its picture is out (:meth:`_solver_after`); a first story that needs the solver does not wait."""
        if self._handed_over:
            self.first_picture_out.wait(timeout=SOLVER_WAIT_MAX_S)

    def _drop_blank(self) -> None:
        """The first renderer is in: forget the empty window (trame-vtk's map) and free its GL context."""
        blank, self._blank = self._blank, None
        if blank is None:
            return
        self._forget_window(blank)
        blank.Finalize()

    def _client_connected(self, **_):
        """A page has subscribed to state changes (trame's ``client_connected``): send it the whole state.

        A page reads the state once when its websocket opens, and subscribes to changes only after its
        scripts ran: seconds on a loaded 2-core machine. A change made in between (the first story of a
        background start, a result arriving) never reached it; its 3D view then kept asking for the empty
        window, which was gone, and showed no picture (seen in 1 of 7 cold starts at load 9). The
        layout's own keys (``trame__``) are not sent again; the 3D view's window id is.
        """
        proto = getattr(self.server, "protocol", None)
        if proto is None or not hasattr(proto, "force_push_state"):
            return
        keys = [k for k in self.state.to_dict() if not k.startswith("trame__")]
        keys += [self._view_key] if self._view_key else []
        proto.force_push_state(*keys)

    def stale_view_asked(self, view_id: str) -> None:
        """A page asked about a replaced 3D window (``view_id``): mount its 3D view again, on the current one.

        trame-vtk's remote view follows a new window id only once it has shown a picture of the window it
        was mounted on. A page whose scripts ran while the window was replaced (the first story of a
        background start, a result arriving) mounts on the old id, which is gone: it waited for that
        picture forever and never showed one. A new ``view_epoch`` (the view's Vue key) mounts the view
        again, on the id the page now has; once per replaced window, so no client can make every page's
        view mount again and again.
        """
        shown = self.state[self._view_key] if self._view_key else None
        if view_id in self._remounted_for or view_id == str(shown):   # (another server's ids in this process)
            return
        self._remounted_for = {*self._remounted_for, view_id}
        with self.state:
            self.state.view_epoch = int(self.state.view_epoch or 0) + 1

    def _to_loop(self, item: tuple) -> None:
        """Worker thread: hand ``(story, stage, generation)`` (story None: a failure, stage its message) to
        the event loop, or queue it until the loop runs (:meth:`_on_ready`, ``process_pending``)."""
        with self._pending_lock:    # the loop may start right now
            if self._loop is not None and self._loop.is_running():
                self._loop.call_soon_threadsafe(self._from_queue, *item)
            else:
                self._pending.append(item)

    def _from_queue(self, story, stage: str, gen: int) -> None:
        """Event loop: install ``story``, or report a failure (``story`` None, ``stage`` its message)."""
        if story is not None:
            self._install_and_flush(story, stage, gen)
            return
        with self.state:
            self.state.sim_busy, self.state.sim_error = False, stage

    def _on_ready(self, **kwargs):
        """Server ready: the play loop starts and stories finished meanwhile are installed (one lock with the
        worker's hand-over, so that none slips between the queue and the loop)."""
        with self._pending_lock:
            queued, self._pending[:] = list(self._pending), []
            super()._on_ready(**kwargs)
            for item in queued:     # (failures too, which the play mixin's own hand-over does not take)
                self._loop.call_soon(self._from_queue, *item)
