"""The app's "Take home" button writes both take-home files for the patient and language on screen."""

from __future__ import annotations

import pytest
from _apphelpers import SCENE


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from cryoviz.deliver.app import ConsultationApp
    from cryoviz.model.scene_load import load_scene

    a = ConsultationApp(load_scene(SCENE), size=(320, 240), preview_grid_mm=3.0, full_grid_mm=3.0,
                        screenshot_dir=tmp_path_factory.mktemp("take-home"))
    a.state.ready()
    yield a
    a._on_exit()


def test_take_home_writes_the_visit_page_and_summary_in_the_chosen_language(app):
    from pypdf import PdfReader

    app.state.update({"lang": "es"})
    app.state.flush()
    assert app.story.lang == "es"
    html_path, pdf_path = app.take_home()
    assert html_path.suffix == ".html" and pdf_path.suffix == ".pdf"
    assert html_path.parent == pdf_path.parent == app.screenshot_dir
    html = html_path.read_text(encoding="utf-8")
    assert '<html lang="es">' in html and app.story.text["common"]["disclaimer"] in html
    text = " ".join(p.extract_text() for p in PdfReader(str(pdf_path)).pages)
    assert app.story.text["export"]["pdf_title"] in text
    # the figures are the app's own result (3 mm grid here), named as such
    assert "3,0 mm" in text
    assert str(html_path) in app.state.take_home_path and str(pdf_path) in app.state.take_home_path
    assert SCENE.stem not in html_path.name + pdf_path.name
    assert app.state.labels["take_home"] == "Llevar a casa"
