"""The cancer in the story: where it is before the freeze, its coverage after, in both languages."""

from __future__ import annotations

import pytest

from cryoviz.story.lesion_story import lesion_findings, where_words
from cryoviz.story.script import script_data
from cryoviz.story.session import load_story
from cryoviz.story.text import load_text


@pytest.fixture(scope="module")
def stories():
    en = load_story("scenes/salvage_focal_lesion.toml", grid_mm=2.0)
    return {"en": en, "es": en.with_language("es")}


def _chapters(story) -> dict[str, list[str]]:
    return {ch["id"]: [c["text"] for c in ch["cues"]] for ch in script_data(story)["chapters"]}


@pytest.mark.parametrize("lang, where, after", [
    ("en", "The scan found the cancer spot in the middle part of the prostate. It lies on your left side, "
           "in the outer part, toward the back and the side.",
     {"covered": "covered all of the cancer spot, with at least", "no_margin": "All of the cancer spot got",
      "partial": "% of the cancer spot got", "missed": "did not reach the cancer spot"}),
    ("es", "La resonancia encontró la zona con cáncer en la parte media de la próstata. Está en su lado "
           "izquierdo, en la parte externa, hacia atrás y hacia el lado.",
     {"covered": "cubrió toda la zona con cáncer, con al menos", "no_margin": "Toda la zona con cáncer llegó",
      "partial": "% de la zona con cáncer llegó", "missed": "no alcanzó la zona con cáncer"}),
])
def test_script_names_the_lesion_before_the_freeze_and_its_coverage_after(stories, lang, where, after):
    story = stories[lang]
    chapters = _chapters(story)
    order = list(chapters)
    before = [t for cid in order[: order.index("freeze1")] for t in chapters[cid]]
    assert any(t.lower().startswith(where.lower()) for t in before), before
    (les,) = story.result.metrics["lesions"]
    outcome = ("covered" if les["covered"] else "no_margin" if les["fraction_below_minus40"] >= 1.0
               else "partial" if les["fraction_below_minus40"] > 0 else "missed")
    result_lines = chapters["spared"]
    assert any(after[outcome] in t for t in result_lines), (outcome, result_lines)
    if les["covered"]:
        shown = int(les["margin_mm"])  # "at least N mm": rounded down, so it is true of the model
        assert any(f"{shown} mm" in t for t in result_lines)
    # the same number of lines in both languages (Spanish says what English says)
    assert [len(v) for v in chapters.values()] == [len(v) for v in _chapters(stories["en"]).values()]


def test_each_outcome_and_reason_comes_from_the_metrics():
    base = {"name": "x", "margin_target_mm": 5.0, "why_not": []}
    metrics = {"lesions": [
        {**base, "fraction_below_minus40": 1.0, "margin_mm": 6.3, "covered": True},
        {**base, "fraction_below_minus40": 1.0, "margin_mm": 2.4, "covered": False,
         "why_not": ["lesion_margin_reaches_rectum"]},
        {**base, "fraction_below_minus40": 0.4, "margin_mm": -3.0, "covered": False},
        {**base, "fraction_below_minus40": 0.0, "margin_mm": -12.0, "covered": False},
    ]}
    codes = {"lesion_not_covered", "lesion_margin_reaches_rectum"}
    found = lesion_findings(metrics, codes)
    assert [f.outcome for f in found] == ["covered", "no_margin", "partial", "missed"]
    assert found[0].value("margin_mm") == 6.0 and found[0].codes == ()
    assert found[1].codes == ("lesion_not_covered", "lesion_margin_reaches_rectum")
    assert found[2].value("pct40") == 40.0 and found[2].value("margin_mm") is None
    assert [f.value("n") for f in found] == [1, 2, 3, 4]


@pytest.mark.parametrize("lang", ["en", "es"])
def test_every_sector_has_plain_words(lang):
    from cryoviz.model.sectors import GLAND_SECTORS

    text = load_text(lang)
    words = {where_words(text, s.name) for s in GLAND_SECTORS}
    assert None not in words and len(words) == 38
    if lang == "en":
        from cryoviz.story.text import fill, reading_grade

        for w in words:
            line = fill(text["lesion"]["found"], {"name": "the cancer spot", "where": w})
            assert reading_grade(line) <= 8.0, line
