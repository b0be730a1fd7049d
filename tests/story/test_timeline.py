"""The story timeline: pure frames, probes placed in chapter 4, the clock and isotherms following the
thermal history, sensor readings from the result, readable subtitles with this scene's numbers."""

from __future__ import annotations

import math
import random
import re

import numpy as np
import pytest

from cryoviz.model.scene import LANGUAGES
from cryoviz.story.text import CHAPTER_IDS, reading_grade, word_count
from cryoviz.story.timeline import FrameState, Story

GRID_MM = 2.0


@pytest.fixture(scope="module")
def parts():
    """A real default scene, its anatomy and a coarse thermal result (shared by the tests here)."""
    from cryoviz.model.anatomy import build_anatomy
    from cryoviz.model.scene_load import load_scene
    from cryoviz.physics.thermal import simulate

    scene = load_scene("scenes/salvage_whole_gland.toml")
    anatomy = build_anatomy(scene.anatomy)
    result = simulate(scene, grid_mm=GRID_MM, anatomy=anatomy)  # the cache is shared with other tests
    return scene, anatomy, result


@pytest.fixture(scope="module")
def story(parts):
    return Story(*parts, lang="en")


def _chapter(story, cid):
    return next(c for c in story.chapters if c.id == cid)


def _samples(story, n=400):
    return [story.duration_s * i / (n - 1) for i in range(n)]


def test_state_at_is_pure_and_deterministic(parts, story):
    times = _samples(story, 120)
    forward = [story.state_at(t) for t in times]
    shuffled = times[:]
    random.Random(3).shuffle(shuffled)
    by_time = {t: story.state_at(t) for t in shuffled}
    again = Story(*parts, lang="en")
    for t, state in zip(times, forward, strict=True):
        assert isinstance(state, FrameState)
        assert by_time[t] == state and hash(by_time[t]) == hash(state)
        assert again.state_at(t) == state
    assert len({hash(s) for s in forward}) > 60  # the picture does change over the story
    with pytest.raises(TypeError):
        forward[0].organ_opacity["prostate"] = 0.0
    assert story.state_at(-5.0) == story.state_at(0.0)
    for ch in story.chapters:  # stills taken "at a chapter" show that chapter
        assert story.chapter_at(story.chapter_time(ch.id)).id == ch.id
        assert story.chapter_time(str(ch.number)) == story.chapter_time(ch.id)
    assert story.state_at(story.duration_s + 10) == story.state_at(story.duration_s)


def test_probes_slide_in_one_by_one_and_reach_their_planned_tips_by_the_end_of_chapter_4(parts, story):
    from cryoviz.model.layout import probe_segment_mm
    from cryoviz.model.probes import PROBE_CATALOGUE

    _, anatomy, _ = parts
    ch = _chapter(story, "probes")
    assert len(story.probes) >= 3
    before = story.state_at(ch.start_s)
    assert all(d == 0.0 for d in before.probe_depths_mm.values())
    assert all(d == 0.0 for d in story.state_at(_chapter(story, "preparation").end_s - 0.01)
               .probe_depths_mm.values())
    times = np.linspace(ch.start_s, ch.end_s - 1e-6, 600)
    full_at = {}
    for t in times:
        s = story.state_at(t)
        for p in story.probes:
            tip = np.array(s.probe_tips_mm[p.name])
            assert tip[:2] == pytest.approx((p.x_mm, p.y_mm))  # straight through its template hole
            if p.name not in full_at and s.probe_depths_mm[p.name] == pytest.approx(p.depth_mm):
                full_at[p.name] = t
    end = story.state_at(ch.end_s - 1e-6)
    for p in story.probes:
        planned_tip, _entry = probe_segment_mm(p, anatomy, PROBE_CATALOGUE[p.kind])
        assert end.probe_tips_mm[p.name] == pytest.approx(tuple(planned_tip), abs=1e-6)
        assert end.probe_depths_mm[p.name] == pytest.approx(p.depth_mm)
    # one by one: each probe finishes at its own moment, all inside the chapter
    assert len(full_at) == len(story.probes)
    assert len(set(np.round(list(full_at.values()), 3))) == len(story.probes)
    assert min(full_at.values()) > ch.start_s
    # the ultrasound probe and the catheter went in during chapter 3
    prep = _chapter(story, "preparation")
    assert story.state_at(prep.start_s).trus_in == 0.0 and story.state_at(prep.start_s).catheter_in == 0.0
    assert story.state_at(prep.end_s - 1e-6).trus_in == 1.0
    assert story.state_at(prep.end_s - 1e-6).catheter_in == 1.0


