"""A sizing change withdraws the old patient's result from the whole page at once.

:class:`WithdrawMixin` is part of :class:`cryoviz.deliver.app.ConsultationApp`. A sizing change ("This
patient") starts the new patient's anatomy chapters and his simulation in the background
(:mod:`cryoviz.deliver.app_pending`); the anatomy takes 1-5 s to build (the organ meshes of the new gland).
Until round 4 the page meanwhile kept the old patient's result everywhere but in the side panel: the 3D view
with his ice, the sensor readings and the procedure clock drawn in it, the ultrasound ice, the caption and
the chapter title, and a drag on the view turned his ice (issue 18: "the old patient's numbers withdrawn at
once"). Now, from the moment the change is accepted and until the new patient's first story is installed,
the page is what a cold start shows before its first story (:mod:`cryoviz.deliver.app_start`): the 3D view
streams an empty window of the background colour, the status says the patient is being prepared and the
freezing computed, the chapters that need the result are pending, and nothing else is said. Play, the ring
of pictures, the screenshot and the visit page wait too; the story time stays where the doctor was, and the
new result comes back there (:meth:`PendingMixin._install_stage`).
"""

from __future__ import annotations

from cryoviz.deliver.app_content import chapter_list
from cryoviz.deliver.app_start import blank_window

__all__ = ["WithdrawMixin"]


class WithdrawMixin:
    """Nothing of the old result after a sizing change (see the module docstring)."""

    _withdrawn = False     # a sizing change was accepted and the new patient's first story is not in yet

    @property
    def withdrawn(self) -> bool:
        """Whether the old result is withdrawn and the new patient's first story not yet shown."""
        return self._withdrawn

    def _withdraw(self) -> None:
        """A sizing change was accepted (event loop): withdraw the old result from the page at once."""
        self._withdrawn = True
        s = self.state
        s.withdrawn = True     # the page hides the 3D view's old picture at once (app_ui, cv-withdrawn)
        s.sim_busy, s.sim_error, s.sim_status, s.grid_mm = True, "", "starting", 0.0
        s.playing = False
        self.clock.stop()
        self.pacer.reset()
        s.frame_jpeg = None            # the play loop's last picture of the old result, shown over the view
        if self.view is not None:      # the 3D view streams the empty window until the new anatomy is drawn
            if self._blank is None:
                size = self.size if self.renderer is None else self.renderer.plotter.window_size
                self._blank = blank_window(tuple(int(v) for v in size))
            self.view.replace_view(self._blank)
        self._pending_panel()
        self._numbers()
        self._show(force=True)

    def _pending_panel(self) -> None:
        if not self._withdrawn:
            super()._pending_panel()
            return
        from cryoviz.story.pending import FIRST_RESULT_CHAPTER
        from cryoviz.story.text import CHAPTER_IDS

        s = self.state
        anatomy = set(CHAPTER_IDS[:FIRST_RESULT_CHAPTER - 1])
        chapters = chapter_list(self.story)
        s.chapters = [c for c in chapters if c["id"] in anatomy]
        s.pending_chapters = [{"id": c["id"], "title": c["title"]} for c in chapters
                              if c["id"] not in anatomy]
        s.pending_text = str(self.text.get("pending", {}).get("computing", ""))

    def _numbers(self) -> None:
        if not self._withdrawn:
            super()._numbers()
            return
        s = self.state
        s.spared, s.spared_lines, s.probe_rows, s.numbers, s.sensor_svg = {}, [], [], [], ""

    def _show_now(self) -> None:
        """While withdrawn: the empty window's picture and the pending words, nothing of the old result."""
        if not self._withdrawn:
            super()._show_now()
            return
        self._show_force = False
        s = self.state
        s.chapter_id, s.chapter_title, s.clock = "", "", ""
        s.caption = s.pending_text
        s.spared_lines, s.sensor_svg, s.us_src = [], "", ""
        self._us_last = (None, 0.0)
        self._push_picture()

    def _install_stage(self, story, stage: str, previous) -> None:
        self._withdrawn = self.state.withdrawn = False   # the new patient's first story: shown from here on
        super()._install_stage(story, stage, previous)

    def toggle_play(self) -> None:
        if not self._withdrawn:      # nothing to play until the new patient's anatomy is drawn
            super().toggle_play()

    def turn_to(self, *args, **kwargs) -> bool:
        if self._withdrawn:          # the ring's camera was the old result's picture
            return False
        return super().turn_to(*args, **kwargs)
