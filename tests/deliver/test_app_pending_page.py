"""The page of a fresh machine: the anatomy chapters at once, the freezing chapters pending, then the result.

The server starts with empty thermal and numba caches (as a new machine has them), so the solver compiles
before it runs: the pending page stays long enough to be looked at, then the result replaces it in place.
"""

from __future__ import annotations

import pytest
from _apphelpers import SCENE, ServerProcess, launch_chromium

pytestmark = pytest.mark.browser


def test_fresh_start_shows_the_anatomy_first_then_the_result(tmp_path, monkeypatch):
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("CRYOVIZ_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    with ServerProcess(scene=SCENE, log_dir=tmp_path) as srv, sync_playwright() as p:
        srv.wait_ready(timeout_s=180)
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(srv.url)
        page.get_by_label("3D view").locator("img").first.wait_for(timeout=60_000)
        # the web server starts before the anatomy is built (app_start): "starting" first, then the anatomy
        page.locator('#cv-sim[data-stage="anatomy"], #cv-sim[data-sim="full"]').first.wait_for(timeout=120e3)
        stage = page.locator("#cv-sim").get_attribute("data-stage")
        assert stage == "anatomy", srv.log()
        chapters = page.get_by_role("group", name="Chapters")
        pending = chapters.locator("button[disabled]")
        assert pending.count() == 4
        name = pending.first.get_attribute("aria-label")
        assert name == "The first freeze (ready when the freezing is computed)"
        words = "The freezing is being computed for this patient."
        status = page.get_by_role("status").filter(has_text=words)
        assert status.count() >= 1
        assert "°C" not in page.locator(".cv-caption").inner_text()
        bad = [(v["id"], v["impact"]) for v in Axe().run(page).response["violations"]
               if v["impact"] in ("serious", "critical")]
        assert not bad, bad
        still_pending = page.locator("#cv-sim").get_attribute("data-stage") == "anatomy"
        page.locator('#cv-sim[data-sim="full"]').wait_for(timeout=600_000)
        assert still_pending, "the result came before the pending page was checked: the checks are void"
        assert pending.count() == 0 and chapters.locator("button").count() == 8
        assert page.get_by_role("status").filter(has_text="being computed").count() == 0
        # the page opened on the empty window: its first ask for the ring of pictures drawn ahead (dropped,
        # nothing was shown yet) was made again with the story's picture, and the ring came
        page.wait_for_function("() => window.cvTurn.synced === true && window.cvTurn.ring"
                               " && window.cvTurn.jpegs.size >= 15", timeout=120_000)
        browser.close()
        log = srv.log_path.read_text(errors="replace")     # the whole log (srv.log() is its tail)
    said = [line for line in log.splitlines() if line.startswith("cryoviz serve:")]
    assert any("anatomy chapters ready" in s for s in said), log
    assert any("solver running at 1 mm" in s for s in said), log
    assert any("100 % of the protocol" in s for s in said), log
    assert any(s.startswith("cryoviz serve: ready in") for s in said), log
    # an ordinary cold start logs no traceback and no page error (trame logs those as "JS Error")
    assert "Traceback" not in log and "JS Error" not in log, log
