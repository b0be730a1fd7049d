"""The procedure story: chapters, subtitles and what every frame shows, as a pure function of story time.

:class:`Story` lays out the chapters a scene asks for (``scene.story.chapters``, numbered 1-8, ids in
:data:`cryoviz.story.text.CHAPTER_IDS`), times every subtitle cue so it can be read (at most 2.5 words a
second
and never under 2 s), and maps story time to procedure time during the freeze chapters: freezing plays
``scene.story.freeze_speedup`` times faster than real time and thawing twice as fast again, stretched when
the subtitles need longer. :meth:`Story.state_at` returns a :class:`FrameState` (plain, frozen, hashable
data) that the renderer, the video and the app apply; it depends on ``t_s`` only.

Story timing is the same in every language (each cue gets the time its longest translation needs), so the
app can switch language without the picture jumping.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cryoviz.model.scene import LANGUAGES, ORGAN_NAMES
from cryoviz.story.camera import Camera, Pose, chapter_poses, ease, interpolate
from cryoviz.story.focus import CHAPTER_SECTION, focus_organ, lethal_gap
from cryoviz.story.text import chapter_id, fill, format_number, load_text

__all__ = ["Camera", "Chapter", "Cue", "FrameState", "FrozenDict", "Story"]

#: Seconds a chapter title card is shown before the chapter's first cue.
CARD_S = 1.5
#: Seconds of the opening card (title and disclaimer) and of the closing card.
OPENING_S = 3.0
CLOSING_S = 3.0
#: Reading pace used to time cues, words per second (the limit tested is 3).
READ_WPS = 2.5
MIN_CUE_S = 2.0
#: Thawing plays this many times faster than freezing.
THAW_SPEEDUP_FACTOR = 2.0
#: Seconds the camera and the organ opacities take to move from one chapter's view to the next.
MOVE_S = 2.0
#: Isotherms drawn while ice is shown, degrees C.
ISOTHERMS_C = (0.0, -20.0, -40.0)
_LEGEND_KEYS = {0.0: "zero", -20.0: "minus20", -40.0: "minus40"}

# Organ opacity targets per chapter: the prostate turns translucent while freezing so the ice inside shows.
_OPACITY_BASE = {
    "prostate": 0.9, "urethra": 1.0, "sphincter": 0.9, "bladder": 0.55, "rectum": 0.6,
    "seminal_vesicles": 0.8, "neurovascular_bundles": 0.9, "perineum": 0.25, "pubic_bone": 0.3,
}
_OPACITY = {
    "anatomy": {},
    "why": {"prostate": 0.95},
    "preparation": {"prostate": 0.5, "bladder": 0.35, "rectum": 0.35, "perineum": 0.2, "pubic_bone": 0.35},
    "probes": {"prostate": 0.4, "bladder": 0.3, "rectum": 0.35, "perineum": 0.35, "pubic_bone": 0.3,
               "seminal_vesicles": 0.5},
    "freeze1": {"prostate": 0.2, "urethra": 0.9, "sphincter": 0.6, "bladder": 0.2, "rectum": 0.45,
                "seminal_vesicles": 0.3, "neurovascular_bundles": 0.6, "perineum": 0.1, "pubic_bone": 0.2},
    "thaw_refreeze": {"prostate": 0.2, "urethra": 0.9, "sphincter": 0.6, "bladder": 0.2, "rectum": 0.45,
                      "seminal_vesicles": 0.3, "neurovascular_bundles": 0.6, "perineum": 0.1,
                      "pubic_bone": 0.2},
    "spared": {"prostate": 0.15, "urethra": 1.0, "sphincter": 0.95, "bladder": 0.15, "rectum": 0.85,
               "seminal_vesicles": 0.2, "neurovascular_bundles": 0.7, "perineum": 0.05, "pubic_bone": 0.15},
    "after": {"prostate": 0.8},
}


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
    """One subtitle: shown from ``start_s`` to ``end_s`` (story seconds)."""

    start_s: float
    end_s: float
    text: str


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


@dataclass(frozen=True)
class _Segment:
    """A stretch of the protocol played at one speed: procedure [p0, p1] shown over story [t0, t1]."""

    phase: str
    cycle: int
    p0: float
    p1: float
    t0: float = 0.0
    t1: float = 0.0


@dataclass(frozen=True)
class _Plan:
    """Where one chapter's parts fall in story time."""

    chapter: Chapter
    content_start_s: float  # after the opening card (first chapter) and the title card
    content_end_s: float  # before the closing card (last chapter)
    segments: tuple[_Segment, ...] = ()
    key_s: float = 0.0  # the moment that shows the chapter best (stills)


