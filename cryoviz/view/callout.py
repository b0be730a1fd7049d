"""The gap callout: a measured line from the lethal ice front to the rectal wall, with its length.

Drawn in the 2D overlay (so nothing hides it) between the screen positions of the two ends of
:attr:`cryoviz.story.timeline.Story.gap`, with a bar across each end like a dimension line on a drawing, and
the figure the caption quotes (:func:`gap_figure`, rounded down as the caption rounds it) beside its
middle.
"""

from __future__ import annotations

import numpy as np
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkRenderingCore import (
    vtkActor2D,
    vtkCoordinate,
    vtkPolyDataMapper2D,
    vtkTextActor,
)

from cryoviz.view.overlay import plain_text, text_property
from cryoviz.view.palette import CALLOUT, hex_rgb

__all__ = ["CALLOUT_FONT_PX", "GapCallout", "gap_figure"]

#: Font size of the callout's figure at a 720-pixel-high frame, and its smallest size.
CALLOUT_FONT_PX = (24, 14)


def gap_figure(story) -> str | None:
    """The gap as the story's caption writes it ("8", "0.6"; rounded down so "stayed X mm away" is true),
    from the rectal wall's finding, or None when the story has no gap figure."""
    from cryoviz.story.captions import finding_values

    for f in getattr(story, "findings", ()):
        if f.structure == "rectal_wall":
            kind = next(iter(story.text["targets"]))  # only the target's own words depend on it
            return finding_values(f, story.text, story.lang, kind).get("gap_mm")
    return None


def _text_anchor(a: np.ndarray, b: np.ndarray, bar: float, px: float,
                 size: tuple[int, int]) -> tuple[np.ndarray, str, str]:
    """Where the figure goes for a line from the ice end ``a`` to the wall end ``b`` (display pixels):
    (position, horizontal and vertical justification).

    The figure starts at the wall end and runs away from the ice, so it never covers the lethal ice it
    measures (a figure centred on the line did: 8 % of the ice's cut face in the default "spared" still).
    Beside a mostly horizontal line it sits above or below it (the side away from the picture's centre);
    beside a mostly vertical line, left or right of it.
    """
    d = b - a
    n = float(np.linalg.norm(d))
    along = d / n if n > 1e-6 else np.array([1.0, 0.0])
    centre = 0.5 * np.asarray(size, dtype=float)
    mid = 0.5 * (a + b)
    clear = bar + 4.0
    if abs(along[0]) >= abs(along[1]):  # horizontal: above or below, from the wall end outward
        up = 1.0 if mid[1] >= centre[1] else -1.0
        pos = np.array([b[0] - np.sign(along[0]) * clear, mid[1] + up * (clear + 0.1 * px)])
        return pos, ("Left" if along[0] > 0 else "Right"), ("Bottom" if up > 0 else "Top")
    right = 1.0 if mid[0] >= centre[0] else -1.0
    pos = np.array([mid[0] + right * clear, b[1] - np.sign(along[1]) * clear])
    return pos, ("Left" if right > 0 else "Right"), ("Bottom" if along[1] > 0 else "Top")


