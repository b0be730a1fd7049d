"""2D overlays over the 3D view: caption, chapter title, clock, readouts, legend, title card, disclaimer.

Every piece is one VTK actor created once; :meth:`Overlay.update` only changes text, colours and visibility.
Text uses DejaVu Sans when it is installed (it has the minus sign, degree sign and Spanish accents) and VTK's
built-in Arial otherwise.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkRenderingCore import (
    vtkActor2D,
    vtkCoordinate,
    vtkPolyDataMapper2D,
    vtkTextActor,
    vtkTextProperty,
    vtkTextRenderer,
)

from cryoviz.view.palette import ISOTHERM_STYLE, TEXT

__all__ = ["FONT_FILE", "FONT_PX", "GIVE_WAY", "Overlay", "frame_unit"]

_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
)
FONT_FILE = next((p for p in _FONT_CANDIDATES if Path(p).is_file()), None)


def _hex_rgb(colour: str) -> tuple[float, float, float]:
    c = colour.lstrip("#")
    return tuple(int(c[i:i + 2], 16) / 255.0 for i in (0, 2, 4))  # type: ignore[return-value]


#: Font size (px) of each text piece in a 1280x720 frame, and its smallest size in any frame. Sizes scale
#: with the frame (the smaller of height/720 and width/1280, so a narrow phone view scales down too) and
#: never go under the minimum: at 640x360 the caption is 16 px and the disclaimer 12 px, readable on a phone
#: held at arm's length (about 2.5 mm cap height on a 6-inch screen).
FONT_PX = {"caption": (32, 16), "title": (24, 14), "clock": (24, 14), "readouts": (18, 12),
           "disclaimer": (17, 12), "card_text": (44, 20), "card_sub": (24, 14), "legend_text": (18, 12)}
_FONT_PX = FONT_PX
#: The text pieces (attribute, key of its last text) in the order they keep their place when two would
#: overlap in a small frame: a later piece gives way (it is hidden for that layout). The sensor readouts go
#: first: what they say is also in the app's "What was spared" panel and the story's captions; the legend
#: (what the colours mean) stays with the picture it explains.
GIVE_WAY = (("disclaimer", "disclaimer"), ("caption", "caption"), ("card_text", "card"),
            ("card_sub", "card_sub"), ("title", "title"), ("clock", "clock"), ("legend_text", "legend"),
            ("readouts", "readouts"))


def frame_unit(size: tuple[int, int]) -> float:
    """Scale of a frame of ``size`` against 1280x720 (the smaller of the two ratios)."""
    return max(min(size[1] / 720.0, size[0] / 1280.0), 0.1)


_UNIT = re.compile(r"(\d) (°C|%|mm|ml|cm|s\b|min\b)")


def wrap_keeping_units(text: str, chars: int) -> str:
    """``textwrap`` lines of at most ``chars`` characters that keep a number with its unit on one line."""
    if not text:
        return ""
    held = _UNIT.sub("\\1\u00a0\\2", text)  # textwrap breaks on ASCII white space only
    return "\n".join(textwrap.wrap(held, chars)).replace("\u00a0", " ")


def plain_text(text: str) -> str:
    """Replace characters VTK's built-in font lacks when no DejaVu font is available."""
    return text if FONT_FILE else text.replace("\u2212", "-").replace("\u2013", "-")


def text_property(font_px: int, *, bold: bool = False, justify: str = "left", vjust: str = "bottom",
                  background: float = 0.0, colour: str = TEXT) -> vtkTextProperty:
    """A text style in the overlay's font (DejaVu Sans when installed)."""
    prop = vtkTextProperty()
    if FONT_FILE:
        prop.SetFontFamily(4)  # VTK_FONT_FILE
        prop.SetFontFile(FONT_FILE)
    prop.SetFontSize(font_px)
    prop.SetBold(bold)
    prop.SetColor(*_hex_rgb(colour))
    getattr(prop, f"SetJustificationTo{justify.capitalize()}")()
    getattr(prop, f"SetVerticalJustificationTo{vjust.capitalize()}")()
    if background > 0:
        prop.SetBackgroundColor(0.03, 0.05, 0.08)
        prop.SetBackgroundOpacity(background)
    prop.SetLineSpacing(1.15)
    return prop


def _text_actor(font_px: int, **style) -> vtkTextActor:
    actor = vtkTextActor()
    actor.SetTextProperty(text_property(font_px, **style))
    actor.GetPositionCoordinate().SetCoordinateSystemToDisplay()
    return actor


def _rect_actor(colour: str, opacity: float) -> tuple[vtkActor2D, vtkPoints]:
    pts = vtkPoints()
    for xy in ((0, 0), (1, 0), (1, 1), (0, 1)):
        pts.InsertNextPoint(xy[0], xy[1], 0.0)
    cells = vtkCellArray()
    cells.InsertNextCell(4)
    for i in range(4):
        cells.InsertCellPoint(i)
    poly = vtkPolyData()
    poly.SetPoints(pts)
    poly.SetPolys(cells)
    coord = vtkCoordinate()
    coord.SetCoordinateSystemToNormalizedViewport()
    mapper = vtkPolyDataMapper2D()
    mapper.SetInputData(poly)
    mapper.SetTransformCoordinate(coord)
    actor = vtkActor2D()
    actor.SetMapper(mapper)
    actor.GetProperty().SetColor(*_hex_rgb(colour))
    actor.GetProperty().SetOpacity(opacity)
    return actor, pts


