"""Rotation from the ring in a real Chromium: during a drag the page changes the 3D picture with nothing sent
to the server; on release it sends the trackball angles of the whole drag once and the server's exact
picture replaces the ring's."""

from __future__ import annotations

import pytest
from _apphelpers import coarse_server, launch_chromium

from cryoviz.deliver.app_turntable import drag_angles

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1024, "height": 768}


_RING_JS = """() => { const T = window.cvTurn || {}, st = window.trame && window.trame.state;
  return {synced: T.synced, ring: T.ring && T.ring.token, jpegs: T.jpegs && T.jpegs.size,
          bitmaps: T.bitmaps && Array.from(T.bitmaps.keys()).slice(0, 5), settle: T.settle,
          server_ring: st && st.get('turn_ring'), playing: st && st.get('playing'),
          sim: st && st.get('sim_status')}; }"""


def wait_ring(pg, condition: str, srv) -> None:
    """Wait (at most 180 s) for the page's ring to meet ``condition``; say what the page had if not."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        pg.wait_for_function(f"() => window.cvTurn && window.cvTurn.ring && ({condition})", timeout=180_000)
    except PlaywrightTimeout:
        raise AssertionError(f"no ring ({condition}): {pg.evaluate(_RING_JS)}\n{srv.log()}") from None


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with coarse_server(tmp_path_factory.mktemp("serve")) as srv:
        yield srv


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        pg = browser.new_page(viewport=VIEWPORT)
        pg.goto(server.url)
        pg.locator('[data-sim="full"]').wait_for(timeout=240_000)
        yield pg
        browser.close()


def test_a_drag_turns_the_view_from_the_ring_then_the_server_draws_it(page, server):
    sent: list = []
    # the page's WebSocket was opened before this test: watch it through the CDP session's frames
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.on("Network.webSocketFrameSent", lambda e: sent.append(e["response"]))
    start = next(c for c in page.evaluate("() => window.trame.state.get('chapters')")
                 if c["id"].startswith("freeze"))["jump_s"]
    page.evaluate(f"() => window.trame.state.set('t_s', {float(start) + 30.0})")
    wait_ring(page, "window.cvTurn.jpegs.size >= 40 && window.cvTurn.bitmaps.size >= 15", server)
    box = page.get_by_label("3D view").bounding_box()
    x0, y0 = box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5
    page.mouse.move(x0, y0)
    page.wait_for_timeout(300)
    sent.clear()
    page.mouse.down()
    for i in range(1, 31):
        page.mouse.move(x0 - 4 * i, y0 + i)
        page.wait_for_timeout(20)
    page.wait_for_timeout(200)
    during = list(sent)
    log = page.evaluate("() => window.cvTurn.log")
    page.mouse.up()
    page.wait_for_function("() => window.cvTurn.settle.length >= 1", timeout=60_000)
    settle = page.evaluate("() => window.cvTurn.settle[0]")
    # no server round trip while dragging: the page sent nothing at all
    assert during == [], during[:3]
    assert len(sent) >= 1                              # the release: the final angles, once
    changed = [e for e in log if e["changed"]]
    assert len({tuple(e["shown"]) for e in changed}) >= 2, log[-3:]
    assert max(e["err"] for e in log) < 10.0          # the shown picture is the ring's nearest
    # the angles sent on release are VTK's trackball angles of the whole drag
    az, el = drag_angles(-4 * 30, 30, box["width"], box["height"])
    assert settle["az"] == pytest.approx(az, abs=0.5) and settle["el"] == pytest.approx(el, abs=0.5)
    assert page.evaluate("() => window.trame.state.get('turn_applied')") == settle["seq"]
    # the ring's picture gave way to the server's exact one
    assert page.locator("canvas.cv-turn").evaluate("c => getComputedStyle(c).visibility") == "hidden"


_WHEEL_JS = """
([x, y]) => {
  const target = document.elementFromPoint(x, y);
  for (let i = 0; i < 3; i++) {
    target.dispatchEvent(new WheelEvent('wheel', {deltaY: -100, clientX: x, clientY: y, bubbles: true,
                                                  cancelable: true}));
  }
  return new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => {
    const c = document.querySelector('[aria-label="3D view"] canvas.cv-turn');
    done([c.style.transform, getComputedStyle(c).visibility]);
  })));
}
"""


def test_the_wheel_zooms_the_shown_picture_then_the_server_draws_the_zoom(page, server):
    # the ring of the camera the last test's drag left (not that drag's ring, which the server drops)
    wait_ring(page, "window.cvTurn.settle.every(s => s.token < window.cvTurn.ring.token)"
              " && window.cvTurn.jpegs.size >= 40 && window.cvTurn.bitmaps.size >= 15", server)
    n = page.evaluate("() => window.cvTurn.settle.length")
    box = page.get_by_label("3D view").bounding_box()
    # three wheel notches in one gesture (within the page's 250-ms end-of-wheel wait however busy the machine
    # is: real wheel events from the test could arrive further apart), then what the next frames show
    scale, seen = page.evaluate(_WHEEL_JS, [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2])
    assert scale.startswith("scale(") and float(scale[6:-1]) == pytest.approx(1.1 ** 3, rel=1e-4)
    assert seen == "visible"
    page.wait_for_function(f"() => window.cvTurn.settle.length > {n}", timeout=60_000)
    settle = page.evaluate("() => window.cvTurn.settle[window.cvTurn.settle.length - 1]")
    assert settle["zoom"] == pytest.approx(1.1 ** 3, rel=1e-6) and settle["az"] == 0 and settle["el"] == 0
    assert page.locator("canvas.cv-turn").evaluate("c => getComputedStyle(c).visibility") == "hidden"


def test_a_pinch_on_a_touch_screen_zooms_from_the_ring(page, server):
    """Two fingers on a tablet: the shown picture scales with their distance; the release sends the zoom."""
    url = page.url
    tab = page.context.browser.new_page(viewport=VIEWPORT, has_touch=True)
    try:
        # the ring of the camera the last test's zoom left (that zoom's own ring is dropped by the server),
        # with its straight-ahead picture decoded: the page takes the fingers only then
        last = page.evaluate("() => window.cvTurn.settle.length ? "
                             "window.cvTurn.settle[window.cvTurn.settle.length - 1].token : -1")
        tab.goto(url)
        wait_ring(tab, f"window.cvTurn.ring.token > {last} && window.cvTurn.jpegs.size >= 40"
                  " && window.cvTurn.bitmaps.size >= 15 && window.cvTurn.bitmaps.has('0.0/0.0')", server)
        box = tab.get_by_label("3D view").bounding_box()
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        cdp = tab.context.new_cdp_session(tab)

        def touch(kind, spread):
            points = [] if kind == "touchEnd" else [{"x": cx - spread, "y": cy, "id": 1},
                                                     {"x": cx + spread, "y": cy, "id": 2}]
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

        touch("touchStart", 50)
        for k in range(1, 11):
            touch("touchMove", 50 + 5 * k)      # the fingers move apart: 100 px -> 200 px
            tab.wait_for_timeout(20)
        assert tab.locator("canvas.cv-turn").evaluate("c => getComputedStyle(c).visibility") == "visible"
        touch("touchEnd", 0)
        tab.wait_for_function("() => window.cvTurn.settle.length >= 1", timeout=60_000)
        settle = tab.evaluate("() => window.cvTurn.settle[0]")
        assert settle["zoom"] == pytest.approx(2.0, rel=0.05)
    finally:
        tab.close()
