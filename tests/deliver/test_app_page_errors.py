"""Ordinary use of the consultation page raises no error in the page and reports none to the server.

A tester saw 8 ``pageerror: Object`` and ``JS Error => [object Object]`` in the server log: each change of
the patient replaces the 3D window twice (anatomy first, then the freezing), and the page's unmounting view
still asked about the old one (its size, a picture, its observer); the server's "no view provided" came back
as a rejected promise nobody caught. "Take home" answered with file paths, which cannot be serialised.
"""

from __future__ import annotations

import pytest
from _apphelpers import coarse_server, launch_chromium

pytestmark = pytest.mark.browser

#: Records a rejected promise's reason as text (Playwright reports a rejected plain object as "Object").
_REASONS = """window.addEventListener('unhandledrejection', function (e) {
  var t; try { t = JSON.stringify(e.reason); } catch (x) { t = String(e.reason); }
  console.error('unhandled rejection: ' + t);
});"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with coarse_server(tmp_path_factory.mktemp("serve-errors")) as srv:
        yield srv


def test_load_chapters_drag_slider_resize_and_take_home_raise_no_page_error(server):
    from playwright.sync_api import sync_playwright

    errors = []
    with sync_playwright() as p:
        browser = launch_chromium(p)
        context = browser.new_context(viewport={"width": 1024, "height": 768}, accept_downloads=True)
        page = context.new_page()
        page.add_init_script(_REASONS)
        page.on("pageerror", lambda e: errors.append(f"pageerror: {e.message}"))
        page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
        page.goto(server.url)
        page.get_by_label("3D view").locator("img").first.wait_for(timeout=60_000)
        page.locator('[data-sim="full"]').wait_for(timeout=120_000)
        chapters = page.get_by_role("group", name="Chapters").get_by_role("button")
        for i in range(chapters.count()):
            chapters.nth(i).click()
            page.wait_for_timeout(700)
        box = page.get_by_label("3D view").bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        for k in range(1, 11):
            page.mouse.move(x + 12 * k, y + 4 * k)
            page.wait_for_timeout(40)
        page.mouse.up()
        page.wait_for_timeout(1500)
        page.get_by_label("Timeline").fill("300")
        page.wait_for_timeout(1500)
        before = page.locator("#cv-sim").get_attribute("data-gen")
        page.get_by_label("Prostate volume").fill("50")      # a new patient: the 3D window is replaced twice
        page.wait_for_function(f"() => document.querySelector('#cv-sim').dataset.gen !== {before!r} && "
                               "document.querySelector('#cv-sim').dataset.sim === 'full'", timeout=120_000)
        page.wait_for_timeout(3000)     # the unmounting view's last requests come back in this time
        with page.expect_download(timeout=120_000):
            page.get_by_role("button", name="Take home").click()
        page.locator("#cv-take-home-status a").first.wait_for(timeout=60_000)
        page.wait_for_timeout(1000)
        context.close()
        browser.close()
    assert errors == []
    assert "JS Error" not in server.log()
