"""The story before the simulation is ready: the anatomy chapters only, told without a single thermal figure.

The chapters before the first freeze ("anatomy", "why", "preparation", "probes") need no thermal result:
what they show and say comes from the anatomy, the probe layout and the scene. The consultation app draws
them at once on a cold start and after a sizing change, while the solver compiles and runs in the
background; the chapters that need the result are listed as pending and are not in this story, so nothing
about ice, coverage or sparing can be shown or said before the result exists.

Their timing is the timing of the full story (the same cues, the same lengths), so when the result arrives
the full story replaces this one at the same story time without a jump.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from cryoviz.story.text import CHAPTER_IDS, chapter_id
from cryoviz.story.timeline import Story

__all__ = ["FIRST_RESULT_CHAPTER", "GLAND_MARGIN_MM", "AnatomyOnly", "AnatomyStory", "anatomy_story",
           "gland_grid"]

#: Number of the first chapter that needs the thermal result ("freeze1"); earlier ones are anatomy.
FIRST_RESULT_CHAPTER = CHAPTER_IDS.index("freeze1") + 1


@dataclass
class AnatomyOnly:
    """What a story needs of a thermal result, without temperatures: grid, probes and geometry figures.

    ``times_s`` spans the protocol (0 to its end), as a result's snapshots do, so the story is laid out
    like the full one; there is no temperature field (``temps_c`` and ``min_temp_c`` are None) and no
    sensor or probe reading: nothing thermal exists to be shown.

    Attributes
    ----------
    grid : LabelGrid
        The solver's label grid around the gland (:func:`gland_grid`).
    probes : tuple of Probe
        The resolved probes (:func:`cryoviz.model.layout.resolve_probes`).
    metrics : dict
        Geometry only: ``organs.prostate.volume_ml`` counted on ``grid`` as the metrics count it, and each
        lesion's ``name``, ``sector`` and ``pirads``.
    """

    grid: object
    times_s: np.ndarray
    probes: tuple
    probe_temps_c: np.ndarray
    metrics: dict = field(default_factory=dict)
    temps_c: None = None
    min_temp_c: None = None
    sensors: dict = field(default_factory=dict)
    sensor_positions_mm: dict = field(default_factory=dict)


class AnatomyStory(Story):
    """The anatomy chapters of a scene's story (see the module docstring); ``pending`` lists the others.

    Parameters
    ----------
    scene : Scene
        The full scene (its chapters from :data:`FIRST_RESULT_CHAPTER` on are left out here).
    anatomy : Anatomy
    result : AnatomyOnly
    lang : str, optional

    Attributes
    ----------
    pending : tuple of (str, str)
        ``(chapter id, title)`` of each chapter of the scene that waits for the thermal result.
    """

    #: The app shows this story's chapters and marks the rest as being computed.
    is_pending = True

    def __init__(self, scene, anatomy, result: AnatomyOnly, lang: str | None = None):
        self.full_scene = scene
        numbers = tuple(sorted(set(int(c) for c in scene.story.chapters)))
        mine = tuple(n for n in numbers if n < FIRST_RESULT_CHAPTER)
        if not mine:
            raise ValueError("the scene has no chapter before the freeze to show without a result")
        shown = dataclasses.replace(scene, story=dataclasses.replace(scene.story, chapters=mine))
        super().__init__(shown, anatomy, result, lang=lang)
        # nothing is found before the result exists: no outcome, no frozen organ, no panel line
        self.findings, self._frozen, self.spared_lines, self._coldest_readouts = (), (), (), ()
        self.gap = None
        self._numbers.pop("probe_min_c", None)   # the probes' body temperature is no reading of the run
        self.values.pop("probe_min_c", None)
        titles = self._texts[self.lang]["chapters"]
        self.pending = tuple((chapter_id(n), str(titles[chapter_id(n)]["title"])) for n in numbers
                             if n >= FIRST_RESULT_CHAPTER)
        # the full story goes on after the last anatomy chapter (no closing card): end where its content ends
        last = self._plans[-1]
        if not self.pending:
            return
        end = last.content_end_s
        chapter = dataclasses.replace(last.chapter, end_s=end)
        self._plans = (*self._plans[:-1], dataclasses.replace(last, chapter=chapter))
        self.chapters = tuple(p.chapter for p in self._plans)
        self.duration_s = end
        self._last_s = math.nextafter(end, -math.inf)

    def with_language(self, lang: str) -> AnatomyStory:
        """The same pending story in another language (same timing)."""
        return AnatomyStory(self.full_scene, self.anatomy, self.result, lang=lang)

    def state_at(self, t_s: float):
        """As :meth:`Story.state_at`, never past the last anatomy chapter's content (no closing card)."""
        t = float(t_s)
        if self.pending and math.isfinite(t):
            t = min(t, self._last_s)
        return super().state_at(t)


