"""What the consultation page's panels show, from a story and its result (no trame, no rendering).

Moved out of :mod:`cryoviz.deliver.app` so that each app module keeps to one concern: chapter list, probe
insertion for the ultrasound picture, layout and language choices, legend and clinician numbers.
"""

from __future__ import annotations

import math

from cryoviz.deliver import app_state as st

__all__ = ["as_float", "chapter_list", "clinician_numbers", "default_build_story", "default_renderer",
           "finite_or", "fmt", "inserted_mm", "languages", "legend", "presets", "thermal_is_cached"]


def thermal_is_cached(scene, grid_mm: float) -> bool:
    """Whether the thermal result of ``scene`` at ``grid_mm`` is in the on-disk cache (loads in ~1 s).

    Any failure answers False (the app then starts with a preview).
    """
    try:
        from cryoviz.physics.thermal import is_cached

        return is_cached(scene, float(grid_mm))
    except Exception:
        return False


def default_build_story(scene, lang=None, grid_mm=None):
    from cryoviz.story.session import build_story

    return build_story(scene, lang=lang, grid_mm=grid_mm)


def default_renderer(story, size):
    from cryoviz.view.render import SceneRenderer

    return SceneRenderer(story, size=size, captions=False)


def as_float(value, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def finite_or(value, default: float) -> float:
    """``value`` as a finite float, else ``default`` (NaN, inf, strings, lists, None)."""
    if isinstance(value, bool):
        return default
    try:
        out = float(value)
    except (TypeError, ValueError, OverflowError):
        return default
    return out if math.isfinite(out) else default


def chapter_list(story) -> list[dict]:
    cues = [c.start_s for c in getattr(story, "cues", ())]
    return [{"id": c.id, "title": c.title, "start_s": float(c.start_s), "end_s": float(c.end_s),
             "jump_s": st.chapter_jump_s(c, cues)} for c in story.chapters]


def inserted_mm(state, probes) -> list[float] | None:
    """Current insertion of each probe (mm) from the frame state, or None (fully in)."""
    depths = getattr(state, "probe_depths_mm", None)
    if not probes or depths is None:
        return None
    if isinstance(depths, dict):
        return [max(float(depths.get(p.name, p.depth_mm)), 0.0) for p in probes]
    return [max(float(d), 0.0) for d in depths]


def presets() -> tuple[str, ...]:
    from cryoviz.model.scene import LAYOUT_PRESETS

    return LAYOUT_PRESETS


def languages() -> list[dict[str, str]]:
    from cryoviz.model.scene import LANGUAGES

    out = []
    for code in LANGUAGES:
        from cryoviz.story.text import load_text

        out.append({"value": code, "title": load_text(code).get("meta", {}).get("name", code)})
    return out


def legend(text: dict) -> list[dict[str, str]]:
    from cryoviz.view.palette import ISOTHERM_STYLE

    labels = text.get("legend", {})
    keys = {0.0: "zero", -20.0: "minus20", -40.0: "minus40"}
    return [{"colour": ISOTHERM_STYLE[c][0], "label": labels.get(keys[c], f"{c:g} °C")}
            for c in sorted(ISOTHERM_STYLE, reverse=True) if c in keys]


def fmt(v: float | None, digits: int = 0) -> str:
    return "–" if v is None else f"{v:.{digits}f}".replace("-", "\u2212")


def clinician_numbers(metrics: dict) -> list[dict[str, str]]:
    rows = [{"name": "grid", "value": f"{metrics.get('grid_mm', '?')} mm, {metrics.get('steps', '?')} steps"}]
    for organ, vals in sorted(metrics.get("organs", {}).items()):
        parts = [f"{k} {fmt(v, 2) if isinstance(v, float) else v}" for k, v in vals.items()]
        rows.append({"name": organ, "value": ", ".join(parts)})
    for level, iso in sorted(metrics.get("isotherms", {}).items()):
        if iso:
            rows.append({"name": f"{level} °C ice", "value": f"{fmt(iso.get('volume_ml'), 1)} ml"})
    for les in metrics.get("lesions", []) or []:  # issue #17: PI-RADS, place, coverage and margin
        margin = les.get("margin_mm")
        parts = [f"PI-RADS {les.get('pirads') or '–'}", str(les.get("sector") or "–"),
                 f"{fmt(les.get('volume_ml'), 2)} ml",
                 f"{fmt(100 * float(les.get('fraction_below_minus40') or 0.0), 0)} % ≤ −40 °C",
                 f"margin {fmt(margin, 1)} mm (planned {fmt(les.get('margin_target_mm'), 0)})",
                 "covered" if les.get("covered") else "NOT covered"]
        rows.append({"name": f"lesion {les.get('name', '')}", "value": ", ".join(parts)})
    for w in metrics.get("warnings", []):
        rows.append({"name": "warning", "value": str(w)})
    return rows