def test_clock_and_isotherms_follow_the_thermal_history(parts, story):
    _, _, result = parts
    times_s = np.asarray(result.times_s)
    f1, tr = _chapter(story, "freeze1"), _chapter(story, "thaw_refreeze")
    assert story.state_at(f1.start_s).procedure_s == 0.0
    assert story.state_at(_chapter(story, "probes").end_s - 1e-6).isotherm_time_s is None
    prev = -1.0
    phases = []
    for t in np.linspace(f1.start_s, tr.end_s - 1e-6, 500):
        s = story.state_at(t)
        assert s.procedure_s >= prev
        prev = s.procedure_s
        assert s.isotherm_time_s == pytest.approx(s.procedure_s)
        assert times_s[0] <= s.isotherm_time_s <= times_s[-1]
        assert set(s.isotherms_c) == {0.0, -20.0, -40.0}
        m, sec = divmod(math.floor(s.procedure_s + 1e-6), 60)
        assert s.clock_text.endswith(f"{m:02d}:{sec:02d}")
        phases.append((s.phase, s.cycle))
    assert story.state_at(tr.end_s - 1e-6).procedure_s == pytest.approx(times_s[-1], abs=1e-3)
    first_freeze_end = parts[0].protocol.cycles[0].freeze_s
    assert story.state_at(f1.end_s - 1e-6).procedure_s == pytest.approx(first_freeze_end, abs=1.0)
    assert story.state_at(story.chapter_time("freeze1")).phase == "freeze"  # the still shows ice, not thaw
    assert ("freeze", 1) in phases and ("thaw", 1) in phases and ("freeze", 2) in phases
    # "what was spared" shows the coldest temperatures over the whole protocol
    sp = story.state_at(story.chapter_time("spared"))
    assert sp.show_coldest and sp.isotherm_time_s == pytest.approx(times_s[-1])


def test_sensor_readings_are_the_results_series_at_the_clock(parts, story):
    _, _, result = parts
    assert set(story.state_at(0).sensor_temps_c) == set(result.sensors)
    assert {"rectal_wall", "apex", "sphincter"} <= set(result.sensors)
    coldest = 99.0
    for t in _samples(story, 200):
        s = story.state_at(t)
        for name, series in result.sensors.items():
            expected = np.interp(s.procedure_s, result.times_s, np.asarray(series, float))
            assert s.sensor_temps_c[name] == pytest.approx(expected, abs=1e-9)
        coldest = min(coldest, s.sensor_temps_c["rectal_wall"])
        assert len(s.sensor_readouts) == len(result.sensors)
        if s.panel_lines:  # after the protocol: the coldest reading, the same line as the panel's
            assert set(s.sensor_readouts) <= set(s.panel_lines)
            assert all("coldest" in r for r in s.sensor_readouts)
        else:
            assert not any("coldest" in r for r in s.sensor_readouts)
    assert coldest < 36.0  # the rectal sensor does see the cold coming


def test_every_chapter_has_captions_and_a_title_card_in_both_languages(parts):
    stories = {lang: Story(*parts, lang=lang) for lang in LANGUAGES}
    en = stories["en"]
    assert [c.id for c in en.chapters] == list(CHAPTER_IDS)
    for lang, st in stories.items():
        assert st.duration_s == en.duration_s  # same timing in every language
        assert [(c.start_s, c.end_s) for c in st.chapters] == [(c.start_s, c.end_s) for c in en.chapters]
        for ch in st.chapters:
            inside = [c for c in st.cues if ch.start_s <= c.start_s < ch.end_s]
            assert inside, (lang, ch.id)
            mid = inside[0]
            assert st.state_at(0.5 * (mid.start_s + mid.end_s)).caption == mid.text
            card = st.state_at(ch.start_s + (3.2 if ch.index == 1 else 0.1)).card
            assert card == f"{ch.index}. {ch.title}"
        opening = st.state_at(0.0)  # the scene's own title in its language, the file's title otherwise
        own = lang == parts[0].story.language
        assert opening.card == (parts[0].title if own else st.text["cards"]["opening_title"])
        assert opening.card_sub == st.text["cards"]["opening_subtitle"]
        assert st.state_at(st.duration_s).card == st.text["cards"]["closing_title"]
        assert st.state_at(0.0).disclaimer == st.text["common"]["disclaimer"]


def test_english_cues_are_readable_and_slow_enough(story):
    assert len(story.cues) > 40
    for cue in story.cues:
        import textstat

        words = max(word_count(cue.text), textstat.lexicon_count(cue.text))
        assert words / (cue.end_s - cue.start_s) <= 3.0, cue
        assert reading_grade(cue.text) <= 8.0, cue.text
    # cues never overlap and stay inside their chapter
    for a, b in zip(story.cues, story.cues[1:], strict=False):
        assert a.end_s <= b.start_s + 1e-9


