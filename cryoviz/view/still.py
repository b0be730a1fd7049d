"""One frame of a scene's story as a PNG (``cryoviz still``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["STILL_FXAA", "write_still"]

#: Stills are smoothed with FXAA (VTK's fast approximate anti-aliasing, which works on EGL/llvmpipe;
#: pyvista's ``enable_anti_aliasing("fxaa")`` falls back to supersampling there). It costs about 45-55 ms CPU
#: a 1280x720 picture: affordable in a still (about 0.5 s with depth peeling), not in the video's 80 ms
#: budget; see docs/picture.md.
STILL_FXAA = True


def write_still(scene_path, out_png, *, time_s: float | None = None, chapter: str | None = None,
                size: tuple[int, int] = (1280, 720), lang: str | None = None, view: str = "story") -> None:
    """Write one frame of a scene's story as PNG (atomically).

    Parameters
    ----------
    scene_path : path-like
        Scene TOML file.
    out_png : path-like
        Output PNG path.
    time_s : float, optional
        Story time in seconds (clamped to the story).
    chapter : str, optional
        Chapter id or number; the frame is taken where the chapter's main action is shown.
    size : tuple of int
        (width, height) in pixels.
    lang : str, optional
        Language of the caption.
    view : str
        ``"story"`` (what the story shows: its camera, and its section in the freeze and "what was
        spared" chapters), ``"sagittal"`` or ``"transverse"`` (that section, seen square on).
    """
    import imageio.v3 as iio

    from cryoviz.core.errors import InputError
    from cryoviz.core.files import atomic_path, check_writable_target
    from cryoviz.story.session import check_lang, load_story
    from cryoviz.view.render import STILL_DEPTH_PEELS, VIEWS, SceneRenderer

    check_lang(lang)
    if view not in VIEWS:
        raise InputError.one("argument", "--view", "unknown view", ", ".join(VIEWS), str(view))
    if Path(out_png).suffix.lower() != ".png":
        raise InputError.one("argument", "-o", "the still must be a .png file", "a path ending in .png",
                             str(out_png))
    out_png = check_writable_target(Path(out_png), "-o", inputs=(scene_path,))
    story = load_story(scene_path, lang=lang)
    if chapter is not None:
        t = story.chapter_time(chapter)
        if t is None:
            ids = ", ".join(c.id for c in story.chapters)
            raise InputError.one("argument", "--chapter", "unknown chapter",
                                 f"{ids} or 1-{len(story.chapters)}", chapter)
    else:
        if time_s is None or not np.isfinite(time_s) or time_s < 0:
            raise InputError.one("argument", "--time", "not a time in the story",
                                 f"0 to {story.duration_s:.0f} s", str(time_s))
        t = min(float(time_s), story.duration_s)
    renderer = SceneRenderer(story, size, depth_peels=STILL_DEPTH_PEELS, shell_mm=None)
    if STILL_FXAA:
        renderer.plotter.renderer.SetUseFXAA(True)
    try:
        renderer.set_options(view=view)
        renderer.apply(story.state_at(t))
        img = renderer.image()
    finally:
        renderer.close()
    with atomic_path(out_png) as tmp:
        iio.imwrite(tmp, img, extension=".png")
