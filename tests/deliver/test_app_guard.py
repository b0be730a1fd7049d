"""The server owns its state: hostile or careless client values never freeze, stop or poison a consultation.

In process (no browser, no network): the validation table (:mod:`cryoviz.deliver.app_guard`), the state
handlers, the play loop and the lifecycle hooks. The network side (origins, secrets, RPCs) is in
``test_app_security.py``.
"""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest
from _apphelpers import SCENE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from cryoviz.deliver import app_guard as guard

SIZE = (240, 180)
HOSTILE = [float("nan"), float("inf"), -float("inf"), 1e308, -1e308, "abc", "", "1", [], [1, 2], {},
           {"x": 1}, None, True, False, 2**70, -1, 0, "<img src=x onerror=1>"]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from cryoviz.deliver.app import ConsultationApp
    from cryoviz.model.scene_load import load_scene

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRYOVIZ_CACHE", str(tmp_path_factory.mktemp("cache")))
        a = ConsultationApp(load_scene(SCENE), size=SIZE, preview_grid_mm=5.0, full_grid_mm=5.0,
                            screenshot_dir=tmp_path_factory.mktemp("shots"))
        assert a.future is None     # preview grid == full grid: one simulation, installed at once
        a.state.ready()
        yield a
        a._on_exit()


def _set(app, **values):
    """A server-side write (what a handler or a test does), flushed like a client message would be."""
    app.state.update(values)
    app.state.flush()


def _state_is_valid(app) -> None:
    for key, check in guard.CLIENT_KEYS.items():
        if app.state[key] is None:      # not set yet (e.g. lesion_us in a scene without a lesion)
            continue
        assert check(app.state[key], app) == app.state[key], key


def _draws(app) -> None:
    app._show_now()
    img = app.renderer.image().astype(np.int16)
    assert img.shape == (SIZE[1], SIZE[0], 3) and img.std() > 5


# -------------------------------------------------------------------------------- the table itself
def test_screen_accepts_clean_values_and_rejects_every_hostile_kind(app):
    ok, bad = guard.screen(app, {"t_s": 12.5, "playing": True, "speed": 2.0, "lang": "es", "cutaway": False,
                                 "volume_ml": 40, "preset": "focal", "organs_visible": {"prostate": False}})
    assert bad == [] and ok["t_s"] == 12.5 and ok["speed"] == 2.0 and ok["volume_ml"] == 40.0
    assert ok["organs_visible"]["prostate"] is False and ok["organs_visible"]["bladder"] is True
    for value in HOSTILE:
        _ok, bad = guard.screen(app, {"volume_ml": value, "rectum_gap_mm": value, "playing": value,
                                      "speed": value, "lang": value, "organs_visible": value})
        real = isinstance(value, bool)
        assert set(bad) >= {"volume_ml", "rectum_gap_mm", "speed", "lang"}, value
        assert ("organs_visible" in bad) is (value != {})        # an empty dict changes nothing
        assert ("playing" in bad) is not real
    # a time beyond the story is clamped (a slider may overshoot); a time that is no number is refused
    assert guard.screen(app, {"t_s": 1e308})[0]["t_s"] == app.state.duration_s
    assert guard.screen(app, {"t_s": -5})[0]["t_s"] == 0.0
    assert guard.screen(app, {"t_s": float("nan")})[1] == ["t_s"]


def test_server_only_and_unknown_keys_are_not_client_writable(app):
    for key in ("disclaimer", "sim_busy", "duration_s", "caption", "sensor_svg", "chapters", "labels",
                "us_src", "spared_lines", "trame__title", "anything_else"):
        assert guard.screen(app, {key: "x"}) == ({}, [key])
    before = app.state.disclaimer
    assert app.client_update({"disclaimer": "", "sim_busy": True}) == ["disclaimer", "sim_busy"]
    assert app.state.disclaimer == before and before and not app.state.sim_busy


def test_rejected_client_value_keeps_the_last_valid_one(app):
    assert app.client_update({"volume_ml": 33.0}) == []
    for value in (float("nan"), 1e308, "abc", [30], float("inf")):
        assert app.client_update({"volume_ml": value}) == ["volume_ml"]
        assert app.state.volume_ml == 33.0
    app.future.result(timeout=300)
    app.process_pending()
    assert app.scene.anatomy.volume_ml == 33.0 and not app.state.sim_busy and app.state.sim_error == ""


# ------------------------------------------------------------------ handlers tolerate server-side writes
@pytest.mark.timeout(60, method="thread")   # the hang is inside trame's flush, which swallows signals
def test_nan_time_does_not_freeze_the_server(app):
    _set(app, t_s=float("nan"))       # today: the handler re-sets NaN for ever (100 % CPU)
    assert app.state.t_s == 0.0
    _set(app, t_s=float("inf"))
    assert app.state.t_s == 0.0
    _set(app, t_s=30.0)
    assert app.state.t_s == 30.0


