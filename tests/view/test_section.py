"""Section views: the "what was spared" stills show the cut faces of the gland, the ice and the rectal wall in
their own colours, with the measured gap callout; the still command draws any view."""

from __future__ import annotations

import numpy as np
import pytest
from vtkmodules.vtkRenderingCore import vtkCoordinate

from cryoviz.story.session import load_story
from cryoviz.view.callout import gap_figure
from cryoviz.view.palette import BACKGROUND, ISOTHERM_STYLE, ORGAN_STYLE, hex_rgb, recede
from cryoviz.view.render import SceneRenderer

SIZE = (640, 360)


@pytest.fixture(scope="module")
def story():
    return load_story("scenes/salvage_whole_gland.toml", grid_mm=2.0)


def _pixel(r, img, p):
    c = vtkCoordinate()
    c.SetCoordinateSystemToWorld()
    c.SetValue(*(float(v) for v in p))
    x, y = c.GetComputedDoubleDisplayValue(r.plotter.renderer)
    return img[img.shape[0] - 1 - round(y), round(x)].astype(float)


def _nearest(px, candidates: dict) -> str:
    return min(candidates, key=lambda k: float(np.linalg.norm(px - 255 * np.asarray(candidates[k]))))


def _warm_gland_point(story, plane_x):
    """A point of the gland on the cut whose coldest temperature stayed above 0 °C (no ice over it)."""
    g = story.result.grid
    i = round((plane_x - g.origin_mm[0]) / g.spacing_mm)
    lab = np.asarray(g.labels)[i]
    warm = (lab == 1) & (np.asarray(story.result.min_temp_c)[i] > 0.0)
    inner = warm.copy()
    inner[1:-1, 1:-1] &= warm[:-2, 1:-1] & warm[2:, 1:-1] & warm[1:-1, :-2] & warm[1:-1, 2:]
    j, k = np.argwhere(inner if inner[1:-1, 1:-1].any() else warm)[0]
    return np.array([plane_x, g.origin_mm[1] + j * g.spacing_mm, g.origin_mm[2] + k * g.spacing_mm])


@pytest.mark.parametrize("view", ["sagittal", "transverse"])
def test_spared_section_shows_gland_ice_rectal_wall_and_the_callout(story, view):
    state = story.state_at(story.chapter_time("spared"))
    assert state.section == "sagittal" and state.callout
    r = SceneRenderer(story, SIZE)
    try:
        r.set_options(view=view)
        r.apply(state)
        img = r.image()
        gap = story.gap
        ice, wall = np.asarray(gap.ice_mm), np.asarray(gap.wall_mm)
        d = (wall - ice) / np.linalg.norm(wall - ice)
        origin, normal = r.sections.planes[view]
        on_plane = lambda p: p - ((p - origin) @ normal) * normal  # noqa: E731
        lethal = np.asarray(hex_rgb(ISOTHERM_STYLE[-40.0][0]))

        def drawn(organ):  # organs the caption does not name recede
            c = ORGAN_STYLE[organ][0]
            return recede(c) if state.focus not in (None, organ) else hex_rgb(c)

        colours = {
            "gland": drawn("prostate"),
            "rectal wall": drawn("rectum"),
            "lethal ice": 0.92 * lethal + 0.08 * np.asarray(drawn("prostate")),
            "background": hex_rgb(BACKGROUND),
            "callout": (1.0, 1.0, 1.0),
        }
        assert _nearest(_pixel(r, img, on_plane(ice - 2.5 * d)), colours) == "lethal ice"
        assert _nearest(_pixel(r, img, on_plane(wall + 1.5 * d)), colours) == "rectal wall"
        if view == "sagittal":  # the midline cut runs along the warmed urethra, where the gland stays warm
            assert _nearest(_pixel(r, img, _warm_gland_point(story, origin[0])), colours) == "gland"
        # the callout: a bright line between the two ends, and the caption's figure beside it
        x0, y0, x1, y1 = r.callout.ends_px
        assert np.hypot(x1 - x0, y1 - y0) > 10
        mid = img[SIZE[1] - 1 - round(0.5 * (y0 + y1)), round(0.5 * (x0 + x1))]
        assert mid.min() > 200
        metric = story.result.metrics["organs"]["rectum_wall"]["min_distance_to_minus40_mm"]
        assert gap_figure(story) == f"{int(metric)}"  # rounded down, as the captions round it
        assert r.callout.text.GetInput() == f"{gap_figure(story)} mm to the -40 °C ice"
        assert r.callout.text.GetVisibility()
    finally:
        r.close()


def test_callout_only_when_the_story_talks_about_the_gap(story):
    r = SceneRenderer(story, SIZE)
    try:
        spared = next(c for c in story.chapters if c.id == "spared")
        r.apply(story.state_at(spared.start_s + 2.0))  # the chapter's title card / first words
        assert r.callout.ends_px is None
        r.apply(story.state_at(story.chapter_time("freeze1")))
        assert r.callout.ends_px is None
    finally:
        r.close()


def test_still_draws_each_view(tmp_path, capsys):
    import imageio.v3 as iio

    from cryoviz.cli import main

    pics = {}
    for view in ("story", "sagittal", "transverse"):
        out = tmp_path / f"{view}.png"
        assert main(["still", "scenes/salvage_whole_gland.toml", "--chapter", "anatomy", "--view", view,
                     "-o", str(out), "--size", "320x180"]) == 0
        pics[view] = iio.imread(out)
    assert not np.array_equal(pics["story"], pics["sagittal"])
    assert not np.array_equal(pics["sagittal"], pics["transverse"])
    bad = tmp_path / "bad.png"
    assert main(["still", "scenes/salvage_whole_gland.toml", "--chapter", "spared", "--view", "coronal",
                 "-o", str(bad)]) == 2
    assert "--view" in capsys.readouterr().err
    assert not bad.exists()


@pytest.mark.parametrize("view", ["sagittal", "transverse"])
def test_the_urethra_is_named_on_its_cut_face(story, view):
    """The urethra's cut face lies a little in front of the gland's (so it is drawn); its name still
    finds it."""
    r = SceneRenderer(story, (1280, 720))
    try:
        r.set_options(view=view)
        r.apply(story.state_at(story.chapter_time("spared")))
        assert r.sections.face_anchor(view, "urethra") is not None
        assert "urethra" in r.labels.boxes
    finally:
        r.close()
