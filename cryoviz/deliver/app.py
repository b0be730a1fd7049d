"""The consultation app: the story in the browser, drawn on the server by the same renderer as the video.

One process is one consultation: every tab shares one state (trame). The 3D view is a trame-vtk
``VtkRemoteView`` on :class:`cryoviz.view.render.SceneRenderer`'s render window, so the browser shows exactly
the pictures of the take-home video. Re-sizing the anatomy re-simulates in a worker thread, a 2 mm preview
first and the scene's own grid after, while the page stays live.

Run it with ``cryoviz serve [SCENE] [--host 127.0.0.1] [--port 8080] [--auth-key KEY] [--no-browser]``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from pathlib import Path
from typing import Any

from trame.app import TrameApp, get_server
from trame.decorators import change

from cryoviz.core.errors import InputError
from cryoviz.deliver import app_state as st
from cryoviz.deliver.app_content import (
    as_float,
    chapter_list,
    default_build_story,
    default_renderer,
    finite_or,
    languages,
    thermal_is_cached,
)
from cryoviz.deliver.app_pending import PendingMixin, is_pending
from cryoviz.deliver.app_play import KEY_STEP_S, FramePacer, PlayClock, PlayMixin
from cryoviz.deliver.app_serve import check_host, is_loopback, read_auth_key, serve
from cryoviz.deliver.app_sim import SolverProcess
from cryoviz.deliver.app_start import StartMixin
from cryoviz.deliver.app_turntable import TurntableMixin, turn_state
from cryoviz.deliver.app_view import DRAG_MODE, ViewMixin, drag_state
from cryoviz.deliver.app_withdraw import WithdrawMixin

__all__ = ["KEY_STEP_S", "ConsultationApp", "check_host", "is_loopback", "read_auth_key", "serve",
           "thermal_is_cached"]

log = logging.getLogger(__name__)
_SERVER_IDS = itertools.count()
#: Rectal gap after hydrodissection, mm (median 11.2 mm, Lomas et al. 2019; the scene model's default).
HYDRO_GAP_MM = 11.0


class ConsultationApp(WithdrawMixin, StartMixin, PendingMixin, PlayMixin, TurntableMixin, ViewMixin,
                      TrameApp):
    """One consultation: a story, its renderer and the page around it.

    Parameters
    ----------
    scene : cryoviz.model.scene.Scene
        The validated scene to show.
    server : trame server or str, optional
        Server (or its name); a fresh one by default.
    size : tuple of int
        Initial 3D view size (width, height) in pixels; the browser resizes it.
    preview_grid_mm : float
        Grid of the quick first simulation, mm.
    full_grid_mm : float, optional
        Grid of the full simulation that replaces the preview, mm (default: the scene's).
    screenshot_dir : path-like
        Where the screenshot button saves PNG files.
    build_story : callable, optional
        ``build_story(scene, lang=, grid_mm=) -> Story``; by default the solver runs in its own process
        (:class:`cryoviz.deliver.app_sim.SolverProcess`) and :func:`cryoviz.story.session.build_story`
        loads its result from the cache.
    make_renderer : callable, optional
        ``make_renderer(story, size) -> SceneRenderer``; :class:`cryoviz.view.render.SceneRenderer` (captions
        off: the page shows them in large type) by default.
    say : callable, optional
        ``say(text)`` reports what the server is doing (``cryoviz serve`` prints it in the terminal).
    first_in_background : bool
        Build the first story beside the web server (``cryoviz serve``, :mod:`cryoviz.deliver.app_start`).
    """

    def __init__(self, scene, server=None, *, size: tuple[int, int] = (960, 600),
                 preview_grid_mm: float = 2.0, full_grid_mm: float | None = None,
                 screenshot_dir: str | Path = "cryoviz-screenshots", build_story=None, make_renderer=None,
                 say=None, first_in_background: bool = False):
        super().__init__(server if server is not None else get_server(f"cryoviz-{next(_SERVER_IDS)}"),
                         client_type="vue3")
        from cryoviz.story.text import load_text

        self.scene = scene
        self.planned = scene   # the scene as loaded: its own probe plan can always be chosen again
        self.say = say or (lambda _text: None)
        self.size = (int(size[0]), int(size[1]))
        self.screenshot_dir = Path(screenshot_dir)
        self._load_text = load_text
        self.solver = SolverProcess() if build_story is None else None
        self._story_builder = build_story or self._solve_then_build
        self._make_renderer = make_renderer or default_renderer
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: list[tuple[Any, str, int]] = []
        self._play_task: asyncio.Task | None = None
        self._repush: asyncio.TimerHandle | None = None
        self._show_handle: asyncio.Handle | None = None
        self._show_force = False
        self._gap_before_hydro: float | None = None
        self._us_last = (None, 0.0)
        self.view = None
        self.renderer = None
        self._init_start()
        self.map_thread: threading.Thread | None = None
        self.story = None
        self.grid_mm: float | None = None
        self.clock = PlayClock()
        self._t_pushed: float | None = None      # the play loop's last story time sent to the page
        self._text_at, self._text_words = 0.0, None
        self.pacer = FramePacer()
        self.sim_started: float | None = None
        self.resim = st.Resimulator(self._build_story, self._from_worker, self._worker_failed,
                                    preview_grid_mm=preview_grid_mm,
                                    full_grid_mm=full_grid_mm or scene.thermal.grid_mm,
                                    build_anatomy=self._first_anatomy)
        self._init_state()
        # a preview only pays when it is coarser than the full grid and the full result is not cached
        two_stage = (preview_grid_mm > self.resim.full_grid_mm
                     and not thermal_is_cached(scene, self.resim.full_grid_mm))
        # a later re-planning always shows the coarse preview first (a new patient is never cached at
        # start); only the first picture skips it when the full result is already on disk
        self.resim.preview_grid_mm = preview_grid_mm if preview_grid_mm > self.resim.full_grid_mm else None
        t0 = time.perf_counter()
        first = preview_grid_mm if two_stage else self.resim.full_grid_mm
        self.startup_s: float | None = None
        if first_in_background:
            self.future = self._start_in_background(scene, first, two_stage)
        else:
            self.first_picture_out.set()
            self.future = self._start(scene, first, two_stage)
            self.startup_s = time.perf_counter() - t0
            self.say(f"first picture ready in {self.startup_s:.1f} s; starting the web server")
        self._build_ui()
        self.server.controller.on_server_ready.add(self._on_ready)
        self.server.controller.on_server_ready.add(self._turn_ready)
        self.server.controller.on_server_ready.add(self._warm_solver)
        self.server.controller.on_server_exited.add(self._on_exit)
        self.server.controller.on_client_connected.add(self._client_connected)

    # ------------------------------------------------------------------------------------ state
    def _init_state(self) -> None:
        s = self.state
        a = self.scene.anatomy
        lang = self.scene.story.language
        s.update({
            "t_s": 0.0, "duration_s": 1.0, "playing": False, "speed": 1.0, "lang": lang,
            "chapters": [], "chapter_id": "", "chapter_title": "", "caption": "", "clock": "",
            "organs": [], "organs_visible": {}, "cutaway": False, "section_view": "story",
            "iso_0": True, "iso_m20": True, "iso_m40": True, "clinician": False,
            "lesion_us": False, "has_lesions": False,
            "volume_ml": float(a.volume_ml), "rectum_gap_mm": float(a.rectum_gap_mm),
            "hydrodissection": bool(a.hydrodissection),
            "preset": st.plan_of(self.scene),
            "presets": [], "speeds": list(st.SPEEDS), "langs": languages(),
            "sim_status": "preview", "sim_busy": True, "sim_error": "", "sim_generation": 0,
            "spared": {}, "spared_lines": [], "us_src": "", "sensor_svg": "", "probe_rows": [],
            "numbers": [], "legend": [], "screenshot_path": "", "take_home_path": "", "labels": {},
            "disclaimer": "",
            "spared_title": "", "grid_mm": 0.0, "frame_jpeg": None, "frame_seq": 0,
            "pending_chapters": [], "pending_text": "", "view_epoch": 0, "withdrawn": False,
            **drag_state(DRAG_MODE), **turn_state(),
        })
        self._apply_text(lang)

    # ---------------------------------------------------------------------------- story & renderer
    def _build_story(self, scene, grid_mm: float | None):
        return self._story_builder(scene, lang=self.state.lang, grid_mm=grid_mm)

    def _solve_then_build(self, scene, lang=None, grid_mm=None):
        """The default builder: the solver process fills the cache, then the story loads from it."""
        grid = float(scene.thermal.grid_mm if grid_mm is None else grid_mm)
        if self.solver is not None and not thermal_is_cached(scene, grid):
            self._wait_first_picture()   # a background start: the first picture goes out first (app_start)
            self.solver.simulate(scene, grid)
        story = default_build_story(scene, lang=lang, grid_mm=grid)
        story.anatomy.meshes()
        return story

    def _from_worker(self, story, stage: str, gen: int) -> None:
        """Called in the worker thread: hand the new story to the event loop (or queue it)."""
        grid = float(story.result.metrics.get("grid_mm", 0.0) or 0.0)
        since = "" if self.sim_started is None else f" after {time.perf_counter() - self.sim_started:.1f} s"
        what = "full" if stage == "full" else "preview"
        if stage != "anatomy" or self.startup_s is not None:    # a first one is told when it is shown
            self.say("anatomy chapters of the new patient ready; the freezing is being computed" if stage ==
                     "anatomy" else f"{what} result ready ({grid:g} mm){since}")
        self._handed_over = True
        self._to_loop((story, stage, gen))

    def _worker_failed(self, exc: BaseException, gen: int) -> None:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if gen == self.resim.generation:   # (not a run the closing server abandoned)
            self.say(f"could not compute this patient: {msg}")
        self._to_loop((None, msg, gen))    # None: a failure, reported on the page

    def process_pending(self) -> int:
        """Install stories finished while no event loop ran (in-process use and tests); return how many."""
        done = 0
        while self._pending:
            story, stage, gen = self._pending.pop(0)
            if story is None:
                self.state.sim_busy, self.state.sim_error = False, stage
            else:
                self._install(story, stage, gen)
            done += 1
        return done

    def _install_and_flush(self, story, stage: str, gen: int) -> None:
        with self.state:
            self._install(story, stage, gen)

    def _install(self, story, stage: str, gen: int) -> None:
        """Make ``story`` the shown one: a new renderer on it, swapped into the 3D view."""
        if gen != self.resim.generation and gen != 0:
            return
        if story.lang != self.state.lang:
            story = story.with_language(self.state.lang)
        size = self.size
        if self.renderer is not None:
            size = tuple(int(v) for v in self.renderer.plotter.window_size)
        elif self._blank is not None:   # the page already gave the empty window its size
            size = tuple(int(v) for v in self._blank.GetSize()) or size
        renderer = self._make_renderer(story, size)
        old, self.renderer, self.story, previous = self.renderer, renderer, story, self.story
        self.grid_mm = float(story.result.metrics.get("grid_mm", 0.0) or 0.0)
        self.state.grid_mm = self.grid_mm
        self._push_options()
        s = self.state
        s.duration_s = float(story.duration_s)
        s.chapters = chapter_list(story)
        self._install_stage(story, stage, previous)
        s.t_s = min(finite_or(s.t_s, 0.0), s.duration_s)
        s.sim_status = stage
        s.sim_busy = stage != "full"
        s.sim_error = ""
        s.sim_generation = gen
        self._organ_list()
        self._numbers()
        if self.view is not None:
            self.view.replace_view(renderer.plotter.render_window)
        self._show(force=True)
        self._drop_blank()
        self._said_first(stage)
        if old is not None:
            self._forget_window(old.plotter.render_window)
            old.close()
            del old, previous
            st.release_freed_memory()   # a whole renderer and story were just let go
        self.map_thread = threading.Thread(target=st.map_in, args=(getattr(story.result, "temps_c", None),),
                                           name="cryoviz-map-in", daemon=True)
        self.map_thread.start()

    # ------------------------------------------------------------------------------- handlers
    def client_update(self, changes: dict) -> list[str]:
        """Apply a client's state changes through :mod:`cryoviz.deliver.app_guard`; return rejected keys.

        Accepted values (cleaned: clamped time, merged organ toggles) are written and flushed; rejected ones
        never reach the state, which keeps its last valid value.
        """
        from cryoviz.deliver.app_guard import screen

        accepted, rejected = screen(self, changes)
        if rejected:
            log.info("client update refused for keys %s", ", ".join(sorted(rejected))[:300])
        if accepted:
            with self.state:
                self.state.update(accepted)
        return rejected

    @change("t_s")
    def _on_time(self, t_s, **_):
        # NaN compares false with everything: a plain clamp would keep it and re-set it forever
        t = min(max(finite_or(t_s, 0.0), 0.0), finite_or(self.state.duration_s, 0.0))
        if not (isinstance(t_s, (int, float)) and not isinstance(t_s, bool) and t == t_s):
            self.state.t_s = t
            return
        if self.started:
            self._show()

    @change("lang")
    def _on_lang(self, lang, **_):
        from cryoviz.model.scene import LANGUAGES

        if not self.started:    # the first story is built in the language of the state
            return
        if lang not in LANGUAGES:
            self.state.lang = self.story.lang
            return
        self._apply_text(lang)
        self.story = self.story.with_language(lang)
        self.renderer.set_options(lang=lang)
        s = self.state
        s.chapters = chapter_list(self.story)
        self._pending_panel()
        self._numbers()
        self._show(force=True)

    @change("speed")
    def _on_speed(self, speed, **_):
        v = finite_or(speed, 1.0)
        if v not in st.SPEEDS:
            v = min(st.SPEEDS, key=lambda x: abs(x - v))
        if not (isinstance(speed, (int, float)) and not isinstance(speed, bool) and v == speed):
            self.state.speed = v

    @change("organs_visible", "cutaway", "iso_0", "iso_m20", "iso_m40", "clinician", "lesion_us",
            "section_view")
    def _on_view_options(self, **_):
        if self.started:
            self._push_options()
            self._show()

    @change("volume_ml", "rectum_gap_mm", "hydrodissection", "preset")
    def _on_sizing(self, volume_ml, rectum_gap_mm, hydrodissection, preset, **_):
        was = self.scene.anatomy
        if bool(hydrodissection) != was.hydrodissection:
            # saline widens the gap (median 6 -> 11 mm); switching it off gives the old gap back
            if hydrodissection and as_float(rectum_gap_mm, 0.0) < HYDRO_GAP_MM:
                self._gap_before_hydro = as_float(rectum_gap_mm, was.rectum_gap_mm)
                rectum_gap_mm = self.state.rectum_gap_mm = HYDRO_GAP_MM
            elif not hydrodissection and self._gap_before_hydro is not None:
                rectum_gap_mm = self.state.rectum_gap_mm = self._gap_before_hydro
                self._gap_before_hydro = None
        try:
            scene = st.sized_scene(self.scene, volume_ml=volume_ml, rectum_gap_mm=rectum_gap_mm,
                                   hydrodissection=hydrodissection, preset=preset, planned=self.planned)
        except InputError as exc:
            # back to the values of the scene shown: a refused value must not block the next change
            a = self.scene.anatomy
            self.state.update({"volume_ml": float(a.volume_ml), "rectum_gap_mm": float(a.rectum_gap_mm),
                               "hydrodissection": bool(a.hydrodissection),
                               "preset": st.plan_of(self.scene)})
            self.state.sim_error = str(exc).splitlines()[0][:200]
            return
        if scene == self.scene:
            return
        self.scene = scene
        self._withdraw()    # the old result leaves the whole page at once: it describes another patient
        self.say(f"re-simulating this patient ({scene.anatomy.volume_ml:g} ml, gap "
                 f"{scene.anatomy.rectum_gap_mm:g} mm): anatomy first, then the freezing")
        self.sim_started = time.perf_counter()
        if self.solver is not None:   # the solver starts now, while the anatomy chapters are drawn
            self.solver.start(scene, self.resim.full_grid_mm)
        self._send_withdrawal_first()
        self.future = self.resim.submit(scene)

    def screenshot(self) -> Path | None:
        """Save a PNG of the 3D view in ``screenshot_dir``; return its path (None after a sizing change,
        until the new patient is drawn: :mod:`cryoviz.deliver.app_withdraw`)."""
        from cryoviz.core.files import atomic_path

        if self.withdrawn:   # the renderer is the old patient's: no picture of it is saved any more
            return None
        self.screenshot_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = self.screenshot_dir / f"cryoviz-{stamp}-{int(finite_or(self.state.t_s, 0.0) * 10):05d}.png"
        data = st.encode_png(self.renderer.image())
        with atomic_path(path) as tmp:
            Path(tmp).write_bytes(data)
        self.state.screenshot_path = str(path)
        return path

    def take_home(self) -> list[Path]:
        """Write the visit page and summary of the current patient and language beside the screenshots
        (:func:`cryoviz.deliver.export.write_take_home`); return their paths."""
        from cryoviz.deliver.export import write_take_home

        if is_pending(self.story) or self.withdrawn:  # a visit page tells the result: none for him yet
            self.state.take_home_path = str(self.text.get("pending", {}).get("computing", ""))
            return []
        paths = write_take_home(self.story, self.screenshot_dir)
        self.state.take_home_path = "  ".join(str(p) for p in paths)
        return paths

    # ---------------------------------------------------------------------------------------- life
    def _on_exit(self, **_):
        """Server exited: stop the loop, the re-simulation pool and the renderer (once)."""
        if self._play_task is not None:
            self._play_task.cancel()
        self.resim.close()
        if self.solver is not None:
            self.solver.close()
        if self.renderer is not None:
            self.renderer.close()

    def _build_ui(self) -> None:
        from cryoviz.deliver.app_ui import build_ui

        self.ui = build_ui(self)
