"""The ring of pictures drawn ahead for rotation (app_turntable): the drag's angle mapping is VTK's trackball
camera's, a ring is dropped on any change of what the picture depends on, its pictures are the renderer's
own for the turned camera, and the page's final angles are checked before the camera moves."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _apphelpers import SCENE

from cryoviz.deliver.app_turntable import (
    AZ_STEP_DEG,
    ELEVATIONS_DEG,
    RING_MIN_PX,
    RING_SCALE,
    Ring,
    drag_angles,
    ring_size,
    ring_views,
    turn_camera,
    view_angle_deg,
)

SIZE = (320, 240)


def _cam(c) -> np.ndarray:
    return np.array([*c.GetPosition(), *c.GetFocalPoint(), *c.GetViewUp(), c.GetViewAngle()])


def test_drag_angles_are_vtk_trackball_rotation():
    """One mouse move through VTK's own trackball style turns the camera as drag_angles + turn_camera do."""
    import pyvista as pv
    from vtkmodules.vtkInteractionStyle import vtkInteractorStyleTrackballCamera
    from vtkmodules.vtkRenderingCore import vtkCamera, vtkRenderWindowInteractor

    pl = pv.Plotter(off_screen=True, window_size=(400, 300))
    pl.add_mesh(pv.Sphere())
    ren, rw = pl.renderer, pl.ren_win
    ren.ResetCamera()
    ren.GetActiveCamera().Elevation(10)   # not a special pose
    ren.GetActiveCamera().OrthogonalizeViewUp()
    base = vtkCamera()
    base.DeepCopy(ren.GetActiveCamera())
    iren = vtkRenderWindowInteractor()
    iren.SetRenderWindow(rw)
    iren.EnableRenderOff()                # the style's own renders are not needed (and need a display)
    style = vtkInteractorStyleTrackballCamera()
    iren.SetInteractorStyle(style)
    iren.SetEventInformation(200, 150)
    style.OnLeftButtonDown()
    iren.SetEventInformation(240, 130)    # VTK's y is up: 40 px right, 20 px down on the screen
    style.OnMouseMove()
    style.OnLeftButtonUp()
    az, el = drag_angles(40, 20, 400, 300)
    assert az == pytest.approx(-20.0) and el == pytest.approx(200.0 * 20 / 300)
    mine = vtkCamera()
    turn_camera(mine, base, az, el)
    assert np.allclose(_cam(mine), _cam(ren.GetActiveCamera()), atol=1e-6)
    assert not np.allclose(_cam(mine), _cam(base), atol=1e-3)
    pl.close()


def test_ring_views_cover_the_turn_nearest_first():
    views = ring_views()
    assert len(views) == round(360 / AZ_STEP_DEG) * len(ELEVATIONS_DEG) == len(set(views))
    assert views[0] == (0.0, 0.0)
    angles = [view_angle_deg(v, (0.0, 0.0)) for v in views]
    assert angles == sorted(angles)
    assert {az for az, _ in views} >= {180.0, -170.0, 170.0, 10.0, -10.0}
    assert view_angle_deg((90.0, 0.0), (0.0, 0.0)) == pytest.approx(90.0)
    assert view_angle_deg((180.0, 0.0), (-180.0, 0.0)) == pytest.approx(0.0, abs=1e-6)


def test_ring_pictures_are_half_the_view_but_never_too_narrow_for_the_overlay():
    assert ring_size(1280, 720) == (round(1280 * RING_SCALE), round(720 * RING_SCALE))
    assert ring_size(760, 600)[0] == RING_MIN_PX and ring_size(760, 600)[1] == round(600 * RING_MIN_PX / 760)
    assert ring_size(382, 312) == (382, 312)        # a phone's view: the ring is drawn at its own size
    assert ring_size(0, 0) == (16, 16)


def test_ring_is_dropped_on_any_change_and_bounded():
    ring = Ring(max_bytes=100)
    assert ring.reset(("t", 1.0), now=0.0)
    token = ring.token
    ring.add((0.0, 0.0), "x" * 40)
    assert not ring.reset(("t", 1.0), now=5.0)           # same view: the pictures stay
    assert ring.token == token and (0.0, 0.0) in ring.pictures and ring.since == 0.0
    assert ring.todo(2) == [v for v in ring.views if v != (0.0, 0.0)][:2]
    assert ring.reset(("t", 1.5), now=6.0)               # another time (or camera, size, options...)
    assert ring.token == token + 1 and ring.pictures == {} and ring.nbytes == 0 and ring.base is None
    for v in ring.views[:3]:
        ring.add(v, "y" * 40)
    assert ring.complete and ring.todo(5) == []          # full: no more pictures are drawn
    assert ring.meta()["token"] == ring.token and ring.meta()["count"] == len(ring.views)


