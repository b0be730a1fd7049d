"""Which sentences a chapter says, chosen from the simulated result, in one language.

The timeline asks :func:`chapter_lines` for the lines of a chapter; the result chapter ("What was spared")
is built from :func:`cryoviz.story.outcomes.findings`: for each structure its outcome picks the sentence
``[outcomes.<structure>] <outcome>`` (plus ``<outcome>_more`` when its figures exist), and each warning code
it explains adds ``[warnings] <code>``: what it means for the patient, with its published range and source.
The choice depends on the scene and its result only, so every language gets the same lines in the same order.

Numbers are formatted by the one rule every output uses (:mod:`cryoviz.core.rounding`), so each sentence
is true of the simulated value and the same figure reads the same in the app, the video and the take-home
files: temperatures in whole degrees rounded down ("stayed at X °C or warmer" holds; a frozen structure's
coldest point is never shown above 0 °C), distances and shares rounded down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from cryoviz.story.outcomes import Finding, target_kind, unexplained_codes
from cryoviz.story.text import fill, format_mm, format_number, format_temp

__all__ = ["Line", "chapter_lines", "finding_values", "format_values", "numbers", "panel_lines", "risk_lines",
           "warning_line"]

#: Glands up to this size are "about the size of a walnut" (a normal prostate is 20-30 ml,
#: clinical-facts §3); bigger ones are told their volume instead.
WALNUT_MAX_ML = 35.0


@dataclass(frozen=True)
class Line:
    """One sentence to show, and what result it reports (empty for fixed narration)."""

    text: str
    about: str = ""
    outcome: str = ""


def numbers(scene, result, probes) -> dict[str, float]:
    """The simulated numbers the narration quotes (raw, unformatted); missing ones are simply absent."""
    m: dict[str, Any] = getattr(result, "metrics", {}) or {}
    n: dict[str, float] = {"n_probes": len(probes), "n_cycles": len(scene.protocol.cycles)}
    cycles = scene.protocol.cycles
    if cycles:
        n["freeze1_min"] = cycles[0].freeze_s / 60.0
        n["thaw1_active"] = 1.0 if cycles[0].thaw == "active" else 0.0
    if len(cycles) >= 2:
        n["freeze2_min"] = cycles[1].freeze_s / 60.0
    pt = np.asarray(result.probe_temps_c, float)
    if pt.size:
        n["probe_min_c"] = float(pt.min())
    vol = m.get("organs", {}).get("prostate", {}).get("volume_ml")
    if vol is not None and math.isfinite(float(vol)):
        n["volume_ml"] = float(vol)
    n["urethral_warmer"] = 1.0 if getattr(scene.warmer, "urethral", False) else 0.0
    return n


def format_values(n: dict[str, float], lang: str) -> dict[str, str]:
    """Narration numbers as the text shows them (temperatures rounded down, minutes to 0.1)."""
    out: dict[str, str] = {}
    for key, value in n.items():
        if key.endswith("_c"):
            out[key] = format_temp(value, lang)
        elif key.endswith("_min"):
            out[key] = format_number(value, lang, 0 if abs(value - round(value)) < 0.05 else 1)
        elif key == "volume_ml":
            out[key] = format_number(round(value), lang)
        else:
            out[key] = format_number(value, lang)
    return out


def finding_values(f: Finding, text: dict, lang: str, kind: str) -> dict[str, str]:
    """The figures of one finding as its sentences show them, plus ``target`` / ``name`` words."""
    v: dict[str, str] = {}
    for key, raw in f.values:
        if key == "min_c":
            v[key] = format_temp(raw, lang)
        elif key == "frozen_pct":
            if raw >= 1.0:
                v[key] = format_number(math.floor(round(raw, 6)), lang)
        elif key in ("gap_mm", "margin_mm"):
            v[key] = format_mm(raw, lang)
        elif key == "target_mm":  # the plan's own figure, as planned
            v[key] = format_number(raw, lang, 0 if float(raw).is_integer() else 1)
        elif key == "rest_pct":
            if raw > 0:
                v[key] = format_number(raw, lang)
        else:
            v[key] = format_number(raw, lang)
    v["target"] = text["targets"][kind]
    if f.structure == "lesion":  # issue #17: "the cancer spot", or "cancer spot 2" of several
        from cryoviz.story.lesion_story import lesion_name

        v["name"] = lesion_name(text, int(f.value("n") or 1), int(f.value("count") or 1))
    else:
        v["name"] = text["structures"][kind if f.structure == "target" else f.structure]
    return v


def warning_line(text: dict, code: str, kind: str) -> str | None:
    """What warning ``code`` means for the patient, with the published range that fits the plan.

    A plan that treats part of the gland (``kind`` ``"half"`` or ``"focal"``) quotes ``[warnings_partial]``
    where it has the code (COLD, 91 men treated on part of the gland, clinical-facts §2); a whole-gland
    plan never does: its figures are ``[warnings]`` (AUA 2008, salvage cryotherapy).
    """
    said = text.get("warnings_partial", {}).get(code) if kind != "whole_gland" else None
    return said or text.get("warnings", {}).get(code)


def risk_lines(text: dict, kind: str) -> list[str]:
    """The published risks the "Afterwards" chapter (and the take-home files) list for this plan.

    Every plan gets ``risks`` (AUA 2008, salvage cryotherapy); only a plan that treats part of the gland
    gets ``risks_partial`` (COLD: 91 men treated on part of the gland), whose figures are not a whole-gland
    patient's.
    """
    ch = text["chapters"]["after"]
    return [*ch["risks"], *(ch["risks_partial"] if kind != "whole_gland" else ())]


def _finding_lines(found: tuple[Finding, ...], metrics: dict, text: dict, lang: str, kind: str) -> list[Line]:
    lines: list[Line] = []
    for f in found:
        table = text["outcomes"][f.structure]
        v = finding_values(f, text, lang, kind)
        # "<outcome>_warmed": the warm catheter ran, and the sentence says what happened despite it
        first = f"{f.outcome}_warmed" if f.value("warmed") and f"{f.outcome}_warmed" in table else f.outcome
        for key in (first, f"{f.outcome}_more"):
            said = fill(table[key], v) if key in table else None
            if said:
                lines.append(Line(said, f.structure, f.outcome))
        for code in f.codes:  # a structure's own reason (why_<code>) first, else the shared warning line
            said = fill(table[f"why_{code}"], v) if f"why_{code}" in table else None
            said = said or warning_line(text, code, kind)
            if said:
                lines.append(Line(said, f"warning:{code}", f.outcome))
    for code in unexplained_codes(metrics, found):
        said = warning_line(text, code, kind)
        if said:
            lines.append(Line(said, f"warning:{code}", "warning"))
    return lines


def chapter_lines(cid: str, text: dict, n: dict[str, float], found: tuple[Finding, ...], metrics: dict,
                  scene, lang: str) -> list[Line]:
    """The lines chapter ``cid`` says in language ``lang`` (``text`` is that language's file).

    Lines that do not apply to this scene are left out; which ones apply depends on the scene and its
    result, never on the language.
    """
    ch = text["chapters"][cid]
    v = format_values(n, lang)
    cues = [Line(c) for c in ch["cues"]]
    picked: list[Line | None]

    def say(key: str, about: str = "") -> Line | None:
        s = fill(ch[key], v)
        return Line(s, about) if s else None

    if cid == "why" and metrics.get("lesions"):  # issue #17: where the cancer is, before the freeze
        from cryoviz.story.lesion_story import where_lines

        where = [Line(w, "lesion") for w in where_lines(metrics, text, lang)]
        picked = [cues[0], *where, *cues[1:]]
    elif cid == "anatomy":
        small = n.get("volume_ml", 0.0) <= WALNUT_MAX_ML
        size = Line(ch["size_walnut"]) if small else say("size_large")
        picked = [size or Line(ch["size_walnut"]), *cues]
    elif cid == "preparation":
        warm = ch["warmer_on"] if n.get("urethral_warmer") else ch["warmer_off"]
        picked = [*cues, Line(warm)]
    elif cid == "probes":
        picked = [cues[0], say("count"), *cues[1:]]
    elif cid == "freeze1":
        picked = [cues[0], say("tip_temp"), *cues[1:], say("duration")]
    elif cid == "thaw_refreeze":
        twice = n.get("n_cycles", 1) >= 2
        thaw = Line(ch["thaw_active"] if n.get("thaw1_active") else ch["thaw_passive"])
        picked = [thaw, say("refreeze") if twice else None, cues[0] if twice else None, cues[1]]
    elif cid == "spared":
        kind = target_kind(scene, metrics)
        picked = [cues[0], *_finding_lines(found, metrics, text, lang, kind), Line(ch["note"])]
    elif cid == "after":  # the published risks that fit this plan (whole gland or part of it)
        risks = [Line(r) for r in risk_lines(text, target_kind(scene, metrics))]
        picked = [*cues, *risks, *(Line(c) for c in ch["closing"])]
    else:
        picked = list(cues)
    return [c for c in picked if c]


def panel_lines(found: tuple[Finding, ...], text: dict, lang: str, scene, metrics: dict,
                sensor_min_c: dict[str, float]) -> tuple[str, ...]:
    """The "What was spared" panel: one line per structure, then each sensor's coldest reading.

    Each quantity has one name: the tissue ("Rectal wall") and the sensor ("Sensor by the rectum") are
    told apart.
    """
    kind = target_kind(scene, metrics)
    sp = text["spared"]
    out = []
    for f in found:
        key = "target" if f.structure == "target" else f.outcome
        table = text["lesion"]["panel"] if f.structure == "lesion" else sp  # issue #17's own table
        line = fill(table[key], finding_values(f, text, lang, kind))
        if line:
            out.append(line[0].upper() + line[1:])
    out.extend(sensor_lines(text, lang, sensor_min_c))
    return tuple(x for x in out if x)


def sensor_lines(text: dict, lang: str, sensor_min_c: dict[str, float]) -> tuple[str, ...]:
    """Each sensor's coldest reading, named for where it sits ("Sensor by the rectum, coldest: 3 °C")."""
    names = text["sensors"]
    return tuple(fill(text["spared"]["sensor"], {"name": names.get(n, n),
                                                 "temp_c": format_temp(v, lang)}) or ""
                 for n, v in sensor_min_c.items())
