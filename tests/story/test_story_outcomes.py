"""The result chapter says what each scene's simulation shows, in English and in Spanish.

Scenes that freeze each structure and scenes that spare it (glands of 15, 30 and 100 ml, a 3 mm gap,
hydrodissection, hemi, focal, rectum at risk, warmer off, probes at the apex, one front-side needle), all on a
2 mm grid: for every structure the script's sentence has the outcome of its metrics (frozen <-> frozen
wording with its figure; spared <-> spared), every warning code is told, and the Spanish script says the
same (same structures, same outcomes, same numbers) as the English one.
"""

from __future__ import annotations

import dataclasses
import math
import re

import pytest

from cryoviz.model.scene_load import load_scene
from cryoviz.story.outcomes import FROZEN_C, SPARED_C, STRUCTURES
from cryoviz.story.session import build_story

#: Words that carry each outcome, per language (the sentence must have them).
WORDING = {
    "en": {"frozen": "The ice reached", "cooled": "did not freeze", "spared": "°C or warmer"},
    "es": {"frozen": "El hielo alcanzó", "cooled": "no se congel", "spared": "°C o más"},
}
TARGET_WORDS = {"en": {"whole gland": "of the prostate", "left half": "of the half being treated"},
                "es": {"whole gland": "de la próstata", "left half": "de la mitad tratada"}}

_PROBES_TOML = """
title = "{title}"
[anatomy]
volume_ml = 30
{probes}
[[protocol.cycles]]
freeze_s = 600
thaw_s = 300
thaw = "passive"
[warmer]
urethral = true
[thermal]
grid_mm = 2.0
"""


def _probe(hole, depth):
    return f'[[probes]]\nhole = "{hole}"\ndepth_mm = {depth}\n'


def _variants(tmp):
    base = load_scene("scenes/salvage_whole_gland.toml")
    base = dataclasses.replace(base, thermal=dataclasses.replace(base.thermal, grid_mm=2.0))
    an = base.anatomy
    rep = dataclasses.replace
    risk = load_scene("scenes/rectum_at_risk.toml")
    apex = tmp / "apex_pair.toml"   # needles stopped at the apex: the freezing stretch lies at the sphincter
    apex.write_text(_PROBES_TOML.format(title="Apex pair", probes=_probe("E4", 45) + _probe("G4", 45)))
    front = tmp / "one_side_needle.toml"   # one needle at the front right: urethra and nerve bundles spared
    front.write_text(_PROBES_TOML.format(title="One needle", probes=_probe("C6", 80)))
    return {
        "15ml": rep(base, anatomy=rep(an, volume_ml=15.0)),
        "30ml": base,
        "100ml": rep(base, anatomy=rep(an, volume_ml=100.0)),
        "gap3": rep(base, anatomy=rep(an, rectum_gap_mm=3.0)),
        "hydro": rep(base, anatomy=rep(an, hydrodissection=True, rectum_gap_mm=11.0)),
        "hemi": rep(base, layout=rep(base.layout, preset="hemi_left")),
        "focal": rep(base, layout=rep(base.layout, preset="focal")),
        "warmer_off": rep(base, warmer=rep(base.warmer, urethral=False)),
        "rectum_at_risk": rep(risk, thermal=rep(risk.thermal, grid_mm=2.0)),
        "apex_pair": load_scene(apex, check_geometry=True),
        "one_side_needle": load_scene(front, check_geometry=True),
    }


@pytest.fixture(scope="module")
def stories(tmp_path_factory):
    """name -> {lang: Story} for every scene variant (thermal results are cached on disk)."""
    out = {}
    for name, scene in _variants(tmp_path_factory.mktemp("scenes")).items():
        en = build_story(scene, lang="en")
        out[name] = {"en": en, "es": en.with_language("es")}
    return out


def _numbers(text: str) -> list[float]:
    return [float(n.replace(",", ".")) for n in re.findall(r"-?\d+(?:[.,]\d+)?", text)]


def _cues(story, about):
    return [c for c in story.cues if c.about == about]


