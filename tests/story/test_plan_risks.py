"""Published risks are told as what they are: the figures of the study's men, with its source, chosen for
the plan (round 4, "words").

COLD is a registry of 91 men treated on *part* of the gland (focal salvage, clinical-facts §2): a whole-gland
plan never shows its figures, and a partial plan shows each one with who those men were. A warning never
says the model's result explains a published rate, and the preparation never promises what the result can
contradict (the warm catheter keeps the urethra warmer; when its wall froze anyway, the result says so).
"""

from __future__ import annotations

import dataclasses
import re

import pytest

from cryoviz.model.scene_load import load_scene
from cryoviz.story.session import build_story
from cryoviz.story.text import load_text

#: Whom a COLD figure is about, as each language says it.
QUALIFIER = {"en": "91 men treated on part of the gland", "es": "91 hombres tratados en parte de la glándula"}
#: The COLD figures (clinical-facts §2) as each language writes them.
COLD_FIGURES = {"en": ("5.5 %", "3.3 %", "6.6 %"), "es": ("5,5 %", "3,3 %", "6,6 %")}
#: Connectors that make a published rate this patient's (causal) or small (reassuring).
UNSUPPORTED = {"en": ("this is why", "that is why", "rarely", "because of this", "a safe plan"),
               "es": ("por eso", "rara vez", "por esta razón", "un plan seguro")}


def _cold(line: str, lang: str) -> bool:
    return "COLD" in line or any(f in line for f in COLD_FIGURES[lang]) or "half of the men who" in line \
        or "la mitad de los hombres que" in line


@pytest.fixture(scope="module")
def stories():
    """plan -> {lang: Story}: the default whole-gland scene and its half and focal plans, on a 2 mm grid."""
    base = load_scene("scenes/salvage_whole_gland.toml")
    base = dataclasses.replace(base, thermal=dataclasses.replace(base.thermal, grid_mm=2.0))
    out = {}
    for plan, preset in (("whole", "whole_gland"), ("hemi", "hemi_left"), ("focal", "focal")):
        scene = dataclasses.replace(base, layout=dataclasses.replace(base.layout, preset=preset))
        en = build_story(scene, lang="en")
        out[plan] = {"en": en, "es": en.with_language("es")}
    return out


@pytest.mark.parametrize("lang", ["en", "es"])
def test_a_whole_gland_plan_never_shows_a_focal_figure(stories, lang):
    from cryoviz.deliver.takehome_text import take_home_text

    story = stories["whole"][lang]
    said = [c.text for c in story.cues]
    assert not [t for t in said if _cold(t, lang)]        # today: "In COLD, a large record of ...: 5.5 %"
    words = take_home_text(story)
    assert not [t for t in [*words.risks, *words.sources] if _cold(t, lang)]
    notes = [n for f in words.figures for n in (f.text, *f.notes)]
    assert not [t for t in notes if _cold(t, lang)]
    assert any("AUA" in t and "80 %" in t for t in words.risks)      # the salvage range, with its source


@pytest.mark.parametrize("plan", ["hemi", "focal"])
@pytest.mark.parametrize("lang", ["en", "es"])
def test_a_partial_plan_says_whom_each_focal_figure_is_about(stories, plan, lang):
    from cryoviz.deliver.takehome_text import take_home_text

    story = stories[plan][lang]
    cold = [c.text for c in story.cues if _cold(c.text, lang)]
    shown = " ".join(cold)
    assert all(f in shown for f in COLD_FIGURES[lang])                # the registry's figures are there ...
    for line in cold:                                                 # ... each one saying who those men were
        assert QUALIFIER[lang] in line, line
    words = take_home_text(story)
    risky = [t for t in words.risks if _cold(t, lang)]
    assert risky and all(QUALIFIER[lang] in t for t in risky)
    assert any("COLD" in s and "91" in s for s in words.sources)


@pytest.mark.parametrize("lang", ["en", "es"])
def test_warnings_quote_ranges_with_sources_and_never_explain_them_by_the_model(lang):
    text = load_text(lang)
    lines = {**{f"warnings.{k}": v for k, v in text["warnings"].items()},
             **{f"warnings_partial.{k}": v for k, v in text["warnings_partial"].items()},
             **{f"outcomes.{s}.{k}": v for s, t in text["outcomes"].items() for k, v in t.items()}}
    for key, line in lines.items():
        low = line.lower()
        assert not [w for w in UNSUPPORTED[lang] if w in low], (key, line)   # today: "This is why over 80 %"
        if "%" in line and "{" not in line:                                  # a published rate: its source
            assert re.search(r"\((AUA|[^)]*COLD)", line), (key, line)
        if "COLD" in line:
            assert QUALIFIER[lang] in line, (key, line)


@pytest.mark.parametrize("lang", ["en", "es"])
def test_the_warm_catheter_is_not_promised_to_stop_what_the_result_shows(stories, lang):
    story = stories["whole"][lang]
    m = story.result.metrics["organs"]["urethra"]
    assert m["catheter_temp_c"] is not None and m["min_temp_c"] <= 0     # this scene: the wall froze
    prep = next(c for c in story.chapters if c.id == "preparation")
    said = " ".join(c.text for c in story.cues if prep.start_s <= c.start_s < prep.end_s).lower()
    assert "from freezing" not in said and "no se congele" not in said   # today: "to keep ... from freezing"
    (wall,) = [c.text for c in story.cues if c.about == "urethral_wall"]
    assert wall.startswith({"en": "Even with the warm catheter", "es": "Aun con la sonda tibia"}[lang]), wall
