"""Organ names with leader lines, laid out so no two overlap (presentation layer).

Names sit in two columns at the sides of the picture, between the legend at the top and the caption at the
bottom; a thin leader line runs from each name to a dot on its organ. Each column is packed top to bottom in
the order of the organs' heights on screen, so leader lines do not cross within a column; when a column is
full its last names go to the other column, and names that fit nowhere are left out (the named organ of
the caption first keeps its place). A name is never shown for an organ that is hidden or off screen.

Text boxes are measured with VTK's own text renderer (:class:`vtkTextRenderer`), so the layout holds in any
language and font size.
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
    vtkTextRenderer,
)

from cryoviz.view.overlay import plain_text, text_property
from cryoviz.view.palette import TEXT, hex_rgb

__all__ = ["LABEL_FONT_PX", "OrganLabels", "organ_anchors", "pack_column"]

#: Font size of organ names at a 720-pixel-high frame, and the smallest size at any frame.
LABEL_FONT_PX = (19, 12)
_PAD = 3  # px of box padding around the text
_GAP = 4  # px between two boxes of a column


def _crosses(ax: float, ay: float, column_x: float, box) -> bool:
    """Whether a leader line from an anchor (ax, ay) run level to ``column_x`` passes through ``box``."""
    x0, y0, x1, y1 = box
    return y0 <= ay <= y1 and min(ax, column_x) <= x1 and max(ax, column_x) >= x0


def organ_anchors(anatomy, names) -> dict[str, np.ndarray]:
    """Where each organ's leader line points in the whole 3D scene (world mm)."""
    out = {}
    for name in names:
        c = np.array(anatomy.mesh(name).center, float)
        if name == "urethra":  # the membranous part below the apex is where the tube shows alone
            c = np.asarray(anatomy.urethra_centreline_mm(20)[-3], float)
        elif name == "neurovascular_bundles":  # the mesh centre falls between the two bundles
            pts = anatomy.mesh(name).points
            c = pts[np.argmin(pts[:, 0])]  # the patient's right bundle faces the story camera
        out[name] = c
    return out


def pack_column(wanted: list[float], heights: list[float], lo: float, hi: float,
                gap: float = _GAP) -> list[float] | None:
    """Vertical centres for boxes wanted at ``wanted`` (top to bottom order), inside ``[lo, hi]`` with
    ``gap`` between them, moved as little as a greedy two-pass packing can; None when they do not fit.

    Display coordinates: y grows upward, so "top to bottom" means decreasing ``wanted``.
    """
    total = sum(heights) + gap * max(len(heights) - 1, 0)
    if total > hi - lo:
        return None
    tops = []
    limit = hi
    for y, h in zip(wanted, heights, strict=True):  # downward pass: below the previous box, under hi
        top = min(y + h / 2, limit)
        tops.append(top)
        limit = top - h - gap
    floor = lo
    for i in range(len(tops) - 1, -1, -1):  # upward pass: above the next box, over lo
        bottom = tops[i] - heights[i]
        if bottom < floor:
            tops[i] = floor + heights[i]
        floor = tops[i] + gap
    return [t - h / 2 for t, h in zip(tops, heights, strict=True)]


