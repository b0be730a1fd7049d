"""The lesion presets through the thermal model: the focal plan on the 1 mm grid, the hemi plan on 2 mm."""

from __future__ import annotations

from pathlib import Path

from cryoviz.model.scene_load import load_scene
from cryoviz.physics.thermal import simulate

SCENES = Path(__file__).resolve().parents[2] / "scenes"


def test_focal_preset_covers_its_lesion_with_its_margin_and_spares_the_rectum_on_the_1mm_grid():
    m = simulate(load_scene(SCENES / "salvage_focal_lesion.toml", check_geometry=True), grid_mm=1.0).metrics
    (les,) = m["lesions"]
    assert les["name"] == "index lesion" and les["sector"] == "mid left PZpl" and les["pirads"] == 5
    rectum_c = m["organs"]["rectum_wall"]["min_temp_c"]
    if les["covered"] and rectum_c > 0.0:
        assert les["fraction_below_minus40"] == 1.0 and les["margin_mm"] >= 5.0
        assert "lesion_not_covered" not in m["warning_codes"]
    else:  # the model must then say why
        assert "lesion_not_covered" in m["warning_codes"] or "rectal_wall_frozen" in m["warning_codes"]
        assert les["why_not"] or rectum_c <= 0.0
    assert m["target"]["name"] == "lesions with margin"
    assert m["target"]["volume_ml"] > les["volume_ml"]


def test_hemi_preset_reports_the_lesion_on_its_side():
    m = simulate(load_scene(SCENES / "salvage_hemi_lesion.toml", check_geometry=True), grid_mm=2.0,
                 use_cache=False).metrics
    (les,) = m["lesions"]
    assert les["sector"] == "mid right PZa"
    assert m["target"]["name"] == "right half"
    assert "lesion_outside_plan" not in m["warning_codes"]
    assert les["fraction_below_minus40"] >= 0.9  # the half-gland ice reaches the lesion itself
    assert les["covered"] == (les["margin_mm"] >= 5.0 and les["fraction_below_minus40"] == 1.0)
    if not les["covered"]:
        assert "lesion_not_covered" in m["warning_codes"]
