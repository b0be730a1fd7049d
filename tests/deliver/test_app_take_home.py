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


def test_take_home_reply_names_both_files_that_only_their_token_reaches(app):
    from cryoviz.deliver.app_takehome import KEEP_SETS, ROUTE, TakeHomeDownloads

    app.state.update({"lang": "en"})
    app.state.flush()
    web = TakeHomeDownloads(app)
    reply = web.trigger()
    assert reply["status"] == "saved"
    assert [f["kind"] for f in reply["files"]] == ["html", "pdf"]
    token = reply["files"][0]["url"].split("/")[2]
    for f in reply["files"]:
        assert f["url"] == f"{ROUTE}/{token}/{f['name']}"
        data, media = web.find(token, f["name"])
        assert data == (app.screenshot_dir / f["name"]).read_bytes()    # the server keeps its copy too
        assert media.startswith("text/html" if f["kind"] == "html" else "application/pdf")
    html_name = reply["files"][0]["name"]
    # anything but the token and a name it holds finds nothing
    for bad_token, bad_name in ((token[:-1] + ("A" if token[-1] != "A" else "B"), html_name),
                                (token, reply["files"][1]["name"].replace(".pdf", ".html")),
                                (token, "../" + html_name), (token, None), ([token], html_name),
                                ("", html_name), (token + "x", html_name)):
        assert web.find(bad_token, bad_name) is None
    # only the newest sets are kept in memory
    for _ in range(KEEP_SETS):
        web.trigger()
    assert web.find(token, html_name) is None


def test_take_home_reply_before_the_result_writes_nothing(app, monkeypatch):
    from cryoviz.deliver.app_takehome import TakeHomeDownloads

    monkeypatch.setattr(app, "take_home", lambda: [])
    assert TakeHomeDownloads(app).trigger() == {"status": "pending", "files": []}

    def full_disk():
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(app, "take_home", full_disk)
    assert TakeHomeDownloads(app).trigger() == {"status": "failed", "files": []}


def test_every_take_home_sentence_is_in_both_languages():
    import tomllib

    from cryoviz.story.text import TEXT_DIR

    tables = {lang: tomllib.loads((TEXT_DIR / f"{lang}.toml").read_text(encoding="utf-8"))["take_home_app"]
              for lang in ("en", "es")}
    assert set(tables["en"]) == set(tables["es"]) >= {"making", "saved", "link_html", "link_pdf", "pending",
                                                      "failed", "again"}
    for lang, table in tables.items():
        assert "{html}" in table["saved"] and "{pdf}" in table["saved"], lang
        assert all(v.strip() and "<" not in v for v in table.values()), lang
