"""The "Take home" button in a real Chromium: the browser that pressed it receives both files and says so."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from _apphelpers import coarse_server, launch_chromium

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with coarse_server(tmp_path_factory.mktemp("serve-take-home")) as srv:
        yield srv


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        context = browser.new_context(viewport={"width": 1024, "height": 768}, accept_downloads=True)
        pg = context.new_page()
        pg.errors = []
        pg.on("pageerror", lambda e: pg.errors.append(f"{e.name}: {e.message}"))
        pg.goto(server.url)
        pg.get_by_label("3D view").locator("img").first.wait_for(timeout=60_000)
        pg.locator('[data-sim="full"]').wait_for(timeout=120_000)
        yield pg
        context.close()
        browser.close()


def _press_and_collect(page, count: int = 2, timeout_s: float = 120.0):
    seen = []

    def keep(download):
        seen.append(download)

    page.on("download", keep)
    page.get_by_role("button", name="Take home").click()
    deadline = time.monotonic() + timeout_s
    while len(seen) < count and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    page.remove_listener("download", keep)
    return seen


def test_take_home_downloads_the_visit_page_and_the_summary_and_says_so(page, server):
    with page.expect_download(timeout=120_000) as first:
        downloads = _press_and_collect(page)
    assert first.value in downloads
    assert len(downloads) == 2, [d.suggested_filename for d in downloads]
    by_kind = {d.suggested_filename.rsplit(".", 1)[1]: d for d in downloads}
    assert set(by_kind) == {"html", "pdf"}
    html = Path(by_kind["html"].path()).read_bytes().decode("utf-8")
    assert html.lstrip().lower().startswith("<!doctype html") and '<html lang="en">' in html
    assert "For patient education only. Not for treatment planning." in html
    assert "</html>" in html
    pdf = Path(by_kind["pdf"].path()).read_bytes()
    assert pdf.startswith(b"%PDF") and b"%%EOF" in pdf[-1024:]
    for d in downloads:     # the server keeps its copy, byte for byte (docs/app.md)
        kept = server.folder / "cryoviz-screenshots" / d.suggested_filename
        assert kept.read_bytes() == Path(d.path()).read_bytes()
    status = page.locator("#cv-take-home-status")
    status.wait_for(state="visible")
    said = status.inner_text()
    assert "saving two files" in said and by_kind["html"].suggested_filename in said
    assert by_kind["pdf"].suggested_filename in said
    assert page.get_by_role("link", name="Visit page").is_visible()
    assert page.get_by_role("link", name="Summary to print (PDF)").is_visible()
    assert page.errors == []


def test_a_take_home_url_is_an_attachment_and_a_guessed_one_is_not_found(page, server):
    links = page.locator("#cv-take-home-status a")
    href = links.first.get_attribute("href")
    assert href.startswith("/cryoviz-take-home/")
    with urllib.request.urlopen(server.url.rstrip("/") + href, timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Disposition"].startswith("attachment;")
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Content-Security-Policy"] == "sandbox"
    token, name = href.split("/")[2:4]
    guessed = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (f"/cryoviz-take-home/{guessed}/{name}", f"/cryoviz-take-home/{token}/x.html",
                f"/cryoviz-take-home/{token}/..%2F{name}", "/cryoviz-take-home/"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(server.url.rstrip("/") + bad, timeout=10)
        err.value.close()
        assert err.value.code == 404, bad


def test_take_home_in_spanish_on_a_phone_says_it_in_spanish(page):
    page.set_viewport_size({"width": 390, "height": 844})     # the phone layout is one column of its own
    page.get_by_label("Language").select_option("es")
    page.wait_for_function("() => (window.trame.state.get('labels') || {}).take_home === 'Llevar a casa'")
    page.wait_for_timeout(1100)     # the server takes one file request a second
    downloads = _press_and_collect(page)
    assert sorted(d.suggested_filename.split("-")[2] for d in downloads) == ["es", "es"]
    said = page.locator("#cv-take-home-status").inner_text()
    assert "guardando dos archivos" in said
    assert page.get_by_role("link", name="Resumen para imprimir (PDF)").is_visible()
    assert page.get_by_role("link", name="Página de la visita").is_visible()
    assert page.errors == []
