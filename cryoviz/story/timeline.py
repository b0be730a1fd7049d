"""The procedure story: chapters, subtitles and what every frame shows, as a pure function of story time.

:class:`Story` lays out the chapters a scene asks for (``scene.story.chapters``, numbered 1-8, ids in
:data:`cryoviz.story.text.CHAPTER_IDS`), times every subtitle cue so it can be read (at most 2.5 words a
second and never under 2 s), and maps story time to procedure time during the freeze chapters: freezing plays
``scene.story.freeze_speedup`` times faster than real time and thawing twice as fast again, stretched when
the subtitles need longer. :meth:`Story.state_at` returns a :class:`FrameState` (plain, frozen, hashable
data) that the renderer, the video and the app apply; it depends on ``t_s`` only.

Story timing is the same in every language (each cue gets the time its longest translation needs), so the
app can switch language without the picture jumping.
"""

from __future__ import annotations

import bisect
import math

import numpy as np

from cryoviz.model.scene import LANGUAGES, ORGAN_NAMES
from cryoviz.story import captions
from cryoviz.story.camera import Camera, Pose, chapter_poses, ease, interpolate
from cryoviz.story.focus import CHAPTER_SECTION, focus_organ, lethal_gap
from cryoviz.story.frames import Chapter, Cue, FrameState, FrozenDict
from cryoviz.story.opacity import chapter_opacity
from cryoviz.story.outcomes import findings, frozen_organs
from cryoviz.story.pacing import Plan, Segment, key_time, need_s, protocol_segments
from cryoviz.story.text import chapter_id, fill, format_temp, load_text

__all__ = ["Camera", "Chapter", "Cue", "FrameState", "FrozenDict", "Story"]

