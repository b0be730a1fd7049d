"""The lesion in the 3D view: drawn as its own calm shape, toggled like an organ."""

from __future__ import annotations

import numpy as np
import pytest

from cryoviz.story.session import load_story
from cryoviz.view.palette import LESION_STYLE
from cryoviz.view.render import SceneRenderer

SIZE = (320, 180)


@pytest.fixture(scope="module")
def story():
    return load_story("scenes/salvage_focal_lesion.toml", grid_mm=2.0)


def _violet_px(img: np.ndarray) -> int:
    """Pixels close in hue to the lesion colour (violet: blue and red above green)."""
    r, g, b = (img[..., k].astype(int) for k in range(3))
    return int(np.count_nonzero((b > g + 25) & (r > g + 10) & (b > 60)))


def test_lesion_is_drawn_and_its_toggle_changes_pixels(story):
    ch = next(c for c in story.chapters if c.id == "anatomy")
    state = story.state_at(ch.end_s - 0.5)
    r = SceneRenderer(story, SIZE)
    try:
        assert len(r.lesions.actors) == 1 and len(r.lesions.ghosts) == 1  # solid, and a faint copy over
        r.apply(state)
        shown = r.image()
        r.set_options(organs_visible={"lesion": False})
        r.apply(state)
        hidden = r.image()
        r.set_options(organs_visible={})
        r.apply(state)
        again = r.image()
    finally:
        r.close()
    assert not np.array_equal(shown, hidden)
    assert np.array_equal(shown, again)
    assert _violet_px(shown) > _violet_px(hidden) + 20
    assert LESION_STYLE[0].lower() not in ("#ff0000", "#d55e00")  # calm, not the lethal-ice vermillion


def test_section_views_draw_no_faint_copy_over_the_cut(story):
    """Over a cut, the faint copy would sit on the plane's isotherm band, not where the lesion froze."""
    ch = next(c for c in story.chapters if c.id == "anatomy")
    state = story.state_at(ch.end_s - 0.5)
    r = SceneRenderer(story, SIZE)
    try:
        r.apply(state)
        assert r.view_of(state) is None and r.lesions.ghosts[0].visibility
        r.set_options(view="sagittal")
        r.apply(state)
        cut = r.image()
        assert not r.lesions.ghosts[0].visibility and r.lesions.actors[0].visibility
        r.set_options(view="story")
        r.apply(state)
        assert r.lesions.ghosts[0].visibility
    finally:
        r.close()
    assert cut.std() > 10  # the section itself is still drawn


def test_ultrasound_shows_the_lesion_only_when_the_scene_or_the_clinician_says_so(story):
    # the focal preset's lesion is not visible on ultrasound: nothing to draw unless the clinician asks
    r = SceneRenderer(story, SIZE, ultrasound=True)
    try:
        assert r._us_lesion_mask() is None
        r.set_options(lesion_on_ultrasound=True)
        assert r._us_lesion_mask() is not None and r._us_lesion_mask().any()
    finally:
        r.close()
    hemi = load_story("scenes/salvage_hemi_lesion.toml", grid_mm=2.0)  # visible_on_ultrasound = true
    ch = next(c for c in hemi.chapters if c.id == "probes")
    state = hemi.state_at(ch.end_s - 0.5)
    r = SceneRenderer(hemi, (640, 360), ultrasound=True)
    try:
        r.apply(state)
        shown = r.image()
        r.set_options(lesion_on_ultrasound=False)
        r.apply(state)
        hidden = r.image()
    finally:
        r.close()
    assert not np.array_equal(shown, hidden)
