"""The consultation page at phone, tablet and desktop size: nothing overlaps, the 3D view comes first on a
phone, panels fold, and axe-core finds no serious or critical accessibility violation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _apphelpers import coarse_server, launch_chromium

pytestmark = pytest.mark.browser

SIZES = {"phone": (390, 844), "tablet": (1024, 768), "desktop": (1600, 1000)}
#: The parts that must never overlap: accessible names (or a CSS selector) of the design contract.
PARTS = {
    "view": '[aria-label="3D view"]',
    "caption": ".cv-caption",
    "play": '[aria-label="Play"]',
    "timeline": 'input[aria-label="Timeline"]',
    "speed": 'select[aria-label="Speed"]',
    "chapters": '[aria-label="Chapters"]',
}

_BOXES_JS = """
(parts) => {
  const out = {};
  for (const [name, sel] of Object.entries(parts)) {
    const el = document.querySelector(sel);
    if (!el) { out[name] = null; continue; }
    const r = el.getBoundingClientRect();
    out[name] = {x: r.left + window.scrollX, y: r.top + window.scrollY, w: r.width, h: r.height};
  }
  return out;
}
"""

# Whether the element is on top at its centre once scrolled into view (not hidden under a bar or panel).
_ON_TOP_JS = """
(sel) => {
  const el = document.querySelector(sel);
  el.scrollIntoView({block: 'center'});
  const r = el.getBoundingClientRect();
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + Math.min(r.height / 2, 20));
  return !!hit && (hit === el || el.contains(hit) || hit.contains(el));
}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with coarse_server(tmp_path_factory.mktemp("serve-layout")) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


@pytest.fixture(params=list(SIZES), scope="module")
def page(request, browser, server, tmp_path_factory):
    w, h = SIZES[request.param]
    pg = browser.new_page(viewport={"width": w, "height": h})
    pg.goto(server.url)
    pg.get_by_label("3D view").locator("img").first.wait_for(timeout=60_000)
    pg.locator('[data-sim="full"]').wait_for(timeout=120_000)
    pg.wait_for_timeout(800)
    shots = Path(os.environ.get("CRYOVIZ_SHOTS") or tmp_path_factory.mktemp("shots"))
    shots.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(shots / f"app-{request.param}-{w}x{h}.png"))
    pg.size_name = request.param
    yield pg
    pg.close()


def _overlap(a, b) -> float:
    dx = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
    dy = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
    return max(dx, 0.0) * max(dy, 0.0)


def test_caption_controls_and_view_do_not_overlap(page):
    boxes = page.evaluate(_BOXES_JS, PARTS)
    width = page.viewport_size["width"]
    for name, box in boxes.items():
        assert box is not None and box["w"] > 0 and box["h"] > 0, (page.size_name, name, box)
        assert box["x"] >= -0.5 and box["x"] + box["w"] <= width + 0.5, (page.size_name, name, box)
    names = list(boxes)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert _overlap(boxes[a], boxes[b]) < 1.0, (page.size_name, a, b, boxes[a], boxes[b])
    for name, sel in PARTS.items():
        assert page.evaluate(_ON_TOP_JS, sel), (page.size_name, name, "covered by something else")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width + 1, "sideways scrolling"


def test_the_3d_view_is_large_and_first_on_a_phone(page):
    boxes = page.evaluate(_BOXES_JS, PARTS)
    view, width = boxes["view"], page.viewport_size["width"]
    if page.size_name == "phone":
        assert view["w"] >= 0.9 * width and view["h"] >= 250
        assert all(view["y"] + view["h"] <= boxes[n]["y"] + 0.5 for n in PARTS if n != "view")
    else:
        assert view["w"] >= 0.5 * width and view["h"] >= 300
    # the words a patient reads are not broken inside a word ("Patie/nt" once, on a phone)
    switch = page.get_by_label("Clinician view").locator("xpath=ancestor::*[contains(@class,'v-switch')][1]")
    lines = switch.locator("label").first.evaluate(
        "e => { const r = document.createRange(); r.selectNodeContents(e);"
        " return new Set([...r.getClientRects()].map(b => Math.round(b.top))).size; }")
    assert lines == 1


def test_panels_fold_and_unfold(page):
    region = page.get_by_role("region", name="This patient")
    slider = region.get_by_label("Prostate volume")
    region.locator("summary").scroll_into_view_if_needed()
    assert slider.is_visible()
    region.locator("summary").click()
    slider.wait_for(state="hidden", timeout=5_000)
    region.locator("summary").click()
    slider.wait_for(state="visible", timeout=5_000)


def test_axe_finds_no_serious_or_critical_violation(page):
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
           for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, (page.size_name, bad)


def test_focus_ring_is_visible_on_chapter_buttons(page):
    page.locator(".cv-caption").click()
    button = page.locator('[aria-label="Chapters"] button').first
    button.focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")          # keyboard focus, so :focus-visible applies
    style = button.evaluate("e => { const s = getComputedStyle(e); return [s.outlineStyle, s.outlineWidth,"
                            " s.outlineColor]; }")
    assert style[0] == "solid" and float(style[1].rstrip("px")) >= 2, style
    assert style[2] in ("rgb(255, 213, 79)",), style
