"""Reading TOML values into checked Python values, collecting one contract line per problem.

:class:`Reader` is what every scene table reader uses: each check (``table``, ``number``, ``choice``, ...)
returns the value, or a fallback after recording a :class:`~cryoviz.core.errors.Problem` in the contract's
form (``PATH: key.path: what (allowed: ..., got: ...)``), so one run reports every problem of a file.
Values are shown the way they would be written in TOML, escaped for a terminal and cut to a short line.
"""

from __future__ import annotations

import difflib
import math

from cryoviz.core.errors import Problem

__all__ = ["Reader", "Said", "escape", "fmt", "join_key", "show", "syntax_line"]

_GOT_MAX = 60
_MISSING = object()


def escape(text: str) -> str:
    """Make ``text`` safe for one line of a terminal: non-printable characters become escapes."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape", "backslashreplace").decode("ascii")
                   if ord(ch) < 0xD800 or ord(ch) > 0xDFFF else f"\\u{ord(ch):04x}" for ch in text)


class Said(str):
    """A description of what was given (shown as is, not quoted like a TOML string)."""


def show(value: object) -> str:
    """Show a TOML value the way it would be written in the file, on one short line."""
    if isinstance(value, Said):
        text = escape(value)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = '"' + escape(value) + '"'
    elif isinstance(value, float):
        text = "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) \
            else repr(value)
    elif isinstance(value, int):
        text = str(value) if abs(value) < 10**40 else "a number with over 40 digits"
    elif isinstance(value, dict):
        text = "a table"
    elif isinstance(value, list):
        inner = ", ".join(show(v) for v in value[:4])
        text = f"[{inner}{', ...' if len(value) > 4 else ''}]"
    elif hasattr(value, "isoformat"):
        text = value.isoformat()
    else:  # pragma: no cover - tomllib produces no other types
        text = type(value).__name__
    return text if len(text) <= _GOT_MAX else text[: _GOT_MAX - 3] + "..."


def join_key(prefix: str, name: object) -> str:
    """Dotted key path; keys that are not bare TOML keys are quoted and escaped."""
    name = str(name)
    bare = name != "" and all(ch.isascii() and (ch.isalnum() or ch in "_-") for ch in name)
    part = name if bare else '"' + escape(name)[:_GOT_MAX] + '"'
    return f"{prefix}.{part}" if prefix else part


def fmt(x: float) -> str:
    return f"{x:g}"


class Reader:
    """Collects problems while reading one scene; each check returns the value or a fallback."""

    def __init__(self, path: str):
        self.path = path
        self.problems: list[Problem] = []

    def add(self, key: str, what: str, allowed: str | None = None, got: object = _MISSING,
            line: int | None = None) -> None:
        shown = None if got is _MISSING else show(got)
        self.problems.append(Problem(self.path, key, what, allowed, shown, line))

    def table(self, value: object, key: str, allowed: tuple[str, ...], what: str = "table") -> dict | None:
        """Check that ``value`` is a table with only ``allowed`` keys; return it or ``None``."""
        if not isinstance(value, dict):
            self.add(key, f"must be a {what}", f"a [{key}] table" if what == "table" else what, value)
            return None
        for name in value:
            if name not in allowed:
                close = difflib.get_close_matches(str(name), allowed, n=1)
                hint = f"; did you mean {close[0]}?" if close else ""
                self.add(join_key(key, name), f"unknown key{hint}", ", ".join(allowed), str(name))
        return value

    def tables(self, value: object, key: str, lo: int, hi: int) -> list[dict | None]:
        """Check an array of tables (``[[key]]``) with ``lo``–``hi`` entries."""
        if not isinstance(value, list):
            self.add(key, f"must be a list of [[{key}]] tables", f"[[{key}]] blocks", value)
            return []
        if not lo <= len(value) <= hi:
            self.add(key, f"wrong number of [[{key}]] entries", f"{lo} to {hi}", len(value))
        return [v if isinstance(v, dict) else None for v in value]

    def number(self, tbl: dict, prefix: str, name: str, default: float | None, lo: float, hi: float,
               unit: str = "", *, lo_open: bool = False, required: bool = False) -> float | None:
        """A finite number (int or float, never a boolean) in ``[lo, hi]`` (``(lo, hi]`` if ``lo_open``)."""
        unit_s = f" {unit}" if unit else ""
        allowed = (f"a number above {fmt(lo)} and up to {fmt(hi)}{unit_s}" if lo_open
                   else f"a number from {fmt(lo)} to {fmt(hi)}{unit_s}")
        key = join_key(prefix, name)
        if name not in tbl:
            if required:
                self.add(key, "missing", allowed)
            return default
        value = tbl[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.add(key, "must be a number", allowed, value)
            return default
        if isinstance(value, float) and not math.isfinite(value):
            self.add(key, "must be a finite number", allowed, value)
            return default
        if value < lo or value > hi or (lo_open and value <= lo):
            self.add(key, "out of range", allowed, value)
            return default
        return float(value)

    def integer(self, tbl: dict, prefix: str, name: str, default: int, lo: int, hi: int) -> int:
        """A whole number in ``[lo, hi]``."""
        allowed = f"a whole number from {lo} to {hi}"
        key = join_key(prefix, name)
        if name not in tbl:
            return default
        value = tbl[name]
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(key, "must be a whole number", allowed, value)
            return default
        if not lo <= value <= hi:
            self.add(key, "out of range", allowed, value)
            return default
        return value

    def boolean(self, tbl: dict, prefix: str, name: str, default: bool) -> bool:
        """``true`` or ``false``."""
        if name not in tbl:
            return default
        value = tbl[name]
        if not isinstance(value, bool):
            self.add(join_key(prefix, name), "must be true or false", "true, false", value)
            return default
        return value

    def choice(self, tbl: dict, prefix: str, name: str, default: str, choices: tuple[str, ...],
               what: str) -> str:
        """One of ``choices`` (text)."""
        if name not in tbl:
            return default
        value = tbl[name]
        allowed = ", ".join(f'"{c}"' for c in choices)
        if not isinstance(value, str):
            self.add(join_key(prefix, name), f"must be text naming a {what}", allowed, value)
            return default
        if value not in choices:
            close = difflib.get_close_matches(value, choices, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            self.add(join_key(prefix, name), f"unknown {what}{hint}", allowed, value)
            return default
        return value

    def text(self, tbl: dict, prefix: str, name: str, default: str | None, max_len: int) -> str | None:
        """Printable one-line text of 1 to ``max_len`` characters (spaces around it are dropped)."""
        if name not in tbl:
            return default
        value = tbl[name]
        allowed = f"text of 1 to {max_len} printable characters on one line"
        if not isinstance(value, str):
            self.add(join_key(prefix, name), "must be text", allowed, value)
            return default
        value = value.strip()
        if not value or len(value) > max_len or not value.isprintable():
            self.add(join_key(prefix, name), "not usable as a label", allowed, value)
            return default
        return value

    def vector(self, tbl: dict, prefix: str, name: str, n: int, limit_mm: float) -> tuple[float, ...] | None:
        """A list of ``n`` finite numbers, each within ``±limit_mm``."""
        axes = "[x, y]" if n == 2 else "[x, y, z]"
        allowed = f"{axes} in mm, each from {fmt(-limit_mm)} to {fmt(limit_mm)}"
        key = join_key(prefix, name)
        value = tbl.get(name)
        if not isinstance(value, list) or len(value) != n:
            self.add(key, f"must be a list of {n} numbers", allowed, value)
            return None
        if any(isinstance(v, bool) or not isinstance(v, int | float) for v in value):
            self.add(key, "must hold numbers only", allowed, value)
            return None
        if any(isinstance(v, float) and not math.isfinite(v) for v in value):
            self.add(key, "must hold finite numbers", allowed, value)
            return None
        if any(abs(v) > limit_mm for v in value):
            self.add(key, "out of range", allowed, value)
            return None
        return tuple(float(v) for v in value)


def syntax_line(exc: ValueError, text: str) -> tuple[int, str]:
    """Line number (1-based) and message of a TOML syntax error (Python 3.11 gives them only in text)."""
    import re

    msg = str(exc)
    m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
    if m:
        return int(m.group(1)), f"{msg[: m.start()].strip()} at column {m.group(2)}"
    if "(at end of document)" in msg:
        return max(1, text.count("\n") + (0 if text.endswith("\n") else 1)), \
            msg.replace("(at end of document)", "at the end of the file").strip()
    m = re.search(r"\d{4000,}", text)  # tomllib's bare ValueError: an integer too long to convert
    if m:
        return text.count("\n", 0, m.start()) + 1, "number with too many digits"
    return 1, msg.split("\n")[0]
