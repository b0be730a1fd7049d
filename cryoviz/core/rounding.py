"""How a figure is rounded wherever a patient reads it: one rule per kind of figure, defined once.

The app, the video, its subtitles, ``cryoviz script``, the visit page, the printable summary and the
metrics' warning sentences all show a temperature, a distance or a share the same way, so the same scene
gives the same figure everywhere (the rectal wall is not "3 °C" in the video and "3.8 °C" on paper).
Every rule rounds towards caution, so a sentence built on it is true of the model: "stayed at X °C or
warmer" and "the ice stayed X mm away" hold for the rounded X, and a share "reached" is never overstated.
Language-specific writing (decimal comma) is :func:`cryoviz.story.text.format_temp` and friends.
"""

from __future__ import annotations

import math

__all__ = ["shown_mm", "shown_pct", "shown_temp_c"]

#: Float noise tolerated before rounding down (29.999999999 is 30, not 29).
_EPS_DIGITS = 6


def shown_temp_c(value_c: float) -> int:
    """A temperature as shown to a patient: whole degrees Celsius, rounded down (towards the cold).

    Rounding down keeps "stayed at X °C or warmer" true and never shows a structure warmer than the model
    computed; 3.8 °C shows as 3 °C, -54.1 °C as -55 °C.
    """
    return math.floor(round(float(value_c), _EPS_DIGITS))


def shown_mm(value_mm: float) -> float:
    """A distance as shown: whole millimetres rounded down, or tenths below 1 mm (so 0.4 mm is not 0)."""
    v = round(float(value_mm), _EPS_DIGITS)
    return math.floor(v * 10.0) / 10.0 if abs(v) < 1.0 else float(math.floor(v))


def shown_pct(fraction: float) -> int:
    """A fraction 0-1 as a whole percent, rounded down (0.29 is 29 %, not 28 % from float noise)."""
    return math.floor(round(float(fraction) * 100.0, _EPS_DIGITS))
