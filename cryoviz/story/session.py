"""Load everything one story needs: scene, anatomy, thermal result (cached), timeline.

Shared by ``still``, ``render`` and ``serve`` so that what the patient sees in the exam room is made from
the same pieces as the take-home video.
"""

from __future__ import annotations

from pathlib import Path

from cryoviz.core.errors import InputError
from cryoviz.model.scene import LANGUAGES, Scene

__all__ = ["build_story", "check_lang", "load_story"]


def check_lang(lang: str | None, option: str = "--lang") -> str | None:
    """Return ``lang`` if it is a supported language (or None); else raise the contract error."""
    if lang is not None and lang not in LANGUAGES:
        raise InputError.one("argument", option, "unknown language", ", ".join(LANGUAGES), lang)
    return lang


def build_story(scene: Scene, lang: str | None = None, grid_mm: float | None = None,
                use_cache: bool = True):
    """Build anatomy, thermal result and :class:`~cryoviz.story.timeline.Story` for a validated scene."""
    from cryoviz.model.anatomy import build_anatomy, phantom_anatomy
    from cryoviz.physics.thermal import simulate
    from cryoviz.story.timeline import Story

    if scene.phantom is not None:
        anatomy = phantom_anatomy(scene.phantom)
    else:
        anatomy = build_anatomy(scene.anatomy, base_dir=Path(scene.path).parent)
    result = simulate(scene, grid_mm=grid_mm, use_cache=use_cache, anatomy=anatomy)
    return Story(scene, anatomy, result, lang=lang)


def load_story(scene_or_path: Scene | str | Path, lang: str | None = None, grid_mm: float | None = None,
               use_cache: bool = True):
    """Load a scene file (or take a :class:`Scene`) and build its story.

    Parameters
    ----------
    scene_or_path : Scene or path-like
        The scene, or its TOML file.
    lang : str, optional
        Language code; defaults to the scene's.
    grid_mm : float, optional
        Thermal grid spacing in mm; defaults to the scene's.
    use_cache : bool
        Reuse a cached thermal result when one matches.

    Returns
    -------
    cryoviz.story.timeline.Story
    """
    from cryoviz.model.scene_load import load_scene

    check_lang(lang)
    scene = scene_or_path if isinstance(scene_or_path, Scene) else load_scene(scene_or_path,
                                                                              check_geometry=True)
    return build_story(scene, lang=lang, grid_mm=grid_mm, use_cache=use_cache)
