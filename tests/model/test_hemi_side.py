"""A hemi plan takes the half that holds the cancer (issue #17: plans that aim at the cancer)."""

from __future__ import annotations

import pytest

from cryoviz.core.errors import InputError
from cryoviz.model.scene_load import load_scene, parse_scene

LESION = """
[[lesions]]
{where}
diameter_mm = 8
"""


def _scene(*wheres: str, preset: str = "hemi") -> str:
    return f'[layout]\npreset = "{preset}"\n' + "".join(LESION.format(where=w) for w in wheres)


@pytest.mark.parametrize(("where", "side"), [('sector = "mid right PZa"', "hemi_right"),
                                             ('sector = "base left PZpl"', "hemi_left"),
                                             ("position_mm = [6.0, 4.0, 0.0]", "hemi_left"),
                                             ("position_mm = [-6.0, 4.0, 0.0]", "hemi_right")])
def test_hemi_takes_the_side_of_the_lesion(where, side):
    assert parse_scene(_scene(where), "t.toml").layout.preset == side


@pytest.mark.parametrize(("text", "what"), [
    ('[layout]\npreset = "hemi"\n', "there are none"),
    (_scene('sector = "mid right PZa"', 'sector = "apex left PZpl"'), "both sides"),
    (_scene("position_mm = [0.0, 4.0, 0.0]"), "midline"),
])
def test_hemi_without_one_side_is_a_contract_error(text, what):
    with pytest.raises(InputError) as info:
        parse_scene(text, "t.toml")
    lines = [p for p in info.value.problems if p.key == "layout.preset"]
    assert len(lines) == 1 and what in lines[0].what


def test_the_hemi_lesion_preset_treats_the_half_that_holds_its_lesion():
    scene = load_scene("scenes/salvage_hemi_lesion.toml")
    assert scene.layout.preset == "hemi_right"
    assert all(les.sector.split()[1] == "right" for les in scene.lesions)
