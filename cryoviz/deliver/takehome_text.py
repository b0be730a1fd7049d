"""The words and figures both take-home files print (the visit page and the summary).

Every figure comes from the thermal result's metrics dict (the same dict ``cryoviz simulate --json``
writes) and is written by the one rule every patient-facing output uses (:mod:`cryoviz.core.rounding`), so
the page and the summary give the same figure as the app, the video and its subtitles, and a line is never
more reassuring than the model: coldest temperatures in whole degrees rounded *down* (3.8 °C prints 3 °C),
distances in whole millimetres rounded down (tenths under 1 mm), shares rounded down to a whole percent.
The sentences live in the ``[export]`` tables of ``cryoviz/story/lang/<lang>.toml``.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass

from cryoviz.story.text import fill, format_mm, format_number, format_pct, format_temp

__all__ = ["Figure", "TakeHomeText", "figure_lines", "mm", "pct", "take_home_text", "temp", "with_warnings"]

#: The shared rules (:mod:`cryoviz.core.rounding`), under the names this module has always used.
temp = format_temp
mm = format_mm
pct = format_pct


@dataclass(frozen=True)
class Figure:
    """One line of figures: its sentence and, for an organ that may freeze, whether it did."""

    key: str
    text: str
    froze: bool | None = None
    notes: tuple[str, ...] = ()


def _ok(v) -> bool:
    return v is not None and isinstance(v, int | float) and math.isfinite(float(v))


def figure_lines(metrics: dict, text: dict, lang: str) -> list[Figure]:
    """The patient's figures in plain words, from a metrics dict.

    Parameters
    ----------
    metrics : dict
        ``ThermalResult.metrics`` (the contract's metrics JSON).
    text : dict
        The loaded language text (:func:`cryoviz.story.text.load_text`).
    lang : str
        Language code (number format).

    Returns
    -------
    list of Figure
        Target coverage, rectal wall (and the -40 °C ice's distance to it), urethral wall, sphincter, nerve
        bundles and each lesion, where the metrics have them.
    """
    lines = text["export"]["figures_lines"]
    organs = metrics.get("organs", {})
    out: list[Figure] = []
    target = metrics.get("target") or {}
    src = target if _ok(target.get("fraction_below_minus40")) else organs.get("prostate", {})
    line = None
    if _ok(src.get("fraction_below_minus40")):
        label = text["organs"]["prostate"]
        if src is target:  # the story's name for what the plan treats: prostate, half or area treated
            from cryoviz.story.outcomes import target_kind

            label = text.get("structures", {}).get(target_kind(None, metrics), label)
        vals = {"target": label, "pct40": pct(src["fraction_below_minus40"], lang)}
        if _ok(src.get("fraction_below_minus20")):
            vals["pct20"] = pct(src["fraction_below_minus20"], lang)
        line = fill(lines["target"], vals)
    if line:
        out.append(Figure("target", line))
    for key, organ in (("rectum", "rectum_wall"), ("urethra", "urethra"), ("sphincter", "sphincter"),
                       ("nerves", "neurovascular_bundles")):
        o = organs.get(organ, {})
        if _ok(o.get("min_temp_c")):
            froze = float(o["min_temp_c"]) <= 0.0
            out.append(Figure(key, fill(lines[key], {"temp": temp(o["min_temp_c"], lang)}) or "", froze))
        if key == "rectum" and _ok(o.get("min_distance_to_minus40_mm")):
            out.append(Figure("rectum_gap", fill(lines["rectum_gap"],
                                                 {"gap": mm(o["min_distance_to_minus40_mm"], lang)}) or ""))
        if key == "nerves" and _ok(o.get("fraction_below_0")):
            out.append(Figure("nerves_frozen", fill(lines["nerves_frozen"],
                                                    {"pct0": pct(o["fraction_below_0"], lang)}) or ""))
    for lesion in metrics.get("lesions", []) or []:
        if not _ok(lesion.get("fraction_below_minus40")):
            continue
        parts = [fill(lines["lesion"], {"name": str(lesion.get("name", "")),
                                        "pct40": pct(lesion["fraction_below_minus40"], lang)})]
        margin, aim = lesion.get("margin_mm"), lesion.get("margin_target_mm")
        if _ok(margin) and float(margin) < 0:
            parts.append(lines["lesion_short"])
        elif _ok(margin) and _ok(aim):
            aim_s = format_number(float(aim), lang, 0 if float(aim).is_integer() else 1)  # as planned
            vals = {"margin": mm(margin, lang), "target": aim_s}
            parts.append(fill(lines["lesion_margin"], vals))
        covered = lesion.get("covered")
        if covered is not None:
            parts.append(text["export"]["covered_yes" if covered else "covered_no"])
        out.append(Figure("lesion", " ".join(p for p in parts if p)))
    return [f for f in out if f.text]


#: Story structure (:mod:`cryoviz.story.outcomes`) -> the figure line its warnings follow.
_AFTER = {"target": "target", "rectal_wall": "rectum_gap", "urethral_wall": "urethra",
          "sphincter": "sphincter", "nerve_bundles": "nerves_frozen"}


def with_warnings(figures: list[Figure], metrics: dict, text: dict, scene=None) -> list[Figure]:
    """Attach what each of the model's warnings means (the story's sentences, with the published ranges that
    fit the plan and their sources: :func:`cryoviz.story.captions.warning_line`) to the figure line of its
    structure; a warning about a structure with no line (the bladder) or about none becomes a line of its
    own at the end."""
    from cryoviz.story.captions import warning_line
    from cryoviz.story.outcomes import findings, target_kind, unexplained_codes

    kind = target_kind(scene, metrics)
    found = findings(metrics)
    notes: dict[str, list[str]] = {}
    loose: list[str] = []
    keys = [f.key for f in figures]
    for f in found:
        for code in f.codes:
            said = warning_line(text, code, kind)
            if not said:
                continue
            key = _AFTER.get(f.structure)
            if key == "rectum_gap" and key not in keys:
                key = "rectum"
            if key == "nerves_frozen" and key not in keys:
                key = "nerves"
            (notes.setdefault(key, []) if key in keys else loose).append(said)
    loose += [said for c in unexplained_codes(metrics, found) if (said := warning_line(text, c, kind))]
    out = [Figure(f.key, f.text, f.froze, tuple(notes.get(f.key, ()))) for f in figures]
    return out + [Figure("warning", line) for line in loose]


@dataclass(frozen=True)
class TakeHomeText:
    """Everything the two files say besides the 3D scene, in one language."""

    lang: str
    title_html: str
    title_pdf: str
    intro: str
    prepared_for: str | None
    figures: list[Figure]
    figures_source: str
    risks: list[str]
    after: list[str]
    questions: list[str]
    sources: list[str]
    disclaimer: str
    made_by: str
    model_note: str


def take_home_text(story, date: _dt.date | None = None) -> TakeHomeText:
    """Collect the take-home text for a story (its language, its scene's metrics).

    The risks are the published ranges the story's "after" chapter lists for this plan (with their sources;
    a whole-gland plan gets no figure of men treated on part of the gland), and the sources are the ones
    those lines cite; the display name is printed only when the scene gives one (``scene.display_name``),
    never a file name.
    """
    from cryoviz import __version__
    from cryoviz.story.captions import risk_lines
    from cryoviz.story.outcomes import target_kind

    text, lang = story.text, story.lang
    ex = text["export"]
    m = story.result.metrics
    date = date or _dt.date.today()
    kind = target_kind(story.scene, m)
    risks = risk_lines(text, kind)
    sources = [*ex["source_list"], *([ex["source_partial"]] if kind != "whole_gland" else [])]
    name = getattr(story.scene, "display_name", None)
    grid = format_number(float(m.get("grid_mm", 0.0)), lang, 1)
    return TakeHomeText(
        lang=lang, title_html=ex["html_title"], title_pdf=ex["pdf_title"], intro=ex["intro"],
        prepared_for=fill(ex["prepared_for"], {"name": name}) if name else None,
        figures=with_warnings(figure_lines(m, text, lang), m, text, story.scene),
        figures_source=fill(ex["figures_source"], {"version": __version__, "grid_mm": grid}) or "",
        risks=risks, after=[ex["after_catheter"], ex["after_psa"]],
        questions=list(ex["question_list"]), sources=sources,
        disclaimer=text["common"]["disclaimer"],
        made_by=fill(ex["made_by"], {"version": __version__, "date": date.isoformat()}) or "",
        model_note=text["common"]["model_note"],
    )
