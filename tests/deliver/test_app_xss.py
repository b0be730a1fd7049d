"""Scene text is text in the page: a sensor or probe named like HTML never runs script (real Chromium).

The attack: a scene whose sensor is named ``<img src=x onerror=window.__pwned=1>``; once the Clinician view
is on, the sensor chart used to go into the page through ``v-html`` and the handler ran.
"""

from __future__ import annotations

import pytest
from _apphelpers import ServerProcess, coarse_scene, launch_chromium

pytestmark = pytest.mark.browser

PAYLOADS = ('<img src=x onerror=window.__pwned=1>', '"><svg onload=window.__pwned=2>',
            "<script>window.__pwned=3</script>")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve-xss")
    scene = coarse_scene(folder)
    text = scene.read_text()
    for site, payload in zip(("rectal_wall", "apex", "sphincter"), PAYLOADS, strict=True):
        assert f'name = "{site}"' in text
        text = text.replace(f'name = "{site}"', f"name = '{payload}'", 1)
    text = text.replace('title = "Whole-gland salvage cryoablation"',
                        "title = '<img src=x onerror=window.__pwned=4>'")
    scene.write_text(text)
    with ServerProcess(scene=scene, log_dir=folder) as srv:
        srv.wait_ready()
        yield srv


def test_html_in_scene_names_stays_text_with_the_clinician_view_on(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(server.url)       # no ?secret: the page fetches this server's own secret
            page.get_by_label("3D view").locator("img").first.wait_for(timeout=60_000)
            # the sensor chart exists only once the result does (nothing before it): wait for it
            page.locator('[data-sim="full"]').wait_for(timeout=240_000)
            page.get_by_label("Clinician view").check(force=True)
            chart = page.get_by_role("img", name="Sensor temperatures")
            chart.wait_for(timeout=30_000)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(server.log_path.parent / "xss-clinician.png"))
            assert page.evaluate("window.__pwned") is None
            assert page.locator("img[src='x']").count() == 0
            # the chart is an image of the curves, with the hostile names drawn as plain text in it
            src = chart.get_attribute("src")
            assert src.startswith("data:image/svg+xml") and "%26lt%3Bimg" in src
            assert page.evaluate("window.__pwned") is None
        finally:
            browser.close()
