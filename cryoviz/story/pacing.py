"""How long things take on screen: reading time of a cue, the protocol's freeze and thaw stretches, and the
moment that shows a chapter best. Pure helpers of :mod:`cryoviz.story.timeline`."""

from __future__ import annotations

from dataclasses import dataclass

from cryoviz.story.frames import Chapter

__all__ = ["MIN_CUE_S", "READ_WPS", "Plan", "Segment", "key_time", "need_s", "protocol_segments"]

#: Reading pace used to time cues, words per second (the limit tested is 3).
READ_WPS = 2.5
MIN_CUE_S = 2.0


@dataclass(frozen=True)
class Segment:
    """A stretch of the protocol played at one speed: procedure [p0, p1] shown over story [t0, t1]."""

    phase: str
    cycle: int
    p0: float
    p1: float
    t0: float = 0.0
    t1: float = 0.0


@dataclass(frozen=True)
class Plan:
    """Where one chapter's parts fall in story time."""

    chapter: Chapter
    content_start_s: float  # after the opening card (first chapter) and the title card
    content_end_s: float  # before the closing card (last chapter)
    segments: tuple[Segment, ...] = ()
    key_s: float = 0.0  # the moment that shows the chapter best (stills)


def need_s(texts: list[str]) -> float:
    """Seconds a cue needs so its longest translation reads at :data:`READ_WPS` or slower."""
    return max(MIN_CUE_S, max(len(t.split()) for t in texts) / READ_WPS)


def protocol_segments(protocol, p_end_s: float) -> list[Segment]:
    """Freeze and thaw stretches of the protocol in procedure seconds, the last one reaching ``p_end_s``."""
    segs, p = [], 0.0
    for k, c in enumerate(protocol.cycles, start=1):
        segs.append(Segment("freeze", k, p, p + float(c.freeze_s)))
        p += float(c.freeze_s)
        if c.thaw_s > 0:
            segs.append(Segment("thaw", k, p, p + float(c.thaw_s)))
            p += float(c.thaw_s)
    out = []
    for s in segs:
        if s.p0 >= p_end_s:
            break
        out.append(Segment(s.phase, s.cycle, s.p0, min(s.p1, p_end_s)))
    if out and out[-1].p1 < p_end_s:
        last = out[-1]
        out[-1] = Segment(last.phase, last.cycle, last.p0, p_end_s)
    return out


def key_time(cid: str, c0: float, c1: float, segs: list[Segment]) -> float:
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