def _words(text: str) -> int:
    return len(text.split())


def _need_s(texts: list[str]) -> float:
    """Seconds a cue needs so its longest translation reads at :data:`READ_WPS` or slower."""
    return max(MIN_CUE_S, max(_words(t) for t in texts) / READ_WPS)


class Story:
    """The education story of one scene.

    Parameters
    ----------
    scene : cryoviz.model.scene.Scene
    anatomy : cryoviz.model.anatomy.Anatomy
    result : cryoviz.physics.thermal.ThermalResult
    lang : str, optional
        Language code; defaults to ``scene.story.language``.

    Attributes
    ----------
    lang : str
    text : dict
        The loaded text of ``lang`` (see :func:`cryoviz.story.text.load_text`).
    probes : tuple of Probe
        Resolved probes (the thermal result's), in the order of ``result.probe_temps_c`` columns.
    sensor_positions_mm : dict
        Sensor name to (x, y, z) mm.
    values : dict
        The simulated numbers put into the text, already formatted for ``lang``.
    chapters : tuple of Chapter
    cues : tuple of Cue
    duration_s : float
    spared_lines : tuple of str
        Lines of the "What was spared" panel with this scene's numbers.
    gap : cryoviz.story.focus.Gap or None
        Closest points of the lethal ice and the rectal wall (the callout's line), None without either.
    """

    def __init__(self, scene, anatomy, result, lang: str | None = None):
        self.scene, self.anatomy, self.result = scene, anatomy, result
        self.lang = lang or scene.story.language
        self.text = load_text(self.lang)
        self._texts = {code: load_text(code) for code in LANGUAGES}
        self.probes = tuple(getattr(result, "probes", ()) or ())
        self.sensor_positions_mm = _sensor_positions(scene, anatomy)
        self._times = np.asarray(result.times_s, float)
        self._sensor_series = {n: np.asarray(s, float) for n, s in result.sensors.items()}
        self._probe_series = np.asarray(result.probe_temps_c, float).reshape(len(self._times), -1)
        self._numbers = _numbers(scene, result, self.probes)
        self.values = _format_values(self._numbers, self.lang)
        self._geometry()
        self._layout()
        self.spared_lines = self._spared_lines()
        grid = getattr(result, "grid", None)
        self.gap = lethal_gap(result) if getattr(grid, "labels", None) is not None else None

    # ------------------------------------------------------------------ public helpers
    def with_language(self, lang: str) -> Story:
        """The same story in another language (same timing)."""
        return Story(self.scene, self.anatomy, self.result, lang=lang)

    def chapter_at(self, t_s: float) -> Chapter:
        """The chapter shown at story time ``t_s`` (clamped to the story)."""
        return self._plan_at(self._clamp(t_s)).chapter

    def chapter_time(self, chapter: str | int) -> float | None:
        """Story time that shows ``chapter`` (id, number 1-8 or its string) best; None if not in the story."""
        key = str(chapter).strip()
        for plan in self._plans:
            if key in (plan.chapter.id, str(plan.chapter.number)):
                return plan.key_s
        return None

    # ------------------------------------------------------------------ layout (once)
    def _geometry(self) -> None:
        lm = getattr(self.anatomy, "landmarks", None)
        self._skin_z_mm = getattr(lm, "skin_z_mm", None)
        organs = getattr(self.anatomy, "organs", ())
        if "prostate" in organs:
            b = np.asarray(self.anatomy.mesh("prostate").bounds, float)
            lo, hi = b[0::2], b[1::2]
        else:  # phantom: frame the probes' active region, or the grid
            g = self.result.grid
            lo = np.asarray(g.origin_mm, float)
            hi = lo + g.spacing_mm * (np.asarray(g.labels.shape) - 1)
            span = hi - lo
            lo, hi = lo + 0.3 * span, hi - 0.3 * span
        self._centre_mm = 0.5 * (lo + hi)
        self._radius_mm = float(0.5 * np.max(hi - lo))
        tips = {}
        skin = self._skin_z_mm if self._skin_z_mm is not None else 0.0
        for p in self.probes:
            tips[p.name] = (float(p.x_mm), float(p.y_mm), float(skin + p.depth_mm))
        self._planned_tips = tips
        self._organs = tuple(n for n in ORGAN_NAMES if n in organs)

    def _cue_texts(self, cid: str, code: str) -> list[str]:
        """Cue lines of chapter ``cid`` in language ``code``, numbers filled in, lines that do not apply left
        out. The choice depends on the scene only, so every language gets the same number of lines."""
        ch = self._texts[code]["chapters"][cid]
        v = _format_values(self._numbers, code)
        n = self._numbers
        cues = list(ch["cues"])
        picked: list[str | None]
        if cid == "probes":
            picked = [cues[0], fill(ch["count"], v), *cues[1:]]
        elif cid == "freeze1":
            picked = [cues[0], fill(ch["tip_temp"], v), *cues[1:], fill(ch["duration"], v)]
        elif cid == "thaw_refreeze":
            twice = n.get("n_cycles", 1) >= 2
            thaw = ch["thaw_active"] if n.get("thaw1_active") else ch["thaw_passive"]
            picked = [thaw, fill(ch["refreeze"], v) if twice else None, cues[0] if twice else None, cues[1]]
        elif cid == "spared":
            rect = "rectum_warm" if n.get("rectum_min_c", -1.0) >= 0 else "rectum_cold"
            ure = "urethra_warm" if n.get("urethra_min_c", -1.0) >= 0 else "urethra_cold"
            gap = fill(ch["rectum_gap"], v) if n.get("rectum_gap_mm", 0.0) > 0 else None
            picked = [cues[0], fill(ch["gland"], v), fill(ch[rect], v), gap, fill(ch[ure], v),
                      fill(ch["sphincter"], v), ch["note"]]
        else:
            picked = cues
        return [c for c in picked if c]

    def _layout(self) -> None:
        numbers = sorted(set(int(c) for c in self.scene.story.chapters))
        times = self._times
        p_end = float(times[-1]) if len(times) else 0.0
        segs = _protocol_segments(self.scene.protocol, p_end)
        speed = float(self.scene.story.freeze_speedup)
        plans, cues, t = [], [], 0.0
        for index, number in enumerate(numbers, start=1):
            cid = chapter_id(number)
            per_lang = {code: self._cue_texts(cid, code) for code in LANGUAGES}
            mine = per_lang[self.lang]
            needs = [_need_s([per_lang[c][i] for c in LANGUAGES]) for i in range(len(mine))]
            start = t
            lead = CARD_S + (OPENING_S if index == 1 else 0.0)
            c0 = start + lead
            chapter_segs: list[_Segment] = []
            if cid == "freeze1":
                chapter_segs = [s for s in segs if s.cycle == 1 and s.phase == "freeze"]
            elif cid == "thaw_refreeze":
                chapter_segs = [s for s in segs if not (s.cycle == 1 and s.phase == "freeze")]
            play = [(s.p1 - s.p0) / (speed * (THAW_SPEEDUP_FACTOR if s.phase == "thaw" else 1.0))
                    for s in chapter_segs]
            content = max(sum(needs), sum(play))
            if cid == "probes":
                content = max(content, 1.2 * len(self.probes) + 2.0)
            # cues spread evenly over the content, each at least as long as it needs
            scale = content / sum(needs)
            cum = c0
            for text_, need in zip(mine, needs, strict=True):
                cues.append(Cue(cum, cum + need * scale, text_))
                cum += need * scale
            # procedure segments stretched the same way when the cues need longer than the protocol
            pscale = content / sum(play) if sum(play) > 0 else 0.0
            placed, tt = [], c0
            for s, d in zip(chapter_segs, play, strict=True):
                placed.append(_Segment(s.phase, s.cycle, s.p0, s.p1, tt, tt + d * pscale))
                tt += d * pscale
            end = c0 + content + (CLOSING_S if index == len(numbers) else 0.0)
            chap = Chapter(cid, number, index, self._texts[self.lang]["chapters"][cid]["title"], start, end)
            key = _key_time(cid, c0, c0 + content, placed)
            plans.append(_Plan(chap, c0, c0 + content, tuple(placed), key))
            t = end
        self._plans = tuple(plans)
        self._starts = [p.chapter.start_s for p in plans]
        self.chapters = tuple(p.chapter for p in plans)
        self.cues = tuple(cues)
        self._cue_starts = [c.start_s for c in cues]
        self.duration_s = t
        self._p_end = p_end
        poses = [chapter_poses(p.chapter.id, self._centre_mm, self._radius_mm, self._skin_z_mm)
                 for p in plans]
        self._poses = tuple(poses)
        order = sorted(self.probes, key=lambda p: (p.group, -p.y_mm, p.x_mm, p.name))
        self._probe_order = tuple(p.name for p in order)

    def _spared_lines(self) -> tuple[str, ...]:
        sp = self.text["spared"]
        keys = ("gland", "rectum", "rectum_gap", "urethra", "sphincter", "rectal_sensor")
        lines = [fill(sp[k], self.values) for k in keys]
        return tuple(x for x in lines if x)

    # ------------------------------------------------------------------ per frame (pure)
    def _clamp(self, t_s: float) -> float:
        t = float(t_s)
        if not math.isfinite(t):
            raise ValueError(f"story time must be finite, got {t_s!r}")
        return min(max(t, 0.0), self.duration_s)

    def _plan_at(self, t: float) -> _Plan:
        i = max(bisect.bisect_right(self._starts, t) - 1, 0)
        return self._plans[i]

    def state_at(self, t_s: float) -> FrameState:
        """What the story shows at story time ``t_s`` (clamped to ``[0, duration_s]``).

        Pure: depends on ``t_s`` only, never on earlier calls.
        """
        t = self._clamp(t_s)
        plan = self._plan_at(t)
        ch = plan.chapter
        i = ch.index - 1
        text = self.text
        card = card_sub = caption = None
        if ch.index == 1 and t < ch.start_s + OPENING_S:
            card, card_sub = text["cards"]["opening_title"], text["cards"]["opening_subtitle"]
        elif t < plan.content_start_s:
            card = fill(text["cards"]["chapter"], {"number": ch.index, "title": ch.title})
        elif ch.index == len(self._plans) and t >= plan.content_end_s:
            card, card_sub = text["cards"]["closing_title"], text["cards"]["closing_body"]
        else:
            k = bisect.bisect_right(self._cue_starts, t) - 1
            if k >= 0 and self.cues[k].start_s <= t < self.cues[k].end_s:
                caption = self.cues[k].text

        proc_s, phase, cycle = self._procedure(plan, t)
        iso_t: float | None = None
        coldest = False
        if ch.id in ("freeze1", "thaw_refreeze") and len(self._times):
            iso_t = float(min(max(proc_s, self._times[0]), self._times[-1]))
        elif ch.id == "spared" and len(self._times):
            iso_t, coldest = float(self._times[-1]), True
        isos = ISOTHERMS_C if iso_t is not None else ()
        legend = tuple((lvl, text["legend"][_LEGEND_KEYS[lvl]]) for lvl in isos)

        sensors = self._sensors_at(proc_s)
        names = text["sensors"]
        readouts = tuple(
            fill(names["readout"], {"name": names.get(n, n), "temp_c": format_number(v, self.lang)}) or ""
            for n, v in sensors.items())
        probe_t = self._probe_temps_at(proc_s)
        depths, tips = self._probe_positions(plan, t)
        trus, cath = self._devices(plan, t)
        after_probes = ch.number > 4 and ch.id != "after"
        show_sensors = bool(sensors) and (after_probes or (ch.id == "probes" and t >= plan.key_s))
        focus = focus_organ(caption, text.get("focus", {}), self._organs)
        return FrameState(
            t_s=t, chapter=ch, caption=caption, card=card, card_sub=card_sub,
            disclaimer=text["common"]["disclaimer"], procedure_s=proc_s,
            clock_text=self._clock_text(proc_s, phase, cycle), phase=phase, cycle=cycle,
            probe_depths_mm=depths, probe_tips_mm=tips, probe_temps_c=probe_t, trus_in=trus, catheter_in=cath,
            show_template=ch.id in ("probes", "freeze1", "thaw_refreeze", "spared"),
            sensor_temps_c=sensors, sensor_readouts=readouts, show_sensors=show_sensors,
            isotherm_time_s=iso_t, isotherms_c=isos, legend=legend, show_coldest=coldest,
            organ_opacity=self._opacity(i, t), camera=self._camera(i, t),
            section=CHAPTER_SECTION.get(ch.id), focus=focus, callout=self._callout(plan, t),
        )

    def _callout(self, plan: _Plan, t: float) -> bool:
        """The gap callout shows in "What was spared" from the first cue about the rectum on."""
        if plan.chapter.id != "spared" or self.gap is None:
            return False
        words = self.text.get("focus", {})
        return any(c.start_s <= t and plan.content_start_s <= c.start_s < plan.content_end_s
                   and focus_organ(c.text, words, self._organs) == "rectum" for c in self.cues)

    def _procedure(self, plan: _Plan, t: float) -> tuple[float, str, int]:
        """Procedure seconds, phase and cycle shown at story time ``t`` in chapter ``plan``."""
        n = plan.chapter.number
        if plan.segments:
            segs = plan.segments
            if t <= segs[0].t0:
                s = segs[0]
                return s.p0, s.phase, s.cycle
            for s in segs:
                if t <= s.t1:
                    u = (t - s.t0) / (s.t1 - s.t0) if s.t1 > s.t0 else 1.0
                    return float(s.p0 + u * (s.p1 - s.p0)), s.phase, s.cycle
            s = segs[-1]
            return s.p1, s.phase, s.cycle
        if n < 5:
            return 0.0, "before", 0
        if n == 5:  # first freeze chapter without a protocol to show (should not happen): hold at start
            return 0.0, "freeze", 1
        return self._p_end, "after", len(self.scene.protocol.cycles)

    def _clock_text(self, proc_s: float, phase: str, cycle: int) -> str:
        clock = self.text["clock"]
        if phase == "before":
            return clock["before"]
        whole = math.floor(proc_s + 1e-6)
        return clock[phase].format(cycle=cycle, minutes=f"{whole // 60:02d}", seconds=f"{whole % 60:02d}")

    def _sensors_at(self, proc_s: float) -> FrozenDict:
        if not len(self._times):
            return FrozenDict()
        return FrozenDict((n, float(np.interp(proc_s, self._times, s)))
                          for n, s in self._sensor_series.items())

    def _probe_temps_at(self, proc_s: float) -> FrozenDict:
        if not len(self._times) or not self.probes:
            return FrozenDict((p.name, 37.0) for p in self.probes)
        return FrozenDict((p.name, float(np.interp(proc_s, self._times, self._probe_series[:, j])))
                          for j, p in enumerate(self.probes))

    def _probe_positions(self, plan: _Plan, t: float) -> tuple[FrozenDict, FrozenDict]:
        """Probes slide in one by one during the probe chapter and come out at the start of "after"."""
        cid = plan.chapter.id
        n = len(self._probe_order)
        frac = dict.fromkeys(self._probe_order, 0.0)
        if cid == "probes" and n:
            window = plan.key_s - plan.content_start_s
            slot = window / n
            for k, name in enumerate(self._probe_order):
                frac[name] = ease((t - plan.content_start_s - k * slot) / slot)
        elif cid == "after":
            out = ease((t - plan.content_start_s) / MOVE_S)
            frac = dict.fromkeys(self._probe_order, 1.0 - out)
        elif plan.chapter.number > 4:
            frac = dict.fromkeys(self._probe_order, 1.0)
        depths, tips = {}, {}
        for p in self.probes:
            d = float(p.depth_mm) * frac[p.name]
            x, y, z = self._planned_tips[p.name]
            depths[p.name] = d
            tips[p.name] = (x, y, z - (float(p.depth_mm) - d))
        return FrozenDict(depths), FrozenDict(tips)

    def _devices(self, plan: _Plan, t: float) -> tuple[float, float]:
        """Ultrasound probe and catheter: in during "preparation"; the probe comes out in "after"."""
        cid, n = plan.chapter.id, plan.chapter.number
        if cid == "preparation":
            span = plan.content_end_s - plan.content_start_s
            u = (t - plan.content_start_s) / span
            return ease((u - 0.3) / 0.2), ease((u - 0.6) / 0.2)
        if cid == "after":
            return 1.0 - ease((t - plan.content_start_s) / MOVE_S), 1.0
        return (1.0, 1.0) if n > 3 else (0.0, 0.0)

    def _opacity(self, i: int, t: float) -> FrozenDict:
        plan = self._plans[i]
        here = {**_OPACITY_BASE, **_OPACITY[plan.chapter.id]}
        if i > 0:
            before = {**_OPACITY_BASE, **_OPACITY[self._plans[i - 1].chapter.id]}
            u = ease((t - plan.chapter.start_s) / MOVE_S)
            here = {k: (1 - u) * before[k] + u * here[k] for k in here}
        return FrozenDict((k, float(round(here[k], 6))) for k in self._organs)

    def _camera(self, i: int, t: float) -> Camera:
        plan = self._plans[i]
        first, last = self._poses[i]
        start, end = plan.chapter.start_s, plan.chapter.end_s
        pose: Pose
        if i > 0 and t < start + MOVE_S:
            pose = interpolate(self._poses[i - 1][1], first, ease((t - start) / MOVE_S))
        else:
            t0 = start + (MOVE_S if i > 0 else 0.0)
            pose = interpolate(first, last, ease((t - t0) / max(end - t0, 1e-9)))
        return pose.camera()


