"""Scenes whose results call for warnings get them (issue #11), on a 1.5 mm grid (inside the grid range
whose uncertainty is stated). Each assertion names the figure that calls for the code, so a code that
fires (or stays silent) for the wrong reason fails too."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from cryoviz.model.scene_load import load_scene
from cryoviz.physics.thermal import simulate
from cryoviz.physics.warnings import WARNING_CODES

SCENES = Path(__file__).resolve().parents[2] / "scenes"
GRID_MM = 1.5


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def _run(scene, cache):
    return simulate(scene, grid_mm=GRID_MM, cache_dir=cache).metrics


def _base(**anatomy):
    s = load_scene(SCENES / "salvage_whole_gland.toml")
    return replace(s, anatomy=replace(s.anatomy, **anatomy))


def _consistent(m):
    """Every code fired exactly when its figure crossed its threshold."""
    assert len(m["warnings"]) == len(m["warning_codes"])
    for code in m["warning_codes"]:
        assert code in WARNING_CODES


def test_small_gland_freezes_the_sphincter(cache):
    m = _run(_base(volume_ml=15.0), cache)
    _consistent(m)
    assert m["organs"]["sphincter"]["min_temp_c"] <= 0.0
    assert "sphincter_frozen" in m["warning_codes"]
    assert any("sphincter" in w for w in m["warnings"])


def test_large_gland_is_undertreated(cache):
    m = _run(_base(volume_ml=100.0), cache)
    _consistent(m)
    assert m["target"]["name"] == "whole gland" and m["target"]["fraction_below_minus40"] < 0.70
    assert "target_undertreated" in m["warning_codes"]
    assert m["organs"]["sphincter"]["min_temp_c"] > 0.0 and "sphincter_frozen" not in m["warning_codes"]


def test_close_rectum_costs_coverage_and_says_so(cache):
    m = _run(_base(rectum_gap_mm=3.0), cache)
    _consistent(m)
    # the layout keeps the needles back from a rectum 3 mm away: the wall stays unfrozen, the gland does not
    # reach -40 °C where the needles could not go
    rw = m["organs"]["rectum_wall"]["min_temp_c"]
    assert ("rectal_wall_frozen" in m["warning_codes"]) == (rw <= 0.0)
    assert ("rectal_wall_near_ice" in m["warning_codes"]) == (0.0 < rw <= 10.0)
    assert m["target"]["fraction_below_minus40"] < 0.70 and "target_undertreated" in m["warning_codes"]


def test_hemi_preset_reports_its_treated_half(cache):
    m = _run(load_scene(SCENES / "salvage_focal_hemi.toml"), cache)
    _consistent(m)
    t, gland = m["target"], m["organs"]["prostate"]
    assert t["name"] == "left half"
    assert abs(t["volume_ml"] - gland["volume_ml"] / 2) < 0.05 * gland["volume_ml"]
    assert t["fraction_below_minus40"] > gland["fraction_below_minus40"] + 0.2  # the half, not the gland
    assert ("target_undertreated" in m["warning_codes"]) == (t["fraction_below_minus40"] < 0.70)
    assert ("bladder_frozen" in m["warning_codes"]) == (m["organs"]["bladder"]["min_temp_c"] <= 0.0)