#: Seconds a chapter title card is shown before the chapter's first cue.
CARD_S = 1.5
#: Seconds of the opening card (title and disclaimer) and of the closing card.
OPENING_S = 3.0
CLOSING_S = 3.0
#: Thawing plays this many times faster than freezing.
THAW_SPEEDUP_FACTOR = 2.0
#: Seconds the camera and the organ opacities take to move from one chapter's view to the next.
MOVE_S = 2.0
#: Isotherms drawn while ice is shown, degrees C.
ISOTHERMS_C = (0.0, -20.0, -40.0)
_LEGEND_KEYS = {0.0: "zero", -20.0: "minus20", -40.0: "minus40"}

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
    title : str
        Shown on the opening card: the scene's ``title`` when the story is told in the scene's language
        (``story.language``), else the language file's title.
    findings : tuple of cryoviz.story.outcomes.Finding
        What the simulation did to each structure the story names (the result chapter's captions).
    spared_lines : tuple of str
        Lines of the "What was spared" panel with this scene's numbers (frames show them from the result
        chapter on: :attr:`FrameState.panel_lines`).
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
        self._metrics = getattr(result, "metrics", {}) or {}
        self._numbers = captions.numbers(scene, result, self.probes)
        self.values = captions.format_values(self._numbers, self.lang)
        self.findings = findings(self._metrics)
        self._frozen = frozen_organs(self.findings)
        # the opening card names this plan: the scene's own title, in the language it is written in
        own = getattr(scene, "title", "").strip() and self.lang == scene.story.language
        self.title = scene.title.strip() if own else self.text["cards"]["opening_title"]
        self._geometry()
        self._layout()
        sensor_min = {n: float(v["min_temp_c"]) for n, v in self._metrics.get("sensors", {}).items()
                      if v.get("min_temp_c") is not None}
        self._coldest_readouts = captions.sensor_lines(self.text, self.lang, sensor_min)
        self.spared_lines = captions.panel_lines(self.findings, self.text, self.lang, scene, self._metrics,
                                                   sensor_min)
        grid = getattr(result, "grid", None)
        has_field = getattr(grid, "labels", None) is not None and result.min_temp_c is not None
        self.gap = lethal_gap(result) if has_field else None  # no field yet: the anatomy story

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
        self.frame_centre_mm = tuple(float(v) for v in self._centre_mm)  # what the camera frames (renderer)
        self.frame_radius_mm = self._radius_mm
        tips = {}
        skin = self._skin_z_mm if self._skin_z_mm is not None else 0.0
        for p in self.probes:
            tips[p.name] = (float(p.x_mm), float(p.y_mm), float(skin + p.depth_mm))
        self._planned_tips = tips
        self._organs = tuple(n for n in ORGAN_NAMES if n in organs)

    def _cue_lines(self, cid: str, code: str) -> list[captions.Line]:
        """Lines of chapter ``cid`` in language ``code`` (:func:`cryoviz.story.captions.chapter_lines`)."""
        return captions.chapter_lines(cid, self._texts[code], self._numbers, self.findings, self._metrics,
                                      self.scene, code)

    def _layout(self) -> None:
        numbers = sorted(set(int(c) for c in self.scene.story.chapters))
        times = self._times
        p_end = float(times[-1]) if len(times) else 0.0
        segs = protocol_segments(self.scene.protocol, p_end)
        speed = float(self.scene.story.freeze_speedup)
        plans, cues, t = [], [], 0.0
        for index, number in enumerate(numbers, start=1):
            cid = chapter_id(number)
            per_lang = {code: self._cue_lines(cid, code) for code in LANGUAGES}
            mine = per_lang[self.lang]
            needs = [need_s([per_lang[c][i].text for c in LANGUAGES]) for i in range(len(mine))]
            start = t
            lead = CARD_S + (OPENING_S if index == 1 else 0.0)
            c0 = start + lead
            chapter_segs: list[Segment] = []
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
            for i, (line, need) in enumerate(zip(mine, needs, strict=True)):
                # the last cue ends with the content, not a rounding error past it
                nxt = c0 + content if i == len(mine) - 1 else cum + need * scale
                cues.append(Cue(cum, nxt, line.text, line.about, line.outcome))
                cum = nxt
            # procedure segments stretched the same way when the cues need longer than the protocol
            pscale = content / sum(play) if sum(play) > 0 else 0.0
            placed, tt = [], c0
            for s, d in zip(chapter_segs, play, strict=True):
                placed.append(Segment(s.phase, s.cycle, s.p0, s.p1, tt, tt + d * pscale))
                tt += d * pscale
            end = c0 + content + (CLOSING_S if index == len(numbers) else 0.0)
            chap = Chapter(cid, number, index, self._texts[self.lang]["chapters"][cid]["title"], start, end)
            key = key_time(cid, c0, c0 + content, placed)
            plans.append(Plan(chap, c0, c0 + content, tuple(placed), key))
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

    # ------------------------------------------------------------------ per frame (pure)
    def _clamp(self, t_s: float) -> float:
        t = float(t_s)
        if not math.isfinite(t):
            raise ValueError(f"story time must be finite, got {t_s!r}")
        return min(max(t, 0.0), self.duration_s)

    def _plan_at(self, t: float) -> Plan:
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
            card, card_sub = self.title, text["cards"]["opening_subtitle"]
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
            fill(names["readout"], {"name": names.get(n, n), "temp_c": format_temp(v, self.lang)}) or ""
            for n, v in sensors.items())
        probe_t = self._probe_temps_at(proc_s)
        depths, tips = self._probe_positions(plan, t)
        trus, cath = self._devices(plan, t)
        after_probes = ch.number > 4 and ch.id != "after"
        show_sensors = bool(sensors) and (after_probes or (ch.id == "probes" and t >= plan.key_s))
        # the coldest figures of the whole protocol exist only once it is over: the result chapter on
        results_in = (ch.number >= 7 and t >= plan.content_start_s) or ch.number > 7
        us_s = max(float(proc_s), 0.0) if trus >= 0.999 else None
        focus = focus_organ(caption, text.get("focus", {}), self._organs)
        return FrameState(
            t_s=t, chapter=ch, caption=caption, card=card, card_sub=card_sub,
            disclaimer=text["common"]["disclaimer"], procedure_s=proc_s,
            clock_text=self._clock_text(proc_s, phase, cycle), phase=phase, cycle=cycle,
            probe_depths_mm=depths, probe_tips_mm=tips, probe_temps_c=probe_t, trus_in=trus, catheter_in=cath,
            show_template=ch.id in ("probes", "freeze1", "thaw_refreeze", "spared"),
            sensor_temps_c=sensors, show_sensors=show_sensors,
            # once the protocol is over each sensor has one number on screen: its coldest reading
            sensor_readouts=self._coldest_readouts if results_in else readouts,
            isotherm_time_s=iso_t, isotherms_c=isos, legend=legend, show_coldest=coldest,
            organ_opacity=self._opacity(i, t), camera=self._camera(i, t),
            panel_lines=self.spared_lines if results_in else (), ultrasound_s=us_s,
            frozen_organs=self._frozen if results_in else (),
            section=CHAPTER_SECTION.get(ch.id), focus=focus, callout=self._callout(plan, t),
        )

    def _callout(self, plan: Plan, t: float) -> bool:
        """The gap callout shows in "What was spared" from the first cue about the rectum on."""
        if plan.chapter.id != "spared" or self.gap is None:
            return False
        words = self.text.get("focus", {})
        return any(c.start_s <= t and plan.content_start_s <= c.start_s < plan.content_end_s
                   and focus_organ(c.text, words, self._organs) == "rectum" for c in self.cues)

    def _procedure(self, plan: Plan, t: float) -> tuple[float, str, int]:
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

    def _probe_positions(self, plan: Plan, t: float) -> tuple[FrozenDict, FrozenDict]:
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

    def _devices(self, plan: Plan, t: float) -> tuple[float, float]:
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
        before = self._plans[i - 1].chapter.id if i > 0 else None
        plan = self._plans[i]
        u = ease((t - plan.chapter.start_s) / MOVE_S)
        return FrozenDict(chapter_opacity(plan.chapter.id, before, u, self._organs))

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