# ---------------------------------------------------------------------- helpers (module level, pure)
def _sensor_positions(scene, anatomy) -> dict[str, tuple[float, float, float]]:
    from cryoviz.model.layout import resolve_sensors

    return {n: tuple(float(c) for c in xyz) for n, xyz in resolve_sensors(scene, anatomy).items()}


def _protocol_segments(protocol, p_end_s: float) -> list[_Segment]:
    """Freeze and thaw stretches of the protocol in procedure seconds, the last one reaching ``p_end_s``."""
    segs, p = [], 0.0
    for k, c in enumerate(protocol.cycles, start=1):
        segs.append(_Segment("freeze", k, p, p + float(c.freeze_s)))
        p += float(c.freeze_s)
        if c.thaw_s > 0:
            segs.append(_Segment("thaw", k, p, p + float(c.thaw_s)))
            p += float(c.thaw_s)
    out = []
    for s in segs:
        if s.p0 >= p_end_s:
            break
        out.append(_Segment(s.phase, s.cycle, s.p0, min(s.p1, p_end_s)))
    if out and out[-1].p1 < p_end_s:
        last = out[-1]
        out[-1] = _Segment(last.phase, last.cycle, last.p0, p_end_s)
    return out


def _key_time(cid: str, c0: float, c1: float, segs: list[_Segment]) -> float:
    """The moment that shows a chapter best: probes all in, the largest ice, or mid-chapter.

    Always a little before the chapter's end (the end is the next chapter's start)."""
    key = c0 + 0.5 * (c1 - c0)
    if cid == "probes":
        key = c0 + 0.8 * (c1 - c0)
    elif cid == "freeze1" and segs:
        key = segs[-1].t1
    elif cid == "thaw_refreeze" and segs:
        freezes = [s for s in segs if s.phase == "freeze"]
        key = (freezes[-1] if freezes else segs[0]).t1
    return min(key, c1 - 0.05)