class GapCallout:
    """The callout of one window.

    Parameters
    ----------
    renderer : vtkRenderer
    gap : cryoviz.story.focus.Gap or None
        The line's two ends; None draws nothing ever.
    """

    def __init__(self, renderer, gap):
        self.renderer = renderer
        self.gap = gap
        self._poly = vtkPolyData()
        mapper = vtkPolyDataMapper2D()
        mapper.SetInputData(self._poly)
        coord = vtkCoordinate()
        coord.SetCoordinateSystemToDisplay()
        mapper.SetTransformCoordinate(coord)
        self._halo = vtkActor2D()  # a dark line under the bright one: readable on ice and on tissue
        self._halo.SetMapper(mapper)
        self._halo.GetProperty().SetColor(0.02, 0.03, 0.05)
        self._line = vtkActor2D()
        self._line.SetMapper(mapper)
        self._line.GetProperty().SetColor(*hex_rgb(CALLOUT))
        self.text = vtkTextActor()
        self.text.SetTextProperty(text_property(CALLOUT_FONT_PX[0], bold=True, vjust="centered",
                                                background=0.8, colour=CALLOUT))
        self.text.GetPositionCoordinate().SetCoordinateSystemToDisplay()
        for a in (self._halo, self._line, self.text):
            a.SetVisibility(False)
            renderer.AddViewProp(a)
        #: display (x0, y0, x1, y1) of the two ends when shown, else None
        self.ends_px: tuple[float, float, float, float] | None = None

    def box_px(self, gap) -> tuple[float, float, float, float] | None:
        """Display box around the line of ``gap`` and its figure for the current camera (None for no
        gap)."""
        if gap is None:
            return None
        px = self.text.GetTextProperty().GetFontSize()
        margin = 1.6 * px
        coord = vtkCoordinate()
        coord.SetCoordinateSystemToWorld()
        ends = []
        for p in (gap.ice_mm, gap.wall_mm):
            coord.SetValue(*(float(v) for v in p))
            ends.append(np.array(coord.GetComputedDoubleDisplayValue(self.renderer)))
        a, b = ends
        size = self.renderer.GetRenderWindow().GetSize() if self.renderer.GetRenderWindow() else (0, 0)
        pos, justify, vjust = _text_anchor(a, b, 0.0, px, tuple(size))
        # the figure's box, from its length in characters (DejaVu Sans Bold: about 0.65 em a character)
        tw, th = 0.65 * px * max(len(self.text.GetInput() or ""), 14), 1.3 * px
        x0 = {"Left": pos[0], "Right": pos[0] - tw, "Centered": pos[0] - tw / 2}[justify]
        y0 = {"Bottom": pos[1], "Top": pos[1] - th, "Centered": pos[1] - th / 2}[vjust]
        xs = [a[0], b[0], x0, x0 + tw]
        ys = [a[1], b[1], y0, y0 + th]
        return (min(xs) - margin, min(ys) - margin, max(xs) + margin, max(ys) + margin)

    def follow(self, state, story, size: tuple[int, int]) -> None:
        """Draw the callout when ``state`` asks for it (and the story has a gap figure), else hide it."""
        figure = gap_figure(story)
        if not state.callout or state.card or figure is None or "rectum" not in story.anatomy.organs:
            self.hide()
            return
        words = story.text.get("callout", {}).get("gap", "{gap} mm")
        self.show(plain_text(words.format(gap=figure)), size)

    def _inside_frame(self, pos: np.ndarray, justify: str, w: int) -> tuple[np.ndarray, str]:
        """Keep the figure on the frame and off a picture-in-picture drawn over the left of it."""
        lo, hi = 4.0, w - 4.0
        win = self.renderer.GetRenderWindow()
        rens = win.GetRenderers() if win is not None else None
        if rens is not None:
            rens.InitTraversal()
            for _ in range(rens.GetNumberOfItems()):
                r = rens.GetNextItem()
                vp = r.GetViewport()
                if r is not self.renderer and r.GetDraw() and r.GetLayer() > 0 and vp[0] < 0.5:
                    lo = max(lo, vp[2] * w + 4.0)
        bbox = [0.0] * 4
        self.text.SetPosition(float(pos[0]), float(pos[1]))
        self.text.GetBoundingBox(self.renderer, bbox)
        width = bbox[1] - bbox[0]
        left = {"Left": pos[0], "Right": pos[0] - width, "Centered": pos[0] - width / 2}[justify]
        left = min(max(left, lo), hi - width)
        return np.array([left, pos[1]]), "Left"

    def hide(self) -> None:
        """Draw no callout."""
        for a in (self._halo, self._line, self.text):
            a.SetVisibility(False)
        self.ends_px = None

    def show(self, figure: str, size: tuple[int, int]) -> None:
        """Draw the line and ``figure`` (e.g. ``"8 mm"``) for the current camera in a window of ``size``."""
        if self.gap is None:
            self.hide()
            return
        w, h = size
        unit = min(h / 720.0, w / 1280.0)
        coord = vtkCoordinate()
        coord.SetCoordinateSystemToWorld()
        ends = []
        for p in (self.gap.ice_mm, self.gap.wall_mm):
            coord.SetValue(*(float(v) for v in p))
            ends.append(np.array(coord.GetComputedDoubleDisplayValue(self.renderer)))
        a, b = ends
        d = b - a
        n = float(np.linalg.norm(d))
        along = d / n if n > 1e-6 else np.array([1.0, 0.0])
        across = np.array([-along[1], along[0]])
        bar = max(6.0 * unit, 4.0)
        pts = vtkPoints()
        for p in (a, b, a - bar * across, a + bar * across, b - bar * across, b + bar * across):
            pts.InsertNextPoint(float(p[0]), float(p[1]), 0.0)
        lines = vtkCellArray()
        for i, j in ((0, 1), (2, 3), (4, 5)):
            lines.InsertNextCell(2)
            lines.InsertCellPoint(i)
            lines.InsertCellPoint(j)
        self._poly.SetPoints(pts)
        self._poly.SetLines(lines)
        self._poly.Modified()
        width = max(2.5 * unit, 1.5)
        self._line.GetProperty().SetLineWidth(width)
        self._halo.GetProperty().SetLineWidth(width + 2.5)
        prop = self.text.GetTextProperty()
        prop.SetFontSize(max(round(CALLOUT_FONT_PX[0] * unit), CALLOUT_FONT_PX[1]))
        self.text.SetInput(figure)
        pos, justify, vjust = _text_anchor(a, b, bar, prop.GetFontSize(), (w, h))
        pos, justify = self._inside_frame(pos, justify, w)
        getattr(prop, f"SetJustificationTo{justify}")()
        getattr(prop, f"SetVerticalJustificationTo{vjust}")()
        self.text.SetPosition(float(pos[0]), float(pos[1]))
        for actor in (self._halo, self._line, self.text):
            actor.SetVisibility(True)
        self.ends_px = (float(a[0]), float(a[1]), float(b[0]), float(b[1]))
