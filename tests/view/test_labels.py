"""Organ names: no two boxes overlap, none for a hidden organ, across every chapter, both languages, small
to large glands and 640x360 to 1920x1080 frames; every text at or above its stated minimum size."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from vtkmodules.vtkRenderingCore import vtkTextRenderer

from cryoviz.model.scene import LANGUAGES
from cryoviz.view.callout import CALLOUT_FONT_PX
from cryoviz.view.labels import LABEL_FONT_PX, pack_column
from cryoviz.view.overlay import FONT_PX
from cryoviz.view.render import SceneRenderer

SIZES = ((640, 360), (1280, 720), (1920, 1080), (390, 300))  # the last: the app's 3D view on a phone
GLANDS_ML = (15, 30, 100)


@pytest.fixture(scope="module", params=GLANDS_ML)
def story(request):
    from cryoviz.model.scene_load import load_scene
    from cryoviz.story.session import build_story

    scene = load_scene("scenes/salvage_whole_gland.toml")
    scene = dataclasses.replace(scene, anatomy=dataclasses.replace(scene.anatomy, volume_ml=request.param))
    return build_story(scene, grid_mm=2.0)


def _times(story):
    """Every cue's middle and every chapter's key moment: each caption (and so each focus) once."""
    ts = [0.5 * (c.start_s + c.end_s) for c in story.cues]
    return sorted(set(ts + [story.chapter_time(c.id) for c in story.chapters]))


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_pack_column_keeps_order_gap_and_band():
    ys = pack_column([100, 99, 98, 20], [10, 10, 10, 10], 0, 120, gap=4)
    assert ys is not None
    assert all(a - b >= 14 - 1e-9 for a, b in itertools.pairwise(ys))  # top to bottom, 10 px + 4 px gap
    assert ys[0] + 5 <= 120 and ys[-1] - 5 >= 0
    assert pack_column([50] * 20, [10] * 20, 0, 100) is None  # does not fit: refuses, never overlaps


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_labels_never_overlap_and_follow_their_organs(story, size):
    r = SceneRenderer(story, size)
    shown_any = 0
    try:
        for lang in LANGUAGES:
            r.set_options(lang=lang)
            for k, t in enumerate(_times(r.story)):
                # every third frame a doctor has switched some organs off in the app
                hidden = {"prostate", "rectum", "sphincter"} if k % 3 == 1 else set()
                r.set_options(organs_visible={n: n not in hidden for n in r.anatomy.organs})
                state = r.story.state_at(t)
                r.apply(state)
                boxes = r.labels.boxes
                shown_any += len(boxes)
                for (a, ba), (b, bb) in itertools.combinations(boxes.items(), 2):
                    assert not _overlap(ba, bb), (lang, t, a, b, ba, bb)
                lo, hi = r.overlay.free_band()
                for name, (x0, y0, x1, y1) in boxes.items():
                    assert name not in hidden, (lang, t, name)
                    assert state.organ_opacity.get(name, 1.0) > 0.01
                    assert x0 >= 0 and x1 <= size[0] and lo - 1e-6 <= y0 and y1 <= hi + 1e-6, (name, t)
                if state.card:
                    assert not boxes
    finally:
        r.close()
    assert shown_any > 50  # names were really laid out, not all dropped


@pytest.mark.parametrize("size", ((640, 360), (390, 300), (1920, 1080)), ids=lambda s: f"{s[0]}x{s[1]}")
def test_text_sizes_at_or_above_the_minimums(story, size):
    r = SceneRenderer(story, size)
    measure = vtkTextRenderer()
    try:
        r.set_options(lang="es")
        r.apply(story.state_at(story.chapter_time("spared")))
        texts = {name: getattr(r.overlay, name).GetTextProperty() for name in FONT_PX}
        texts.update({f"label:{n}": a.GetTextProperty() for n, a in r.labels._actors.items()})
        texts["callout"] = r.callout.text.GetTextProperty()
        least = {**{k: v[1] for k, v in FONT_PX.items()}, "callout": CALLOUT_FONT_PX[1]}
        for name, prop in texts.items():
            need = least.get(name, LABEL_FONT_PX[1])
            assert prop.GetFontSize() >= need, (name, prop.GetFontSize())
            bbox = [0, 0, 0, 0]
            measure.GetBoundingBox(prop, "H", bbox, 72)
            assert bbox[3] - bbox[2] + 1 >= 0.7 * need, name  # the capital's ink really is that tall
    finally:
        r.close()
