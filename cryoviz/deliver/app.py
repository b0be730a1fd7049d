"""The consultation app: the story in the browser, drawn on the server by the same renderer as the video.

One process is one consultation: every tab shares one state (trame). The 3D view is a trame-vtk
``VtkRemoteView`` on :class:`cryoviz.view.render.SceneRenderer`'s render window, so the browser shows exactly
the pictures of the take-home video. Re-sizing the anatomy re-simulates in a worker thread, a 2 mm preview
first and the scene's own grid after, while the page stays live.

Run it with ``cryoviz serve [SCENE] [--host 127.0.0.1] [--port 8080] [--auth-key KEY] [--no-browser]``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import logging
import math
import threading
import time
from pathlib import Path
from typing import Any

from trame.app import TrameApp, get_server
from trame.decorators import change

from cryoviz.core.errors import InputError
from cryoviz.deliver import app_state as st
from cryoviz.deliver.app_play import FramePacer, PlayClock, encode_jpeg

__all__ = ["ConsultationApp", "check_host", "serve"]

log = logging.getLogger(__name__)
_SERVER_IDS = itertools.count()
#: Story seconds one left/right arrow press moves (the slider's own arrows move 1 s).
KEY_STEP_S = 5.0
#: Rectal gap after hydrodissection, mm (median 11.2 mm, Lomas et al. 2019; the scene model's default).
HYDRO_GAP_MM = 11.0


def check_host(host: str, auth_key: str | None) -> None:
    """Refuse to listen beyond this machine without a strong shared key.

    Raises
    ------
    InputError
        ``host`` is not a loopback address and no ``auth_key`` was given, or the key is empty, or (beyond
        loopback) it has fewer than :data:`cryoviz.deliver.app_security.MIN_KEY_CHARS` visible characters.
    """
    from cryoviz.deliver.app_security import MIN_KEY_CHARS, key_problem

    if auth_key is not None and not auth_key.strip():
        raise InputError.one("argument", "--auth-key", "empty key", "a non-empty shared secret", "")
    if is_loopback(host):
        return
    if auth_key is None:
        raise InputError.one("argument", "--host", "listening beyond this machine needs --auth-key",
                             "127.0.0.1, localhost, ::1, or another host together with --auth-key KEY", host)
    problem = key_problem(auth_key)
    if problem:
        raise InputError.one("argument", "--auth-key", problem,
                             f"at least {MIN_KEY_CHARS} visible characters for --host {host}",
                             f"{len(auth_key)} characters")


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``localhost`` or a loopback address)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_auth_key(auth_key: str | None = None, key_file=None, environ=None) -> str | None:
    """The shared key: ``--auth-key``, else the first line of ``--auth-key-file``, else ``$CRYOVIZ_AUTH_KEY``.

    A key in a file or the environment stays out of ``ps``. Raises InputError for an unreadable key file.
    """
    import os

    if auth_key is not None:
        return auth_key
    if key_file is not None:
        path = Path(key_file)
        try:
            if not path.is_file():
                raise OSError("not a regular file")
            with path.open("rb") as fh:
                data = fh.read(4097)
        except OSError as exc:
            raise InputError.one("argument", "--auth-key-file", f"unreadable key file ({exc})",
                                 "a readable file holding the key", str(path)) from None
        if len(data) > 4096:
            raise InputError.one("argument", "--auth-key-file", "key file too large", "up to 4096 bytes",
                                 str(path))
        lines = data.decode("utf-8", "replace").strip().splitlines()
        return lines[0].strip() if lines else ""
    env = os.environ if environ is None else environ
    return env.get("CRYOVIZ_AUTH_KEY") or None


class ConsultationApp(TrameApp):
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
        ``build_story(scene, lang=, grid_mm=) -> Story``; :func:`cryoviz.story.session.build_story` by
        default.
    make_renderer : callable, optional
        ``make_renderer(story, size) -> SceneRenderer``; :class:`cryoviz.view.render.SceneRenderer` (captions
        off: the page shows them in large type) by default.
    """

    def __init__(self, scene, server=None, *, size: tuple[int, int] = (960, 600),
                 preview_grid_mm: float = 2.0, full_grid_mm: float | None = None,
                 screenshot_dir: str | Path = "cryoviz-screenshots", build_story=None, make_renderer=None):
        super().__init__(server if server is not None else get_server(f"cryoviz-{next(_SERVER_IDS)}"),
                         client_type="vue3")
        from cryoviz.story.text import load_text

        self.scene = scene
        self.size = (int(size[0]), int(size[1]))
        self.screenshot_dir = Path(screenshot_dir)
        self._load_text = load_text
        self._story_builder = build_story or _default_build_story
        self._make_renderer = make_renderer or _default_renderer
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
        self.map_thread: threading.Thread | None = None
        self.story = None
        self.grid_mm: float | None = None
        self.clock = PlayClock()
        self.pacer = FramePacer()
        self.resim = st.Resimulator(self._build_story, self._from_worker, self._worker_failed,
                                    preview_grid_mm=preview_grid_mm,
                                    full_grid_mm=full_grid_mm or scene.thermal.grid_mm)
        self._init_state()
        # a preview only pays when it is coarser than the full grid and the full result is not cached
        two_stage = (preview_grid_mm > self.resim.full_grid_mm
                     and not thermal_is_cached(scene, self.resim.full_grid_mm))
        self.resim.preview_grid_mm = preview_grid_mm if two_stage else None
        t0 = time.perf_counter()
        first = preview_grid_mm if two_stage else self.resim.full_grid_mm
        self._install(self._build_story(scene, first), "preview" if two_stage else "full", 0)
        self.startup_s = time.perf_counter() - t0
        self._build_ui()
        self.server.controller.on_server_ready.add(self._on_ready)
        self.server.controller.on_server_exited.add(self._on_exit)
        self.future = self.resim.submit(scene, preview=False) if two_stage else None

    # ------------------------------------------------------------------------------------ state
    def _init_state(self) -> None:
        s = self.state
        a = self.scene.anatomy
        lang = self.scene.story.language
        s.update({
            "t_s": 0.0, "duration_s": 1.0, "playing": False, "speed": 1.0, "lang": lang,
            "chapters": [], "chapter_id": "", "chapter_title": "", "caption": "", "clock": "",
            "organs": [], "organs_visible": {}, "cutaway": False,
            "iso_0": True, "iso_m20": True, "iso_m40": True, "clinician": False,
            "lesion_us": None, "has_lesions": False,
            "volume_ml": float(a.volume_ml), "rectum_gap_mm": float(a.rectum_gap_mm),
            "hydrodissection": bool(a.hydrodissection),
            "preset": self.scene.layout.preset if self.scene.layout is not None else "whole_gland",
            "presets": [], "speeds": list(st.SPEEDS), "langs": _languages(),
            "sim_status": "preview", "sim_busy": True, "sim_error": "", "sim_generation": 0,
            "spared": {}, "spared_lines": [], "us_src": "", "sensor_svg": "", "probe_rows": [],
            "numbers": [], "legend": [], "screenshot_path": "", "take_home_path": "", "labels": {},
            "disclaimer": "",
            "spared_title": "", "grid_mm": 0.0, "frame_src": "", "frame_seq": 0,
        })
        self._apply_text(lang)

    def _apply_text(self, lang: str) -> None:
        text = self._load_text(lang)
        ui = dict(text.get("ui", {}))
        ui["lesion_us"] = text.get("lesion", {}).get("us_toggle", "Lesion on ultrasound")
        ui["take_home"] = text.get("export", {}).get("take_home", "Take home")
        self.text = text
        self.state.labels = ui
        self.state.disclaimer = text.get("common", {}).get("disclaimer", "")
        self.state.spared_title = text.get("spared", {}).get("title", "")
        self.state.legend = _legend(text)
        names = text.get("layouts", {})
        self.state.presets = [{"key": p, "label": str(names.get(p, p.replace("_", " ")))} for p in _presets()]
        if self.story is not None:
            self._organ_list()

    def _organ_list(self) -> None:
        names = [n for n in self.story.anatomy.organs]
        lesions = getattr(self.story.scene, "lesions", ())
        if lesions:  # issue #17: the cancer spot is toggled like an organ
            names.append("lesion")
            if self.state.lesion_us is None:  # the clinician toggle starts where the scene says
                self.state.lesion_us = any(les.visible_on_ultrasound for les in lesions)
        self.state.has_lesions = bool(lesions)
        lesion_label = str(self.text.get("lesion", {}).get("toggle", "Cancer spot"))
        self.state.organs = [{"key": n, "label": lesion_label if n == "lesion"
                              else st.organ_display_name(n, self.text)} for n in names]
        vis = self.state.organs_visible
        vis = vis if isinstance(vis, dict) else {}
        self.state.organs_visible = {n: vis.get(n) is not False for n in names}

    # ---------------------------------------------------------------------------- story & renderer
    def _build_story(self, scene, grid_mm: float | None):
        return self._story_builder(scene, lang=self.state.lang, grid_mm=grid_mm)

    def _from_worker(self, story, stage: str, gen: int) -> None:
        """Called in the worker thread: hand the new story to the event loop (or queue it)."""
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._install_and_flush, story, stage, gen)
        else:
            self._pending.append((story, stage, gen))

    def _worker_failed(self, exc: BaseException, gen: int) -> None:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__

        def report():
            with self.state:
                self.state.sim_busy = False
                self.state.sim_error = msg

        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(report)
        else:
            self._pending.append((None, msg, gen))

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
        renderer = self._make_renderer(story, size)
        old, self.renderer, self.story = self.renderer, renderer, story
        self.grid_mm = float(story.result.metrics.get("grid_mm", 0.0) or 0.0)
        self.state.grid_mm = self.grid_mm
        self._push_options()
        s = self.state
        s.duration_s = float(story.duration_s)
        s.chapters = _chapter_list(story)
        s.t_s = min(_finite(s.t_s, 0.0), s.duration_s)
        s.sim_status = stage
        s.sim_busy = stage != "full"
        s.sim_error = ""
        s.sim_generation = gen
        self._organ_list()
        self._numbers()
        if self.view is not None:
            self.view.replace_view(renderer.plotter.render_window)
        self._show(force=True)
        if old is not None:
            self._forget_window(old.plotter.render_window)
            old.close()
        self.map_thread = threading.Thread(target=st.map_in, args=(getattr(story.result, "temps_c", None),),
                                           name="cryoviz-map-in", daemon=True)
        self.map_thread.start()

    def _forget_window(self, render_window) -> None:
        """Drop a replaced render window from trame-vtk's object map, which would keep it (and its meshes)
        alive for the life of the server: one leak per re-simulation otherwise."""
        helper = getattr(self.view, "_helper", None)
        core = getattr(helper, "_vtk_core", None)
        if core is not None and render_window is not None:
            core.GetObjectIdMap().FreeObject(render_window)

    def _push_options(self) -> None:
        s = self.state
        vis = s.organs_visible if isinstance(s.organs_visible, dict) else {}
        self.renderer.set_options(
            organs_visible={k: v is not False for k, v in vis.items()}, cutaway=bool(s.cutaway),
            isotherms_c=tuple(v for k, v in st.ISOTHERMS_C.items() if s[k]),
            clinician=bool(s.clinician), lang=s.lang,
            lesion_on_ultrasound=None if s.lesion_us is None else bool(s.lesion_us))

    def _numbers(self) -> None:
        """Spared panel, probe table and clinician numbers from the current result."""
        s, m = self.state, self.story.result.metrics
        spared = st.spared_numbers(m)
        s.spared = spared
        s.spared_lines = []  # filled per frame: results show only from the chapter that tells them
        s.probe_rows = st.probe_rows(self.story.result.probes)
        s.numbers = _clinician_numbers(m)

    def _show(self, force: bool = False) -> None:
        """Show the current time: at once without an event loop, else once per loop turn.

        A dragged slider sends many times in a burst; drawing only the last one keeps the page live.
        """
        self._show_force = self._show_force or force
        if self._loop is None or not self._loop.is_running():
            self._show_now()
        elif self._show_handle is None:
            self._show_handle = self._loop.call_soon(self._show_deferred)

    def _show_deferred(self) -> None:
        self._show_handle = None
        with self.state:
            self._show_now()

    def _show_now(self) -> None:
        """Apply the story state at the current time to the renderer and push the picture."""
        force, self._show_force = self._show_force, False
        s = self.state
        state = self.story.state_at(_finite(s.t_s, 0.0))
        self.renderer.apply(state)
        ch = state.chapter
        s.chapter_id = str(getattr(ch, "id", ""))
        s.chapter_title = str(getattr(ch, "title", ""))
        # a title card has no subtitle: the page then shows the card's words in the caption line
        card = " — ".join(x for x in (getattr(state, "card", None), getattr(state, "card_sub", None)) if x)
        s.caption = state.caption or card
        s.clock = str(getattr(state, "clock_text", "") or st.format_clock(state.procedure_s))
        panel = list(getattr(state, "panel_lines", ()) or ())
        if panel != list(s.spared_lines or []):
            s.spared_lines = panel
        if not (s.playing and self.clock.running):
            self._push_picture()          # the 3D picture first (while playing, the play loop sends it)
        if s.clinician:
            res = self.story.result
            s.sensor_svg = st.sensor_chart_svg(res.times_s, res.sensors, state.procedure_s)
        self._ultrasound(state, force)

    def _push_picture(self) -> None:
        """Send the 3D picture now, and once more shortly after the last change.

        trame-vtk encodes pictures in the background and may drop a push that arrives while the previous
        picture is still being encoded (under load); the late push makes the last state's picture arrive.
        """
        if self.view is None:
            return
        self.view.update()
        if self._loop is not None and self._loop.is_running():
            if self._repush is not None:
                self._repush.cancel()
            self._repush = self._loop.call_later(0.35, self._late_push)

    def _late_push(self) -> None:
        self._repush = None
        if self.view is not None:
            self.view.update()

    def _ultrasound(self, state, force: bool) -> None:
        """Refresh the ultrasound picture (at most 4 times a second while playing)."""
        from cryoviz.story.ultrasound import ultrasound_frame

        proc_s = getattr(state, "ultrasound_s", None)  # None: the ultrasound probe is not in
        depths = tuple(round(float(d), 0) for d in getattr(state, "probe_depths_mm", {}).values())
        key = None if proc_s is None else (round(float(proc_s), 0), depths)  # needles move at a still clock
        now = time.monotonic()
        if not force and (key == self._us_last[0] or (self.state.playing and now - self._us_last[1] < 0.25)):
            return
        self._us_last = (key, now)
        res = self.story.result
        if proc_s is None:
            self.state.us_src = ""
            return
        try:
            img = ultrasound_frame(self.story.anatomy, res, max(float(proc_s or 0.0), 0.0),
                                   plane="transverse", size_px=(320, 240),
                                   inserted_mm=_inserted_mm(state, res.probes),
                                   words=self.story.text.get("ultrasound"))
        except Exception as exc:  # a failing side panel must not take the 3D view down: keep the last picture
            self.state.sim_error = f"ultrasound: {exc}"
            return
        self.state.us_src = st.png_data_url(img)

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
        t = min(max(_finite(t_s, 0.0), 0.0), _finite(self.state.duration_s, 0.0))
        if not (isinstance(t_s, (int, float)) and not isinstance(t_s, bool) and t == t_s):
            self.state.t_s = t
            return
        self._show()

    @change("lang")
    def _on_lang(self, lang, **_):
        from cryoviz.model.scene import LANGUAGES

        if lang not in LANGUAGES:
            self.state.lang = self.story.lang
            return
        self._apply_text(lang)
        self.story = self.story.with_language(lang)
        self.renderer.set_options(lang=lang)
        s = self.state
        s.chapters = _chapter_list(self.story)
        self._numbers()
        self._show(force=True)

    @change("speed")
    def _on_speed(self, speed, **_):
        v = _finite(speed, 1.0)
        if v not in st.SPEEDS:
            v = min(st.SPEEDS, key=lambda x: abs(x - v))
        if not (isinstance(speed, (int, float)) and not isinstance(speed, bool) and v == speed):
            self.state.speed = v

    @change("organs_visible", "cutaway", "iso_0", "iso_m20", "iso_m40", "clinician", "lesion_us")
    def _on_view_options(self, **_):
        self._push_options()
        self._show()

    @change("volume_ml", "rectum_gap_mm", "hydrodissection", "preset")
    def _on_sizing(self, volume_ml, rectum_gap_mm, hydrodissection, preset, **_):
        was = self.scene.anatomy
        if bool(hydrodissection) != was.hydrodissection:
            # saline widens the gap (median 6 -> 11 mm); switching it off gives the old gap back
            if hydrodissection and _as_float(rectum_gap_mm, 0.0) < HYDRO_GAP_MM:
                self._gap_before_hydro = _as_float(rectum_gap_mm, was.rectum_gap_mm)
                rectum_gap_mm = self.state.rectum_gap_mm = HYDRO_GAP_MM
            elif not hydrodissection and self._gap_before_hydro is not None:
                rectum_gap_mm = self.state.rectum_gap_mm = self._gap_before_hydro
                self._gap_before_hydro = None
        try:
            scene = st.sized_scene(self.scene, volume_ml=volume_ml, rectum_gap_mm=rectum_gap_mm,
                                   hydrodissection=hydrodissection, preset=preset)
        except InputError as exc:
            # back to the values of the scene shown: a refused value must not block the next change
            a = self.scene.anatomy
            self.state.update({"volume_ml": float(a.volume_ml), "rectum_gap_mm": float(a.rectum_gap_mm),
                               "hydrodissection": bool(a.hydrodissection),
                               "preset": self.scene.layout.preset if self.scene.layout is not None
                               else self.state.preset})
            self.state.sim_error = str(exc).splitlines()[0][:200]
            return
        if scene == self.scene:
            return
        self.scene = scene
        # the previous patient's numbers go at once: nothing on the page may describe the wrong patient
        s = self.state
        s.sim_busy, s.sim_error, s.sim_status = True, "", "running"
        s.spared, s.spared_lines, s.numbers = {}, [], []
        self.future = self.resim.submit(scene)

    def toggle_organ(self, organ: str, visible: bool) -> None:
        """Show or hide one organ (the organ toggles call this)."""
        vis = self.state.organs_visible
        vis = dict(vis) if isinstance(vis, dict) else {}
        if isinstance(organ, str) and organ in vis:
            vis[organ] = bool(visible)
            self.state.organs_visible = vis

    def goto_chapter(self, index: int) -> None:
        """Jump to chapter ``index``: its first subtitle, past the title card (the chapter buttons)."""
        chapters = self.state.chapters or []
        try:
            i = int(index)
        except (TypeError, ValueError):
            return
        if 0 <= i < len(chapters):
            self.state.t_s = float(chapters[i]["jump_s"])

    def step_chapter(self, step: int) -> None:
        """Jump ``step`` chapters forward (or back when negative)."""
        if isinstance(step, bool) or not isinstance(step, int):
            return
        self.goto_chapter(st.step_chapter(self.story.chapters, _finite(self.state.t_s, 0.0),
                                          max(min(step, 1000), -1000)))

    def toggle_play(self) -> None:
        """Play or pause; playing at the end starts again from the beginning."""
        s = self.state
        if not s.playing and _finite(s.t_s, 0.0) >= _finite(s.duration_s, 0.0):
            s.t_s = 0.0
        s.playing = not s.playing

    def on_key(self, key: str) -> None:
        """Keyboard: space plays/pauses, left/right arrows step :data:`KEY_STEP_S` of story, PageUp/PageDown
        step chapters, Home/End go to the start/end."""
        s = self.state
        if key == "space":
            self.toggle_play()
        elif key in ("ArrowRight", "ArrowLeft"):
            step = KEY_STEP_S if key == "ArrowRight" else -KEY_STEP_S
            s.t_s = min(max(float(s.t_s) + step, 0.0), float(s.duration_s))
        elif key in ("PageDown", "PageUp"):
            self.step_chapter(1 if key == "PageDown" else -1)
        elif key == "Home":
            s.t_s = 0.0
        elif key == "End":
            s.t_s = float(s.duration_s)

    def tick(self, dt_s: float) -> None:
        """Advance the story clock by ``dt_s`` wall seconds while playing (in-process use and tests)."""
        s = self.state
        if s.playing:
            speed = _finite(s.speed, 1.0)
            self._play_to(_finite(s.t_s, 0.0) + max(_finite(dt_s, 0.0), 0.0)
                          * (speed if speed in st.SPEEDS else 1.0))

    def _play_to(self, t: float) -> None:
        """Move the playing story to ``t`` (s); at the end, stop there."""
        s = self.state
        duration = _finite(s.duration_s, 0.0)
        t = _finite(t, 0.0)
        if t >= duration:
            t, s.playing = duration, False
        s.t_s = t

    def screenshot(self) -> Path:
        """Save a PNG of the 3D view in ``screenshot_dir``; return its path."""
        from cryoviz.core.files import atomic_path

        self.screenshot_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = self.screenshot_dir / f"cryoviz-{stamp}-{int(_finite(self.state.t_s, 0.0) * 10):05d}.png"
        data = st.encode_png(self.renderer.image())
        with atomic_path(path) as tmp:
            Path(tmp).write_bytes(data)
        self.state.screenshot_path = str(path)
        return path

    def take_home(self) -> list[Path]:
        """Write the visit page and summary of the current patient and language beside the screenshots
        (:func:`cryoviz.deliver.export.write_take_home`); return their paths."""
        from cryoviz.deliver.export import write_take_home

        paths = write_take_home(self.story, self.screenshot_dir)
        self.state.take_home_path = "  ".join(str(p) for p in paths)
        return paths

    # --------------------------------------------------------------------------- play loop, life
    def _on_ready(self, **_):
        """Server ready: start the play loop (once; a second call changes nothing)."""
        if self._play_task is not None and not self._play_task.done():
            return
        self._loop = asyncio.get_event_loop()
        self._tune_image_delivery()
        for story, stage, gen in self._pending:
            self._loop.call_soon(self._install_and_flush, story, stage, gen)
        self._pending.clear()
        self._play_task = self._loop.create_task(self._play_loop())

    def _tune_image_delivery(self, stale_wait_s: float = 0.04) -> int:
        """Retry a picture still being encoded after ``stale_wait_s`` instead of trame-vtk's 0.5 s.

        The encoder runs in VTK's own thread; a push that finds it busy is retried after this wait, which
        otherwise adds half a second to every timeline change. Returns how many protocols were tuned.
        """
        proto = getattr(self.server, "protocol", None)
        links = proto.getLinkProtocols() if proto is not None and hasattr(proto, "getLinkProtocols") else []
        tuned = 0
        for link in links:
            if hasattr(link, "delta_stale_time_before_render"):
                link.delta_stale_time_before_render = float(stale_wait_s)
                tuned += 1
        return tuned

    async def _play_loop(self, trim_every_s: float = 20.0) -> None:
        """Play: each turn shows the story at the wall clock's time now (:class:`PlayClock`).

        One picture is in flight at a time (:class:`FramePacer`): the next is drawn when the page has shown
        the last, so no queue of pictures builds up and delays the clock; a slow turn makes the next
        picture jump further, never the story run slower. While playing, the pictures go to the page as
        JPEG (encoded in a worker thread) over the remote view; on pause the remote view takes over again.
        """
        self._last_trim = time.monotonic()
        while True:
            try:
                await self._play_turn(trim_every_s)
            except asyncio.CancelledError:
                raise
            except Exception:   # a bad value must never leave the consultation without its Play button
                log.exception("play loop turn failed; pausing and playing on")
                with self.state:
                    self.state.playing = False
                await asyncio.sleep(0.05)

    async def _play_turn(self, trim_every_s: float) -> None:
        """One turn of :meth:`_play_loop`."""
        s = self.state
        if not s.playing:
            if self.clock.running:
                self.clock.stop()
                self.pacer.reset()
                with self.state:
                    self._show(force=True)         # the remote view catches up with the last frame
                self._loop.call_later(0.8, self._clear_frame)
            await asyncio.sleep(0.05)
            return
        now = time.monotonic()
        if not self.pacer.ready(now):
            await asyncio.sleep(0.005)
            return
        with self.state:
            speed = _finite(s.speed, 1.0)
            self._play_to(self.clock.story_s(_finite(s.t_s, 0.0), speed if speed in st.SPEEDS else 1.0, now))
            if self._show_handle is not None:       # draw this turn's state now, not next turn
                self._show_handle.cancel()
                self._show_handle = None
                self._show_now()
        img = self.renderer.image()
        url = await self._loop.run_in_executor(None, encode_jpeg, img)
        if self.state.playing:
            with self.state:
                s.frame_src, s.frame_seq = url, self.pacer.sent()
        if now - self._last_trim > trim_every_s:
            st.release_freed_memory()
            self._last_trim = now

    def _clear_frame(self) -> None:
        if not self.state.playing:
            with self.state:
                self.state.frame_src = ""

    def frame_shown(self, seq) -> None:
        """The page showed playing picture ``seq`` (its ``load`` event): the next may be drawn."""
        self.pacer.shown(seq)

    def _on_exit(self, **_):
        """Server exited: stop the loop, the re-simulation pool and the renderer (once)."""
        if self._play_task is not None:
            self._play_task.cancel()
        self.resim.close()
        if self.renderer is not None:
            self.renderer.close()

    def _build_ui(self) -> None:
        from cryoviz.deliver.app_ui import build_ui

        self.ui = build_ui(self)


