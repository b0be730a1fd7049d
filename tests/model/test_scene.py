"""Scene files: presets, defaults, the validator's rules and the geometry check."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from cryoviz.core.errors import InputError
from cryoviz.model import template
from cryoviz.model.scene import (
    DEFAULT_SCENE,
    HYDRODISSECTION_GAP_MM,
    MAX_SCENE_BYTES,
    AnatomyParams,
    FreezeCycle,
    Probe,
    ProbeLayout,
    Scene,
)
from cryoviz.model.scene_load import check_scene_geometry, load_scene, parse_scene

ROOT = Path(__file__).resolve().parents[2]
SCENES = ROOT / "scenes"


def _problems(text: str) -> list[tuple[str, str]]:
    """(key, what) of every problem ``parse_scene`` reports for ``text``."""
    with pytest.raises(InputError) as info:
        parse_scene(text, "t.toml")
    return [(p.key, p.what) for p in info.value.problems]


# --- presets ---------------------------------------------------------------------------------------------

def test_builtin_default_is_byte_identical_to_the_preset():
    assert DEFAULT_SCENE.read_bytes() == (SCENES / "salvage_whole_gland.toml").read_bytes()


def test_default_scene_is_what_the_brief_describes():
    s = load_scene(DEFAULT_SCENE)
    assert s.anatomy.volume_ml == 30.0 and s.anatomy.effective_volume_ml == 30.0
    assert s.layout == ProbeLayout("whole_gland", "needle17g_25") and s.probes == ()
    assert s.warmer.urethral and s.warmer.urethral_temp_c == 42.0
    assert [x.site for x in s.sensors] == ["rectal_wall", "apex", "sphincter"]
    assert s.protocol.cycles == (FreezeCycle(600, 300, "passive"), FreezeCycle(600, 300, "active"))
    assert s.protocol.duration_s == 1800.0
    assert s.phantom is None and s.story.chapters == tuple(range(1, 9))


def test_each_preset_shows_what_its_name_says():
    focal = load_scene(SCENES / "salvage_focal_hemi.toml")
    assert focal.anatomy.post_radiation and focal.layout.preset == "hemi_left"
    assert focal.anatomy.effective_volume_ml < focal.anatomy.volume_ml
    assert 55 <= load_scene(SCENES / "large_gland.toml").anatomy.volume_ml <= 65
    hydro = load_scene(SCENES / "hydrodissection.toml")
    assert hydro.anatomy.hydrodissection and hydro.anatomy.rectum_gap_mm == HYDRODISSECTION_GAP_MM
    risk = load_scene(SCENES / "rectum_at_risk.toml")
    assert risk.layout is None and len(risk.probes) >= 4
    posterior = [p for p in risk.probes if p.hole and p.hole.endswith("1")]
    assert posterior and all(p.y_mm == 15.0 for p in posterior)
    assert "rectal_wall" in [x.site for x in risk.sensors]
    gel = load_scene(SCENES / "gel_single_probe.toml")
    assert gel.phantom is not None and gel.phantom.medium == "gel"
    assert [(p.hole, p.kind, p.x_mm, p.y_mm) for p in gel.probes] == [("F4", "needle17g_25", 0.0, 0.0)]
    assert len(gel.protocol.cycles) == 1 and gel.layout is None


def test_presets_carry_plain_titles():
    for f in SCENES.glob("*.toml"):
        s = load_scene(f)
        assert s.path == str(f)
        assert 10 <= len(s.title) <= 70 and s.title[0].isupper(), s.title


# --- defaults and conversions ----------------------------------------------------------------------------

def test_minimal_scene_gets_documented_defaults():
    s = parse_scene('title = "Only a title"')
    assert s == Scene(path="<string>", title="Only a title", layout=ProbeLayout())


def test_hydrodissection_changes_the_default_gap_only():
    assert parse_scene("[anatomy]\nhydrodissection = true").anatomy.rectum_gap_mm == 11.0
    assert parse_scene("[anatomy]\nhydrodissection = true\nrectum_gap_mm = 8").anatomy.rectum_gap_mm == 8.0
    assert parse_scene("[anatomy]\nhydrodissection = false").anatomy.rectum_gap_mm == 6.0


def test_integers_are_numbers_but_booleans_are_not():
    s = parse_scene("[anatomy]\nvolume_ml = 45")
    assert s.anatomy.volume_ml == 45.0 and isinstance(s.anatomy.volume_ml, float)
    assert _problems("[anatomy]\nvolume_ml = false") == [("anatomy.volume_ml", "must be a number")]
    assert _problems("[[probes]]\nhole = 'F4'\ndepth_mm = 50\ngroup = true") == [
        ("probes[1].group", "must be a whole number")]


def test_probe_place_name_and_hole_normalisation():
    s = parse_scene('[[probes]]\nhole = " c4 "\ndepth_mm = 60\n'
                    '[[probes]]\nposition_mm = [2.5, -7]\ndepth_mm = 70.5\nkind = "probe24"\ngroup = 2\n'
                    '[[probes]]\nhole = "K9"\ndepth_mm = 40\nname = "front left"')
    assert s.probes == (
        Probe("C4", *template.hole_to_xy_mm("C4"), 60.0, "needle17g_25", 1, "C4"),
        Probe("P2", 2.5, -7.0, 70.5, "probe24", 2, None),
        Probe("front left", 25.0, -25.0, 40.0, "needle17g_25", 1, "K9"),
    )
    assert s.layout is None


def test_range_edges_are_inclusive_except_freeze_time():
    s = parse_scene("[anatomy]\nvolume_ml = 15\nradiation_shrink = 0.5\n[thermal]\ngrid_mm = 0.25\n"
                    "[[protocol.cycles]]\nfreeze_s = 1800\nthaw_s = 0")
    assert (s.anatomy.volume_ml, s.anatomy.radiation_shrink, s.thermal.grid_mm) == (15.0, 0.5, 0.25)
    assert s.protocol.cycles == (FreezeCycle(1800.0, 0.0, "passive"),)
    assert _problems("[anatomy]\nvolume_ml = 14.999") == [("anatomy.volume_ml", "out of range")]
    assert _problems("[[protocol.cycles]]\nfreeze_s = 1800.5") == [("protocol.cycles[1].freeze_s",
                                                                     "out of range")]


def test_chapters_must_be_in_story_order_and_unique():
    assert parse_scene("[story]\nchapters = [1, 4, 8]").story.chapters == (1, 4, 8)
    for bad in ("[4, 1]", "[1, 1]", "[]", "[1.0]", "[9]", '["1"]'):
        assert [k for k, _ in _problems(f"[story]\nchapters = {bad}")] == ["story.chapters"], bad


def test_sensor_names_default_to_site_or_number():
    s = parse_scene('[[sensors]]\nsite = "apex"\n[[sensors]]\nposition_mm = [0, 12, -3]')
    assert [(x.name, x.site, x.position_mm) for x in s.sensors] == [
        ("apex", "apex", None), ("S2", None, (0.0, 12.0, -3.0))]


def test_mesh_files_are_taken_from_the_scene_folder(tmp_path):
    f = tmp_path / "patient.toml"
    f.write_text('[anatomy.meshes]\nprostate = "scan/prostate.STL"\nbladder = "/abs/bladder.vtp"\n',
                 encoding="utf-8")
    meshes = load_scene(f).anatomy.meshes
    assert meshes == {"prostate": tmp_path.resolve() / "scan" / "prostate.STL",
                      "bladder": Path("/abs/bladder.vtp")}
    assert AnatomyParams().meshes == {}


def test_phantom_needs_explicit_probes():
    keys = [k for k, _ in _problems("[phantom]\n")]
    assert keys == ["phantom"]
    assert parse_scene("[phantom]\n[[probes]]\nhole = 'F4'\ndepth_mm = 40").layout is None


# --- file-level problems ---------------------------------------------------------------------------------

def test_syntax_error_names_the_line():
    with pytest.raises(InputError) as info:
        parse_scene('title = "x"\n\n[anatomy]\nvolume_ml = 30 40\n', "s.toml")
    (p,) = info.value.problems
    assert (p.path, p.line, p.key) == ("s.toml", 4, "")
    assert str(p).startswith("s.toml:4: not valid TOML")
    with pytest.raises(InputError) as info:
        parse_scene('title = "x"\nx = [1,\n2,\n', "s.toml")
    assert info.value.problems[0].line == 3  # unclosed at the end of the file


def test_pathological_toml_is_an_input_error():
    with pytest.raises(InputError) as info:
        parse_scene("x = " + "[" * 5000 + "]" * 5000)
    assert "nested too deeply" in str(info.value)
    with pytest.raises(InputError) as info:
        parse_scene('title = "x"\nvolume = ' + "9" * 5000)
    assert info.value.problems[0].line == 2


def test_byte_order_mark_is_accepted(tmp_path):
    f = tmp_path / "bom.toml"
    f.write_bytes(b'\xef\xbb\xbftitle = "Saved by Notepad"\n')
    assert load_scene(f).title == "Saved by Notepad"


def test_non_utf8_and_oversized_files(tmp_path):
    f = tmp_path / "latin1.toml"
    f.write_bytes(b'title = "ok"\n\ntitle2 = "caf\xe9"\n')
    with pytest.raises(InputError) as info:
        load_scene(f)
    assert info.value.problems[0].line == 3 and "UTF-8" in str(info.value)
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (MAX_SCENE_BYTES + 1))
    with pytest.raises(InputError, match="too large"):
        load_scene(big)


def test_user_text_is_shown_on_one_escaped_line():
    with pytest.raises(InputError) as info:
        parse_scene('"evil\\nkey" = 1\n[story]\nlanguage = "e\\u0000n\\u001b[31m"', "t.toml")
    text = str(info.value)
    assert len(text.splitlines()) == len(info.value.problems) == 2
    assert "\x00" not in text and "\x1b" not in text
    assert '"evil\\nkey"' in text


def test_unknown_key_suggests_the_close_one():
    assert _problems("[warmer]\nurethal_temp_c = 40") == [
        ("warmer.urethal_temp_c", "unknown key; did you mean urethral_temp_c?")]


# --- geometry --------------------------------------------------------------------------------------------

@dataclass
class _Landmarks:
    skin_z_mm: float


class _BallAnatomy:
    """An anatomy made of balls, to test the tip arithmetic without building real organs."""

    def __init__(self, skin_z_mm: float, balls: dict[str, tuple[tuple[float, float, float], float]]):
        self.landmarks = _Landmarks(skin_z_mm)
        self.organs = tuple(balls)
        self._balls = balls

    def signed_distance(self, organ: str, points_mm: np.ndarray) -> np.ndarray:
        centre, radius = self._balls[organ]
        return np.linalg.norm(np.asarray(points_mm) - np.asarray(centre), axis=1) - radius


def test_tip_is_skin_plus_depth():
    scene = parse_scene('[[probes]]\nhole = "F1"\ndepth_mm = 80\n[[probes]]\nhole = "F6"\ndepth_mm = 60')
    # F1 = (0, 15); its tip at z = -70 + 80 = 10 is 0.5 mm inside a 2 mm ball around (0, 15, 11.5)
    anatomy = _BallAnatomy(-70.0, {"rectum": ((0.0, 15.0, 11.5), 2.0), "bladder": ((0.0, 0.0, 200.0), 5.0)})
    with pytest.raises(InputError) as info:
        check_scene_geometry(scene, anatomy)
    (p,) = info.value.problems
    assert (p.key, p.what) == ("probes[1]", "the tip lies inside the rectum")
    assert p.got == "tip at x, y, z = 0, 15, 10 mm"
    check_scene_geometry(scene, _BallAnatomy(-74.0, anatomy._balls))  # 4 mm shallower: clear


def test_template_reach_is_checked_before_building_anatomy():
    scene = parse_scene("[[probes]]\nposition_mm = [27.5, -27.5]\ndepth_mm = 60\n"
                        "[[probes]]\nposition_mm = [-28, 0]\ndepth_mm = 60")
    with pytest.raises(InputError) as info:
        check_scene_geometry(scene, anatomy=object())  # never touched: reach fails first
    assert [p.key for p in info.value.problems] == ["probes[2].position_mm"]


def test_real_anatomy_rejects_a_tip_in_the_bladder_and_accepts_the_presets(tmp_path):
    f = tmp_path / "deep.toml"
    f.write_text('[[probes]]\nhole = "F5"\ndepth_mm = 150\n[[probes]]\nhole = "D4"\ndepth_mm = 60\n',
                 encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_scene(f, check_geometry=True)
    found = [(p.key, p.what) for p in info.value.problems]
    assert found == [("probes[1]", "the tip lies inside the bladder")]
    for name in ("rectum_at_risk.toml", "gel_single_probe.toml"):
        load_scene(SCENES / name, check_geometry=True)


def test_real_anatomy_puts_the_rectum_at_risk_tips_in_the_gland():
    from cryoviz.model.anatomy import build_anatomy

    scene = load_scene(SCENES / "rectum_at_risk.toml")
    anatomy = build_anatomy(scene.anatomy)
    tips = np.array([[p.x_mm, p.y_mm, anatomy.landmarks.skin_z_mm + p.depth_mm] for p in scene.probes])
    d_prostate = anatomy.signed_distance("prostate", tips)
    assert np.all(d_prostate < 0), d_prostate
    d_rectum = anatomy.signed_distance("rectum", tips)
    assert np.all(d_rectum > 0) and math.isfinite(float(d_rectum.min()))
    posterior = np.array([p.y_mm == 15.0 for p in scene.probes])
    # the back-row tips sit within 10 mm of the rectal wall, closer than any other tip
    assert float(d_rectum[posterior].max()) < min(10.0, float(d_rectum[~posterior].min()))


# --- documentation ---------------------------------------------------------------------------------------

def test_format_doc_names_every_key_and_its_example_parses():
    from cryoviz.model import lesion_load, scene_tables

    doc = (ROOT / "docs" / "scene-format.md").read_text(encoding="utf-8")
    key_sets = [v for mod in (scene_tables, lesion_load) for k, v in vars(mod).items() if k.endswith("_KEYS")]
    assert len(key_sets) >= 10
    for keys in key_sets:
        for key in keys:
            assert re.search(rf"(`|\[|\.){re.escape(key)}(`|\])", doc), key
    example = doc.split("## A complete example", 1)[1].split("```toml", 1)[1].split("```", 1)[0]
    s = parse_scene(example)
    assert s.title == "Whole-gland salvage cryoablation" and len(s.protocol.cycles) == 2