def test_a_page_asking_again_gets_every_picture_even_one_finished_meanwhile():
    """CI: a second tab asked while a picture was being encoded; counting from the end then skipped the
    ring's first picture (straight ahead), and that tab never took a drag."""
    ring = Ring()
    ring.reset(("t", 1.0), now=0.0)
    first = ring.views[:5]
    for v in first:
        ring.add(v, f"jpeg{v}")
    ring.ask_resend()
    ring.add(ring.views[5], "late")                    # finished while the request arrived: sent live
    sent = ring.next_resend(3) + ring.next_resend(3) + ring.next_resend(3)
    assert [v for v, _ in sent] == first and first[0] == (0.0, 0.0)
    assert [j for _, j in sent] == [f"jpeg{v}" for v in first]
    assert ring.resend == [] and ring.next_resend(3) == []
    ring.ask_resend()
    assert ring.reset(("t", 2.0), now=1.0) and ring.resend == []   # a new ring: nothing old is sent


class _NoView:
    """Stands for trame-vtk's remote view: counts the pictures the app pushes."""

    pushes = 0

    def update(self):
        self.pushes += 1


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
    a.view = _NoView()       # the ring needs a view to draw for (no server runs here)
    a.ring = Ring()
    a.turn_resend()          # as the page does once it shows its first picture: the ring may be drawn
    yield a
    a._on_exit()


def test_no_ring_before_a_page_asks_for_it(app):
    app._turn_wanted = False
    try:
        assert app._turn_key() is None
    finally:
        heard = app.turn_resend()
    # True is the page's sign it was heard (a trigger dropped before the first story answers None)
    assert heard is True
    assert app._turn_key() is not None


def _at_freeze(app):
    start = next(c for c in app.state.chapters if c["id"].startswith("freeze"))["jump_s"]
    app.state.t_s = float(start) + 30.0
    app.state.flush()
    app._show_now()


def test_ring_pictures_are_the_renderers_own_and_leave_the_view_as_it_was(app):
    _at_freeze(app)
    ring, r = app.ring, app.renderer
    assert ring.reset(app._turn_key())
    before = _cam(r.plotter.camera)
    shown = r.image()
    imgs = app._turn_draw([(0.0, 0.0), (40.0, 15.0)]) or app._turn_draw([(0.0, 0.0), (40.0, 15.0)])
    assert imgs[0].shape == (*ring_size(*SIZE)[::-1], 3) == (SIZE[1], SIZE[0], 3)   # a small view: its size
    assert np.allclose(_cam(r.plotter.camera), before) and tuple(r.plotter.ren_win.GetSize()) == SIZE
    assert app._turn_key() == ring.key                  # drawing ahead changes nothing the page sees
    assert np.array_equal(r.image(), shown)
    assert not np.array_equal(imgs[0], imgs[1])
    # the exact picture after the page's release at (40, 15) is the ring's view, drawn at full size
    assert app.turn_to(ring.token, 40.0, 15.0, 1.0, 7)
    app._show_now()
    assert app.state.turn_applied == 7 and r.camera_moved()
    from vtkmodules.vtkRenderingCore import vtkCamera

    want = vtkCamera()
    turn_camera(want, ring.base, 40.0, 15.0)
    assert np.allclose(_cam(r.plotter.camera), _cam(want), atol=1e-6)
    r.plotter.ren_win.SetSize(*imgs[1].shape[1::-1])
    r.apply(app.story.state_at(float(app.state.t_s)))
    same = r.image()
    r.plotter.ren_win.SetSize(*SIZE)
    assert np.abs(same.astype(int) - imgs[1].astype(int)).mean() < 1.0
    assert app._turn_key() != ring.key                  # the camera moved: the next ring is another one
    app.reset_view()


@pytest.mark.parametrize("args", [
    ("stale", 10.0, 0.0, 1.0, 1), (None, 10.0, 0.0, 1.0, 1), (True, 10.0, 0.0, 1.0, 1),
    ("ok", math.nan, 0.0, 1.0, 1), ("ok", 10.0, 95.0, 1.0, 1), ("ok", 10.0, 0.0, 0.0, 1),
    ("ok", 10.0, 0.0, 1e9, 1), ("ok", "10", 0.0, 1.0, 1), ("ok", 1e300, 0.0, 1.0, 1),
    ("ok", [1], 0.0, 1.0, 1)])
def test_turn_to_refuses_what_the_page_may_not_send(app, args):
    _at_freeze(app)
    ring = app.ring
    ring.reset(app._turn_key())
    app._turn_draw([(0.0, 0.0)]) or app._turn_draw([(0.0, 0.0)])
    token = {"ok": ring.token, "stale": ring.token + 1}.get(args[0], args[0])
    before = _cam(app.renderer.plotter.camera)
    assert not app.turn_to(token, *args[1:])
    assert np.allclose(_cam(app.renderer.plotter.camera), before)
