"""The 3D renderer: built once, states applied in place, the lethal shell where the gland is."""

from __future__ import annotations

import numpy as np
import pytest

from cryoviz.story.session import load_story
from cryoviz.view.render import SceneRenderer

SIZE = (320, 180)


@pytest.fixture(scope="module")
def story():
    return load_story("scenes/salvage_whole_gland.toml", grid_mm=2.0)


@pytest.fixture(scope="module")
def renderer(story):
    r = SceneRenderer(story, SIZE)
    yield r
    r.close()


def _freeze1_end(story) -> float:
    ch = next(c for c in story.chapters if c.id == "freeze1")
    return ch.end_s - 0.05


def _gland_box_px(renderer, story) -> tuple[slice, slice]:
    """Screen-space bounding box (rows, cols) of the prostate, from the camera of the current frame."""
    from vtkmodules.vtkRenderingCore import vtkCoordinate

    pts = story.anatomy.mesh("prostate").points
    coord = vtkCoordinate()
    coord.SetCoordinateSystemToWorld()
    xs, ys = [], []
    for p in pts[:: max(len(pts) // 400, 1)]:
        coord.SetValue(*p)
        x, y = coord.GetComputedDisplayValue(renderer.plotter.renderer)
        xs.append(x)
        ys.append(y)
    h = SIZE[1]
    return slice(max(h - int(max(ys)), 0), h - int(min(ys))), slice(max(int(min(xs)), 0), int(max(xs)))


def test_lethal_shell_visible_in_gland_after_first_freeze(renderer, story):
    t_end = _freeze1_end(story)
    state = story.state_at(t_end)
    assert -40.0 in state.isotherms_c
    renderer.set_options(isotherms_c=(0.0, -20.0, -40.0))
    renderer.apply(state)
    with_lethal = renderer.image().astype(int)
    rows, cols = _gland_box_px(renderer, story)
    renderer.set_options(isotherms_c=(0.0, -20.0))
    renderer.apply(state)
    without = renderer.image().astype(int)
    renderer.set_options(isotherms_c=(0.0, -20.0, -40.0))
    diff = np.abs(with_lethal - without).sum(axis=2)
    inside = diff[rows, cols]
    # the lethal shell covers a good part of the gland's screen area ...
    assert (inside > 30).mean() > 0.25
    # ... and it is drawn in the lethal colour, a deep indigo that does not read as heat (more blue than red)
    changed = inside > 30
    px = with_lethal[rows, cols][changed]
    assert px[:, 2].mean() > px[:, 0].mean() + 60


def test_no_lethal_shell_before_freeze(renderer, story):
    ch = next(c for c in story.chapters if c.id == "probes")
    state = story.state_at(ch.end_s - 0.1)
    renderer.apply(state)
    a = renderer.image()
    renderer.set_options(isotherms_c=(0.0, -20.0))
    renderer.apply(state)
    b = renderer.image()
    renderer.set_options(isotherms_c=(0.0, -20.0, -40.0))
    assert np.array_equal(a, b)


def test_same_state_same_pixels_and_in_place(renderer, story):
    t = _freeze1_end(story) - 3.0
    n_actors = len(renderer.plotter.renderer.actors)
    renderer.apply(story.state_at(t))
    a = renderer.image()
    renderer.apply(story.state_at(1.0))
    renderer.image()
    renderer.apply(story.state_at(t))
    b = renderer.image()
    assert np.array_equal(a, b)
    assert len(renderer.plotter.renderer.actors) == n_actors


def test_organ_toggle_and_cutaway_change_pixels(renderer, story):
    ch = next(c for c in story.chapters if c.id == "anatomy")
    state = story.state_at(ch.end_s - 0.5)
    renderer.apply(state)
    base = renderer.image()
    renderer.set_options(organs_visible={"bladder": False})
    renderer.apply(state)
    no_bladder = renderer.image()
    renderer.set_options(organs_visible={}, cutaway=True)
    renderer.apply(state)
    cut = renderer.image()
    renderer.set_options(cutaway=False)
    assert not np.array_equal(base, no_bladder)
    assert not np.array_equal(base, cut)


def test_still_cli_writes_png_and_rejects_bad_chapter(tmp_path, capsys):
    from cryoviz.cli import main

    out = tmp_path / "still.png"
    assert main(["still", "scenes/salvage_whole_gland.toml", "--chapter", "freeze1", "-o", str(out),
                 "--size", "320x180"]) == 0
    import imageio.v3 as iio

    img = iio.imread(out)
    assert img.shape[:2] == (180, 320)
    assert img.std() > 10
    bad = tmp_path / "bad.png"
    assert main(["still", "scenes/salvage_whole_gland.toml", "--chapter", "nope", "-o", str(bad)]) == 2
    assert "--chapter" in capsys.readouterr().err
    assert not bad.exists()


def test_ultrasound_inset_shows_after_the_probe_is_in(story):
    r = SceneRenderer(story, SIZE, ultrasound=True)
    try:
        before = next(c for c in story.chapters if c.id == "anatomy")
        r.apply(story.state_at(before.end_s - 0.5))
        off = r.image()
        freeze = next(c for c in story.chapters if c.id == "freeze1")
        r.apply(story.state_at(freeze.start_s + 0.5 * (freeze.end_s - freeze.start_s)))
        on = r.image()
    finally:
        r.close()
    inset = r._us
    n = inset.size_px
    top = SIZE[1] - int(125 * SIZE[1] / 720) - n
    rows = slice(SIZE[1] - (top + n), SIZE[1] - top)
    cols = slice(14, 14 + n)
    region_on, region_off = on[rows, cols].astype(int), off[rows, cols].astype(int)
    # with the probe in, the inset holds a grey ultrasound picture (speckle: many distinct grey levels)
    assert len(np.unique(region_on[..., 0])) > 20
    assert np.abs(region_on - region_off).mean() > 5


def test_organ_labels_in_anatomy_chapter_and_for_the_named_organ(story):
    anatomy = next(c for c in story.chapters if c.id == "anatomy")
    freeze = next(c for c in story.chapters if c.id == "freeze1")
    renderer = SceneRenderer(story, (640, 360))
    try:
        renderer.apply(story.state_at(anatomy.end_s - 0.5))
        names = set(renderer.labels.boxes)
        renderer.apply(story.state_at(freeze.end_s - 0.5))
        later = set(renderer.labels.boxes)
    finally:
        renderer.close()
    assert {"prostate", "bladder", "rectum"} <= names
    assert later <= {story.state_at(freeze.end_s - 0.5).focus}  # outside the anatomy: the named organ only


def test_depth_peeled_still_keeps_translucent_organs(story):
    # Regression: with MSAA on, Mesa's EGL dropped every translucent actor once depth peeling was enabled.
    r = SceneRenderer(story, SIZE, depth_peels=4)
    try:
        assert r.plotter.renderer.GetUseDepthPeeling()
        state = story.state_at(next(c for c in story.chapters if c.id == "anatomy").end_s - 0.5)
        r.apply(state)
        with_bladder = r.image()
        r.set_options(organs_visible={"bladder": False, "prostate": False})
        r.apply(state)
        without = r.image()
    finally:
        r.close()
    assert (np.abs(with_bladder.astype(int) - without.astype(int)).sum(axis=2) > 30).mean() > 0.05


def test_overlay_follows_a_resized_window(story):
    r = SceneRenderer(story, SIZE)
    try:
        r.plotter.window_size = (400, 240)
        r.apply(story.state_at(1.0))
        img = r.image()
        assert img.shape[:2] == (240, 400)
        assert r.overlay.size == (400, 240)
        x, y = r.overlay.disclaimer.GetPosition()
        assert x <= 400 and y >= 0  # the disclaimer sits inside the new window
        # as the app's remote view does it: a new window size and a render, no new state
        r.plotter.ren_win.SetSize(640, 360)
        r.plotter.ren_win.Render()
        assert r.overlay.size == (640, 360)
        assert r.overlay.caption.GetTextProperty().GetFontSize() == 16  # 32 px at 720 high, halved
    finally:
        r.close()


def test_frozen_organs_look_icy_once_the_result_is_told(renderer, story):
    from cryoviz.view.palette import ORGAN_STYLE, frozen_colour, hex_rgb, recede

    def expected(state, name, frozen):
        colour = ORGAN_STYLE[name][0]
        colour = frozen_colour(colour) if name in frozen else colour
        faded = state.focus is not None and name != state.focus  # organs the caption does not name recede
        return recede(colour) if faded else hex_rgb(colour)

    spared = story.state_at(story.chapter_time("spared"))
    frozen = set(spared.frozen_organs)
    assert "neurovascular_bundles" in frozen  # 2 mm default scene: the nerve bundles freeze
    before = story.state_at(_freeze1_end(story))  # before the result: ordinary colours
    assert before.frozen_organs == ()
    for state in (before, spared):
        renderer.apply(state)
        for name, actor in renderer._organ_actors.items():
            want = expected(state, name, set(state.frozen_organs))
            assert actor.prop.color.float_rgb == pytest.approx(want, abs=3e-3), name  # 8-bit colours
    tinted = frozen_colour(ORGAN_STYLE["neurovascular_bundles"][0])
    assert hex_rgb(tinted) != pytest.approx(hex_rgb(ORGAN_STYLE["neurovascular_bundles"][0]), abs=0.05)


def test_lights_and_blending_of_frames_and_stills(story):
    """Frames use the two camera lights of the palette and plain blending; stills keep depth peeling."""
    from cryoviz.view.palette import LIGHTS

    frames = SceneRenderer(story, SIZE)
    still = SceneRenderer(story, SIZE, depth_peels=4)
    try:
        lights = frames.plotter.renderer.GetLights()
        assert lights.GetNumberOfItems() == len(LIGHTS)
        got = sorted(lights.GetItemAsObject(i).GetIntensity() for i in range(lights.GetNumberOfItems()))
        assert got == pytest.approx(sorted(x[3] for x in LIGHTS))
        assert not frames.plotter.renderer.GetUseOIT()
        assert not frames.plotter.renderer.GetUseDepthPeeling()
        assert still.plotter.renderer.GetUseDepthPeeling()
    finally:
        frames.close()
        still.close()
