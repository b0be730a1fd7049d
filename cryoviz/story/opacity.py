"""How opaque each organ is in each chapter: the prostate turns translucent while freezing so the ice inside
shows. Pure tables and one blend, used by :mod:`cryoviz.story.timeline`."""

from __future__ import annotations

__all__ = ["chapter_opacity"]

# Organ opacity targets per chapter: the prostate turns translucent while freezing so the ice inside shows.
_OPACITY_BASE = {
    "prostate": 0.9, "urethra": 1.0, "sphincter": 0.9, "bladder": 0.55, "rectum": 0.6,
    "seminal_vesicles": 0.8, "neurovascular_bundles": 0.9, "perineum": 0.25, "pubic_bone": 0.3,
}
_OPACITY = {
    "anatomy": {},
    "why": {"prostate": 0.95},
    "preparation": {"prostate": 0.5, "bladder": 0.35, "rectum": 0.35, "perineum": 0.2, "pubic_bone": 0.35},
    "probes": {"prostate": 0.4, "bladder": 0.3, "rectum": 0.35, "perineum": 0.35, "pubic_bone": 0.3,
               "seminal_vesicles": 0.5},
    "freeze1": {"prostate": 0.2, "urethra": 0.9, "sphincter": 0.6, "bladder": 0.2, "rectum": 0.45,
                "seminal_vesicles": 0.3, "neurovascular_bundles": 0.6, "perineum": 0.1, "pubic_bone": 0.2},
    "thaw_refreeze": {"prostate": 0.2, "urethra": 0.9, "sphincter": 0.6, "bladder": 0.2, "rectum": 0.45,
                      "seminal_vesicles": 0.3, "neurovascular_bundles": 0.6, "perineum": 0.1,
                      "pubic_bone": 0.2},
    "spared": {"prostate": 0.15, "urethra": 1.0, "sphincter": 0.95, "bladder": 0.15, "rectum": 0.85,
               "seminal_vesicles": 0.2, "neurovascular_bundles": 0.7, "perineum": 0.05, "pubic_bone": 0.15},
    "after": {"prostate": 0.8},
}


def chapter_opacity(chapter: str, before: str | None, u: float, organs) -> dict[str, float]:
    """Organ opacities of ``chapter``, blended from those of the chapter ``before`` by ``u`` (0 to 1)."""
    here = {**_OPACITY_BASE, **_OPACITY[chapter]}
    if before is not None:
        prev = {**_OPACITY_BASE, **_OPACITY[before]}
        here = {k: (1 - u) * prev[k] + u * here[k] for k in here}
    return {k: float(round(here[k], 6)) for k in organs}