#: Margin around the prostate mesh's bounds of the voxels counted for its volume, mm.
GLAND_MARGIN_MM = 4.0


def gland_grid(scene, anatomy, grid_mm: float, box_mm=None):
    """The solver's label grid (:func:`cryoviz.physics.thermal.scene_grid`), only around ``box_mm``.

    Labels are set voxel by voxel at the voxel centres, so the voxels of a box cut from the solver's own
    lattice get the same labels as in the whole grid: the prostate's voxels (all inside its mesh's bounds
    widened by :data:`GLAND_MARGIN_MM`) are counted as the metrics count them, for a fraction of the cost
    (the whole grid takes seconds on a busy machine). ``box_mm`` None: the whole grid.
    """
    from cryoviz.physics.thermal import _centred_bounds  # the solver's bounds, not repeated here

    b = _centred_bounds(anatomy, grid_mm, scene.thermal.margin_mm)
    if box_mm is not None:
        origin = b[0::2]
        n = np.floor((b[1::2] - origin) / grid_mm + 1e-9)
        box = np.asarray(box_mm, float) + np.array([-1.0, 1.0] * 3) * GLAND_MARGIN_MM
        lo = np.clip(np.floor((box[0::2] - origin) / grid_mm), 0, n)
        hi = np.clip(np.ceil((box[1::2] - origin) / grid_mm), 0, n)
        b = np.ravel(np.column_stack([origin + grid_mm * lo, origin + grid_mm * hi]))
    return anatomy.label_grid(grid_mm, bounds_mm=b)


def anatomy_story(scene, lang: str | None = None, grid_mm: float | None = None,
                  anatomy=None) -> AnatomyStory | None:
    """The anatomy chapters of ``scene``'s story, built without running or loading the simulation.

    Parameters
    ----------
    scene : Scene
        A validated scene.
    lang : str, optional
        Language; the scene's by default.
    grid_mm : float, optional
        The grid the full result will have (the prostate volume the anatomy chapter quotes is counted on
        it, as the metrics count it); the scene's by default.
    anatomy : Anatomy, optional
        The scene's anatomy if already built.

    Returns
    -------
    AnatomyStory or None
        None when the scene has no chapter before the freeze (then there is nothing to show yet).
    """
    from pathlib import Path

    from cryoviz.model.anatomy import build_anatomy, phantom_anatomy
    from cryoviz.model.layout import resolve_probes
    from cryoviz.model.tissue import BODY_TEMP_C
    from cryoviz.physics.metrics import ORGAN_LABELS

    if not any(int(c) < FIRST_RESULT_CHAPTER for c in scene.story.chapters):
        return None
    if anatomy is None:
        anatomy = (phantom_anatomy(scene.phantom) if scene.phantom is not None
                   else build_anatomy(scene.anatomy, base_dir=Path(scene.path).parent))
    grid_mm = float(scene.thermal.grid_mm if grid_mm is None else grid_mm)
    box = np.asarray(anatomy.mesh("prostate").bounds, float) if "prostate" in anatomy.organs else None
    grid = gland_grid(scene, anatomy, grid_mm, box)
    probes = tuple(resolve_probes(scene, anatomy))
    metrics: dict = {"organs": {}}
    if box is not None:
        count = int(np.isin(grid.labels, ORGAN_LABELS["prostate"]).sum())
        metrics["organs"]["prostate"] = {"volume_ml": round(count * grid_mm ** 3 / 1000.0, 2)}
    if getattr(scene, "lesions", ()):
        from cryoviz.model.lesions import resolve_lesions

        metrics["lesions"] = [{"name": p.name, "sector": p.sector, "pirads": p.lesion.pirads}
                              for p in resolve_lesions(scene, anatomy)]
    body_c = float(scene.phantom.temp_c) if scene.phantom is not None else BODY_TEMP_C
    times = np.array([0.0, float(scene.protocol.duration_s)])
    # the probes are at body temperature until the gas flows (the anatomy chapters end before it does)
    result = AnatomyOnly(grid=grid, times_s=times, probes=probes,
                         probe_temps_c=np.full((2, len(probes)), body_c, np.float32), metrics=metrics)
    story = AnatomyStory(scene, anatomy, result, lang=lang)
    # every organ's surface now, in the caller's thread (the app's worker): the renderer, built on the event
    # loop, then only draws them (1.5 s of mesh building moved off the loop for a new gland size)
    anatomy.meshes()
    return story
