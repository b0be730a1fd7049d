"""The education video: the story rendered frame by frame to H.264 MP4, with WebVTT subtitles beside it.

Every frame is a pure function of time (``Story.state_at``), so the frame range is split into contiguous
chunks rendered by worker processes (spawn context, one renderer each); each worker pipes raw RGB to its
own ffmpeg, and the pieces are joined without re-encoding (:mod:`cryoviz.deliver.encode`). Consecutive equal
frame states (title cards, held shots) reuse the last picture instead of rendering it again.

Nothing is half-written: the MP4 and the VTT are written to temporary files beside the targets and renamed
when complete. Ctrl-C, SIGTERM or a crash leaves neither target, no pieces and no worker or ffmpeg process.
Bad arguments fail before any rendering with the contract's one-line :class:`~cryoviz.core.errors.InputError`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from cryoviz.core.errors import InputError
from cryoviz.deliver.frames import cores, encode_frames, raise_terminated, split_ranges
from cryoviz.deliver.vtt import Cue

__all__ = ["FPS_MAX", "FPS_MIN", "VideoPlan", "check_video_args", "picture_key", "render_video", "video_plan"]

FPS_MIN, FPS_MAX = 24, 60
_MAX_JOBS = 32


# ---------------------------------------------------------------------------------------------- arguments
def check_video_args(out_path: Path, size: Sequence[int], fps: int, jobs: int | None,
                     duration_s: float | None = None) -> tuple[Path, tuple[int, int], int, int]:
    """Validate the video options before any work; return ``(out_path, size, fps, jobs)``.

    Raises
    ------
    InputError
        One contract line for the first bad option (``argument: --fps: ...``).
    """
    from cryoviz.core.files import check_writable_target

    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise InputError.one("argument", "--size", "not a WIDTHxHEIGHT size",
                             "two even whole numbers such as 1280x720", str(size)) from None
    if not (16 <= w <= 7680 and 16 <= h <= 4320) or w % 2 or h % 2:
        raise InputError.one("argument", "--size", "size out of range or odd",
                             "even sizes from 16x16 to 7680x4320", f"{w}x{h}")
    if isinstance(fps, bool) or not isinstance(fps, int | np.integer) or not FPS_MIN <= fps <= FPS_MAX:
        raise InputError.one("argument", "--fps", "frame rate out of range",
                             f"whole numbers {FPS_MIN} to {FPS_MAX}", str(fps))
    if jobs is None:
        jobs = cores()
    elif isinstance(jobs, bool) or not isinstance(jobs, int | np.integer) or not 1 <= jobs <= _MAX_JOBS:
        raise InputError.one("argument", "--jobs", "number of worker processes out of range",
                             f"1 to {_MAX_JOBS}", str(jobs))
    if duration_s is not None and not (math.isfinite(duration_s) and duration_s > 0):
        raise InputError.one("argument", "--duration", "not a positive number of seconds",
                             "a number of seconds above 0", str(duration_s))
    out_path = Path(out_path)
    if out_path.suffix.lower() != ".mp4":
        raise InputError.one("argument", "-o", "the video must be an .mp4 file", "a path ending in .mp4",
                             str(out_path))
    check_writable_target(out_path, "-o")
    check_writable_target(out_path.with_suffix(".vtt"), "-o")
    return out_path, (w, h), int(fps), int(jobs)


# ---------------------------------------------------------------------------------------------- the story
@dataclasses.dataclass(frozen=True)
class VideoPlan:
    """What the video shows, frame by frame, before anything is drawn.

    Parameters
    ----------
    fps : int
        Frames per second.
    states : tuple
        One frame state per frame, with the story time blanked (``t_s = 0``): the picture depends on what
        is shown, not on when, so a held shot is a run of equal states drawn once. While a title card is up
        its first state is repeated (the card covers the scene, whose camera may still be moving).
    cues : tuple of Cue
        Subtitles in video time (the story's, cut at the end of the stretch shown).
    story_s : float
        Seconds of the story shown (the whole story, or the first ``duration_s``).
    """

    fps: int
    states: tuple
    cues: tuple[Cue, ...]
    story_s: float

    @property
    def duration_s(self) -> float:
        """Length of the video in seconds (frames / fps)."""
        return len(self.states) / self.fps


def picture_key(state):
    """``state`` without the fields that do not change the picture (the story clock ``t_s``)."""
    if dataclasses.is_dataclass(state) and any(f.name == "t_s" for f in dataclasses.fields(state)):
        return dataclasses.replace(state, t_s=0.0)
    return state


def _same_card(prev, state) -> bool:
    """Both states show the same title card (the nearly opaque card covers whatever moves behind it)."""
    card = getattr(state, "card", None)
    return bool(card) and card == getattr(prev, "card", None) and \
        getattr(state, "card_sub", None) == getattr(prev, "card_sub", None)


def video_plan(story, fps: int, duration_s: float | None = None, start_s: float = 0.0) -> VideoPlan:
    """Lay out the video: the story (opening card, chapters with title cards, closing card) at ``fps``.

    Parameters
    ----------
    story : cryoviz.story.timeline.Story
        The story; only ``duration_s``, ``cues`` and ``state_at`` are used.
    fps : int
        Frames per second.
    duration_s : float, optional
        Show only this many seconds of the story (previews, tests, benchmarks).
    start_s : float
        Story time of the first frame (0: from the opening card).

    Returns
    -------
    VideoPlan
    """
    start_s = min(max(0.0, float(start_s)), float(story.duration_s))
    left_s = float(story.duration_s) - start_s
    story_s = left_s if duration_s is None else min(float(duration_s), left_s)
    n = max(1, round(story_s * fps))
    states: list = []
    for i in range(n):
        state = picture_key(story.state_at(start_s + i / fps))
        if states and _same_card(states[-1], state):
            state = states[-1]  # the card hides the scene: hold the picture instead of redrawing it
        states.append(state)
    cues = []
    for cue in story.cues:
        c0, c1, text = ((cue.start_s, cue.end_s, cue.text) if hasattr(cue, "start_s") else cue)
        c0, c1 = float(c0) - start_s, min(float(c1) - start_s, story_s)
        if c1 > 0 and c0 < story_s and str(text).strip():
            cues.append(Cue(max(c0, 0.0), c1, str(text)))
    return VideoPlan(fps=int(fps), states=tuple(states), cues=tuple(cues), story_s=story_s)


def _file_mode() -> int:
    """Permissions an ordinary new file gets here (0666 less the umask)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


#: Stories already loaded in this process, so a one-process render does not load its story twice.
_LOADED: dict[tuple, Any] = {}


class _StorySource:
    """Frames of a story from a :class:`~cryoviz.view.render.SceneRenderer`."""

    def __init__(self, story, size: tuple[int, int], captions: bool, ultrasound: bool):
        from cryoviz.view.render import SceneRenderer

        self.renderer = SceneRenderer(story, size, captions=captions, ultrasound=ultrasound)

    def frame(self, state) -> np.ndarray:
        self.renderer.apply(state)
        return self.renderer.image()

    def close(self) -> None:
        self.renderer.close()


def _story_source(scene_path: str, lang: str | None, size: tuple[int, int], captions: bool,
                  ultrasound: bool) -> _StorySource:
    """Build a frame source for a scene (picklable through ``functools.partial``)."""
    story = _LOADED.get((scene_path, lang))
    if story is None:
        from cryoviz.story.session import load_story

        story = load_story(scene_path, lang=lang)
    return _StorySource(story, size, captions, ultrasound)


def render_video(scene_path, out_path, *, size: tuple[int, int] = (1280, 720), fps: int = 30,
                 lang: str | None = None, jobs: int | None = None, captions: bool = True,
                 ultrasound: bool = False, duration_s: float | None = None,
                 progress: bool | TextIO = True) -> dict:
    """Render the education video (H.264 MP4) and its WebVTT subtitles (``OUT.vtt``) beside it.

    Parameters
    ----------
    scene_path : path-like
        Scene TOML file.
    out_path : path-like
        The ``.mp4`` to write; the subtitles go to the same name with ``.vtt``.
    size : (int, int)
        Width and height in pixels (even numbers).
    fps : int
        Frames per second, 24 to 60.
    lang : str, optional
        Language of captions and cards; the scene's when None.
    jobs : int, optional
        Worker processes; the machine's cores when None.
    captions : bool
        Burn the captions into the picture (the VTT is written either way).
    ultrasound : bool
        Show the ultrasound view picture-in-picture.
    duration_s : float, optional
        Render only the first seconds of the story (previews; the story opens with its title card).
    progress : bool or text stream
        Progress bar on stderr (or the given stream).

    Returns
    -------
    dict
        ``frames``, ``rendered``, ``render_s``, ``wall_s``, ``jobs``, ``duration_s``, ``cues``, ``mp4``,
        ``vtt``.

    Raises
    ------
    InputError
        Bad options or a bad scene, before anything is rendered or written.
    """
    from cryoviz.core.files import atomic_path, check_writable_target
    from cryoviz.deliver.vtt import vtt_text
    from cryoviz.story.session import check_lang, load_story

    out_path, size, fps, jobs = check_video_args(out_path, size, fps, jobs, duration_s)
    for target in (out_path, out_path.with_suffix(".vtt")):   # neither may be the scene
        check_writable_target(target, "-o", inputs=(scene_path,))
    check_lang(lang)
    vtt_path = out_path.with_suffix(".vtt")
    scene_key = str(Path(scene_path))
    story = load_story(scene_key, lang=lang)
    plan = video_plan(story, fps, duration_s)
    jobs = min(jobs, len(split_ranges(plan.states, jobs)))
    make_source = functools.partial(_story_source, scene_key, lang, size, bool(captions), bool(ultrasound))
    _LOADED[(scene_key, lang)] = story  # this process draws the first range with it; workers load their own
    disclaimer = story.text["common"]["disclaimer"]   # the subtitle file's first cue
    del story

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        with atomic_path(out_path) as tmp_mp4, atomic_path(vtt_path) as tmp_vtt:
            tmp_vtt.write_text(vtt_text(plan.cues, disclaimer, plan.duration_s), encoding="utf-8")
            stats = encode_frames(plan.states, make_source, tmp_mp4, size, fps, jobs=jobs, progress=progress)
            mode = _file_mode()  # temporary files are private (0600); the video is an ordinary file
            os.chmod(tmp_mp4, mode)
            os.chmod(tmp_vtt, mode)
    finally:
        _LOADED.pop((scene_key, lang), None)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    stats.update(duration_s=plan.duration_s, cues=len(plan.cues), mp4=str(out_path), vtt=str(vtt_path))
    return stats
