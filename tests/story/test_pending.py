"""The anatomy story (before the thermal result exists): the same anatomy chapters as the full story, at the
same times, with no thermal figure in them; the chapters that need the result are listed, not told."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cryoviz.model.scene import LANGUAGES
from cryoviz.story.pending import anatomy_story

GRID_MM = 2.0
#: FrameState fields that may differ: the full story reads the sensors at procedure time 0 (body
#: temperature, a result of the run); the anatomy story has no reading at all.
SENSOR_FIELDS = {"sensor_temps_c", "sensor_readouts", "show_sensors"}


@pytest.fixture(scope="module")
def both():
    from cryoviz.model.anatomy import build_anatomy
    from cryoviz.model.scene_load import load_scene
    from cryoviz.physics.thermal import simulate
    from cryoviz.story.timeline import Story

    scene = load_scene("scenes/salvage_focal_lesion.toml")   # has a lesion: the "why" chapter says where
    anatomy = build_anatomy(scene.anatomy)
    full = Story(scene, anatomy, simulate(scene, grid_mm=GRID_MM, anatomy=anatomy), lang="en")
    return scene, full, anatomy_story(scene, lang="en", grid_mm=GRID_MM, anatomy=anatomy)


def test_anatomy_chapters_have_the_full_storys_timing_and_pictures(both):
    _scene, full, pending = both
    assert [c.id for c in pending.chapters] == ["anatomy", "why", "preparation", "probes"]
    assert [cid for cid, _t in pending.pending] == ["freeze1", "thaw_refreeze", "spared", "after"]
    for a, b in zip(pending.chapters, full.chapters, strict=False):
        assert (a.id, a.start_s, a.end_s, a.title) == (b.id, b.start_s, b.end_s, b.title)
    assert pending.duration_s == full.chapters[3].end_s < full.duration_s
    assert [c for c in pending.cues] == [c for c in full.cues if c.end_s <= pending.duration_s]
    differ = set()
    for t in np.arange(0.0, pending.duration_s, 0.2):
        a, b = pending.state_at(float(t)), full.state_at(float(t))
        differ |= {f.name for f in dataclasses.fields(a) if getattr(a, f.name) != getattr(b, f.name)}
    assert differ <= SENSOR_FIELDS


def test_nothing_thermal_is_said_or_shown(both):
    _scene, full, pending = both
    assert pending.result.temps_c is None and pending.result.min_temp_c is None
    assert pending.findings == () and pending.spared_lines == () and pending.gap is None
    assert "probe_min_c" not in pending.values and "probe_min_c" in full.values
    # the prostate volume is counted on the grid the result will have, exactly as the metrics count it
    assert pending.values["volume_ml"] == full.values["volume_ml"]
    for t in np.linspace(0.0, pending.duration_s + 50.0, 200):
        s = pending.state_at(float(t))
        assert s.isotherm_time_s is None and s.isotherms_c == () and s.legend == ()
        assert s.sensor_readouts == () and s.panel_lines == () and s.frozen_organs == ()
        assert s.card != pending.text["cards"]["closing_title"]   # the story goes on: no closing card
        assert s.chapter.id == "probes" or t < pending.duration_s


def test_the_why_chapter_names_the_lesion_as_the_full_story_does(both):
    _scene, full, pending = both
    why = [c.text for c in pending.cues if c.start_s < pending.chapters[1].end_s
           and c.start_s >= pending.chapters[1].start_s]
    assert why and why == [c.text for c in full.cues if pending.chapters[1].start_s <= c.start_s
                           < pending.chapters[1].end_s]


def test_every_language_and_no_anatomy_chapter(both):
    scene, _full, pending = both
    for lang in LANGUAGES:
        other = pending.with_language(lang)
        assert other.lang == lang and other.duration_s == pending.duration_s
        assert other.pending[0][1] == other.text["chapters"]["freeze1"]["title"]
    only_result = dataclasses.replace(scene, story=dataclasses.replace(scene.story, chapters=(5, 7)))
    assert anatomy_story(only_result, grid_mm=GRID_MM) is None


def test_the_gland_box_counts_the_same_prostate_voxels_as_the_whole_grid(both):
    from cryoviz.model.anatomy import build_anatomy
    from cryoviz.physics.thermal import scene_grid
    from cryoviz.story.pending import gland_grid

    scene, _full, _pending = both
    anatomy = build_anatomy(scene.anatomy)
    for grid_mm in (2.0, 1.0):
        whole = scene_grid(scene, anatomy, grid_mm)
        part = gland_grid(scene, anatomy, grid_mm, anatomy.mesh("prostate").bounds)
        assert part.labels.size < whole.labels.size / 3
        offset = np.rint((np.asarray(part.origin_mm) - whole.origin_mm) / grid_mm).astype(int)
        assert np.allclose(np.asarray(part.origin_mm), whole.origin_mm + offset * grid_mm)
        nx, ny, nz = part.labels.shape
        ox, oy, oz = offset
        assert np.array_equal(part.labels, whole.labels[ox:ox + nx, oy:oy + ny, oz:oz + nz])
        assert (part.labels == 1).sum() == (whole.labels == 1).sum() > 0
