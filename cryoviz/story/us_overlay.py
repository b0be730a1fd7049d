"""What is written and marked on the ultrasound picture: the depth scale (cm), the template dots (transverse
view) and the patient's labels (prostate, rectum, ice edge) in his language. Text is real text (Pillow,
:mod:`cryoviz.story.us_font`).
"""

from __future__ import annotations

import numpy as np

from cryoviz.story import us_font

__all__ = ["LABEL_KEYS", "draw_labels", "label_anchors", "static_overlay"]

#: Keys of the ``[ultrasound]`` table of the language files that label the picture.
LABEL_KEYS = ("prostate", "rectum", "ice_edge")
_TEMPLATE_DOT = 200


def scale_px(view) -> int:
    """Line width unit of the overlays: 1 px per 300 px of image height."""
    return max(1, round(view.size_px[1] / 300))


def font_px(view) -> int:
    """Font size of the overlays, pixels (about 1/24 of the image height, at least 10)."""
    return max(10, round(view.size_px[1] / 24))


def static_overlay(view) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (flat indices) and grey values of the overlays that never change for ``view``.

    A depth scale on the right: a tick each 5 mm, a longer one with the number each cm, "cm" on top; in the
    transverse view the template holes (dots) projected on the plane.
    """
    from cryoviz.model import template

    w, h = view.size_px
    canvas = np.zeros((h, w), dtype=np.uint8)
    scale = scale_px(view)
    size = max(9, round(font_px(view) * 0.8))
    col = w - view._margin_r + 4 * scale
    for d5 in range(0, int(view.depth_mm // 5) + 1):
        row = round(view._apex_row - (view.r0_mm + 5 * d5) / view.mm_per_px)
        if not 0 <= row < h:
            continue
        length = (6 if d5 % 2 == 0 else 3) * scale
        canvas[max(row - scale // 2, 0):row + (scale + 1) // 2, col:col + length] = 255
        if d5 % 2 == 0 and d5 > 0:
            us_font.draw_text(canvas, str(d5 // 2), row, col + length + 2 * scale, 255, size, anchor="lm")
    top = round(view._apex_row - view.r_max_mm / view.mm_per_px)
    us_font.draw_text(canvas, "cm", max(top - size // 2 - 2 * scale, 1), col, 255, size, anchor="lb")
    if view.plane == "transverse":
        holes = np.array([template.hole_to_xy_mm(hn) for hn in template.all_holes()])
        pts = np.column_stack([holes, np.full(len(holes), view.position_mm)])
        rr, cc = view.project_mm(pts)
        dot = max(1, scale)
        for r_, c_ in zip(np.rint(rr).astype(int), np.rint(cc).astype(int), strict=True):
            if 0 <= r_ < h and 0 <= c_ < w and view.sector_mask[r_, c_]:
                canvas[r_:r_ + dot + 1, c_:c_ + dot + 1] = _TEMPLATE_DOT
    idx = np.flatnonzero(canvas)
    return idx, canvas.ravel()[idx]


def label_anchors(view, labels: np.ndarray) -> dict[str, tuple[int, int] | None]:
    """Where the organ labels go: the middle of the prostate and of the rectum as this plane shows them.

    The prostate label sits at the centre of the gland's pixels; the rectum label at the centre of the
    rectal wall and lumen pixels (just above the transducer). None when the plane does not show it.
    """
    from cryoviz.story.us_echo import _nearest_index

    rows, cols = np.divmod(view._pix, view.size_px[0])
    pts = view.pixel_to_mm(rows, cols)
    lab = labels.reshape(-1)[_nearest_index(view._shape, view._origin, view._spacing, pts)]
    out: dict[str, tuple[int, int] | None] = {}
    for key, codes in (("prostate", (1,)), ("rectum", (6, 7))):
        on = np.isin(lab, codes)
        out[key] = (int(np.median(rows[on])), int(np.median(cols[on]))) if on.sum() >= 20 else None
    return out


def _clamp(view, row: int, col: int, box_h: int, box_w: int) -> tuple[int, int]:
    w, h = view.size_px
    row = min(max(row, box_h // 2 + 1), h - box_h // 2 - 2)
    return row, min(max(col, box_w // 2 + 1), w - box_w // 2 - 2)


def draw_labels(img: np.ndarray, view, words: dict[str, str], front_px: tuple[int, int] | None) -> None:
    """Write the patient's labels into ``img`` (h, w) in place: white letters with a dark halo.

    Parameters
    ----------
    words : dict
        ``prostate``, ``rectum``, ``ice_edge`` in the patient's language (missing keys are not drawn).
    front_px : (row, col) or None
        A point of the ice front (its 0 °C edge) on the picture, None when there is no ice.
    """
    size = font_px(view)
    stroke = max(1, size // 8)
    boxes: list[tuple[int, int, int, int]] = []

    def put(text: str, row: int, col: int) -> None:
        ink, _ = us_font.text_mask(text, size, stroke)
        row, col = _clamp(view, row, col, ink.shape[0], ink.shape[1])
        for t, left, b, r in boxes:  # one label never covers another: move below the earlier one
            if row - ink.shape[0] // 2 < b and row + ink.shape[0] // 2 > t and col - ink.shape[1] // 2 < r \
                    and col + ink.shape[1] // 2 > left:
                row = b + ink.shape[0] // 2 + 2
        boxes.append(us_font.draw_text(img, text, row, col, 255, size, stroke, anchor="mm"))

    if front_px is not None and words.get("ice_edge"):
        # on the shadow side of the front (above it): light text on the dark shadow, a tick to the line
        r, c = front_px
        tick = max(3, size // 2)
        img[max(r - tick, 0):r, max(c, 0):c + max(1, size // 10)] = 255
        put(words["ice_edge"], r - tick - size // 2 - 1, c)
    for key in ("prostate", "rectum"):
        anchor = getattr(view, "_anchors", {}).get(key)
        if anchor is not None and words.get(key):
            put(words[key], *anchor)
