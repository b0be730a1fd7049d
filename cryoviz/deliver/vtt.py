"""WebVTT subtitles: write the story's cues beside the video, and read them back.

Only the subset of WebVTT the video needs: a ``WEBVTT`` header, numbered cues with
``HH:MM:SS.mmm --> HH:MM:SS.mmm`` timings and plain text (``&``, ``<`` and ``>`` escaped). The reader accepts
what the writer writes plus the usual variations (``MM:SS.mmm`` timings, cue settings, NOTE blocks), so a
test can check a file without a third-party parser.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Cue", "format_timestamp", "parse_timestamp", "parse_vtt", "vtt_text", "write_vtt"]


@dataclass(frozen=True)
class Cue:
    """One subtitle.

    Parameters
    ----------
    start_s, end_s : float
        When the text appears and disappears, in seconds from the start of the video.
    text : str
        Plain text; may span lines.
    """

    start_s: float
    end_s: float
    text: str


def format_timestamp(t_s: float) -> str:
    """Format seconds as a WebVTT timestamp ``HH:MM:SS.mmm`` (rounded to the millisecond)."""
    ms = round(max(0.0, float(t_s)) * 1000.0)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


_TS = re.compile(r"^(?:(\d+):)?([0-5]\d):([0-5]\d)\.(\d{3})$")


def parse_timestamp(text: str) -> float:
    """Parse ``HH:MM:SS.mmm`` or ``MM:SS.mmm`` into seconds; raise ``ValueError`` if malformed."""
    m = _TS.match(text.strip())
    if m is None:
        raise ValueError(f"not a WebVTT timestamp: {text!r}")
    h, mi, s, ms = (int(g) if g else 0 for g in m.groups())
    return (((h * 60 + mi) * 60 + s) * 1000 + ms) / 1000.0


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&nbsp;", "\u00a0").replace("&amp;", "&")


def vtt_text(cues: Iterable[Cue | tuple[float, float, str]]) -> str:
    """Return the WebVTT document for ``cues`` (sorted by start; empty and zero-length cues dropped).

    A cue's text must not contain a blank line (that would end the cue), so runs of blank lines inside a
    text collapse to one line break.
    """
    items = [c if isinstance(c, Cue) else Cue(*c) for c in cues]
    items = sorted((c for c in items if c.text.strip() and c.end_s > c.start_s), key=lambda c: c.start_s)
    out = ["WEBVTT", ""]
    for n, c in enumerate(items, 1):
        body = c.text.replace("\r\n", "\n").replace("\r", "\n")  # WebVTT breaks lines on CR/LF only
        lines = [ln.strip() for ln in body.split("\n") if ln.strip()]
        out += [str(n), f"{format_timestamp(c.start_s)} --> {format_timestamp(c.end_s)}",
                *(_escape(ln) for ln in lines), ""]
    return "\n".join(out)


def parse_vtt(text: str) -> list[Cue]:
    """Parse a WebVTT document into cues; raise ``ValueError`` when it is not valid WebVTT."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    blocks = re.split(r"\n{2,}", text.strip("\n"))
    if not blocks or not re.match(r"^WEBVTT([ \t].*)?$", blocks[0].split("\n", 1)[0]):
        raise ValueError("missing WEBVTT header")
    cues = []
    for block in blocks[1:]:
        lines = block.split("\n")
        if lines[0].startswith(("NOTE", "STYLE", "REGION")):
            continue
        if "-->" not in lines[0]:
            lines = lines[1:]  # cue identifier
        if not lines or "-->" not in lines[0]:
            raise ValueError(f"cue without timing: {block[:40]!r}")
        start, _, rest = lines[0].partition("-->")
        end = rest.split()[0] if rest.split() else ""
        start_s, end_s = parse_timestamp(start), parse_timestamp(end)
        if end_s <= start_s:
            raise ValueError(f"cue ends before it starts: {lines[0]!r}")
        cues.append(Cue(start_s, end_s, _unescape("\n".join(lines[1:]))))
    return cues


def write_vtt(path: Path, cues: Iterable[Cue | tuple[float, float, str]]) -> None:
    """Write ``cues`` as a WebVTT file, atomically (UTF-8)."""
    from cryoviz.core.files import atomic_write_text

    atomic_write_text(Path(path), vtt_text(cues))
