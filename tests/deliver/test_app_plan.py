"""The app shows the plan the scene gives: placed probes stay placed until the doctor picks another layout.

Found by testing: the app's layout control started at "Whole gland" for a scene that places its own probes;
the first sizing message from the page (its own, unchanged values) then replaced the scene's probes by the
automatic layout, and for rectum_at_risk the page said the rectal wall was "cooled to 2 °C, not frozen"
while the scene's own plan freezes it.
"""

from __future__ import annotations

import pytest

from cryoviz.core.errors import InputError
from cryoviz.deliver import app_state as st
from cryoviz.model.scene_load import load_scene

PLACED = "scenes/rectum_at_risk.toml"      # six probes placed by the scene file
PRESET = "scenes/salvage_whole_gland.toml"  # [layout] preset = "whole_gland"


def test_sizing_keeps_the_plan_unless_another_layout_is_chosen():
    placed = load_scene(PLACED)
    assert placed.probes and st.plan_of(placed) == st.OWN_PLAN
    same = st.sized_scene(placed, volume_ml=40.0, preset=st.plan_of(placed), planned=placed)
    assert same.probes == placed.probes and same.layout == placed.layout
    assert same.anatomy.volume_ml == 40.0
    auto = st.sized_scene(same, preset="whole_gland", planned=placed)
    assert auto.probes == () and auto.layout.preset == "whole_gland"
    back = st.sized_scene(auto, volume_ml=30.0, preset=st.OWN_PLAN, planned=placed)
    assert back.probes == placed.probes and st.plan_of(back) == st.OWN_PLAN
    with pytest.raises(InputError, match=r"layout\.preset"):   # no placed probes to go back to
        st.sized_scene(auto, preset=st.OWN_PLAN)
    preset = load_scene(PRESET)
    assert st.plan_of(preset) == "whole_gland"
    with pytest.raises(InputError, match=r"layout\.preset"):
        st.sized_scene(preset, preset=st.OWN_PLAN, planned=preset)
    assert st.sized_scene(preset, rectum_gap_mm=9.0, preset="whole_gland").layout == preset.layout


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from cryoviz.deliver.app import ConsultationApp

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRYOVIZ_CACHE", str(tmp_path_factory.mktemp("cache")))
        a = ConsultationApp(load_scene(PLACED), size=(240, 180), preview_grid_mm=4.0, full_grid_mm=4.0,
                            screenshot_dir=tmp_path_factory.mktemp("shots"))
        if a.future is not None:
            a.future.result(timeout=600)
        a.process_pending()
        a.state.ready()
        yield a
        a._on_exit()


def test_the_page_echoing_its_values_does_not_change_the_plan(app):
    loaded = app.planned
    s = app.state
    assert s.preset == st.OWN_PLAN
    assert s.presets[0]["key"] == st.OWN_PLAN
    assert {p["key"]: p["label"] for p in s.presets}[st.OWN_PLAN] == "The plan in the scene file"
    story = app.story
    rejected = app.client_update({"volume_ml": s.volume_ml, "rectum_gap_mm": s.rectum_gap_mm,
                                  "hydrodissection": s.hydrodissection, "preset": s.preset})
    app.state.flush()
    assert rejected == []
    assert app.scene.probes == loaded.probes and app.scene.layout is None
    assert app.story is story and not s.sim_busy      # nothing re-simulated: the same plan, same result
    metrics = story.result.metrics   # this scene's plan freezes the rectal wall: the page must say so
    assert metrics["organs"]["rectum_wall"]["min_temp_c"] < 0.0
    assert "rectal_wall_frozen" in metrics["warning_codes"]


def test_choosing_a_layout_and_then_the_scene_plan_again(app):
    loaded = app.planned
    app.client_update({"preset": "whole_gland"})
    app.state.flush()
    assert app.scene.probes == () and app.scene.layout.preset == "whole_gland"
    app.client_update({"preset": st.OWN_PLAN})
    app.state.flush()
    assert app.scene.probes == loaded.probes and app.state.preset == st.OWN_PLAN
