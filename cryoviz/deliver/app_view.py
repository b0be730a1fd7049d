"""How the consultation app draws: the renderer's options, the picture pushes, the side panels.

:class:`ViewMixin` is part of :class:`cryoviz.deliver.app.ConsultationApp` (split by concern: this module
draws; ``app_play`` plays; ``app`` holds the state and handlers).
"""

from __future__ import annotations

import time

from trame.decorators import change

from cryoviz.deliver import app_state as st
from cryoviz.deliver.app_content import clinician_numbers, finite_or, inserted_mm, legend, presets
from cryoviz.deliver.app_guard import choice, register_client_key
from cryoviz.deliver.app_pending import is_pending
from cryoviz.deliver.app_serve import REPLACED_VIEWS
from cryoviz.story.focus import SECTION_VIEWS

__all__ = ["DRAG_MODE", "DRAG_MODES", "ViewMixin", "drag_state"]

#: How the remote view draws while the doctor turns or zooms: (picture scale, JPEG quality) per mode. The
#: server draws every picture with the one renderer; a smaller one costs less to draw, encode and send, and
#: the full picture follows when the mouse stops. Chosen by measurement (docs/app.md, ``cryoviz bench app``
#: reports both); "full" is the previous round's setting, kept for the bench's comparison.
DRAG_MODES: dict[str, tuple[float, int]] = {"full": (1.0, 70), "half": (0.5, 60), "third": (0.35, 60)}
DRAG_MODE = "third"
register_client_key("drag_mode", choice(tuple(DRAG_MODES)))


def drag_state(mode: str) -> dict:
    """The state keys of drag mode ``mode`` (``drag_mode``, and the remote view's ratio and quality)."""
    ratio, quality = DRAG_MODES[mode]
    return {"drag_mode": mode, "drag_ratio": ratio, "drag_quality": quality}