@pytest.mark.parametrize("lang", ["en", "es"])
def test_each_structures_sentence_matches_its_metrics(stories, lang):
    seen: dict[str, set[str]] = {}
    for name, by_lang in stories.items():
        story = by_lang[lang]
        m = story.result.metrics
        codes = set(m.get("warning_codes", []))
        for s in STRUCTURES:
            organ = m["organs"][s.organ]
            t = organ["min_temp_c"]
            cues = _cues(story, s.id)
            assert cues, (name, s.id)
            main = cues[0]
            frozen = t <= FROZEN_C or any(c in codes and "frozen" in c for c in s.codes)
            want = "frozen" if frozen else ("cooled" if t < SPARED_C else "spared")
            assert main.outcome == want, (name, s.id, t)
            said = main.text.lower()  # "Even with the warm catheter, the ice reached ..." carries it too
            assert WORDING[lang][want].lower() in said, (name, main.text)
            for other in {"frozen", "cooled", "spared"} - {want}:
                assert WORDING[lang][other].lower() not in said, (name, main.text)
            figure = _numbers(main.text)[0]
            # every outcome: X is the coldest point in whole degrees rounded down (one rule for every
            # output, cryoviz.core.rounding), so a frozen structure is never shown above 0 °C
            assert figure == math.floor(t), (name, main.text, t)
            assert want != "frozen" or figure <= 0, (name, main.text, t)
            seen.setdefault(s.id, set()).add(want)
            if want == "frozen" and "nerve" in s.id and organ.get("fraction_below_0", 0) >= 0.01:
                pct = math.floor(100 * organ["fraction_below_0"])
                assert any(pct in _numbers(c.text) for c in cues), (name, [c.text for c in cues])
        # every warning the metrics give is told in the patient's language
        told = {c.about.removeprefix("warning:") for c in story.cues if c.about.startswith("warning:")}
        assert told == codes, name
    # the scenes do cover both sides of every structure
    for s in STRUCTURES:
        assert "frozen" in seen[s.id] and seen[s.id] & {"cooled", "spared"}, (s.id, seen[s.id])


@pytest.mark.parametrize("lang", ["en", "es"])
def test_the_target_share_is_the_plans_target(stories, lang):
    for name, by_lang in stories.items():
        story = by_lang[lang]
        target = story.result.metrics["target"]
        main = _cues(story, "target")[0]
        pct = math.floor(100 * target["fraction_below_minus40"] + 1e-9)
        assert _numbers(main.text)[0] == pct, (name, main.text)
        assert TARGET_WORDS[lang][target["name"]] in main.text, (name, main.text)
        assert main.outcome == ("undertreated" if "target_undertreated" in story.result.metrics[
            "warning_codes"] else "treated")
    hemi = stories["hemi"]["en"]
    whole = math.floor(100 * hemi.result.metrics["organs"]["prostate"]["fraction_below_minus40"])
    half = math.floor(100 * hemi.result.metrics["target"]["fraction_below_minus40"])
    assert half != whole  # the hemi figure is the treated half's, not the whole gland's
    said = " ".join(c.text for c in _cues(hemi, "target"))
    assert f"{half} % of the half being treated" in said and f"{whole} %" not in said


def test_spanish_says_what_english_says(stories):
    for name, by_lang in stories.items():
        en, es = by_lang["en"], by_lang["es"]
        assert len(en.cues) == len(es.cues), name
        for a, b in zip(en.cues, es.cues, strict=True):
            assert (a.about, a.outcome, a.start_s) == (b.about, b.outcome, b.start_s), (name, a.text, b.text)
            assert sorted(_numbers(a.text)) == sorted(_numbers(b.text)), (name, a.text, b.text)
        assert en.spared_lines and [sorted(_numbers(x)) for x in en.spared_lines] == [
            sorted(_numbers(x)) for x in es.spared_lines]


def test_the_default_scene_names_the_nerve_bundles_after_the_freeze(stories):
    story = stories["30ml"]["en"]
    freeze_end = next(c for c in story.chapters if c.id == "thaw_refreeze").end_s
    nerve = [c for c in story.cues if c.about in ("nerve_bundles", "warning:nerve_bundles_frozen")]
    assert nerve and all(c.start_s >= freeze_end for c in nerve)
    assert any("nerve bundles" in c.text for c in nerve)
    if story.result.metrics["organs"]["neurovascular_bundles"]["fraction_below_0"] >= 0.10:
        assert any("erection problems" in c.text and "80 %" in c.text for c in nerve)
    panel = [line for line in story.spared_lines if line.startswith("Nerve bundles")]
    assert len(panel) == 1


def test_a_partial_plan_quotes_the_partial_plans_figures(stories):
    told = 0
    for name in ("hemi", "focal"):
        story = stories[name]["en"]
        said = [c.text for c in story.cues if c.about == "warning:nerve_bundles_frozen"]
        told += len(said)
        for text in said:
            assert "COLD" in text and "80 %" not in text, text
    assert told >= 1
    whole = [c.text for c in stories["30ml"]["en"].cues if c.about == "warning:nerve_bundles_frozen"]
    assert whole and "80 %" in whole[0]
