"""Structure -> outcome: the result chapter reads the simulated numbers, never the plan."""

from __future__ import annotations

import pytest

from cryoviz.story.outcomes import FROZEN_C, SPARED_C, STRUCTURES, findings, unexplained_codes


def _metrics(**organs_min_c):
    organs = {"prostate": {"fraction_below_minus40": 0.74, "fraction_below_minus20": 0.9,
                           "fraction_below_0": 0.97, "min_temp_c": -145.0, "volume_ml": 29.0}}
    for s in STRUCTURES:
        organs[s.organ] = {"min_temp_c": organs_min_c.get(s.id, 37.0), "fraction_below_0": 0.0}
    return {"organs": organs}


@pytest.mark.parametrize("structure", [s.id for s in STRUCTURES])
@pytest.mark.parametrize(("min_c", "outcome"), [(-9.3, "frozen"), (FROZEN_C, "frozen"), (0.4, "cooled"),
                                                (SPARED_C - 0.1, "cooled"), (SPARED_C, "spared"),
                                                (37.0, "spared")])
def test_every_protected_structure_gets_the_outcome_of_its_coldest_point(structure, min_c, outcome):
    found = {f.structure: f for f in findings(_metrics(**{structure: min_c}))}
    f = found[structure]
    assert f.outcome == outcome and f.value("min_c") == min_c
    code = next(s.codes[0] for s in STRUCTURES if s.id == structure)
    assert f.codes == ((code,) if outcome == "frozen" else ())  # metrics without codes: the ice code
    others = [g for g in found.values() if g.structure not in (structure, "target")]
    assert all(g.outcome == "spared" for g in others)


def test_a_warning_code_makes_a_structure_frozen_even_above_0_c():
    m = _metrics(sphincter=0.5)
    m["warning_codes"] = ["sphincter_frozen"]
    f = next(f for f in findings(m) if f.structure == "sphincter")
    assert f.outcome == "frozen" and f.codes == ("sphincter_frozen",)
    assert unexplained_codes(m, findings(m)) == ()


def test_the_structure_tells_the_codes_the_metrics_give_about_it():
    m = _metrics(rectal_wall=7.3, urethral_wall=-51.0)
    m["warning_codes"] = ["rectal_wall_near_ice", "urethra_frozen_warmer_off"]
    by = {f.structure: f for f in findings(m)}
    assert (by["rectal_wall"].outcome, by["rectal_wall"].codes) == ("cooled", ("rectal_wall_near_ice",))
    ure = by["urethral_wall"]
    assert (ure.outcome, ure.codes) == ("frozen", ("urethra_frozen_warmer_off",))
    m["warning_codes"] = []  # new metrics with no code: a structure at 0 °C or colder is still called frozen
    by = {f.structure: f for f in findings(m)}
    assert (by["urethral_wall"].outcome, by["urethral_wall"].codes) == ("frozen", ())


def test_target_prefers_the_plans_target_and_its_undertreated_code():
    m = _metrics()
    assert next(f for f in findings(m) if f.structure == "target").outcome == "treated"
    m["target"] = {"name": "hemi_left", "volume_ml": 12.0, "fraction_below_minus40": 0.351,
                   "fraction_below_minus20": 0.6}
    m["warning_codes"] = ["target_undertreated", "something_new"]
    t = findings(m)[0]
    assert (t.structure, t.outcome) == ("target", "undertreated")
    assert (t.value("pct40"), t.value("rest_pct")) == (35, 65)
    assert t.codes == ("target_undertreated",)
    assert unexplained_codes(m, findings(m)) == ("something_new",)
    # older metrics without codes: under half at -40 °C is undertreated
    old = _metrics()
    old["organs"]["prostate"]["fraction_below_minus40"] = 0.35
    assert findings(old)[0].outcome == "undertreated"


def test_a_phantom_without_organs_has_no_findings():
    assert findings({"organs": {"gel": {"min_temp_c": -150.0}}}) == ()
    assert findings(None) == ()
