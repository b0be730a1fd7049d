"""The doctor's own view in the app: his rotation and zoom stay while time steps, until Play, a chapter button
or Reset view brings the story camera back; the section-view control reaches the renderer, checked."""

from __future__ import annotations

import numpy as np
import pytest
from _apphelpers import SCENE

SIZE = (320, 240)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from cryoviz.deliver.app import ConsultationApp
    from cryoviz.model.scene_load import load_scene

    a = ConsultationApp(load_scene(SCENE), size=SIZE, preview_grid_mm=4.0, full_grid_mm=3.0,
                        screenshot_dir=tmp_path_factory.mktemp("shots"))
    if a.future is not None:
        a.future.result(timeout=300)
        a.process_pending()
    a.state.ready()
    yield a
    a._on_exit()


def _set(app, **values):
    app.state.update(values)
    app.state.flush()


def _camera(app) -> np.ndarray:
    cam = app.renderer.plotter.camera
    return np.array([*cam.position, *cam.focal_point, *cam.up, cam.view_angle])


def _story_camera(app) -> np.ndarray:
    c = app.story.state_at(float(app.state.t_s)).camera
    return np.array([*c.position, *c.focal_point, *c.view_up, c.view_angle_deg])


def _turn(app) -> np.ndarray:
    """What a drag and a wheel turn in the remote view do: the server's camera moves."""
    cam = app.renderer.plotter.renderer.GetActiveCamera()   # the VTK camera the interactor moves
    cam.Azimuth(35.0)
    cam.Zoom(1.4)
    return _camera(app)


def test_rotation_and_zoom_survive_stepping_time(app):
    anatomy = next(c for c in app.state.chapters if c["id"] == "anatomy")
    _set(app, t_s=anatomy["jump_s"])
    assert np.allclose(_camera(app), _story_camera(app))
    turned = _turn(app)
    assert not np.allclose(turned, _story_camera(app))
    for dt in (1.0, 2.5, 4.0):  # the slider, arrow keys or playing would all step time like this
        _set(app, t_s=anatomy["jump_s"] + dt)
        assert np.allclose(_camera(app), turned), dt
    # and it is his picture that is drawn, not only his camera that is kept
    img = app.renderer.image()
    assert img.std() > 5


def test_reset_view_brings_the_story_camera_back(app):
    _turn(app)
    _set(app, t_s=float(app.state.t_s) + 1.0)
    assert not np.allclose(_camera(app), _story_camera(app))
    app.reset_view()
    app.state.flush()
    assert np.allclose(_camera(app), _story_camera(app))
    _set(app, t_s=float(app.state.t_s) + 1.0)  # and the story camera follows time again
    assert np.allclose(_camera(app), _story_camera(app))


def test_a_chapter_button_and_play_bring_the_story_camera_back(app):
    _turn(app)
    _set(app, t_s=float(app.state.t_s) + 0.5)
    app.goto_chapter(1)
    app.state.flush()
    assert np.allclose(_camera(app), _story_camera(app))
    _turn(app)
    _set(app, t_s=float(app.state.t_s) + 0.5)
    assert not np.allclose(_camera(app), _story_camera(app))
    app.toggle_play()                     # Play
    app.tick(0.5)
    app.state.flush()
    app.toggle_play()                     # and pause again
    app.state.flush()
    assert np.allclose(_camera(app), _story_camera(app))


def test_section_view_control_reaches_the_renderer_and_is_checked(app):
    from cryoviz.deliver.app_guard import screen

    anatomy = next(c for c in app.state.chapters if c["id"] == "anatomy")
    _set(app, t_s=anatomy["jump_s"])
    assert app.renderer.view_of(app.story.state_at(anatomy["jump_s"])) is None
    _set(app, section_view="transverse")
    assert app.renderer._opts["view"] == "transverse"
    assert app.renderer.view_of(app.story.state_at(anatomy["jump_s"])) == "transverse"
    accepted, rejected = screen(app, {"section_view": "coronal"})
    assert rejected == ["section_view"] and not accepted
    accepted, rejected = screen(app, {"section_view": "sagittal"})
    assert accepted == {"section_view": "sagittal"}
    _set(app, section_view="story")
    assert app.renderer._opts["view"] == "story"


def test_drag_mode_sets_the_remote_views_picture_scale_and_only_offered_modes_pass(app):
    from cryoviz.deliver.app_view import DRAG_MODE, DRAG_MODES

    s = app.state
    assert s.drag_mode == DRAG_MODE and (s.drag_ratio, s.drag_quality) == DRAG_MODES[DRAG_MODE]
    assert DRAG_MODES[DRAG_MODE][0] < 1.0              # dragging draws smaller pictures than a still
    assert app.client_update({"drag_mode": "full"}) == []
    app.state.flush()
    assert (s.drag_ratio, s.drag_quality) == DRAG_MODES["full"] == (1.0, 70)
    for bad in ("huge", 0.1, None, ["half"]):
        assert app.client_update({"drag_mode": bad}) == ["drag_mode"] and s.drag_mode == "full"
    assert app.client_update({"drag_ratio": 0.01}) == ["drag_ratio"]   # the ratio itself is the server's
    app.client_update({"drag_mode": DRAG_MODE})
    app.state.flush()
    assert s.drag_ratio == DRAG_MODES[DRAG_MODE][0]
