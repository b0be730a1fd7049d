"""The take-home figures in plain words: rounded towards caution, honest about what froze and was missed."""

from __future__ import annotations

from cryoviz.deliver.takehome_text import figure_lines, mm, pct, temp
from cryoviz.story.text import load_text

METRICS = {
    "grid_mm": 1.0,
    "organs": {
        "prostate": {"volume_ml": 28.9, "fraction_below_minus40": 0.7499, "fraction_below_minus20": 0.9,
                     "fraction_below_0": 0.97, "min_temp_c": -145.0},
        "urethra": {"min_temp_c": 2.96},
        "rectum_wall": {"min_temp_c": -0.04, "min_distance_to_minus40_mm": 3.99},
        "sphincter": {"min_temp_c": 29.8},
        "neurovascular_bundles": {"min_temp_c": -32.36, "fraction_below_0": 0.405},
    },
    "lesions": [
        {"name": "index lesion", "fraction_below_minus40": 1.0, "margin_mm": 5.46, "margin_target_mm": 5.0,
         "covered": True},
        {"name": "second", "fraction_below_minus40": 0.62, "margin_mm": -1.2, "margin_target_mm": 5.0,
         "covered": False},
    ],
}


def test_numbers_round_towards_caution_in_each_language():
    # whole degrees rounded down, the rule every output uses (cryoviz.core.rounding)
    assert temp(14.35, "en") == "14" and temp(-32.36, "es") == "-33" and temp(-0.04, "en") == "-1"
    assert temp(29.97, "en") == "29" and temp(3.81, "es") == "3" and temp(30.0 - 1e-12, "en") == "30"
    assert mm(8.04, "en") == "8" and mm(0.47, "es") == "0,4" and mm(3.99, "en") == "3"
    assert pct(0.7499, "en") == "74" and pct(1.0, "es") == "100" and pct(0.9999, "en") == "99"
    assert pct(0.29, "en") == "29"  # 0.29 * 100 is 28.999999999999996 in floating point


def test_lines_say_what_froze_and_what_the_cold_missed():
    lines = {f.key: f for f in figure_lines(METRICS, load_text("en"), "en")}
    assert lines["target"].text.startswith("Prostate: 74 % reached -40 °C")
    # a rectal wall at -0.04 °C froze: the line must not call it safe
    assert lines["rectum"].froze is True and "-1 °C" in lines["rectum"].text
    assert "3 mm" in lines["rectum_gap"].text
    assert lines["urethra"].froze is False and "2 °C" in lines["urethra"].text
    assert "40 %" in lines["nerves_frozen"].text
    lesions = [f.text for f in figure_lines(METRICS, load_text("en"), "en") if f.key == "lesion"]
    assert "5 mm beyond its edge" in lesions[0] and "aims for 5 mm" in lesions[0]
    assert "covered it" in lesions[0]
    assert "did not reach all of its edge" in lesions[1] and "did not fully cover" in lesions[1]


def test_a_target_from_the_metrics_wins_over_the_whole_gland():
    m = {**METRICS, "target": {"name": "whole gland", "volume_ml": 14.0, "fraction_below_minus40": 0.951,
                               "fraction_below_minus20": 0.99}}
    es = {f.key: f.text for f in figure_lines(m, load_text("es"), "es")}
    assert es["target"].startswith("Próstata: el 95 % llegó a -40 °C") and "el 99 %" in es["target"]
    half = {**m, "target": {**m["target"], "name": "left half"}}
    assert figure_lines(half, load_text("en"), "en")[0].text.startswith("Half being treated: 95 %")


def test_each_warning_follows_the_figure_of_its_structure():
    from cryoviz.deliver.takehome_text import with_warnings

    text = load_text("en")
    m = {**METRICS, "warning_codes": ["urethral_wall_frozen", "bladder_frozen"]}
    figs = with_warnings(figure_lines(m, text, "en"), m, text)
    by_key = {f.key: f for f in figs}
    assert by_key["urethra"].notes == (text["warnings"]["urethral_wall_frozen"],)
    assert figs[-1].key == "warning" and figs[-1].text == text["warnings"]["bladder_frozen"]
    assert not by_key["sphincter"].notes


def test_missing_figures_leave_their_line_out():
    lines = figure_lines({"organs": {"prostate": {"min_temp_c": 5.0}}}, load_text("en"), "en")
    assert lines == []
