"""Real text in the ultrasound picture: Pillow's ImageFont with DejaVu Sans.

The font is DejaVu Sans from the system (Debian ``fonts-dejavu-core``), else the copy matplotlib ships
(matplotlib comes with PyVista), else Pillow's own scalable default font. Text is drawn into grayscale
arrays; anti-aliased edges are kept (the picture is grey anyway).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np

__all__ = ["draw_text", "font_path", "text_mask"]

_SYSTEM_FONTS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
)


@functools.cache
def font_path() -> str | None:
    """Path of the DejaVu Sans file used, or None when only Pillow's default font is available."""
    for p in _SYSTEM_FONTS:
        if p.is_file():
            return str(p)
    # the font file matplotlib ships, found without importing matplotlib (a plotting library has no place
    # in the compute layer; only its font file is read)
    spec = importlib.util.find_spec("matplotlib")
    for root in (spec.submodule_search_locations or []) if spec is not None else []:
        p = Path(root) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
        if p.is_file():
            return str(p)
    return None


@functools.cache
def _font(size_px: int):
    from PIL import ImageFont

    path = font_path()
    if path is not None:
        return ImageFont.truetype(path, size=size_px)
    return ImageFont.load_default(size=size_px)


@functools.cache
def _mask(text: str, size_px: int, stroke_px: int) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image, ImageDraw

    font = _font(int(size_px))
    x0, y0, x1, y1 = font.getbbox(text, stroke_width=stroke_px)
    w, h = max(x1 - x0, 1), max(y1 - y0, 1)
    ink = Image.new("L", (w, h), 0)
    ImageDraw.Draw(ink).text((-x0, -y0), text, font=font, fill=255)
    halo = Image.new("L", (w, h), 0)
    if stroke_px:
        ImageDraw.Draw(halo).text((-x0, -y0), text, font=font, fill=255, stroke_width=stroke_px,
                                  stroke_fill=255)
    a, b = np.asarray(ink, np.uint8), np.asarray(halo, np.uint8)
    a.setflags(write=False)
    b.setflags(write=False)
    return a, b


def text_mask(text: str, size_px: int, stroke_px: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Coverage (0-255) of ``text`` at a font size of ``size_px`` pixels, cropped to its ink.

    Returns
    -------
    ink, halo : ndarray (h, w) uint8
        The letters, and the letters grown by ``stroke_px`` (all zero when ``stroke_px`` is 0): drawn dark
        under the letters, the halo keeps light text readable on bright speckle.
    """
    return _mask(str(text), int(size_px), int(stroke_px))


def draw_text(image: np.ndarray, text: str, row_px: int, col_px: int, value: int = 255, size_px: int = 12,
              stroke_px: int = 0, anchor: str = "lt") -> tuple[int, int, int, int]:
    """Draw ``text`` in place into a 2-D uint8 (or int) ``image``; clipped at the image border.

    Parameters
    ----------
    row_px, col_px : int
        Where the anchor point goes.
    value : int
        Grey level of the letters.
    size_px : int
        Font size in pixels.
    stroke_px : int
        Width of a black halo around the letters (0: none).
    anchor : str
        ``"lt"`` (left top), ``"lm"`` (left middle), ``"mm"`` (centre), ``"rm"`` (right middle) or
        ``"mb"`` (middle bottom).

    Returns
    -------
    (top, left, bottom, right) : tuple of int
        The box written (before clipping), in pixels.
    """
    ink, halo = text_mask(text, size_px, stroke_px)
    h, w = ink.shape
    dy = {"t": 0, "m": h // 2, "b": h}[anchor[1]]
    dx = {"l": 0, "m": w // 2, "r": w}[anchor[0]]
    top, left = int(row_px) - dy, int(col_px) - dx
    H, W = image.shape[:2]
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + h, H), min(left + w, W)
    if r1 <= r0 or c1 <= c0:
        return top, left, top + h, left + w
    sub = image[r0:r1, c0:c1]
    a = ink[r0 - top:r1 - top, c0 - left:c1 - left].astype(np.float32) / 255.0
    if stroke_px:
        k = halo[r0 - top:r1 - top, c0 - left:c1 - left].astype(np.float32) / 255.0
        sub[...] = (sub * (1.0 - k)).astype(image.dtype)
    sub[...] = np.rint(sub * (1.0 - a) + value * a).astype(image.dtype)
    return top, left, top + h, left + w
