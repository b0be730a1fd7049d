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
        margin = 1.6 * self.text.GetTextProperty().GetFontSize()
        coord = vtkCoordinate()
        coord.SetCoordinateSystemToWorld()
        xs, ys = [], []
        for p in (gap.ice_mm, gap.wall_mm):
            coord.SetValue(*(float(v) for v in p))
            x, y = coord.GetComputedDoubleDisplayValue(self.renderer)
            xs.append(x)
            ys.append(y)
        return (min(xs) - margin, min(ys) - margin, max(xs) + margin, max(ys) + margin)

    def follow(self, state, story, size: tuple[int, int]) -> None:
        """Draw the callout when ``state`` asks for it (and the story has a gap figure), else hide it."""
        figure = gap_figure(story)
        if not state.callout or state.card or figure is None or "rectum" not in story.anatomy.organs:
            self.hide()
            return
        words = story.text.get("callout", {}).get("gap", "{gap} mm")
        self.show(plain_text(words.format(gap=figure)), size)

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
        mid = 0.5 * (a + b)
        # the figure goes on the side of the line away from the picture's centre, clear of the bars
        side = across if float((mid - np.array([w / 2, h / 2])) @ across) >= 0 else -across
        px = prop.GetFontSize()
        # clear of the line and its bars: half the text's height when beside a flat line, a gap otherwise
        pos = mid + side * (bar + 4.0 + (0.75 * px if abs(side[1]) > 0.5 else 0.0))
        if abs(side[0]) > 0.5:
            prop.SetJustificationToLeft() if side[0] > 0 else prop.SetJustificationToRight()
        else:
            prop.SetJustificationToCentered()
        self.text.SetPosition(float(pos[0]), float(pos[1]))
        for actor in (self._halo, self._line, self.text):
            actor.SetVisibility(True)
        self.ends_px = (float(a[0]), float(a[1]), float(b[0]), float(b[1]))
