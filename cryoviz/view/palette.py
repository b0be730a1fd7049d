"""Colours and styles of the 3D scene (presentation layer).

Isotherm colours come from the Okabe–Ito palette, which stays distinguishable for the common forms of colour
blindness: sky blue for the visible ice edge (0 °C), blue for −20 °C and vermillion for the lethal −40 °C
zone. Organ colours are muted so that the ice stands out.
"""

from __future__ import annotations

__all__ = ["BACKGROUND", "ISOTHERM_STYLE", "LESION_STYLE", "ORGAN_STYLE", "PROBE_ACTIVE", "PROBE_SHAFT",
           "TEXT"]

BACKGROUND = "#151c26"
TEXT = "#f4f4f4"
PROBE_SHAFT = "#b8bec6"
PROBE_ACTIVE = "#e8f6ff"

#: threshold °C -> (colour, opacity)
ISOTHERM_STYLE: dict[float, tuple[str, float]] = {
    0.0: ("#56B4E9", 0.16),
    -20.0: ("#0072B2", 0.22),
    -40.0: ("#D55E00", 0.9),
}

#: organ -> (colour, default opacity)
ORGAN_STYLE: dict[str, tuple[str, float]] = {
    "prostate": ("#c9a27e", 0.55),
    "urethra": ("#f0e442", 1.0),
    "sphincter": ("#a0524d", 0.9),
    "bladder": ("#e9d8a6", 0.35),
    "rectum": ("#b07a86", 0.6),
    "seminal_vesicles": ("#c8b6d6", 0.8),
    "neurovascular_bundles": ("#e6c34a", 1.0),
    "perineum": ("#d9b8a0", 0.25),
    "pubic_bone": ("#ece6d6", 0.9),
    "gel": ("#9fc5e8", 0.12),
}

#: A known cancer (issue #17): a calm violet, distinct from the organs and from every isotherm colour (and
#: not an alarming red), nearly opaque so it reads through the translucent gland.
LESION_STYLE: tuple[str, float] = ("#9d86e0", 1.0)
