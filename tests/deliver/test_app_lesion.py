"""The app with a lesion: its organ toggle, a clinician row with PI-RADS and margin, the ultrasound toggle."""

from __future__ import annotations

import numpy as np
import pytest

SCENE = "scenes/salvage_focal_lesion.toml"
SIZE = (320, 200)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from cryoviz.deliver.app import ConsultationApp
    from cryoviz.model.scene_load import load_scene

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRYOVIZ_CACHE", str(tmp_path_factory.mktemp("cache")))
        a = ConsultationApp(load_scene(SCENE), size=SIZE, preview_grid_mm=4.0, full_grid_mm=3.0,
                            screenshot_dir=tmp_path_factory.mktemp("shots"))
        a.future.result(timeout=300)
        a.process_pending()
        a.state.ready()
        yield a
        a._on_exit()


def test_lesion_has_an_organ_toggle_that_changes_the_picture(app):
    s = app.state
    assert {"key": "lesion", "label": "Cancer spot"} in s.organs and s.organs_visible["lesion"] is True
    app.goto_chapter(1)
    s.flush()
    before = app.renderer.image()
    app.toggle_organ("lesion", False)
    s.flush()
    assert app.renderer._opts["organs_visible"]["lesion"] is False
    assert not np.array_equal(before, app.renderer.image())
    app.toggle_organ("lesion", True)
    s.flush()
    assert np.array_equal(before, app.renderer.image())


def test_clinician_table_has_pirads_and_margin_and_the_ultrasound_toggle(app):
    s = app.state
    (row,) = [n for n in s.numbers if n["name"].startswith("lesion ")]
    assert row["name"] == "lesion index lesion"
    assert "PI-RADS 5" in row["value"] and "mid left PZpl" in row["value"] and "planned 5" in row["value"]
    (les,) = app.story.result.metrics["lesions"]
    assert ("NOT covered" in row["value"]) == (not les["covered"])
    assert s.has_lesions is True and s.lesion_us is False  # the scene says: not visible on ultrasound
    s.lesion_us = True
    s.flush()
    assert app.renderer._opts["lesion_on_ultrasound"] is True
    assert app.renderer._us_lesion_mask() is not None
    s.lesion_us = False
    s.flush()
    assert app.renderer._us_lesion_mask() is None


def test_a_client_may_switch_the_lesion_on_ultrasound_and_nothing_else_new():
    from cryoviz.deliver.app_guard import CLIENT_KEYS

    assert CLIENT_KEYS["lesion_us"](True, None) is True
    assert "has_lesions" not in CLIENT_KEYS  # the server says whether there are lesions
