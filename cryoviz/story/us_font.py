"""A tiny built-in 3×5 bitmap font for the ultrasound depth scale (digits, ``c``, ``m``, ``.``).

No font files and no imaging library: each glyph is five rows of three characters, ``#`` for a lit pixel.
"""

from __future__ import annotations

import numpy as np

__all__ = ["GLYPH_H", "GLYPH_W", "draw_text", "glyph", "text_size_px"]

GLYPH_W = 3
GLYPH_H = 5

_GLYPHS = {
    "0": ("###", "#.#", "#.#", "#.#", "###"),
    "1": (".#.", "##.", ".#.", ".#.", "###"),
    "2": ("###", "..#", "###", "#..", "###"),
    "3": ("###", "..#", ".##", "..#", "###"),
    "4": ("#.#", "#.#", "###", "..#", "..#"),
    "5": ("###", "#..", "###", "..#", "###"),
    "6": ("###", "#..", "###", "#.#", "###"),
    "7": ("###", "..#", ".#.", ".#.", ".#."),
    "8": ("###", "#.#", "###", "#.#", "###"),
    "9": ("###", "#.#", "###", "..#", "###"),
    "c": ("...", "...", "###", "#..", "###"),
    "m": ("...", "...", "###", "###", "#.#"),
    ".": ("...", "...", "...", "...", ".#."),
    " ": ("...", "...", "...", "...", "..."),
}
_BITMAPS = {ch: np.array([[c == "#" for c in row] for row in rows], dtype=bool)
            for ch, rows in _GLYPHS.items()}


def glyph(ch: str) -> np.ndarray:
    """Return the (5, 3) boolean bitmap of one character.

    Raises
    ------
    KeyError
        If the font has no such character.
    """
    return _BITMAPS[ch]


def text_size_px(text: str, scale: int = 1) -> tuple[int, int]:
    """(height, width) in pixels of ``text`` drawn at ``scale`` (one blank column between glyphs)."""
    n = len(text)
    return GLYPH_H * scale, max(0, (GLYPH_W + 1) * n - 1) * scale


def draw_text(image: np.ndarray, text: str, row_px: int, col_px: int, value: int = 255,
              scale: int = 1) -> None:
    """Draw ``text`` in place into a 2-D ``image`` with its top-left corner at (row_px, col_px).

    Pixels falling outside the image are clipped silently.
    """
    h, w = image.shape[:2]
    for n, ch in enumerate(text):
        bm = np.repeat(np.repeat(_BITMAPS[ch], scale, axis=0), scale, axis=1)
        r0 = row_px
        c0 = col_px + n * (GLYPH_W + 1) * scale
        rr, cc = np.nonzero(bm)
        rr = rr + r0
        cc = cc + c0
        ok = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
        image[rr[ok], cc[ok]] = value