def _numbers(scene, result, probes) -> dict[str, float]:
    """The simulated numbers the story quotes (raw, unformatted); missing ones are simply absent."""
    m: dict[str, Any] = getattr(result, "metrics", {}) or {}
    organs = m.get("organs", {})
    n: dict[str, float] = {"n_probes": len(probes), "n_cycles": len(scene.protocol.cycles)}
    cycles = scene.protocol.cycles
    if cycles:
        n["freeze1_min"] = cycles[0].freeze_s / 60.0
        n["thaw1_active"] = 1.0 if cycles[0].thaw == "active" else 0.0
    if len(cycles) >= 2:
        n["freeze2_min"] = cycles[1].freeze_s / 60.0
    pt = np.asarray(result.probe_temps_c, float)
    if pt.size:
        n["probe_min_c"] = float(pt.min())
    pairs = {
        "gland_minus40_pct": ("prostate", "fraction_below_minus40", 100.0),
        "rectum_min_c": ("rectum_wall", "min_temp_c", 1.0),
        "rectum_gap_mm": ("rectum_wall", "min_distance_to_minus40_mm", 1.0),
        "urethra_min_c": ("urethra", "min_temp_c", 1.0),
        "sphincter_min_c": ("sphincter", "min_temp_c", 1.0),
    }
    for key, (organ, metric, factor) in pairs.items():
        value = organs.get(organ, {}).get(metric)
        if value is not None and math.isfinite(float(value)):
            n[key] = float(value) * factor
    rs = m.get("sensors", {}).get("rectal_wall", {}).get("min_temp_c")
    if rs is not None and math.isfinite(float(rs)):
        n["rectal_sensor_min_c"] = float(rs)
    return n


def _format_values(n: dict[str, float], lang: str) -> dict[str, str]:
    """Numbers as the text shows them. Coldest temperatures and gaps are rounded down, so a sentence like
    "stayed at 8 °C or warmer" is true of the simulated 8.6 °C."""
    out: dict[str, str] = {}
    for key, value in n.items():
        if key.endswith("_c"):
            out[key] = format_number(math.floor(value), lang)
        elif key == "rectum_gap_mm":
            out[key] = format_number(math.floor(value * 10) / 10 if value < 1 else math.floor(value), lang,
                                     1 if value < 1 else 0)
        elif key.endswith("_pct"):
            out[key] = format_number(math.floor(value), lang)
        elif key.endswith("_min"):
            out[key] = format_number(value, lang, 0 if abs(value - round(value)) < 0.05 else 1)
        else:
            out[key] = format_number(value, lang)
    return out