def test_spared_chapter_quotes_this_scenes_simulated_numbers(parts, story):
    _, _, result = parts
    m = result.metrics["organs"]
    ch = _chapter(story, "spared")
    spoken = " ".join(c.text for c in story.cues if ch.start_s <= c.start_s < ch.end_s)
    pct = math.floor(100 * m["prostate"]["fraction_below_minus40"])
    rect = math.floor(m["rectum_wall"]["min_temp_c"])
    assert f"{pct} % of the prostate" in spoken
    assert f"The other {100 - pct} % got less cold" in spoken  # the share left means something
    if m["rectum_wall"]["min_temp_c"] > 0:
        assert re.search(rf"rectal wall (stayed at|cooled to) {rect} °C", spoken), spoken
        assert "did not" in spoken
    assert any(f"{rect} °C" in line for line in story.spared_lines)
    assert "deadly" not in spoken


def test_only_the_chapters_the_scene_asks_for(parts):
    import dataclasses

    scene, anatomy, result = parts
    short = dataclasses.replace(scene, story=dataclasses.replace(scene.story, chapters=(7, 5)))
    st = Story(short, anatomy, result)
    assert [c.id for c in st.chapters] == ["freeze1", "spared"]
    assert st.chapter_time("probes") is None and st.chapter_time("5") == st.chapter_time("freeze1")
    assert st.state_at(0).card == scene.title
    # probes are already in place when the story starts with the freeze
    assert all(d > 0 for d in st.state_at(0).probe_depths_mm.values())


def test_camera_moves_smoothly_and_frames_the_gland(story):
    prev = None
    fps = 30.0
    for k in range(int(story.duration_s * fps) + 1):
        cam = story.state_at(k / fps).camera
        pos, focal, up = (np.asarray(v) for v in cam[:3])
        view = focal - pos
        assert abs(np.dot(view, up)) < 1e-6 * np.linalg.norm(view)  # view up is perpendicular
        assert np.linalg.norm(up) == pytest.approx(1.0)
        dist = np.linalg.norm(view)
        assert 40.0 < dist < 1000.0
        if prev is not None:  # never jumps: at most ~3 degrees of orbit (or 5 % of the distance) a frame
            assert np.linalg.norm(pos - prev) < 0.05 * dist
        prev = pos


def test_prostate_turns_translucent_while_freezing(story):
    a = story.state_at(story.chapter_time("anatomy")).organ_opacity
    f = story.state_at(story.chapter_time("freeze1")).organ_opacity
    assert f["prostate"] < 0.5 * a["prostate"]
    assert set(a) <= {"prostate", "urethra", "sphincter", "bladder", "rectum", "seminal_vesicles",
                      "neurovascular_bundles", "perineum", "pubic_bone"}
    assert "prostate" in a


def test_no_result_is_shown_before_its_moment(story):
    sp = _chapter(story, "spared")
    sp_content = next(c.start_s for c in story.cues if sp.start_s <= c.start_s)
    for t in _samples(story, 300):
        s = story.state_at(t)
        if t < sp_content - 1e-6:
            assert s.panel_lines == (), t           # the coldest figures exist once the protocol is over
        else:
            assert s.panel_lines == story.spared_lines
    # result sentences (a structure's outcome) are only said in the result chapter
    for c in story.cues:
        if c.about:
            assert sp.start_s <= c.start_s < sp.end_s, c
    assert story.spared_lines and any("%" in line for line in story.spared_lines)


def test_the_ultrasound_follows_the_story(story):
    prep = _chapter(story, "preparation")
    for t in _samples(story, 300):
        s = story.state_at(t)
        if s.trus_in < 0.999:      # dark until the ultrasound probe is in, and again once it is out
            assert s.ultrasound_s is None, t
        else:
            assert s.ultrasound_s == pytest.approx(max(s.procedure_s, 0.0))
    assert story.state_at(prep.end_s - 1e-6).ultrasound_s == 0.0   # in, before any freezing: warm tissue
    assert story.state_at(story.duration_s).ultrasound_s is None     # the probe came out at the end


def test_frozen_organs_only_from_the_result_chapter(story):
    from cryoviz.story.outcomes import STRUCTURES

    mesh = {s.id: s.mesh for s in STRUCTURES}
    frozen = tuple(mesh[f.structure] for f in story.findings if f.outcome == "frozen" and f.structure in mesh)
    assert frozen  # the default scene freezes some protected structure (the nerve bundles at least)
    sp = _chapter(story, "spared")
    first = next(c.start_s for c in story.cues if c.start_s >= sp.start_s)
    for t in _samples(story, 200):
        assert story.state_at(t).frozen_organs == (frozen if t >= first - 1e-6 else ()), t
