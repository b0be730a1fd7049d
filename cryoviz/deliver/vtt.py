"""WebVTT subtitles: write the story's cues beside the video, and read them back (with ``webvtt-py``).

The writer numbers the cues, formats ``HH:MM:SS.mmm --> HH:MM:SS.mmm`` timings and escapes ``&``, ``<`` and
``>`` in the text (WebVTT reads them as markup otherwise; webvtt-py writes text as given). The reader is
webvtt-py's parser, made strict where the video's tests need it: a block without a timing line, or a cue
that ends before it starts, is an error rather than silently skipped.

Every subtitle file cryoviz writes opens with a shown cue saying it is for education, not treatment planning
(a WebVTT ``NOTE`` is never shown, and the file travels without the video's on-screen line).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import webvtt
from webvtt.errors import MalformedCaptionError, MalformedFileError

__all__ = ["DISCLAIMER_MIN_S", "Cue", "format_timestamp", "parse_timestamp", "parse_vtt", "vtt_text",
           "write_vtt"]

#: The disclaimer cue shows from 0 until the first subtitle, and at least this long (s): long enough to read
#: its eight words (about 150 words a minute); shorter only if the whole video is.
DISCLAIMER_MIN_S = 3.0


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


# The WebVTT timestamp grammar: optional hours, two-digit minutes and seconds below 60, three-digit millis.
_TS = re.compile(r"^(?:(\d+):)?([0-5]\d):([0-5]\d)\.(\d{3})$")


def parse_timestamp(text: str) -> float:
    """Parse ``HH:MM:SS.mmm`` or ``MM:SS.mmm`` into seconds.

    Raises
    ------
    ValueError
        When ``text`` is not a WebVTT timestamp (webvtt-py's own pattern is looser: it takes ``00:01.5``).
    """
    m = _TS.match(text.strip())
    if m is None:
        raise ValueError(f"not a WebVTT timestamp: {text!r}")
    h, mi, s, ms = (int(g) if g else 0 for g in m.groups())
    return (((h * 60 + mi) * 60 + s) * 1000 + ms) / 1000.0


def vtt_text(cues: Iterable[Cue | tuple[float, float, str]], disclaimer: str | None = None,
             duration_s: float | None = None) -> str:
    """Return the WebVTT document for ``cues`` (sorted by start; empty and zero-length cues dropped).

    A cue's text must not contain a blank line (that would end the cue), so runs of blank lines inside a
    text collapse to one line break.

    Parameters
    ----------
    disclaimer : str, optional
        The story's disclaimer (``[common] disclaimer`` of its language): cue 1, from 0 s until the first
        subtitle starts, and at least :data:`DISCLAIMER_MIN_S` (it may then overlap the first subtitle).
    duration_s : float, optional
        Length of the video, s: the disclaimer cue never runs past it.
    """
    items = [c if isinstance(c, Cue) else Cue(*c) for c in cues]
    items = sorted((c for c in items if c.text.strip() and c.end_s > c.start_s), key=lambda c: c.start_s)
    if disclaimer and disclaimer.strip():
        end = max(items[0].start_s if items else 0.0, DISCLAIMER_MIN_S)
        if duration_s is not None and duration_s > 0:
            end = min(end, float(duration_s))
        items.insert(0, Cue(0.0, end, disclaimer))
    doc = webvtt.WebVTT()
    for n, c in enumerate(items, 1):
        body = c.text.replace("\r\n", "\n").replace("\r", "\n")  # WebVTT breaks lines on CR/LF only
        lines = [html.escape(ln.strip(), quote=False) for ln in body.split("\n") if ln.strip()]
        doc.captions.append(webvtt.Caption(format_timestamp(c.start_s), format_timestamp(c.end_s), lines,
                                           identifier=str(n)))
    return doc.content


_NOT_CUES = ("NOTE", "STYLE", "REGION")


def parse_vtt(text: str) -> list[Cue]:
    """Parse a WebVTT document into cues.

    Raises
    ------
    ValueError
        When it is not valid WebVTT: no ``WEBVTT`` header, a cue block without a timing line, a malformed
        timestamp, or a cue that ends before it starts.
    """
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    try:
        doc = webvtt.from_string(text)
    except (MalformedFileError, MalformedCaptionError) as exc:
        raise ValueError(f"not valid WebVTT: {exc}") from None
    blocks = [b for b in re.split(r"\n{2,}", text.strip("\n"))[1:] if not b.startswith(_NOT_CUES)]
    if len(blocks) != len(doc.captions):
        raise ValueError(f"{len(blocks) - len(doc.captions)} cue block(s) without a valid timing line")
    cues = []
    for cap in doc.captions:
        start_s, end_s = parse_timestamp(cap.start), parse_timestamp(cap.end)
        if end_s <= start_s:
            raise ValueError(f"cue ends before it starts: {cap.start} --> {cap.end}")
        cues.append(Cue(start_s, end_s, html.unescape(cap.raw_text)))
    return cues


def write_vtt(path: Path, cues: Iterable[Cue | tuple[float, float, str]]) -> None:
    """Write ``cues`` as a WebVTT file, atomically (UTF-8)."""
    from cryoviz.core.files import atomic_write_text

    atomic_write_text(Path(path), vtt_text(cues))
