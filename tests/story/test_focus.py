"""What a frame points at: the organ a caption names (the same in every language), the section view of the
freeze and "what was spared" chapters, and the measured gap to the rectal wall (the metric's length)."""

from __future__ import annotations

import numpy as np
import pytest

from cryoviz.model.scene import LANGUAGES
from cryoviz.story.focus import focus_organ, lethal_gap
from cryoviz.story.session import load_story

ORGANS = ("prostate", "urethra", "sphincter", "rectum", "bladder", "neurovascular_bundles")


@pytest.fixture(scope="module")
def story():
    return load_story("scenes/salvage_whole_gland.toml", grid_mm=2.0)


def test_focus_names_the_organ_not_the_gland_it_is_described_by():
    words = {"prostate": "prostate|gland", "sphincter": "sphincter", "rectum": "rectum|rectal"}
    below = "Below the prostate, a ring of muscle. It is the sphincter."
    assert focus_organ(below, words, ORGANS) == "sphincter"
    assert focus_organ("This is your prostate. It is a gland.", words, ORGANS) == "prostate"
    assert focus_organ("Sensors watch the rectal wall.", words, ORGANS) == "rectum"
    assert focus_organ("A directive.", {"rectum": "rect"}, ORGANS) is None  # stems match at a word start
    assert focus_organ("The rectal wall.", words, ("prostate",)) is None  # organs not in the scene
    assert focus_organ(None, words, ORGANS) is None


def test_every_language_focuses_the_same_organ_in_every_cue(story):
    per_lang = {}
    for lang in LANGUAGES:
        s = story.with_language(lang)
        per_lang[lang] = [s.state_at(0.5 * (c.start_s + c.end_s)).focus for c in s.cues]
    first = per_lang[LANGUAGES[0]]
    assert sum(f is not None for f in first) >= 8
    for lang in LANGUAGES[1:]:
        assert per_lang[lang] == first, lang


def test_sections_and_callout_follow_the_chapters(story):
    seen = {}
    for c in story.chapters:
        states = [story.state_at(t) for t in np.linspace(c.start_s, c.end_s - 1e-3, 40)]
        callouts = [s.callout for s in states]
        seen[c.id] = ({s.section for s in states}, any(callouts), all(callouts))
    assert seen["freeze1"][0] == {"sagittal"} and seen["spared"][0] == {"sagittal"}
    assert seen["thaw_refreeze"][0] == {"transverse"}
    assert seen["anatomy"][0] == {None}
    # the callout comes with the words about the rectum in "what was spared", not from its first frame
    assert seen["spared"][1] and not seen["spared"][2]
    assert not any(v[1] for k, v in seen.items() if k != "spared")
    key = story.state_at(story.chapter_time("spared"))
    assert key.callout and key.section == "sagittal"


def test_gap_line_has_the_metric_length(story):
    gap = story.gap
    metric = story.result.metrics["organs"]["rectum_wall"]["min_distance_to_minus40_mm"]
    assert gap is not None
    assert gap.distance_mm == pytest.approx(metric, abs=0.01)
    length = float(np.linalg.norm(np.subtract(gap.wall_mm, gap.ice_mm)))
    assert length == pytest.approx(gap.distance_mm, abs=1e-6)
    # the wall end is posterior to the ice end (y grows towards the back)
    assert gap.wall_mm[1] > gap.ice_mm[1]


def test_no_gap_without_lethal_ice(story):
    class Warm:
        grid = story.result.grid
        min_temp_c = np.full(story.result.grid.labels.shape, 10.0, np.float32)

    assert lethal_gap(Warm()) is None
