"""Browser measurements of how live the consultation feels (part of ``cryoviz bench app``).

Each function drives an open Playwright page of a running ``cryoviz serve`` and returns plain figures:

* :func:`playback`: story seconds per wall second at a chosen speed and pictures per second in the 3D view;
* :func:`rotation`: a mouse drag on the 3D view (trame-vtk's remote view: the server draws each picture)
  and the time per picture the browser receives while dragging, in a chosen drag mode;
* :func:`rotation_ring`: the same drag on the ring of pictures drawn ahead (``app_turntable``): the page's
  frames while dragging, how late each shows the mouse, how far its picture is from the mouse's angle,
  and how long after the release the server's exact picture arrives;
* :func:`resize`: a sizing change to the time the new patient's first picture (the anatomy chapters) is
  shown in the page, and to the coarse preview and the full result;
* :func:`cold_start`: spawning ``cryoviz serve`` to the first non-blank picture, with the caches the caller
  chooses (empty ones for a fresh machine).
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["cold_start", "forget_cached", "playback", "resize", "rotation", "rotation_ring", "stop"]

# counts pictures shown in the 3D view (trame-vtk's <img> and the playing JPEG <img>) and samples the clock
_PLAY_JS = """
async (secs) => {
  const view = document.querySelector('[aria-label="3D view"]');
  let n = 0; const onload = (e) => { if (e.target.tagName === 'IMG') n += 1; };
  view.addEventListener('load', onload, true);
  const st = window.trame.state;
  const t0 = performance.now(), s0 = st.get('t_s');
  await new Promise(r => setTimeout(r, secs * 1000));
  view.removeEventListener('load', onload, true);
  return {wall_s: (performance.now() - t0) / 1000, story_s: st.get('t_s') - s0, pictures: n};
}
"""

_COUNT_START_JS = """
() => {
  const view = document.querySelector('[aria-label="3D view"]');
  window.__cvPics = [];
  window.__cvOnload = (e) => { if (e.target.tagName === 'IMG') window.__cvPics.push(performance.now()); };
  view.addEventListener('load', window.__cvOnload, true);
  return performance.now();
}
"""
_COUNT_STOP_JS = """
() => {
  document.querySelector('[aria-label="3D view"]').removeEventListener('load', window.__cvOnload, true);
  return window.__cvPics;
}
"""


def playback(page, speed: str = "1", seconds: float = 20.0, start_chapter: str = "freeze1") -> dict:
    """Play ``seconds`` of wall time from ``start_chapter`` at ``speed``: story s per wall s, pictures/s."""
    page.locator('select[aria-label="Speed"]').select_option(speed)
    chapters = page.evaluate("() => window.trame.state.get('chapters')")
    start = next(c for c in chapters if c["id"] == start_chapter)["jump_s"]
    page.evaluate(f"() => window.trame.state.set('t_s', {float(start)})")
    page.wait_for_timeout(1500)
    page.get_by_role("button", name="Play").click()
    page.wait_for_timeout(1000)                       # the first picture of playing is on its way
    r = page.evaluate(_PLAY_JS, float(seconds))
    page.get_by_role("button", name="Pause").click()
    page.wait_for_timeout(1500)
    return {"speed": float(speed), "wall_s": r["wall_s"], "story_s": r["story_s"],
            "story_per_wall": r["story_s"] / r["wall_s"] / float(speed), "pictures": r["pictures"],
            "pictures_per_s": r["pictures"] / r["wall_s"]}


def rotation(page, seconds: float = 4.0, step_px: int = 6, mode: str | None = None) -> dict:
    """Drag across the 3D view for ``seconds``; the time per picture the browser receives meanwhile.

    ``mode`` is a drag mode of the app (:data:`cryoviz.deliver.app_view.DRAG_MODES`: picture scale and
    quality while dragging); None keeps the app's own.
    """
    page.evaluate("() => { if (window.cvTurn) window.cvTurn.off = true; }")   # the remote view's own drag
    if mode is not None:
        page.evaluate(f"() => window.trame.state.set('drag_mode', {mode!r})")
        page.wait_for_timeout(1500)
    mode = mode or page.evaluate("() => window.trame.state.get('drag_mode')")
    i, t_start = _drag(page, seconds, step_px, before_press=lambda: page.evaluate(_COUNT_START_JS))
    page.wait_for_timeout(800)
    page.evaluate("() => { if (window.cvTurn) window.cvTurn.off = false; }")
    stamps = page.evaluate(_COUNT_STOP_JS)
    inside = [s - t_start for s in stamps if s - t_start <= seconds * 1000.0]
    gaps = [b - a for a, b in itertools.pairwise(inside)]
    gaps.sort()
    return {"drag_s": seconds, "mouse_moves": i, "pictures": len(inside),
            "frame_ms_mean": (seconds * 1000.0 / len(inside)) if inside else float("nan"),
            "frame_ms_median": gaps[len(gaps) // 2] if gaps else float("nan"), "mode": mode}


def _drag(page, seconds: float, step_px: int, before_press=lambda: None) -> tuple[int, object]:
    """The bench's mouse drag on the 3D view (a 60 Hz mouse).

    ``before_press`` is called with the mouse over the view, just before the button goes down (a
    measurement's start). Returns how many moves the mouse made and what ``before_press`` returned.
    """
    box = page.locator('[aria-label="3D view"]').bounding_box()
    x0, y0 = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5
    page.mouse.move(x0, y0)
    started = before_press()
    page.mouse.down()
    t_end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < t_end:
        i += 1
        page.mouse.move(x0 + (i * step_px) % (box["width"] * 0.4), y0 + 20 * ((i // 20) % 2))
        page.wait_for_timeout(16)
    page.mouse.up()
    return i, started


def rotation_ring(page, seconds: float = 4.0, step_px: int = 6, ready_timeout_s: float = 120.0) -> dict:
    """Drag across the 3D view for ``seconds`` on the ring of pictures drawn ahead (``app_turntable``).

    Waits until the ring is complete (``ring_ready_s``: from this call, i.e. from the camera the previous
    measurement left), then drags as
    :func:`rotation`. Counted in the page (``window.cvTurn.log``, one entry per animation frame that
    handled a mouse move): the time between those frames, the delay from the mouse event to the frame that
    shows it, how many frames changed the picture, and the angle (degrees, between view directions) from
    the mouse's camera to the shown picture's. After the release: how long until the server's exact
    picture replaced the ring's (``window.cvTurn.settle``).
    """
    t0 = time.monotonic()
    page.wait_for_function("() => window.cvTurn && window.cvTurn.ring && window.cvTurn.ring.count > 0 && "
                           "window.cvTurn.jpegs.size >= window.cvTurn.ring.count",
                           timeout=ready_timeout_s * 1000)
    ready_s = time.monotonic() - t0
    views = page.evaluate("() => window.cvTurn.ring.count")
    page.wait_for_timeout(500)          # the bitmaps near the start decode
    n0 = page.evaluate("() => { window.cvTurn.log = []; return window.cvTurn.settle.length; }")
    moves, _ = _drag(page, seconds, step_px)
    page.wait_for_function(f"() => window.cvTurn.settle.length > {n0}", timeout=30_000)
    log = page.evaluate("() => window.cvTurn.log")
    settle = page.evaluate("() => window.cvTurn.settle[window.cvTurn.settle.length - 1]")
    ts = [e["t"] for e in log]
    gaps = sorted(b - a for a, b in itertools.pairwise(ts))
    lag = sorted(e["t"] - e["input_t"] for e in log)
    inputs = sorted({e["input_t"] for e in log})
    mouse = sorted(b - a for a, b in itertools.pairwise(inputs))   # how often the bench's mouse moved
    errs = [e["err"] for e in log if e["err"] is not None]
    pick = lambda v, q: v[min(int(q * len(v)), len(v) - 1)] if v else float("nan")  # noqa: E731
    return {"mode": "ring", "drag_s": seconds, "mouse_moves": moves, "frames": len(log),
            "frame_ms_median": pick(gaps, 0.5), "frame_ms_p95": pick(gaps, 0.95),
            "mouse_ms_median": pick(mouse, 0.5),
            "input_to_frame_ms_median": pick(lag, 0.5), "input_to_frame_ms_p95": pick(lag, 0.95),
            "pictures_changed": sum(1 for e in log if e["changed"]),
            "angle_err_deg_max": max(errs) if errs else float("nan"),
            "angle_err_deg_median": pick(sorted(errs), 0.5),
            "exact_picture_after_release_ms": settle["ms"], "ring_ready_s": ready_s, "ring_views": views}


def forget_cached(scene, grids_mm) -> int:
    """Delete the cached thermal results of ``scene`` at ``grids_mm`` (so that a re-simulation is timed,
    not a cache hit); return how many were deleted."""
    from cryoviz.core import cache as _cache
    from cryoviz.model.tissue import default_table
    from cryoviz.physics.thermal_cache import cache_key

    n = 0
    for g in grids_mm:
        d = _cache.cache_dir() / f"thermal-{cache_key(scene, float(g), default_table())}"
        if d.is_dir():
            shutil.rmtree(d, ignore_errors=True)
            n += 1
    return n


# records, for every new 3D picture, the page time and the result generation shown beside it
_WATCH_JS = """
() => {
  window.__cvShown = [];
  const note = () => window.__cvShown.push([performance.now(),
                                           document.querySelector('#cv-sim').getAttribute('data-gen')]);
  const view = document.querySelector('[aria-label="3D view"]');
  window.__cvWatch = new MutationObserver(note);
  window.__cvWatch.observe(view, {attributes: true, attributeFilter: ['src'], subtree: true,
                                  childList: true});
  return performance.now();
}
"""


# records, for every 3D picture loaded, its page time, the result generation beside it, whether it is of one
# colour (the empty window a sizing change shows: app_withdraw) and how many pixels are in the ice's blues
_PIXELS_JS = """
() => {
  window.__cvPix = [];
  const view = document.querySelector('[aria-label="3D view"]');
  const cv = document.createElement('canvas');
  window.__cvPixOn = (e) => {
    const img = e.target;
    if (img.tagName !== 'IMG' || !img.naturalWidth) return;
    const t = performance.now();
    const w = 160, h = Math.max(1, Math.round(160 * img.naturalHeight / img.naturalWidth));
    cv.width = w; cv.height = h;
    const ctx = cv.getContext('2d', {willReadFrequently: true});
    ctx.drawImage(img, 0, 0, w, h);
    const d = ctx.getImageData(0, 0, w, h).data;
    let lo = 255, hi = 0, ice = 0;
    for (let i = 0; i < d.length; i += 4) {
      const r = d[i], g = d[i + 1], b = d[i + 2];
      lo = Math.min(lo, r, g, b); hi = Math.max(hi, r, g, b);
      if (b > 150 && b - r > 100 && b - g > 40) ice += 1;
    }
    window.__cvPix.push([t, document.querySelector('#cv-sim').getAttribute('data-gen'), hi - lo <= 24, ice,
                         view.classList.contains('cv-withdrawn')]);
  };
  view.addEventListener('load', window.__cvPixOn, true);
  window.__cvPixView = view;
}
"""

# the page's words that tell a result (caption, chapter title, clock, spared panel, ultrasound picture)
# are gone and the status is busy: the page time when it is so, else null
WORDS_WITHDRAWN_JS = """
() => {
  const q = s => document.querySelector(s);
  const text = s => (q(s) ? q(s).innerText : '');
  const words = [text('.cv-caption'), text('.cv-chapter-title'), text('[aria-label="What was spared"]')];
  const ok = q('#cv-sim').getAttribute('data-sim') === 'busy' && !text('.cv-clock').trim()
    && !words.some(w => w.includes('°C') || w.includes('%'))
    && !document.querySelector('[aria-label="Ultrasound view"] img');
  return ok ? performance.now() : null;
}
"""


# the page hides the 3D view's old picture at a sizing change (app_ui, ``cv-withdrawn``): the time, or null
HIDDEN_JS = "() => document.querySelector('.cv-view.cv-withdrawn') ? performance.now() : null"


def _old_result_withdrawn(page, gen: str, page_t0: float, timeout_s: float) -> tuple[float, int]:
    """Seconds from the change (page time ``page_t0``) until the page's words and its 3D picture carry
    nothing of result ``gen``: the words withdrawn (:data:`WORDS_WITHDRAWN_JS`) and the old picture hidden
    (:data:`HIDDEN_JS`) or a picture shown that is the empty window's (one colour) or the new patient's;
    and how many of the old result's pictures (not of one colour, with ice) were shown, not hidden, after
    that (0: none came late)."""
    words_t = None
    deadline = time.monotonic() + timeout_s
    while words_t is None and time.monotonic() < deadline:
        words_t = page.evaluate(WORDS_WITHDRAWN_JS)
        if words_t is None:
            time.sleep(0.01)
    pic_t = None
    while pic_t is None and time.monotonic() < deadline:
        pics = page.evaluate("() => window.__cvPix")
        pic_t = next((p[0] for p in pics if p[2] or p[1] != gen), None)
        hidden = page.evaluate(HIDDEN_JS)
        pic_t = hidden if pic_t is None else pic_t if hidden is None else min(pic_t, hidden)
        if pic_t is None:
            time.sleep(0.01)
    if words_t is None or pic_t is None:
        return float("nan"), 0
    pics = page.evaluate("() => window.__cvPix")
    late = sum(1 for p in pics if p[0] > pic_t and p[1] == gen and not p[2] and p[3] > 0 and not p[4])
    return (max(words_t, pic_t) - page_t0) / 1000.0, late


def resize(page, volume_ml: float, timeout_s: float = 300.0) -> dict:
    """Set the prostate volume; seconds until the old numbers go from the side panel, until the old result
    is gone from the whole page and its 3D picture (:func:`_old_result_withdrawn`), until the new patient's
    first picture is in the page (the anatomy chapters), the coarse preview and the full result."""
    gen = page.locator("#cv-sim").get_attribute("data-gen")
    page.evaluate(_PIXELS_JS)
    page_t0 = page.evaluate(_WATCH_JS)
    t0 = time.perf_counter()
    page.get_by_label("Prostate volume", exact=True).fill(str(int(volume_ml)))
    page.locator('#cv-sim[data-sim="busy"]').first.wait_for(timeout=10_000)
    withdrawn_s = time.perf_counter() - t0
    all_s, late = _old_result_withdrawn(page, gen, page_t0, 30.0)
    new = f'#cv-sim:not([data-gen="{gen}"])'
    page.locator(new).wait_for(timeout=timeout_s * 1000)
    stage = page.locator("#cv-sim").get_attribute("data-stage")
    page.wait_for_function(f"() => window.__cvShown.some(s => s[1] !== {gen!r})", timeout=timeout_s * 1000)
    shown = page.evaluate("() => window.__cvShown.find(s => s[1] !== " + repr(gen) + ")[0]")
    first_s = (shown - page_t0) / 1000.0     # the first picture drawn for the new patient, in the page
    preview_s = None
    if stage == "anatomy":
        page.locator(f'{new}[data-stage="preview"], {new}[data-stage="full"]').first.wait_for(
            timeout=timeout_s * 1000)
        if page.locator("#cv-sim").get_attribute("data-stage") == "preview":   # none after the anatomy
            preview_s = time.perf_counter() - t0
    page.locator(f'#cv-sim[data-sim="full"]:not([data-gen="{gen}"])').wait_for(timeout=timeout_s * 1000)
    full_s = time.perf_counter() - t0
    page.evaluate("() => { window.__cvWatch.disconnect();"
                  " window.__cvPixView.removeEventListener('load', window.__cvPixOn, true); }")
    return {"volume_ml": volume_ml, "old_numbers_withdrawn_s": withdrawn_s,
            "old_result_withdrawn_s": all_s, "old_pictures_after_withdrawal": late, "first_stage": stage,
            "first_picture_s": first_s, "preview_s": preview_s, "full_result_s": full_s}


def cold_start(scene: Path, first_image, launch, env_extra: dict, timeout_s: float = 300.0) -> dict:
    """Spawn ``cryoviz serve`` with ``env_extra`` (e.g. empty caches); seconds to the first picture.

    ``launch()`` returns a new browser page; ``first_image(page, timeout_s)`` waits for a real picture.
    """
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workdir = Path(env_extra.get("CRYOVIZ_CACHE", "/tmp")).parent
    log_path = workdir / f"serve-{port}.log"
    t_spawn = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "cryoviz", "serve", str(scene), "--port", str(port),
                                 "--no-browser"], stdout=log, stderr=subprocess.STDOUT, cwd=workdir,
                                env={**os.environ, "PYTHONUNBUFFERED": "1", **env_extra})
        try:
            page = launch()
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    page.goto(f"http://127.0.0.1:{port}/", timeout=5000)
                    break
                except Exception:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(log_path.read_text()[-2000:]) from None
                    time.sleep(0.1)
            first_image(page, timeout_s)
            first = time.perf_counter() - t_spawn
            page.close()
        finally:
            stop(proc)
    said = [line for line in log_path.read_text().splitlines() if line.startswith("cryoviz serve:")]
    return {"first_image_s": first, "terminal": said}


def stop(proc: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """End a server process started by a bench: SIGTERM, then SIGKILL if it has not gone in ``timeout_s``."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
