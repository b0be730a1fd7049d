"""Stills are anti-aliased (FXAA): edges are smoothed, the colours of the picture are not changed."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np

from cryoviz.story.session import load_story
from cryoviz.view.render import STILL_DEPTH_PEELS, SceneRenderer
from cryoviz.view.still import STILL_FXAA, write_still

SCENE = "scenes/salvage_whole_gland.toml"


def test_still_is_smoothed_at_edges_only(tmp_path):
    assert STILL_FXAA
    out = tmp_path / "s.png"
    write_still(SCENE, out, chapter="spared", size=(480, 270))
    smooth = iio.imread(out)[..., :3].astype(int)
    story = load_story(SCENE)
    r = SceneRenderer(story, (480, 270), depth_peels=STILL_DEPTH_PEELS, shell_mm=None)
    try:
        r.apply(story.state_at(story.chapter_time("spared")))
        raw = r.image().astype(int)
    finally:
        r.close()
    changed = np.abs(smooth - raw).max(axis=-1) > 3
    assert changed.mean() > 0.002  # the edges were smoothed ...
    assert changed.mean() < 0.10  # ... and only the edges
    # a smoothed pixel lies between its neighbours' colours: no new colour appears in flat areas
    flat = np.zeros_like(changed)
    flat[1:-1, 1:-1] = np.all([np.all(raw[1:-1, 1:-1] == raw[1 + dy:raw.shape[0] - 1 + dy,
                                                              1 + dx:raw.shape[1] - 1 + dx], axis=-1)
                               for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0)
    assert flat.mean() > 0.3
    assert np.abs(smooth - raw).max(axis=-1)[flat].mean() < 1.0
