"""Consultation app, in process (no browser): every control's handler, and the pure state helpers."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from _apphelpers import SCENE

from cryoviz.core.errors import InputError
from cryoviz.deliver import app_state as st

SIZE = (320, 240)


# ------------------------------------------------------------------------------------ pure helpers
def test_png_round_trip_rgb_and_grey():
    from PIL import Image

    rng = np.random.default_rng(3)
    for shape in ((7, 5, 3), (4, 9), (3, 3, 4)):
        img = rng.integers(0, 256, shape, dtype=np.uint8)
        back = np.asarray(Image.open(io.BytesIO(st.encode_png(img))))
        assert back.shape == img.shape and np.array_equal(back, img)
    assert st.png_data_url(np.zeros((2, 2, 3), np.uint8)).startswith("data:image/png;base64,iVBOR")
    with pytest.raises(ValueError):
        st.encode_png(np.zeros((2, 2, 3), np.float32))


def test_clock_and_chapter_steps():
    assert st.format_clock(0) == "00:00"
    assert st.format_clock(605.9) == "10:05"
    assert st.format_clock(-3) == "--:--" and st.format_clock(float("nan")) == "--:--"

    class Ch:
        def __init__(self, a, b):
            self.start_s, self.end_s = a, b

    chs = [Ch(0, 10), Ch(10, 25), Ch(25, 40)]
    assert st.chapter_index_at(chs, 12.0) == 1
    assert st.chapter_index_at(chs, 99.0) == 2
    assert st.step_chapter(chs, 12.0, 1) == 2
    assert st.step_chapter(chs, 12.0, -1) == 0
    assert st.step_chapter(chs, 30.0, 5) == 2   # clamped at the last chapter
    assert st.step_chapter([], 3.0, 1) == 0
    assert st.chapter_jump_s(chs[1], [1.0, 11.5, 14.0, 26.0]) == 11.5   # first subtitle inside
    assert st.chapter_jump_s(chs[2], [1.0, 11.5]) == 25.0                # none: the chapter's start


def test_spared_numbers_reads_contract_metrics_and_tolerates_gaps():
    m = {"organs": {"prostate": {"fraction_below_minus40": 0.91},
                    "urethra": {"min_temp_c": 12.0},
                    "rectum_wall": {"min_temp_c": 8.5, "min_distance_to_minus40_mm": 7.2}}}
    got = st.spared_numbers(m)
    assert got == {"rectal_wall_min_temp_c": 8.5, "rectal_wall_distance_to_lethal_mm": 7.2,
                   "urethra_min_temp_c": 12.0, "prostate_fraction_lethal": 0.91}
    gaps = st.spared_numbers({"organs": {"urethra": {"min_temp_c": float("nan")}}})
    assert all(v is None for v in gaps.values())
    assert all(v is None for v in st.spared_numbers("not a dict").values())


def test_sensor_chart_has_one_curve_per_sensor_and_a_time_marker():
    t = np.linspace(0, 1200, 40)
    svg = st.sensor_chart_svg(t, {"apex": 37 - t / 30, "rectal_wall": 37 - t / 100}, now_s=600.0)
    assert svg.count("<polyline") == 2 and 'stroke="#fff"' in svg
    assert 'stroke="#fff"' not in st.sensor_chart_svg(t, {"apex": t * 0}, now_s=None)
    assert "<polyline" not in st.sensor_chart_svg(t[:1], {}, now_s=0.0)


def test_sized_scene_changes_only_what_was_asked_and_rejects_out_of_range():
    from cryoviz.model.scene_load import load_scene

    scene = load_scene(SCENE)
    bigger = st.sized_scene(scene, volume_ml=55, rectum_gap_mm=9.5, hydrodissection=True, preset="focal")
    assert bigger.anatomy.volume_ml == 55 and bigger.anatomy.rectum_gap_mm == 9.5
    assert bigger.anatomy.hydrodissection and bigger.layout.preset == "focal" and bigger.probes == ()
    assert bigger.protocol == scene.protocol and st.sized_scene(scene) == scene
    for kwargs, key in (({"volume_ml": 400}, "anatomy.volume_ml"), ({"rectum_gap_mm": "wide"},
                        "anatomy.rectum_gap_mm"), ({"preset": "spiral"}, "layout.preset")):
        with pytest.raises(InputError) as err:
            st.sized_scene(scene, **kwargs)
        line = str(err.value)
        assert line.startswith(f"app: {key}: ") and "allowed:" in line and "\n" not in line


def test_organ_display_names_come_from_the_language_file():
    from cryoviz.story.text import load_text

    assert st.organ_display_name("neurovascular_bundles", load_text("en")) == "Nerve bundles"
    assert st.organ_display_name("rectum", load_text("es")) != "Rectum"
    assert st.organ_display_name("seminal_vesicles") == "Seminal vesicles"


def test_thermal_cache_check_follows_the_cache(tmp_path, monkeypatch):
    from cryoviz.deliver.app import thermal_is_cached
    from cryoviz.model.scene_load import load_scene
    from cryoviz.physics.thermal import simulate

    monkeypatch.setenv("CRYOVIZ_CACHE", str(tmp_path))
    scene = load_scene(SCENE)
    assert not thermal_is_cached(scene, 4.0)
    simulate(scene, grid_mm=4.0)
    assert thermal_is_cached(scene, 4.0) and not thermal_is_cached(scene, 3.5)


def test_check_host_refuses_beyond_loopback_without_key():
    from cryoviz.deliver.app import check_host

    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.5"):
        check_host(host, None)
    check_host("0.0.0.0", "s3cret-long-enough-key")
    for host, key in (("0.0.0.0", None), ("192.0.2.10", None), ("example.org", None), ("0.0.0.0", " ")):
        with pytest.raises(InputError) as err:
            check_host(host, key)
        assert str(err.value).startswith("argument: --") and "\n" not in str(err.value)


# ------------------------------------------------------------------------------------ the app
@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from cryoviz.deliver.app import ConsultationApp
    from cryoviz.model.scene_load import load_scene

    with pytest.MonkeyPatch.context() as mp:   # an empty thermal cache: preview first, then full
        mp.setenv("CRYOVIZ_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield from _app(ConsultationApp, load_scene, tmp_path_factory)


def _app(ConsultationApp, load_scene, tmp_path_factory):
    a = ConsultationApp(load_scene(SCENE), size=SIZE, preview_grid_mm=4.0, full_grid_mm=3.0,
                        screenshot_dir=tmp_path_factory.mktemp("shots"))
    a.future.result(timeout=300)      # the anatomy chapters first, then the 3 mm result (no preview)
    assert a.process_pending() == 1
    a.state.ready()
    yield a
    a._on_exit()


def _set(app, **values):
    app.state.update(values)
    app.state.flush()


def _image(app) -> np.ndarray:
    return app.renderer.image().astype(np.int16)


def _changed(a, b) -> float:
    return float(np.mean(np.any(a != b, axis=-1)))


def test_startup_fills_every_panel(app):
    s = app.state
    assert s.sim_status == "full" and not s.sim_busy and app.grid_mm == 3.0
    assert len(s.chapters) >= 6 and s.duration_s > 60
    assert s.caption or s.chapter_title
    assert any(o["key"] == "prostate" and o["label"] == "Prostate" for o in s.organs)
    assert all(s.organs_visible.values())
    assert s.disclaimer == "For patient education only. Not for treatment planning."
    sp = s.spared
    assert 0.0 < sp["prostate_fraction_lethal"] <= 1.0
    assert sp["urethra_min_temp_c"] is not None and sp["rectal_wall_min_temp_c"] is not None
    img = _image(app)
    assert img.shape == (SIZE[1], SIZE[0], 3) and img.std() > 5   # not a blank picture
    # at the start nothing has happened yet: no results, and no ultrasound before its probe is in
    assert s.t_s == 0.0 and s.spared_lines == [] and s.us_src == ""
    spared = next(c for c in s.chapters if c["id"] == "spared")
    _set(app, t_s=spared["jump_s"] + 0.5)
    assert s.us_src.startswith("data:image/png;base64,")
    assert len(s.spared_lines) >= 3 and any("%" in line for line in s.spared_lines)
    _set(app, t_s=0.0)
    assert s.spared_lines == [] and s.us_src == ""


def test_timeline_moves_the_clock_and_clamps(app):
    _set(app, t_s=0.0)
    start_clock = app.state.clock
    freeze = next(c for c in app.state.chapters if c["id"] == "freeze1")
    _set(app, t_s=freeze["start_s"] + 8.0)
    assert app.state.clock != start_clock
    _set(app, t_s=-50.0)
    assert app.state.t_s == 0.0
    _set(app, t_s=1e9)
    assert app.state.t_s == app.state.duration_s
    _set(app, t_s="nonsense")
    assert app.state.t_s == 0.0


def test_chapter_buttons_change_caption_and_picture(app):
    app.goto_chapter(0)
    app.state.flush()
    first = (app.state.caption, app.state.chapter_id, _image(app))
    seen_ids = {first[1]}
    for i in range(1, len(app.state.chapters)):
        app.goto_chapter(i)
        app.state.flush()
        ch = app.state.chapters[i]
        assert ch["start_s"] < app.state.t_s == ch["jump_s"] < ch["end_s"]
        assert app.state.caption == app.story.state_at(ch["jump_s"]).caption   # a subtitle, not a card
        seen_ids.add(app.state.chapter_id)
    assert len(seen_ids) == len(app.state.chapters)
    app.goto_chapter(4)
    app.state.flush()
    assert app.state.caption != first[0] and _changed(_image(app), first[2]) > 0.02
    t = app.state.t_s
    for bad in (-1, 99, "x", None):
        app.goto_chapter(bad)
        app.state.flush()
        assert app.state.t_s == t


def test_keyboard_arrows_step_seconds_pages_step_chapters(app):
    from cryoviz.deliver.app import KEY_STEP_S

    app.goto_chapter(2)
    app.state.flush()
    third, t = app.state.chapter_id, app.state.t_s
    app.on_key("ArrowRight")
    app.state.flush()
    assert app.state.t_s == pytest.approx(t + KEY_STEP_S)
    app.on_key("ArrowLeft")
    app.on_key("ArrowLeft")
    app.state.flush()
    assert app.state.t_s == pytest.approx(t - KEY_STEP_S)
    app.goto_chapter(2)
    app.on_key("PageDown")
    app.state.flush()
    assert app.state.chapter_id == app.state.chapters[3]["id"]
    app.on_key("PageUp")
    app.on_key("PageUp")
    app.state.flush()
    assert app.state.chapter_id == app.state.chapters[1]["id"] != third
    app.on_key("End")
    app.state.flush()
    assert app.state.t_s == app.state.duration_s
    app.on_key("ArrowRight")            # clamped at the end
    app.state.flush()
    assert app.state.t_s == app.state.duration_s
    app.on_key("Home")
    app.on_key("ArrowLeft")
    app.state.flush()
    assert app.state.t_s == 0.0
    assert not app.state.playing
    app.on_key("space")
    assert app.state.playing
    app.on_key("space")
    app.on_key("Escape")          # other keys do nothing
    assert not app.state.playing


def test_play_ticks_at_speed_and_stops_at_the_end(app):
    _set(app, t_s=10.0, speed=2.0)
    app.tick(1.0)                 # paused: nothing moves
    app.state.flush()
    assert app.state.t_s == 10.0
    app.toggle_play()
    app.tick(1.5)
    app.state.flush()
    assert app.state.t_s == pytest.approx(13.0)
    _set(app, t_s=app.state.duration_s - 0.5)
    app.tick(1.0)
    app.state.flush()
    assert app.state.t_s == app.state.duration_s and not app.state.playing
    app.toggle_play()             # play at the end starts from the beginning
    assert app.state.playing and app.state.t_s == 0.0
    app.toggle_play()
    app.state.flush()


def test_speed_snaps_to_offered_values(app):
    for given, want in ((4, 4.0), (3.3, 4.0), (0.1, 0.5), ("fast", 1.0), (float("nan"), 1.0)):
        _set(app, speed=given)
        assert app.state.speed == want
    _set(app, speed=1.0)


def test_language_changes_caption_chapters_and_labels(app):
    app.goto_chapter(next(i for i, c in enumerate(app.state.chapters) if c["id"] == "spared"))
    app.state.flush()
    assert app.state.spared_lines  # the result chapter shows the results
    en = (app.state.caption, [c["title"] for c in app.state.chapters], app.state.spared_lines)
    _set(app, lang="es")
    assert app.state.labels["play"] != "Play" and app.story.lang == "es"
    assert app.state.caption != en[0] and app.state.caption
    assert [c["title"] for c in app.state.chapters] != en[1]
    assert app.state.spared_lines != en[2]
    assert app.state.disclaimer != "For patient education only. Not for treatment planning."
    layouts = {p["key"]: p["label"] for p in app.state.presets}
    assert layouts["whole_gland"] == "Glándula completa" and set(layouts) >= {"hemi_left", "focal"}
    _set(app, lang="xx")          # unknown: back to the story's language
    assert app.state.lang == "es"
    _set(app, lang="en")
    assert app.state.caption == en[0]
    assert {p["key"]: p["label"] for p in app.state.presets}["whole_gland"] == "Whole gland"


def test_organ_toggle_removes_that_organ(app):
    app.goto_chapter(0)
    app.state.flush()
    before = _image(app)
    app.toggle_organ("prostate", False)
    app.state.flush()
    assert app.renderer._opts["organs_visible"]["prostate"] is False
    after = _image(app)
    assert _changed(before, after) > 0.005
    app.toggle_organ("no_such_organ", False)
    assert "no_such_organ" not in app.state.organs_visible
    app.toggle_organ("prostate", True)
    app.state.flush()
    assert _changed(before, _image(app)) == 0.0


def test_cutaway_and_isotherm_toggles_change_the_picture(app):
    probes = next(c for c in app.state.chapters if c["id"] == "probes")   # a 3D chapter: the freeze
    _set(app, t_s=probes["end_s"] - 1.0)                                   # chapters are already cut open
    before = _image(app)
    _set(app, cutaway=True)
    assert _changed(before, _image(app)) > 0.005
    _set(app, cutaway=False)
    freeze = next(c for c in app.state.chapters if c["id"] == "freeze1")
    _set(app, t_s=freeze["end_s"] - 1.0)
    base = _image(app)
    _set(app, iso_0=False, iso_m20=False, iso_m40=False)
    assert app.renderer._opts["isotherms_c"] == ()
    assert _changed(base, _image(app)) > 0.005
    _set(app, iso_0=True, iso_m20=True, iso_m40=True)
    assert _changed(base, _image(app)) == 0.0


def test_clinician_switch_adds_curves_and_probe_table(app):
    _set(app, clinician=True, t_s=app.state.duration_s / 2)
    assert app.state.sensor_svg.count("<polyline") == len(app.story.result.sensors) > 0
    assert len(app.state.probe_rows) == len(app.story.result.probes) > 0
    assert any(r["name"] == "prostate" for r in app.state.numbers)
    _set(app, clinician=False)


def test_screenshot_writes_the_3d_view_as_png(app):
    from PIL import Image

    path = app.screenshot()
    img = np.asarray(Image.open(path))
    assert img.shape == (SIZE[1], SIZE[0], 3)
    assert np.array_equal(img, app.renderer.image())
    assert app.state.screenshot_path == str(path)


def test_resizing_resimulates_and_changes_spared_numbers(app):
    before = dict(app.state.spared)
    n_probes = len(app.story.result.probes)
    id_map = app.view._helper._vtk_core.GetObjectIdMap()
    old_id = int(app.view._helper.id(app.renderer.plotter.render_window))
    _set(app, volume_ml=60.0, preset="focal")
    assert app.state.sim_busy
    app.future.result(timeout=300)
    assert app.process_pending() == 2          # the new anatomy, then full
    assert app.state.sim_status == "full" and not app.state.sim_busy and app.grid_mm == 3.0
    assert app.scene.anatomy.volume_ml == 60.0 and app.scene.layout.preset == "focal"
    assert app.state.spared["prostate_fraction_lethal"] < before["prostate_fraction_lethal"]
    assert len(app.story.result.probes) < n_probes
    assert len(app.state.probe_rows) == len(app.story.result.probes)
    # the replaced render window is not kept alive by trame-vtk's object map
    assert id_map.GetVTKObject(old_id) is None
    assert id_map.GetVTKObject(int(app.view._helper.id(app.renderer.plotter.render_window))) is not None
    # hydrodissection widens the gap to 11 mm; off again gives the old gap back
    gap = app.state.rectum_gap_mm
    _set(app, hydrodissection=True)
    assert app.state.rectum_gap_mm == 11.0 and app.scene.anatomy.rectum_gap_mm == 11.0
    assert app.scene.anatomy.hydrodissection
    _set(app, hydrodissection=False)
    assert app.state.rectum_gap_mm == gap and not app.scene.anatomy.hydrodissection
    app.future.result(timeout=300)
    app.process_pending()
    # out of range: reported, nothing re-simulated
    scene = app.scene
    _set(app, volume_ml=500.0)
    assert app.state.sim_error.startswith("app: anatomy.volume_ml: ") and app.scene is scene
    assert not math.isnan(app.state.t_s)


def test_release_freed_memory_gives_pages_back_on_glibc():
    from cryoviz.deliver.app_state import release_freed_memory

    # many small blocks freed out of order leave glibc's heap fragmented: trimming must report a release
    blocks = [bytearray(3000) for _ in range(60_000)]
    del blocks[::2]
    del blocks
    assert release_freed_memory() is True


def _rss_file_mb() -> float:
    from pathlib import Path

    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:"):
            return float(line.split()[1]) / 1024.0
    raise AssertionError("no RssFile in /proc/self/status")


def test_map_in_makes_a_memory_mapped_array_resident(tmp_path):
    path = tmp_path / "snapshots.npy"
    np.save(path, np.arange(16 * 2**20 // 2, dtype=np.float16))    # 16 MB
    mm = np.load(path, mmap_mode="r")
    before = _rss_file_mb()
    pages = st.map_in(mm)
    assert pages >= mm.nbytes // 4096
    assert _rss_file_mb() - before > 0.9 * mm.nbytes / 2**20
    assert st.map_in(np.zeros(1000)) == 0 and st.map_in(None) == 0


def test_a_cached_result_is_mapped_in_at_install_so_memory_does_not_grow_while_playing(
        app, tmp_path_factory, monkeypatch):
    from cryoviz.deliver.app import ConsultationApp
    from cryoviz.model.scene_load import load_scene

    calls, real_map_in = [], st.map_in

    def spy(array):
        calls.append((array, real_map_in(array)))
        return calls[-1][1]

    monkeypatch.setattr(st, "map_in", spy)
    # the fixture's 3 mm result is in the cache now: a second consultation loads it memory-mapped
    again = ConsultationApp(load_scene(SCENE), size=SIZE, preview_grid_mm=4.0, full_grid_mm=3.0,
                            screenshot_dir=tmp_path_factory.mktemp("shots2"))
    try:
        assert again.future is None and again.state.sim_status == "full"
        # the start needed no preview, but a re-planning (a new patient, never cached) still gets one first
        assert again.resim.preview_grid_mm == 4.0
        temps = again.story.result.temps_c
        assert isinstance(temps, np.memmap)
        again.map_thread.join(timeout=60)
        assert not again.map_thread.is_alive()
        assert len(calls) == 1 and calls[0][0] is temps and calls[0][1] >= temps.nbytes // 4096
    finally:
        again._on_exit()
