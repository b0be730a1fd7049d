"""The cancer in the story: where it is (before the freeze) and whether the lethal ice covered it (after).

Both come from the metrics' ``lesions`` block (:mod:`cryoviz.physics.lesion_metrics`), never from the plan:

* :func:`where_lines`: one line per lesion for the "Why this treatment" chapter, its PI-RADS sector told in
  plain words from the ``[lesion]`` table of the language file (level, side, zone);
* :func:`lesion_findings`: one :class:`~cryoviz.story.outcomes.Finding` per lesion for the result chapter,
  structure ``"lesion"``, outcome

  - ``covered``: all of it reached −40 °C with at least the planned margin around it;
  - ``no_margin``: all of it reached −40 °C, but the margin was smaller than planned;
  - ``partial``: only part of it reached −40 °C;
  - ``missed``: none of it did;

  with figures ``pct40`` (share at −40 °C, rounded down), ``margin_mm`` (rounded down, only when positive),
  ``target_mm`` (the planned margin), ``n`` and ``count``; its codes are the lesion warning codes the
  metrics give for it, told from ``[outcomes.lesion] why_<code>``.
"""

from __future__ import annotations

from cryoviz.core.rounding import shown_mm, shown_pct
from cryoviz.story.outcomes import Finding
from cryoviz.story.text import fill, format_number

__all__ = ["lesion_findings", "lesion_name", "where_lines", "where_words"]


def _lesions(metrics: dict | None) -> list[dict]:
    out = (metrics or {}).get("lesions") if isinstance(metrics, dict) else None
    return [les for les in (out or []) if isinstance(les, dict)]


def lesion_findings(metrics: dict, codes: set[str]) -> list[Finding]:
    """The outcome of each lesion of the metrics (see the module docstring)."""
    lesions = _lesions(metrics)
    found = []
    for n, les in enumerate(lesions, start=1):
        frac = float(les.get("fraction_below_minus40") or 0.0)
        margin = les.get("margin_mm")
        if les.get("covered"):
            outcome = "covered"
        elif frac >= 1.0:
            outcome = "no_margin"
        elif frac > 0.0:
            outcome = "partial"
        else:
            outcome = "missed"
        values = [("pct40", float(shown_pct(frac))), ("n", float(n)),
                  ("count", float(len(lesions))), ("target_mm", float(les.get("margin_target_mm") or 0.0))]
        if margin is not None and margin > 0:
            values.append(("margin_mm", shown_mm(margin)))  # rounded down, as every output shows it
        why = tuple(str(c) for c in les.get("why_not", ()) or () if str(c) in codes)
        if not les.get("covered") and "lesion_not_covered" in codes:
            why = ("lesion_not_covered", *why)
        found.append(Finding("lesion", outcome, tuple(values), why))
    return found


def lesion_name(text: dict, n: int, count: int) -> str:
    """How the story calls lesion ``n`` of ``count`` ("the cancer spot", "cancer spot 2")."""
    table = text["lesion"]
    return table["name_one"] if count <= 1 else (fill(table["name_n"], {"n": str(n)}) or table["name_one"])


def where_words(text: dict, sector: str) -> str | None:
    """A sector (``"mid left PZpl"``) in plain words of the language file, or None if it cannot be read."""
    from cryoviz.model.sectors import parse_sector

    try:
        sec = parse_sector(sector)
    except ValueError:
        return None
    t = text["lesion"]
    return fill(t["where"], {"level": t["levels"][sec.level], "side": t["sides"][sec.side],
                             "zone": t["zones"][sec.zone]})


def where_lines(metrics: dict, text: dict, lang: str) -> list[str]:
    """The "where is it" lines (one per lesion with a sector) for the chapter before the freeze."""
    lesions = _lesions(metrics)
    out = []
    for n, les in enumerate(lesions, start=1):
        where = where_words(text, str(les.get("sector") or ""))
        if where is None:
            continue
        line = fill(text["lesion"]["found"], {"name": lesion_name(text, n, len(lesions)), "where": where,
                                             "count": format_number(len(lesions), lang)})
        if line:
            out.append(line[0].upper() + line[1:])
    if out:
        out.append(text["lesion"]["shown"])
    return out