class ViewMixin:
    """Drawing of :class:`~cryoviz.deliver.app.ConsultationApp`: options, picture pushes, side panels."""

    @change("drag_mode")
    def _on_drag_mode(self, drag_mode, **_):
        self.state.update(drag_state(drag_mode if drag_mode in DRAG_MODES else DRAG_MODE))

    def _apply_text(self, lang: str) -> None:
        text = self._load_text(lang)
        ui = dict(text.get("ui", {}))
        ui["lesion_us"] = text.get("lesion", {}).get("us_toggle", "Lesion on ultrasound")
        ui["take_home"] = text.get("export", {}).get("take_home", "Take home")
        ui.update({f"take_home_{k}": v for k, v in text.get("take_home_app", {}).items()})
        pending = text.get("pending", {})
        ui["sim_anatomy"] = pending.get("computing", "")
        ui["pending_chapter"] = pending.get("chapter", "")
        ui.update({f"view_{k}": v for k, v in text.get("view", {}).items()})
        self.text = text
        self.state.labels = ui
        self.state.disclaimer = text.get("common", {}).get("disclaimer", "")
        self.state.spared_title = text.get("spared", {}).get("title", "")
        self.state.legend = legend(text)
        names = text.get("layouts", {})
        keys = ((st.OWN_PLAN,) if self.planned.probes else ()) + tuple(presets())
        self.state.presets = [{"key": p, "label": str(names.get(p, p.replace("_", " ")))} for p in keys]
        if self.story is not None:
            self._organ_list()

    def _organ_list(self) -> None:
        names = [n for n in self.story.anatomy.organs]
        lesions = getattr(self.story.scene, "lesions", ())
        if lesions:  # issue #17: the cancer spot is toggled like an organ
            names.append("lesion")
            if getattr(self, "_lesion_us_scene", None) is not self.story.scene:
                # the clinician toggle starts where the scene says, once per scene (not per language)
                self._lesion_us_scene = self.story.scene
                self.state.lesion_us = any(les.visible_on_ultrasound for les in lesions)
        self.state.has_lesions = bool(lesions)
        lesion_label = str(self.text.get("lesion", {}).get("toggle", "Cancer spot"))
        self.state.organs = [{"key": n, "label": lesion_label if n == "lesion"
                              else st.organ_display_name(n, self.text)} for n in names]
        vis = self.state.organs_visible
        vis = vis if isinstance(vis, dict) else {}
        self.state.organs_visible = {n: vis.get(n) is not False for n in names}

    def _forget_window(self, render_window) -> None:
        """Drop a replaced render window from trame-vtk's object map, which would keep it (and its meshes)
        alive for the life of the server: one leak per re-simulation otherwise."""
        helper = getattr(self.view, "_helper", None)
        core = getattr(helper, "_vtk_core", None)
        if core is None or render_window is None:
            return
        # stop pushing pictures of the old window first: its observer would otherwise fail on every later
        # update with "no view provided" (a traceback printed by VTK's observer, not by a logger)
        old_id = str(core.GetObjectIdMap().GetGlobalId(render_window))
        REPLACED_VIEWS.add(old_id)
        proto = getattr(self.server, "protocol", None)
        links = proto.getLinkProtocols() if proto is not None and hasattr(proto, "getLinkProtocols") else []
        for link in links:
            views = getattr(link, "tracking_views", None)
            info = views.pop(old_id, None) if isinstance(views, dict) else None
            for tag in (info or {}).get("tags", ()):
                link.app.RemoveObserver(tag)
            if old_id in getattr(link, "views_in_animations", ()):
                link.views_in_animations.remove(old_id)
        core.GetObjectIdMap().FreeObject(render_window)

    def _push_options(self, renderer=None) -> None:
        """Give the page's display options to ``renderer`` (the shown one by default)."""
        s = self.state
        vis = s.organs_visible if isinstance(s.organs_visible, dict) else {}
        (renderer or self.renderer).set_options(
            organs_visible={k: v is not False for k, v in vis.items()}, cutaway=bool(s.cutaway),
            isotherms_c=tuple(v for k, v in st.ISOTHERMS_C.items() if s[k]),
            clinician=bool(s.clinician), lang=s.lang,
            view=s.section_view if s.section_view in SECTION_VIEWS else "story",
            lesion_on_ultrasound=bool(s.lesion_us))

    def _numbers(self) -> None:
        """Spared panel, probe table and clinician numbers from the current result."""
        s, m = self.state, self.story.result.metrics
        pending = is_pending(self.story)   # no result yet: no figure at all
        s.spared = {} if pending else st.spared_numbers(m)
        s.spared_lines = []  # filled per frame: results show only from the chapter that tells them
        s.probe_rows = st.probe_rows(self.story.result.probes)
        s.numbers = [] if pending else clinician_numbers(m)

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
        state = self.story.state_at(finite_or(s.t_s, 0.0))
        if self.renderer.camera_moved():  # the doctor turned or zoomed: keep his view until Play,
            self.renderer.set_options(hold_camera=True)  # a chapter button or Reset view
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
        if is_pending(self.story) and s.t_s >= self.story.duration_s - 1e-6:
            s.caption = s.pending_text     # the end of the anatomy chapters: say what comes, and why not yet
        if s.clinician:   # no curves before the result exists
            res = self.story.result
            s.sensor_svg = ("" if is_pending(self.story)
                            else st.sensor_chart_svg(res.times_s, res.sensors, state.procedure_s))
        self._ultrasound(state, force)

    def reset_view(self) -> None:
        """Bring the story camera back after the doctor turned or zoomed the view (``Reset view``)."""
        self.renderer.set_options(hold_camera=False)
        self._show(force=True)

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
        if proc_s is None or is_pending(self.story):   # the picture is drawn from the thermal result's grid
            self.state.us_src = ""
            return
        try:
            img = ultrasound_frame(self.story.anatomy, res, max(float(proc_s or 0.0), 0.0),
                                   plane="transverse", size_px=(320, 240),
                                   inserted_mm=inserted_mm(state, res.probes),
                                   words=self.story.text.get("ultrasound"))
        except Exception as exc:  # a failing side panel must not take the 3D view down: keep the last picture
            self.state.sim_error = f"ultrasound: {exc}"
            return
        self.state.us_src = st.png_data_url(img)
