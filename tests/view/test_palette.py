"""The palette stays distinguishable for the common colour-vision deficiencies (simulated with colorspacious,
Machado et al. 2009 at full severity), and the lethal ice does not read as heat."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from colorspacious import cspace_convert, deltaE

from cryoviz.view.palette import CVD_MIN_DELTA_E, ISOTHERM_STYLE, LESION_STYLE, ORGAN_STYLE, hex_rgb

COLOURS = {**{f"organ:{k}": v[0] for k, v in ORGAN_STYLE.items()},
           **{f"isotherm:{k:g}": v[0] for k, v in ISOTHERM_STYLE.items()}, "lesion": LESION_STYLE[0]}
VISIONS = {
    "normal": None,
    "deuteranomaly": {"name": "sRGB1+CVD", "cvd_type": "deuteranomaly", "severity": 100},
    "protanomaly": {"name": "sRGB1+CVD", "cvd_type": "protanomaly", "severity": 100},
    "tritanomaly": {"name": "sRGB1+CVD", "cvd_type": "tritanomaly", "severity": 100},
}


def _seen(colour: str, vision) -> np.ndarray:
    rgb = np.array(hex_rgb(colour))
    return rgb if vision is None else np.clip(cspace_convert(rgb, vision, "sRGB1"), 0.0, 1.0)


@pytest.mark.parametrize("vision", list(VISIONS))
def test_every_pair_of_organ_and_isotherm_colours_stays_apart(vision):
    seen = {name: _seen(c, VISIONS[vision]) for name, c in COLOURS.items()}
    worst = min((float(deltaE(seen[a], seen[b], input_space="sRGB1")), a, b)
                for a, b in itertools.combinations(seen, 2))
    assert worst[0] >= CVD_MIN_DELTA_E, worst


def test_threshold_is_a_visible_difference():
    assert CVD_MIN_DELTA_E >= 9.0  # the palette was chosen for it; 2-3 is about the least one can see


def test_simulation_really_changes_colours():
    # a red and a green that normal vision tells apart easily collapse under deuteranomaly: the check bites
    red, green = "#d62728", "#2ca02c"
    normal = float(deltaE(_seen(red, None), _seen(green, None), input_space="sRGB1"))
    deutan = float(deltaE(_seen(red, VISIONS["deuteranomaly"]), _seen(green, VISIONS["deuteranomaly"]),
                          input_space="sRGB1"))
    assert normal > 30 and deutan < normal / 2


def test_ice_is_cold_coloured_and_colder_is_deeper_blue():
    # the lethal zone must not read as heat: blue dominates red in every isotherm colour, and the colder
    # isotherm is darker (CIE L*) than the warmer one
    lightness = []
    for level in sorted(ISOTHERM_STYLE, reverse=True):
        r, g, b = hex_rgb(ISOTHERM_STYLE[level][0])
        assert b > r, level
        lightness.append(float(cspace_convert([r, g, b], "sRGB1", "CIELab")[0]))
    assert lightness == sorted(lightness, reverse=True)


def test_urethra_and_nerves_differ():
    assert ORGAN_STYLE["urethra"][0] != ORGAN_STYLE["neurovascular_bundles"][0]