# ------------------------------------------------------------------------------------------ helpers
def thermal_is_cached(scene, grid_mm: float) -> bool:
    """Whether the thermal result of ``scene`` at ``grid_mm`` is in the on-disk cache (loads in ~1 s).

    Any failure answers False (the app then starts with a preview).
    """
    try:
        from cryoviz.physics.thermal import is_cached

        return is_cached(scene, float(grid_mm))
    except Exception:
        return False


def _default_build_story(scene, lang=None, grid_mm=None):
    from cryoviz.story.session import build_story

    return build_story(scene, lang=lang, grid_mm=grid_mm)


def _default_renderer(story, size):
    from cryoviz.view.render import SceneRenderer

    return SceneRenderer(story, size=size, captions=False)


def _as_float(value, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _finite(value, default: float) -> float:
    """``value`` as a finite float, else ``default`` (NaN, inf, strings, lists, None)."""
    if isinstance(value, bool):
        return default
    try:
        out = float(value)
    except (TypeError, ValueError, OverflowError):
        return default
    return out if math.isfinite(out) else default


def _chapter_list(story) -> list[dict]:
    cues = [c.start_s for c in getattr(story, "cues", ())]
    return [{"id": c.id, "title": c.title, "start_s": float(c.start_s), "end_s": float(c.end_s),
             "jump_s": st.chapter_jump_s(c, cues)} for c in story.chapters]


def _inserted_mm(state, probes) -> list[float] | None:
    """Current insertion of each probe (mm) from the frame state, or None (fully in)."""
    depths = getattr(state, "probe_depths_mm", None)
    if not probes or depths is None:
        return None
    if isinstance(depths, dict):
        return [max(float(depths.get(p.name, p.depth_mm)), 0.0) for p in probes]
    return [max(float(d), 0.0) for d in depths]


def _presets() -> tuple[str, ...]:
    from cryoviz.model.scene import LAYOUT_PRESETS

    return LAYOUT_PRESETS


def _languages() -> list[dict[str, str]]:
    from cryoviz.model.scene import LANGUAGES

    out = []
    for code in LANGUAGES:
        from cryoviz.story.text import load_text

        out.append({"value": code, "title": load_text(code).get("meta", {}).get("name", code)})
    return out


def _legend(text: dict) -> list[dict[str, str]]:
    from cryoviz.view.palette import ISOTHERM_STYLE

    labels = text.get("legend", {})
    keys = {0.0: "zero", -20.0: "minus20", -40.0: "minus40"}
    return [{"colour": ISOTHERM_STYLE[c][0], "label": labels.get(keys[c], f"{c:g} °C")}
            for c in sorted(ISOTHERM_STYLE, reverse=True) if c in keys]


def _fmt(v: float | None, digits: int = 0) -> str:
    return "–" if v is None else f"{v:.{digits}f}".replace("-", "\u2212")


def _clinician_numbers(metrics: dict) -> list[dict[str, str]]:
    rows = [{"name": "grid", "value": f"{metrics.get('grid_mm', '?')} mm, {metrics.get('steps', '?')} steps"}]
    for organ, vals in sorted(metrics.get("organs", {}).items()):
        parts = [f"{k} {_fmt(v, 2) if isinstance(v, float) else v}" for k, v in vals.items()]
        rows.append({"name": organ, "value": ", ".join(parts)})
    for level, iso in sorted(metrics.get("isotherms", {}).items()):
        if iso:
            rows.append({"name": f"{level} °C ice", "value": f"{_fmt(iso.get('volume_ml'), 1)} ml"})
    for les in metrics.get("lesions", []) or []:  # issue #17: PI-RADS, place, coverage and margin
        margin = les.get("margin_mm")
        parts = [f"PI-RADS {les.get('pirads') or '–'}", str(les.get("sector") or "–"),
                 f"{_fmt(les.get('volume_ml'), 2)} ml",
                 f"{_fmt(100 * float(les.get('fraction_below_minus40') or 0.0), 0)} % ≤ −40 °C",
                 f"margin {_fmt(margin, 1)} mm (planned {_fmt(les.get('margin_target_mm'), 0)})",
                 "covered" if les.get("covered") else "NOT covered"]
        rows.append({"name": f"lesion {les.get('name', '')}", "value": ", ".join(parts)})
    for w in metrics.get("warnings", []):
        rows.append({"name": "warning", "value": str(w)})
    return rows


def serve(scene_path, host: str = "127.0.0.1", port: int = 8080, auth_key: str | None = None,
          open_browser: bool = True) -> None:
    """Serve one consultation until interrupted.

    Parameters
    ----------
    scene_path : path-like
        The scene TOML file.
    host : str
        Interface to listen on; anything but loopback needs ``auth_key``.
    port : int
        TCP port (0 picks a free one).
    auth_key : str, optional
        Shared secret a client must present (open the page as ``http://HOST:PORT/?secret=KEY``).
    open_browser : bool
        Open the page in the default browser when ready.

    Raises
    ------
    InputError
        Bad host/key/port or scene, before anything starts.
    """
    from cryoviz.deliver.app_security import ServerGuard, new_secret
    from cryoviz.model.scene_load import load_scene

    check_host(host, auth_key)
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise InputError.one("argument", "--port", "not a TCP port", "0 to 65535", port)
    scene = load_scene(scene_path, check_geometry=True)
    app = ConsultationApp(scene)
    server = app.server
    # never wslink's public default secret: a shared key, or a random one only this server's page receives
    secret = auth_key if auth_key is not None else new_secret()
    guard = ServerGuard(app, secret, hand_out=auth_key is None, loopback_only=is_loopback(host))
    server.controller.on_server_bind.add(guard.bind)
    args = ["--host", host, "--port", str(port), "--timeout", "0", "--authKey", secret]
    parser = server.cli
    real_parse = parser.parse_known_args
    parser.parse_known_args = lambda _args=None, namespace=None: real_parse(args, namespace)
    if open_browser and auth_key is not None:
        def _open(**_):
            import webbrowser

            webbrowser.open(f"http://{'localhost' if host in ('0.0.0.0', '::') else host}:{server.port}/"
                            f"?secret={auth_key}")
        server.controller.on_server_ready.add(_open)
        open_browser = False
    server.start(host=host, port=port, open_browser=open_browser, show_connection_info=True,
                 timeout=0)