class OrganLabels:
    """The organ names of one window.

    Parameters
    ----------
    renderer : vtkRenderer
    names : sequence of str
        Organs that can be named, in priority order (first kept when space runs out).
    """

    def __init__(self, renderer, names):
        self.renderer = renderer
        self.names = list(names)
        self._actors: dict[str, vtkTextActor] = {}
        for n in self.names:
            a = vtkTextActor()
            a.SetTextProperty(text_property(LABEL_FONT_PX[0], background=0.62, vjust="centered"))
            a.GetPositionCoordinate().SetCoordinateSystemToDisplay()
            a.SetVisibility(False)
            self._actors[n] = a
        self._lines = vtkPolyData()
        self._lines.SetPoints(vtkPoints())
        self._lines.SetLines(vtkCellArray())
        self._lines.SetVerts(vtkCellArray())
        mapper = vtkPolyDataMapper2D()
        mapper.SetInputData(self._lines)
        coord = vtkCoordinate()
        coord.SetCoordinateSystemToDisplay()
        mapper.SetTransformCoordinate(coord)
        self._leader = vtkActor2D()
        self._leader.SetMapper(mapper)
        self._leader.GetProperty().SetColor(*hex_rgb(TEXT))
        self._leader.GetProperty().SetOpacity(0.85)
        self._leader.GetProperty().SetLineWidth(1.5)
        self._leader.GetProperty().SetPointSize(5)
        renderer.AddViewProp(self._leader)
        for a in self._actors.values():
            renderer.AddViewProp(a)
        self._texts: dict[str, str] = {}
        self._font_px = 0
        self._measure = vtkTextRenderer()
        #: name -> (x0, y0, x1, y1) display box of every name shown by the last :meth:`layout`
        self.boxes: dict[str, tuple[float, float, float, float]] = {}

    def set_texts(self, texts: dict[str, str]) -> None:
        """Organ name -> text in the story's language."""
        for n in self.names:
            t = plain_text(texts.get(n, n))
            if self._texts.get(n) != t:
                self._actors[n].SetInput(t)
                self._texts[n] = t

    def font_px(self, size: tuple[int, int]) -> int:
        """Font size for a frame of ``size`` (scales with the frame, never under the minimum)."""
        unit = min(size[1] / 720.0, size[0] / 1280.0)
        return max(round(LABEL_FONT_PX[0] * unit), LABEL_FONT_PX[1])

    def _box_size(self, name: str) -> tuple[float, float]:
        bbox = [0, 0, 0, 0]
        self._measure.GetBoundingBox(self._actors[name].GetTextProperty(), self._texts.get(name, name),
                                     bbox, 72)
        return bbox[1] - bbox[0] + 1 + 2 * _PAD, bbox[3] - bbox[2] + 1 + 2 * _PAD

    def hide(self) -> None:
        """Show no names."""
        for a in self._actors.values():
            a.SetVisibility(False)
        self._leader.SetVisibility(False)
        self.boxes = {}

    def layout(self, anchors: dict[str, np.ndarray], size: tuple[int, int], band: tuple[float, float],
               columns: tuple[float, float], focus: str | None = None, avoid=None) -> None:
        """Place the names of the organs in ``anchors`` (world points on the organs) in the window.

        Parameters
        ----------
        anchors : dict
            Organ -> world point its leader line points at (only shown organs).
        size : tuple of int
            Window (width, height) px.
        band : tuple of float
            Lowest and highest display y the boxes may use (between caption and legend).
        columns : tuple of float
            Left edge of the left column and right edge of the right column, display x.
        focus : str, optional
            The organ the caption names: drawn bold, and kept first when space runs out.
        avoid : tuple of float, optional
            Display box (x0, y0, x1, y1) leader lines should not cross (the gap callout): a name whose
            line would cross it goes to the other column when it fits there.
        """
        w, h = size
        px = self.font_px(size)
        if px != self._font_px:
            for a in self._actors.values():
                a.GetTextProperty().SetFontSize(px)
            self._font_px = px
        coord = vtkCoordinate()
        coord.SetCoordinateSystemToWorld()
        items = []
        for name in self.names:
            if name not in anchors:
                continue
            coord.SetValue(*(float(v) for v in anchors[name]))
            x, y = coord.GetComputedDoubleDisplayValue(self.renderer)
            if not (0 <= x <= w and 0 <= y <= h):
                continue
            bw, bh = self._box_size(name)
            items.append((name, x, y, bw, bh))
        items = [(n, x, min(max(y, band[0]), band[1]), bw, bh, y) for n, x, y, bw, bh in items]
        order = sorted(items, key=lambda it: (it[0] != focus, self.names.index(it[0])))
        mid = float(np.median([it[1] for it in items])) if items else w / 2
        sides: dict[str, list] = {"left": [], "right": []}
        for it in order:  # priority order: a name that fits nowhere is the least important one
            first = "left" if it[1] < mid else "right"
            edge = columns[0] if first == "left" else columns[1]
            if avoid is not None and _crosses(it[1], it[5], edge, avoid):
                first = "right" if first == "left" else "left"
            for side in (first, "right" if first == "left" else "left"):
                trial = sorted(sides[side] + [it], key=lambda v: (-v[2], -v[5]))
                if pack_column([v[2] for v in trial], [v[4] for v in trial], *band) is not None:
                    sides[side] = trial
                    break
        self.boxes = {}
        pts, lines, verts = vtkPoints(), vtkCellArray(), vtkCellArray()
        for side, its in sides.items():
            ys = pack_column([v[2] for v in its], [v[4] for v in its], *band) or []
            for (name, ax, _y, bw, bh, ay), cy in zip(its, ys, strict=True):
                x0 = columns[0] if side == "left" else columns[1] - bw
                self.boxes[name] = (x0, cy - bh / 2, x0 + bw, cy + bh / 2)
                a = self._actors[name]
                a.SetPosition(x0 + _PAD, cy)
                a.GetTextProperty().SetBold(name == focus)
                a.GetTextProperty().SetBackgroundOpacity(0.85 if name == focus else 0.62)
                a.SetVisibility(True)
                ex = x0 + bw if side == "left" else x0
                i = pts.InsertNextPoint(ex, cy, 0.0)
                j = pts.InsertNextPoint(ax, ay, 0.0)
                lines.InsertNextCell(2)
                lines.InsertCellPoint(i)
                lines.InsertCellPoint(j)
                verts.InsertNextCell(1)
                verts.InsertCellPoint(j)
        for name, a in self._actors.items():
            if name not in self.boxes:
                a.SetVisibility(False)
        self._lines.SetPoints(pts)
        self._lines.SetLines(lines)
        self._lines.SetVerts(verts)
        self._lines.Modified()
        self._leader.SetVisibility(bool(self.boxes))
