"""Captions wrap between words, never between a figure and its unit."""

from __future__ import annotations

import pytest

from cryoviz.view.overlay import wrap_keeping_units


@pytest.mark.parametrize("chars", range(8, 80))
def test_a_figure_never_ends_a_line_without_its_unit(chars):
    text = ("The ice reached the wall of the urethra. Its coldest point was -24 °C. About 86 % of the nerve "
            "bundles froze; the -40 °C ice stayed 8 mm away from the 31.5 ml gland.")
    lines = wrap_keeping_units(text, chars).split("\n")
    assert " ".join(lines) == text
    for line in lines:
        assert not line.endswith(("-24", "86", "-40", " 8", "31.5"))
        assert not line.startswith(("°C", "%", "mm", "ml"))


def test_empty_text_has_no_lines():
    assert wrap_keeping_units("", 40) == ""
