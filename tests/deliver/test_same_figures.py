"""One scene, one figure: every output writes a temperature (and a distance) by the same rule.

The tester saw the rectal wall at 3 °C in the app, the video and its subtitles, and at 3.8 °C on the visit
page and the printed summary (the sphincter 29 and 29.9). The rule is :mod:`cryoviz.core.rounding` (whole
degrees rounded down); this checks that the story's sentences, the app's "What was spared" panel and the
take-home files' lines give the same number for the same structure, in both languages.
"""

from __future__ import annotations

import dataclasses
import math
import re

import pytest

from cryoviz.model.scene_load import load_scene
from cryoviz.story.session import build_story

#: Story structure -> (take-home line key, metrics organ).
PAIRS = {"rectal_wall": ("rectum", "rectum_wall"), "urethral_wall": ("urethra", "urethra"),
         "sphincter": ("sphincter", "sphincter"), "nerve_bundles": ("nerves", "neurovascular_bundles")}
#: The panel names each structure as its line starts.
PANEL = {"en": {"rectal_wall": "Rectal wall", "urethral_wall": "Wall of the urethra",
                "sphincter": "Sphincter", "nerve_bundles": "Nerve bundles"}}


def _numbers(text: str) -> list[float]:
    return [float(n.replace(",", ".")) for n in re.findall(r"-?\d+(?:[.,]\d+)?", text)]


@pytest.fixture(scope="module")
def stories():
    base = load_scene("scenes/salvage_whole_gland.toml")
    scene = dataclasses.replace(base, thermal=dataclasses.replace(base.thermal, grid_mm=2.0))
    en = build_story(scene, lang="en")
    return {"en": en, "es": en.with_language("es")}


@pytest.mark.parametrize("lang", ["en", "es"])
def test_story_panel_and_take_home_give_the_same_temperature(stories, lang):
    from cryoviz.deliver.takehome_text import take_home_text

    story = stories[lang]
    organs = story.result.metrics["organs"]
    figures = {f.key: f.text for f in take_home_text(story).figures}
    checked = 0
    for structure, (key, organ) in PAIRS.items():
        want = math.floor(organs[organ]["min_temp_c"])             # whole degrees, rounded down
        said = next(c.text for c in story.cues if c.about == structure)
        assert want in _numbers(said), (said, organs[organ]["min_temp_c"])
        assert _numbers(figures[key]) == [want], (figures[key], organs[organ]["min_temp_c"])  # today: 3.8
        checked += 1
        if lang in PANEL:
            line = next(x for x in story.spared_lines if x.startswith(PANEL[lang][structure]))
            assert want in _numbers(line), line
    assert checked == len(PAIRS)
    gap = organs["rectum_wall"]["min_distance_to_minus40_mm"]
    assert gap >= 1                                                  # this scene: whole millimetres
    gap_cue = next(c.text for c in story.cues if c.about == "rectal_wall" and "mm" in c.text)
    for text in (gap_cue, figures["rectum_gap"]):                    # today: "8 mm" and "8.0 mm"
        assert [n for n in _numbers(text) if n != -40] == [math.floor(gap)], (text, gap)
        assert f"{math.floor(gap)} mm" in text, text
