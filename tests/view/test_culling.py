"""Closed capped organs are drawn with back faces culled (less llvmpipe work per picture); the picture must
be the one drawn without culling, from the story's cameras, from behind and from inside an organ.

Not bit for bit: where a surface grazes the view, a pixel whose centre only a back face covers shows the
background instead (2 of 129,600 pixels in the first freeze's transverse cut, on the bladder's rim).
"""

from __future__ import annotations

import numpy as np
import pytest
import pyvista as pv

from cryoviz.story.session import load_story
from cryoviz.view.render import SceneRenderer
from cryoviz.view.section import closed_outward

SIZE = (480, 270)
#: Share of pixels that may differ: single pixels on a grazing rim, never a face or a colour.
RIM_SHARE = 2e-4


def _same(a, b) -> None:
    differ = np.any(a != b, axis=-1)
    assert differ.mean() <= RIM_SHARE, f"{int(differ.sum())} pixels differ"


@pytest.fixture(scope="module")
def story():
    return load_story("scenes/salvage_whole_gland.toml", grid_mm=2.0)


def test_closed_outward_tells_a_closed_surface_from_an_open_or_inside_out_one():
    ball = pv.Sphere(radius=5.0).compute_normals(split_vertices=True, feature_angle=30.0)
    assert closed_outward(ball)
    assert not closed_outward(pv.Sphere(radius=5.0).flip_faces())      # wound inward
    assert not closed_outward(pv.Sphere(radius=5.0).clip(normal="z"))  # open


def _no_culling(r):
    for a in r._culled:
        a.prop.SetBackfaceCulling(False)


def _pair(r, state, camera=None):
    """The picture with the renderer's culling, and the same with none (both after ``camera``, if any)."""
    r.apply(state)
    if camera is not None:
        camera(r.plotter.camera)
        r.plotter.renderer.ResetCameraClippingRange()
    culled = r.image().copy()
    assert any(a.prop.GetBackfaceCulling() for a in r._culled) or camera is not None
    tag = r.plotter.renderer.RemoveObserver(r._resize_tag)   # stop the renderer re-enabling it
    _no_culling(r)
    plain = r.image().copy()
    r._resize_tag = r.plotter.renderer.AddObserver("StartEvent", r._follow_window_size)
    del tag
    return culled, plain


@pytest.mark.parametrize("chapter,view", [("freeze1", "story"), ("thaw_refreeze", "story"),
                                          ("spared", "story"), ("freeze1", "transverse"),
                                          ("spared", "sagittal")])
def test_culling_leaves_the_story_picture_unchanged(story, chapter, view):
    r = SceneRenderer(story, SIZE)
    try:
        r.set_options(view=view)
        culled, plain = _pair(r, story.state_at(story.chapter_time(chapter) + 5.0))
        assert r._culled, "no capped organ was found closed: nothing is culled"
        _same(culled, plain)
    finally:
        r.close()


def test_culling_leaves_the_picture_unchanged_from_behind_and_from_inside_the_gland(story):
    state = story.state_at(story.chapter_time("freeze1") + 5.0)
    r = SceneRenderer(story, SIZE)
    try:
        culled, plain = _pair(r, state, camera=lambda cam: cam.Azimuth(180.0))
        _same(culled, plain)
        gland = np.asarray(story.anatomy.meshes()["prostate"].center)

        def inside(cam):
            cam.position = tuple(gland + 0.3 * (np.asarray(cam.position) - gland) / 50.0)
        culled, plain = _pair(r, state, camera=inside)
        assert not all(a.prop.GetBackfaceCulling() for a in r._culled)   # the camera's organ is drawn whole
        _same(culled, plain)
    finally:
        r.close()
