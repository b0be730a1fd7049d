"""Lesion coverage and margin: on a known lethal ball (exact answers) and on a real simulation."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from cryoviz.model.anatomy import LabelGrid
from cryoviz.model.lesions import PlacedLesion
from cryoviz.model.scene import Lesion
from cryoviz.physics.lesion_metrics import lesion_metrics, lesion_target_mask


def _ball_result(radius_mm: float, spacing_mm: float = 1.0):
    """A thermal result whose lethal ice is a ball of ``radius_mm`` around the origin (−100 °C inside)."""
    ax = np.arange(-30.0, 30.0 + 1e-9, spacing_mm)
    X, Y, Z = np.meshgrid(ax, ax, ax, indexing="ij")
    r = np.sqrt(X ** 2 + Y ** 2 + Z ** 2)
    tmin = np.where(r <= radius_mm, -100.0, 37.0).astype(np.float32)
    grid = LabelGrid(labels=np.ones(tmin.shape, np.uint8), origin_mm=np.array([-30.0] * 3),
                     spacing_mm=spacing_mm)
    return SimpleNamespace(grid=grid, min_temp_c=tmin)


def _ball(centre, diameter, margin=5.0, name="index"):
    les = Lesion(name=name, position_mm=tuple(centre), diameter_mm=diameter, margin_mm=margin)
    return PlacedLesion(les, np.asarray(centre, float), diameter / 2.0, "mid left PZpl")


def test_a_lesion_deep_in_the_ice_is_covered_with_the_margin_the_geometry_gives():
    (m,) = lesion_metrics(_ball_result(15.0), [_ball((2.0, 0.0, 0.0), 10.0)])
    # the ball's surface comes within 15 - (2 + 5) = 8 mm of the front
    assert m["margin_mm"] == pytest.approx(8.0, abs=0.6)
    assert m["fraction_below_minus40"] == 1.0 and m["covered"] is True
    assert m["volume_ml"] == pytest.approx(4 / 3 * np.pi * 5 ** 3 / 1000, rel=0.1)
    assert m["warmest_min_temp_c"] == -100.0


def test_a_margin_smaller_than_asked_is_not_covered():
    (m,) = lesion_metrics(_ball_result(15.0), [_ball((7.0, 0.0, 0.0), 10.0, margin=5.0)])
    assert m["fraction_below_minus40"] == 1.0
    assert m["margin_mm"] == pytest.approx(3.0, abs=0.6)
    assert m["covered"] is False


def test_a_lesion_far_from_the_ice_is_uncovered_with_a_negative_margin():
    (m,) = lesion_metrics(_ball_result(8.0), [_ball((20.0, 0.0, 0.0), 6.0)])
    assert m["fraction_below_minus40"] == 0.0 and m["covered"] is False
    # its farthest point lies 23 - 8 = 15 mm outside the lethal ice
    assert m["margin_mm"] == pytest.approx(-15.0, abs=0.6)


def test_a_lesion_cut_by_the_front_has_a_negative_margin_and_a_partial_fraction():
    (m,) = lesion_metrics(_ball_result(10.0), [_ball((10.0, 0.0, 0.0), 8.0)])
    assert 0.2 < m["fraction_below_minus40"] < 0.8
    assert m["margin_mm"] == pytest.approx(-4.0, abs=0.6)
    assert m["covered"] is False


def test_the_target_is_the_lesion_grown_by_its_margin():
    res = _ball_result(10.0)
    target = lesion_target_mask(res.grid, [_ball((0.0, 0.0, 0.0), 10.0, margin=5.0)])
    assert target.sum() * 1e-3 == pytest.approx(4 / 3 * np.pi * 10 ** 3 / 1000, rel=0.05)


def test_simulate_reports_a_lesion_far_from_every_probe_as_uncovered():
    from cryoviz.model.scene_load import parse_scene
    from cryoviz.physics.thermal import simulate

    scene = parse_scene('title = "t"\n[anatomy]\nvolume_ml = 30\n'
                        '[[probes]]\nhole = "H3"\ndepth_mm = 90\n'
                        '[[protocol.cycles]]\nfreeze_s = 300\nthaw_s = 60\n'
                        '[[lesions]]\nname = "far"\nsector = "base right TZa"\ndiameter_mm = 6\n', "t.toml")
    m = simulate(scene, grid_mm=2.0, use_cache=False).metrics
    (far,) = m["lesions"]
    assert far["name"] == "far" and far["sector"] == "base right TZa"
    assert far["covered"] is False and far["fraction_below_minus40"] == 0.0
    assert far["margin_mm"] < -5.0


def test_an_uncovered_lesion_gives_a_code_and_a_sentence_with_its_reason():
    from cryoviz.physics.lesion_metrics import lesion_warnings

    res = _ball_result(10.0)
    placed = [_ball((10.0, 0.0, 0.0), 8.0, name="index"), _ball((0.0, 0.0, 0.0), 4.0, margin=2.0, name="b")]
    mets = lesion_metrics(res, placed, plan_codes={"index": ["lesion_margin_reaches_rectum"],
                                                   "b": ["lesion_margin_reaches_urethra"]})
    assert [m["covered"] for m in mets] == [False, True]
    assert mets[0]["why_not"] == ["lesion_margin_reaches_rectum"] and mets[1]["why_not"] == []
    codes, sentences = lesion_warnings(mets)
    assert codes == ["lesion_not_covered", "lesion_margin_reaches_rectum"]
    assert sentences[0].startswith("The lethal ice (-40 °C) did not cover index with its 5 mm margin")
    assert "rectal wall" in sentences[1]
    assert lesion_warnings([m for m in mets if m["covered"]]) == ([], [])


def test_the_plan_flags_a_margin_that_would_reach_the_rectum_or_the_urethra():
    from cryoviz.model.anatomy import build_anatomy
    from cryoviz.model.lesion_plan import plan_warning_codes
    from cryoviz.model.lesions import resolve_lesions
    from cryoviz.model.scene_load import parse_scene

    scene = parse_scene('title = "t"\n[layout]\npreset = "hemi_right"\n'
                        '[[lesions]]\nname = "back"\nsector = "mid left PZpm"\ndiameter_mm = 8\n'
                        '[[lesions]]\nname = "side"\nsector = "mid right PZa"\ndiameter_mm = 6\n'
                        'margin_mm = 3\n',
                        "t.toml")
    anatomy = build_anatomy(scene.anatomy)
    codes = plan_warning_codes(scene, anatomy, resolve_lesions(scene, anatomy))
    assert "lesion_margin_reaches_rectum" in codes["back"] and "lesion_outside_plan" in codes["back"]
    assert codes["side"] == []