def test_bad_organ_visibility_does_not_stop_later_results_from_installing(app):
    _set(app, organs_visible="x")
    app._install(app.story, "full", 0)
    assert not app.state.sim_busy and app.state.sim_status == "full"
    assert isinstance(app.state.organs_visible, dict) and all(app.state.organs_visible.values())
    _draws(app)


def test_a_refused_sizing_value_does_not_block_the_next_resimulation(app):
    _set(app, rectum_gap_mm=float("nan"))
    assert app.state.sim_error.startswith("app: anatomy.rectum_gap_mm: ")
    assert app.state.rectum_gap_mm == app.scene.anatomy.rectum_gap_mm     # back to the shown scene
    _set(app, volume_ml=36.0)
    assert app.state.sim_busy and app.state.sim_error == ""
    app.future.result(timeout=300)
    app.process_pending()
    assert app.scene.anatomy.volume_ml == 36.0 and app.state.sim_status == "full" and not app.state.sim_busy


def test_play_loop_survives_bad_values_set_through_state(app):
    async def scenario():
        app._loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(app._play_loop())
        app._play_task = task
        try:
            _set(app, t_s=0.0, duration_s="x", playing=True)    # today: ValueError kills the loop
            await asyncio.sleep(0.3)
            assert not task.done()
            _set(app, duration_s=float(app.story.duration_s), speed="fast", playing=True)
            await asyncio.sleep(0.5)
            assert not task.done()
            t0 = float(app.state.t_s)
            _set(app, speed=4.0, playing=True)
            for _ in range(30):          # the page acknowledges each picture it shows
                await asyncio.sleep(0.05)
                app.frame_shown(app.pacer.seq)
            assert float(app.state.t_s) > t0 and not task.done()
        finally:
            _set(app, playing=False)
            task.cancel()
            app._loop, app._play_task = None, None

    asyncio.run(scenario())


def test_lifecycle_hooks_are_idempotent(app):
    async def scenario():
        for _ in range(50):
            app._on_ready()
        tasks = [t for t in asyncio.all_tasks() if "_play_loop" in repr(t.get_coro())]
        assert len(tasks) == 1
        app._play_task.cancel()
        app._loop, app._play_task = None, None
        await asyncio.sleep(0)

    asyncio.run(scenario())


# ------------------------------------------------------------------------ property: hostile updates
_KEYS = hs.sampled_from([*guard.CLIENT_KEYS, "duration_s", "sim_busy", "disclaimer", "chapters", "zzz"])
_VALUES = hs.one_of(hs.sampled_from(HOSTILE), hs.floats(), hs.integers(-10**20, 10**20), hs.text(max_size=20),
                    hs.booleans(), hs.lists(hs.floats(), max_size=3),
                    hs.dictionaries(hs.text(max_size=12), hs.one_of(hs.booleans(), hs.floats()), max_size=3),
                    hs.sampled_from([30.0, 6.0, "focal", "es", 2.0, {"prostate": False}]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hs.lists(hs.dictionaries(_KEYS, _VALUES, min_size=1, max_size=5), min_size=1, max_size=4))
def test_random_hostile_updates_leave_an_app_that_plays_resimulates_and_draws(app, updates):
    for changes in updates:
        app.client_update(changes)
    app.process_pending()
    _state_is_valid(app)
    # it plays: the clock moves from the start at the chosen speed
    with app.state:
        app.state.update({"t_s": 0.0, "playing": True})
    app.tick(1.0)
    assert math.isfinite(app.state.t_s) and app.state.t_s > 0.0
    with app.state:
        app.state.playing = False
    # it draws
    _draws(app)
    # it would re-simulate: the sizing in the state is a scene the model accepts
    from cryoviz.deliver.app_state import sized_scene

    sized_scene(app.scene, volume_ml=app.state.volume_ml, rectum_gap_mm=app.state.rectum_gap_mm,
                hydrodissection=app.state.hydrodissection, preset=app.state.preset)
    assert not (app.state.sim_error or "").startswith("app:")


def test_after_the_hostile_run_a_real_resimulation_still_installs(app):
    app.client_update({"volume_ml": 44.0, "hydrodissection": False})
    if app.future is not None:
        app.future.result(timeout=300)
    app.process_pending()
    assert app.scene.anatomy.volume_ml == 44.0
    assert app.state.sim_status == "full" and not app.state.sim_busy and app.state.sim_error == ""
    _draws(app)