class Overlay:
    """The 2D layer of one window.

    Parameters
    ----------
    renderer : vtkRenderer
        The renderer to draw into (added once).
    size : tuple of int
        Window (width, height) in pixels; fonts scale with the height.
    """

    def __init__(self, renderer, size: tuple[int, int]):
        self.caption = _text_actor(30, justify="centered", vjust="bottom", background=0.72)
        self.title = _text_actor(24, bold=True, vjust="top")
        self.clock = _text_actor(24, bold=True, justify="right", vjust="top")
        self.readouts = _text_actor(17, justify="right", vjust="top", background=0.5)
        self.disclaimer = _text_actor(15, justify="right", vjust="bottom", background=0.6, colour="#ffd27f")
        self.card_text = _text_actor(44, bold=True, justify="centered", vjust="centered")
        self.card_sub = _text_actor(22, justify="centered", vjust="top")
        self.card_bg, _ = _rect_actor("#0b1016", 0.93)
        self.legend_text = _text_actor(17, vjust="top", background=0.5)
        self.legend_swatches = []
        for level, (colour, _op) in sorted(ISOTHERM_STYLE.items(), reverse=True):
            actor, pts = _rect_actor(colour, 1.0)
            self.legend_swatches.append((level, actor, pts))
        self._last: dict[str, object] = {}
        self._raw: tuple[str, str | None, str] | None = None  # caption, card, card_sub as last given
        self._last_levels: list[float] = []
        self.size = (0, 0)
        self.resize(size)
        # the card's background is added first: 2D props draw in order, so the texts stay on top of it
        for a in (self.card_bg, self.caption, self.title, self.clock, self.readouts, self.disclaimer,
                  self.legend_text, *(s[1] for s in self.legend_swatches), self.card_text, self.card_sub):
            renderer.AddViewProp(a)

    def resize(self, size: tuple[int, int]) -> None:
        """Lay the overlay out again for a window of ``size`` (the app's view follows the browser)."""
        size = (int(size[0]), int(size[1]))
        if size == self.size:
            return
        self.size = size
        self._unit = frame_unit(size)
        for name, (px, least) in _FONT_PX.items():
            getattr(self, name).GetTextProperty().SetFontSize(max(round(px * self._unit), least))
        self.caption_px = self.caption.GetTextProperty().GetFontSize()
        self._place()
        self._last.pop("levels", None)
        # wrapped texts depend on the width: wrap them again
        if self._raw is not None:
            for key in ("caption", "card", "card_sub"):
                self._last.pop(key, None)
            self._set_wrapped(*self._raw)
            self._place_swatches(self._last_levels)
            self._last["levels"] = self._last_levels
            self._settle()

    @property
    def margin(self) -> int:
        """Distance of the texts from the frame's edges, px."""
        return max(int(14 * self._unit), 6)

    def free_band(self) -> tuple[float, float]:
        """Lowest and highest display y that no overlay text uses (above the caption, below the legend,
        clock and readouts): where organ names may go."""
        h = self.size[1]
        lines = max(len(str(self._last.get("caption") or "").splitlines()), 2)
        cap = self.caption.GetTextProperty().GetFontSize()
        lo = self.caption.GetPosition()[1] + lines * 1.2 * cap + 6
        top = self.legend_text.GetPosition()[1]
        leg = max(self.legend_text.GetTextProperty().GetFontSize(),
                  self.readouts.GetTextProperty().GetFontSize())
        title = self.title.GetTextProperty().GetFontSize()
        hi = min(top - 3 * 1.2 * leg - 6, h - self.margin - 1.3 * title - 6)
        return float(lo), float(max(hi, lo))

    def _place(self) -> None:
        w, h = self.size
        u = self._unit
        m = self.margin
        # the caption sits above the disclaimer line (which takes the bottom right corner), never on it
        above_disclaimer = m // 2 + round(1.25 * self.disclaimer.GetTextProperty().GetFontSize()) + 2
        self.caption.SetPosition(w / 2, max(int(28 * u), 2 * m, above_disclaimer))
        self.title.SetPosition(m, h - m)
        self.clock.SetPosition(w - m, h - m)
        below_title = m + max(int(40 * u), round(1.5 * self.title.GetTextProperty().GetFontSize()))
        self.readouts.SetPosition(w - m, h - below_title)
        self.disclaimer.SetPosition(w - m, m // 2)
        self.card_text.SetPosition(w / 2, h * 0.56)
        self.card_sub.SetPosition(w / 2, h * 0.44)
        legend_px = self.legend_text.GetTextProperty().GetFontSize()
        self.legend_text.SetPosition(m + round(1.45 * legend_px), h - below_title)
        self._place_swatches([lvl for lvl, _a, _p in self.legend_swatches])

    def _place_swatches(self, levels: list[float]) -> None:
        """Put one colour swatch beside each legend line, in the order of ``levels``."""
        w, h = self.size
        m = self.margin
        px = self.legend_text.GetTextProperty().GetFontSize()
        line = px * 1.15
        y_top = self.legend_text.GetPosition()[1]
        for level, actor, pts in self.legend_swatches:
            if level not in levels:
                actor.SetVisibility(False)
                continue
            i = levels.index(level)
            top = y_top - 0.15 * px - i * line
            x0, x1 = m / w, (m + px) / w
            y0, y1 = (top - 0.8 * px) / h, top / h
            for j, (x, y) in enumerate(((x0, y0), (x1, y0), (x1, y1), (x0, y1))):
                pts.SetPoint(j, x, y, 0.0)
            pts.Modified()
            actor.SetVisibility(True)

    def wrap(self, text: str) -> str:
        """Wrap caption text to the window width, never between a figure and its unit ("-24 °C")."""
        chars = max(int(0.86 * self.size[0] / (0.52 * self.caption_px)), 20)
        return wrap_keeping_units(text, chars)

    def _set_wrapped(self, caption: str, card: str | None, card_sub: str) -> None:
        self._set("caption", self.caption, self.wrap(caption))
        self._set("card", self.card_text, "\n".join(textwrap.wrap(card, 36)) if card else "")
        self._set("card_sub", self.card_sub, self.wrap(card_sub) if card else "")

    def _set(self, key: str, actor: vtkTextActor, text: str) -> None:
        if self._last.get(key) != text:
            actor.SetInput(plain_text(text) if text else " ")
            actor.SetVisibility(bool(text))
            self._last[key] = text

    def update(self, *, caption: str, title: str, clock: str, readouts: str, disclaimer: str,
               legend: list[tuple[float, str]], card: str | None, card_sub: str = "",
               show_legend: bool = True) -> None:
        """Set every overlay from plain strings (``None``/empty hides a piece)."""
        self._raw = (caption, card, card_sub)
        self._set_wrapped(caption, card, card_sub)
        self._set("title", self.title, title)
        self._set("clock", self.clock, clock)
        self._set("readouts", self.readouts, readouts)
        self._set("disclaimer", self.disclaimer, disclaimer)
        self._set("legend", self.legend_text, "\n".join(t for _l, t in legend) if show_legend else "")
        levels = [lvl for lvl, _t in legend] if show_legend else []
        self._last_levels = levels
        if self._last.get("levels") != levels:
            self._place_swatches(levels)
            self._last["levels"] = levels
        self.card_bg.SetVisibility(bool(card))
        self._settle()

    def box(self, actor: vtkTextActor) -> tuple[float, float, float, float]:
        """Display box (x0, x1, y0, y1), px, the text of ``actor`` covers (its background too); the
        legend's box reaches left over its colour swatches."""
        bbox = [0, 0, 0, 0]
        vtkTextRenderer().GetBoundingBox(actor.GetTextProperty(), actor.GetInput() or "", bbox, 72)
        x, y = actor.GetPosition()
        x0 = self.margin - x if actor is self.legend_text else bbox[0]
        return (x + min(bbox[0], x0), x + bbox[1], y + bbox[2], y + bbox[3])

    def _settle(self) -> None:
        """Show each text piece that has text unless it would overlap one shown before it
        (:data:`GIVE_WAY`): a small frame (a phone's 390x312 view) has no room for everything, and words
        over words are read as neither. Runs after every new text and every new size."""
        gap = max(2.0, 0.25 * self.margin)
        shown: list[tuple[float, float, float, float]] = []
        for name, key in GIVE_WAY:
            actor = getattr(self, name)
            if not self._last.get(key):
                actor.SetVisibility(False)
                continue
            x0, x1, y0, y1 = self.box(actor)
            free = all(x1 + gap <= a0 or a1 + gap <= x0 or y1 + gap <= b0 or b1 + gap <= y0
                       for a0, a1, b0, b1 in shown)
            actor.SetVisibility(free)
            if free:
                shown.append((x0, x1, y0, y1))
        if self.legend_text.GetVisibility():
            self._place_swatches(self._last_levels)
        else:
            for _level, swatch, _pts in self.legend_swatches:
                swatch.SetVisibility(False)

    def show_state(self, state, isotherms_c, *, captions: bool = True) -> None:
        """Set every overlay from a story :class:`~cryoviz.story.timeline.FrameState`; only the
        isotherms in ``isotherms_c`` get a legend line."""
        shown = set(state.isotherms_c) & set(isotherms_c)
        legend = [(level, label) for level, label in state.legend if level in shown]
        chapter = state.chapter
        self.update(
            caption=(state.caption or "") if captions else "",
            title=f"{chapter.index} · {chapter.title}" if chapter is not None else "",
            clock=state.clock_text,
            readouts="\n".join(state.sensor_readouts) if state.show_sensors else "",
            disclaimer=state.disclaimer,
            legend=legend,
            show_legend=bool(legend) and state.isotherm_time_s is not None,
            card=state.card,
            card_sub=state.card_sub or "",
        )
