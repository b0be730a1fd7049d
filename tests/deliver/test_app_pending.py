"""The app before its thermal result exists: anatomy chapters at once, the rest pending, the result in place.

The simulation is held back by a gate, so the pending state is looked at for as long as the test needs (on a
fresh machine it lasts as long as the solver's compile and run).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from _apphelpers import SCENE

SIZE = (320, 240)


@pytest.fixture(scope="module")
def held(tmp_path_factory):
    """A consultation on an empty cache whose simulation waits for ``gate``; yields (app, gate)."""
    from cryoviz.deliver.app import ConsultationApp
    from cryoviz.deliver.app_content import default_build_story
    from cryoviz.model.scene_load import load_scene

    gate = threading.Event()

    def build(scene, lang=None, grid_mm=None):
        assert gate.wait(timeout=600)
        return default_build_story(scene, lang=lang, grid_mm=grid_mm)

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRYOVIZ_CACHE", str(tmp_path_factory.mktemp("cache")))
        app = ConsultationApp(load_scene(SCENE), size=SIZE, preview_grid_mm=4.0, full_grid_mm=3.0,
                              build_story=build, screenshot_dir=tmp_path_factory.mktemp("shots"))
        app.state.ready()
        try:
            yield app, gate
        finally:
            gate.set()
            app._on_exit()


def _set(app, **values):
    app.state.update(values)
    app.state.flush()


def test_the_anatomy_chapters_show_before_any_result_and_say_nothing_thermal(held):
    app, _gate = held
    s = app.state
    assert getattr(app.story, "is_pending", False) and app.story.result.temps_c is None
    assert s.sim_status == "anatomy" and s.sim_busy
    assert [c["id"] for c in s.chapters] == ["anatomy", "why", "preparation", "probes"]
    assert [c["id"] for c in s.pending_chapters] == ["freeze1", "thaw_refreeze", "spared", "after"]
    assert s.pending_text == "The freezing is being computed for this patient."
    assert s.spared == {} and s.spared_lines == [] and s.numbers == []
    # a picture of the anatomy is drawn (organs on the dark background), and it has no ice in it
    img = app.renderer.image()
    assert img.std() > 5
    for t in np.linspace(0, s.duration_s, 40):
        _set(app, t_s=float(t), clinician=True)
        state = app.story.state_at(float(t))
        assert state.isotherm_time_s is None and not state.isotherms_c and not state.legend
        assert not state.sensor_readouts and not state.panel_lines and not state.frozen_organs
        assert s.spared_lines == [] and s.us_src == "" and s.sensor_svg == ""
        assert "°C" not in (s.caption or "") and "°C" not in s.clock
    _set(app, clinician=False)
    # the end of the anatomy chapters says what is coming (no closing card: the story goes on)
    _set(app, t_s=s.duration_s)
    assert s.caption == s.pending_text and s.chapter_id == "probes"
    # the visit page tells the result: none is written before it exists
    assert app.take_home() == [] and s.take_home_path == s.pending_text


def test_the_pending_words_follow_the_language(held):
    app, _gate = held
    _set(app, lang="es")
    try:
        assert app.state.pending_text == "Se está calculando la congelación para este paciente."
        assert getattr(app.story, "is_pending", False) and app.story.lang == "es"
        assert app.state.pending_chapters[0]["title"] == app.story.pending[0][1] != "The first freeze"
    finally:
        _set(app, lang="en")


def test_the_result_installs_in_place_and_a_story_stopped_at_the_pending_end_plays_on(held):
    app, gate = held
    s = app.state
    _set(app, t_s=s.duration_s, playing=True)
    with app.state:                    # as the play loop's turn: it reaches the end of the anatomy chapters
        app.tick(1.0)
    assert not s.playing
    end = float(s.duration_s)
    gate.set()
    app.future.result(timeout=600)
    assert app.process_pending() == 1   # the 3 mm result (no coarse preview after the anatomy chapters)
    assert s.sim_status == "full" and not s.sim_busy and not getattr(app.story, "is_pending", False)
    assert s.pending_chapters == [] and s.pending_text == ""
    assert len(s.chapters) == 8 and s.duration_s > end
    assert s.t_s == pytest.approx(end) and s.playing          # same place, playing on into the freeze
    assert s.spared["prostate_fraction_lethal"] is not None
    _set(app, playing=False)


def test_re_planning_shows_the_new_anatomy_first_with_the_ice_withdrawn(held):
    app, gate = held
    s = app.state
    assert gate.is_set()
    spared_at = app.story.chapter_time("spared")
    _set(app, t_s=spared_at)
    assert s.spared_lines                              # the old patient's result is told here
    _set(app, clinician=True)
    assert s.us_src and s.sensor_svg and "°C" in " ".join(s.spared_lines)
    old_window = app.renderer.plotter.render_window
    _set(app, volume_ml=60.0)
    # until the new patient's anatomy is drawn, nothing of the old result anywhere, at any story time
    assert s.spared == {} and s.spared_lines == [] and s.sim_busy and s.sim_status == "starting"
    assert s.withdrawn                                 # the page hides the old picture at once (app_ui)
    shown = app._blank                                 # the 3D view streams the empty window now
    assert shown is not None and app.state[app._view_key] == app.view._helper.id(shown)
    assert app.view._helper.id(old_window) != app.state[app._view_key]
    shown.Render()
    from vtkmodules.util.numpy_support import vtk_to_numpy
    from vtkmodules.vtkRenderingCore import vtkWindowToImageFilter

    grab = vtkWindowToImageFilter()
    grab.SetInput(shown)
    grab.Update()
    pixels = vtk_to_numpy(grab.GetOutput().GetPointData().GetScalars())
    assert (pixels == pixels[0]).all()                 # the background only: no ice, no sensor reading
    for t in (0.0, spared_at, app.story.chapter_time("freeze1") + 60.0, s.duration_s):
        _set(app, t_s=float(t))
        assert s.caption == s.pending_text == "The freezing is being computed for this patient."
        assert (s.chapter_title, s.clock, s.us_src, s.sensor_svg) == ("", "", "", "")
        assert s.spared_lines == [] and s.numbers == [] and s.probe_rows == []
        assert [c["id"] for c in s.chapters] == ["anatomy", "why", "preparation", "probes"]
        assert [c["id"] for c in s.pending_chapters] == ["freeze1", "thaw_refreeze", "spared", "after"]
    _set(app, t_s=spared_at, clinician=False)
    app.toggle_play()
    assert not s.playing                               # nothing to play before the new anatomy is drawn
    assert app.take_home() == [] and app.screenshot() is None
    app.future.result(timeout=600)
    assert app.process_pending() == 2                  # anatomy, full
    assert s.sim_status == "full" and app.scene.anatomy.volume_ml == 60.0
    assert s.t_s == pytest.approx(spared_at, abs=1.0)  # back where the doctor was, with the new result
    assert s.spared_lines and s.pending_chapters == [] and not s.withdrawn


def test_the_anatomy_stage_alone_is_pending_with_the_new_patient(held):
    """Installed on its own (as the page sees it for the seconds the preview takes)."""
    app, _gate = held
    story = app._anatomy_story(app.scene)
    app._install(story, "anatomy", app.resim.generation)
    s = app.state
    assert s.sim_status == "anatomy" and s.pending_chapters and s.spared == {}
    assert app.story.anatomy is story.anatomy and max(c["end_s"] for c in s.chapters) <= s.duration_s
    assert s.t_s <= s.duration_s
