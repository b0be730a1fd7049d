"""Plain data the story hands to the picture: chapters, cues and the state of one frame.

Everything here is frozen and hashable, so equal states give the same picture and a held shot can be drawn
once (the video skips repeated states).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryoviz.story.camera import Camera

__all__ = ["Chapter", "Cue", "FrameState", "FrozenDict"]


class FrozenDict(dict):
    """A read-only, hashable dict (so a :class:`FrameState` can be hashed and compared)."""

    def _readonly(self, *args, **kwargs):
        raise TypeError("FrozenDict is read-only")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _readonly  # type: ignore
    __ior__ = _readonly  # type: ignore

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(self.items()))

    def __reduce__(self):
        return (FrozenDict, (dict(self),))


@dataclass(frozen=True)
class Chapter:
    """One chapter of this story.

    Attributes
    ----------
    id : str
        Stable id (``"freeze1"`` ...).
    number : int
        Canonical chapter number 1-8 (as in scene files).
    index : int
        Position in this story, 1-based (shown on the title card).
    title : str
        Title in the story's language.
    start_s, end_s : float
        Story time span.
    """

    id: str
    number: int
    index: int
    title: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Cue:
    """One subtitle: shown from ``start_s`` to ``end_s`` (story seconds).

    Attributes
    ----------
    start_s, end_s : float
        Story seconds.
    text : str
        The sentence in the story's language.
    about : str
        What the sentence is about when it reports a result: a structure of
        :data:`cryoviz.story.outcomes.STRUCTURES` (``"sphincter"``), or a warning code
        (``"warning:sphincter_frozen"``); empty for the fixed narration.
    outcome : str
        The result the sentence reports (``"spared"``, ``"cooled"``, ``"frozen"``, ``"treated"`` ...),
        empty for the fixed narration.
    """

    start_s: float
    end_s: float
    text: str
    about: str = ""
    outcome: str = ""


@dataclass(frozen=True)
class FrameState:
    """Everything one frame shows; equal states give the same picture.

    Attributes
    ----------
    t_s : float
        Story time.
    chapter : Chapter
    caption : str or None
        Subtitle shown now.
    card, card_sub : str or None
        Title card text (opening, chapter title or closing) and its second line.
    disclaimer : str
        Always on screen.
    procedure_s : float
        Procedure clock, seconds from the start of the first freeze.
    clock_text : str
        The clock as shown (phase, cycle, minutes:seconds).
    phase : str
        ``"before"``, ``"freeze"``, ``"thaw"`` or ``"after"``.
    cycle : int
        Freeze-thaw cycle number (1-based; 0 before freezing).
    probe_depths_mm : FrozenDict
        Probe name to current insertion depth beyond the skin (0 = not in yet).
    probe_tips_mm : FrozenDict
        Probe name to current tip position (x, y, z) mm.
    probe_temps_c : FrozenDict
        Probe name to surface temperature now.
    trus_in, catheter_in : float
        How far the ultrasound probe and the urethral catheter are in, 0 to 1.
    show_template : bool
        The template grid is at the perineum.
    sensor_temps_c : FrozenDict
        Sensor name to temperature now (the thermal result's series at ``procedure_s``).
    sensor_readouts : tuple of str
        The same, as text lines in the story's language.
    show_sensors : bool
        Sensors are in place.
    isotherm_time_s : float or None
        Thermal time whose isotherms are drawn (None: no ice shown).
    isotherms_c : tuple of float
        Thresholds drawn.
    legend : tuple of (float, str)
        Legend lines for the drawn thresholds.
    show_coldest : bool
        Draw the coldest temperatures reached up to ``isotherm_time_s`` (the "what was spared" view).
    organ_opacity : FrozenDict
        Organ name to opacity.
    camera : Camera
        Position, focal point, view up (mm) and view angle.
    section : str or None
        Section view the story shows (``"sagittal"``, ``"transverse"``) or None for the whole 3D scene
        (:data:`cryoviz.story.focus.CHAPTER_SECTION`).
    focus : str or None
        Organ the caption names (highlighted; the rest recede).
    callout : bool
        Draw the measured gap between the lethal ice and the rectal wall (:attr:`Story.gap`).
    panel_lines : tuple of str
        The "What was spared" panel: coldest figures of the whole protocol, shown only from the chapter that
        tells them (empty before: no result is shown before it has happened).
    ultrasound_s : float or None
        Procedure time the ultrasound picture shows; None while the ultrasound probe is not in (the panel is
        dark). Before the first freeze the picture is of warm tissue.
    frozen_organs : tuple of str
        Organs whose structure froze in the simulation (drawn with an ice tint), from the result chapter on.
    """

    t_s: float
    chapter: Chapter
    caption: str | None
    card: str | None
    card_sub: str | None
    disclaimer: str
    procedure_s: float
    clock_text: str
    phase: str
    cycle: int
    probe_depths_mm: FrozenDict
    probe_tips_mm: FrozenDict
    probe_temps_c: FrozenDict
    trus_in: float
    catheter_in: float
    show_template: bool
    sensor_temps_c: FrozenDict
    sensor_readouts: tuple[str, ...]
    show_sensors: bool
    isotherm_time_s: float | None
    isotherms_c: tuple[float, ...]
    legend: tuple[tuple[float, str], ...]
    show_coldest: bool
    organ_opacity: FrozenDict
    camera: Camera = field(default=Camera((0.0, -1.0, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0, 1.0)))
    section: str | None = None
    focus: str | None = None
    callout: bool = False
    panel_lines: tuple[str, ...] = ()
    ultrasound_s: float | None = None
    frozen_organs: tuple[str, ...] = ()
