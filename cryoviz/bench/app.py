"""Benchmark of the consultation app: cold start, timeline latency, memory while playing.

Called by :mod:`cryoviz.bench` for ``cryoviz bench app`` / ``all`` (``run(quick, out)``). It drives the real
``cryoviz serve`` in a subprocess from Debian's Chromium (Playwright) on 127.0.0.1 and measures:

* cold start: process spawn to the first non-blank 3D picture in the page;
* latency: a Timeline change to the next picture in the page, with the 3D view at 1280×720 (median, p95);
* memory: the server's resident set while the story plays for N minutes (10 in full, 1 with ``quick``),
  sampled every 5 s (split into heap and mapped files), and its growth from the first to the last minute.

Issue #18 adds (``bench/app_live.py``), from the same run: the cold first picture (empty thermal and numba
caches, measured first and alone), playing at 1x from the first freeze (story seconds per wall second,
pictures per second in the page), the time per picture while dragging on the 3D view (the remote view:
the server draws each one; in the chosen drag mode and with full-size pictures as before), and re-planning
to 31 ml and 99 ml (old numbers withdrawn, the new patient's first picture, i.e. the anatomy chapters, the
coarse preview, the full result; their cached results are deleted first). The load average at the start
and the end is printed beside them: this machine is shared.

The naive peer, run in this process: rebuilding the renderer for each timeline change (what a page that
re-adds its actors per frame does) against applying the state in place, both at 1280×720.
Goals: first image ≤ 6 s, median latency ≤ 250 ms, memory ≤ 1 GB growing < 5 %.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

import numpy as np

from cryoviz.bench import app_live as live
from cryoviz.bench.priority import autogroup_nice, match_browser_priority

__all__ = ["run"]

SCENE = Path(__file__).resolve().parents[2] / "scenes" / "salvage_whole_gland.toml"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
GOALS = {"first_image_s": 6.0, "latency_median_ms": 250.0, "rss_mb": 1024.0, "rss_growth_pct": 5.0,
         "story_per_wall": 0.95, "pictures_per_s": 10.0, "resize_first_s": 2.0,
         "resize_full_s": {"31": 8.0, "99": 15.0}}

_LATENCY_JS = """
async (t) => {
  const img = document.querySelector('[aria-label="3D view"] img');
  const slider = document.querySelector('input[aria-label="Timeline"]');
  const old = img.src;
  const t0 = performance.now();
  slider.value = String(t);
  slider.dispatchEvent(new Event('input', {bubbles: true}));
  await new Promise((resolve, reject) => {
    const obs = new MutationObserver(() => { if (img.src !== old) { obs.disconnect(); resolve(); } });
    obs.observe(img, {attributes: true, attributeFilter: ['src']});
    setTimeout(() => { obs.disconnect(); reject(new Error('no new picture in 10 s')); }, 10000);
  });
  return performance.now() - t0;
}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mb(pid: int) -> dict[str, float]:
    """The process's resident memory, MB: total, anonymous (heap) and file-backed (mapped files)."""
    keys = {"VmRSS:": "rss", "RssAnon:": "anon", "RssFile:": "file"}
    out = dict.fromkeys(keys.values(), float("nan"))
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        head = line.split(maxsplit=1)[0] if line else ""
        if head in keys:
            out[keys[head]] = float(line.split()[1]) / 1024.0
    return out


def _first_image(page, timeout_s: float = 120.0) -> None:
    """Wait until the 3D view shows a picture with real content (not a blank frame)."""
    from io import BytesIO

    from PIL import Image

    view = page.locator('[aria-label="3D view"]')
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if page.locator('[aria-label="3D view"] img[src^="blob:"]').count():
            img = np.asarray(Image.open(BytesIO(view.screenshot())).convert("L"))
            if img.std() > 10:
                return
        time.sleep(0.05)
    raise TimeoutError("no 3D picture in the page")


def _fair_page(browser, **kwargs):
    """A new page of ``browser``, whose processes then get the bench's own scheduling weight
    (:mod:`cryoviz.bench.priority`: otherwise a bench run at a raised weight starves the page)."""
    page = browser.new_page(**kwargs)
    match_browser_priority()
    return page


def _peer(size=(1280, 720), n: int = 6) -> dict:
    """In place vs rebuilt renderer per timeline change, same story, same times (seconds per frame)."""
    from cryoviz.story.session import load_story
    from cryoviz.view.render import SceneRenderer

    story = load_story(SCENE, grid_mm=2.0)
    times = np.linspace(0.1, 0.9, n) * story.duration_s
    r = SceneRenderer(story, size=size, captions=False)
    r.apply(story.state_at(0.0))
    r.image()
    in_place = []
    for t in times:
        t0 = time.perf_counter()
        r.apply(story.state_at(float(t)))
        r.image()
        in_place.append(time.perf_counter() - t0)
    r.close()
    rebuilt = []
    for t in times[: max(2, n // 2)]:
        t0 = time.perf_counter()
        rr = SceneRenderer(story, size=size, captions=False)
        rr.apply(story.state_at(float(t)))
        rr.image()
        rr.close()
        rebuilt.append(time.perf_counter() - t0)
    return {"in_place_median_ms": 1000 * float(np.median(in_place)),
            "rebuilt_median_ms": 1000 * float(np.median(rebuilt)),
            "speedup": float(np.median(rebuilt) / max(np.median(in_place), 1e-9))}


def run(quick: bool = False, out: TextIO | None = None, results_dir: str | Path = "bench-results") -> dict:
    """Measure the app; write ``bench-results/app.json``; print a summary to ``out``; return the figures.

    Parameters
    ----------
    quick : bool
        Short run: 1 minute of playing and 12 latency samples instead of 10 minutes and 40.
    out : text stream or path-like, optional
        Where to print the summary (default ``sys.stdout``); a path is taken as the folder for ``app.json``
        (as :func:`cryoviz.bench.run_bench` allows).
    results_dir : path-like
        Folder for ``app.json`` when ``out`` is a stream.
    """
    from playwright.sync_api import sync_playwright

    if out is not None and not hasattr(out, "write"):
        results_dir, out = Path(out), None
    out = out or sys.stdout
    play_s = 60.0 if quick else 600.0
    n_latency = 12 if quick else 40
    load_start = os.getloadavg()
    # a fresh machine first, alone: empty thermal cache and no compiled solver (numba cache) of its own
    fresh = Path(tempfile.mkdtemp(prefix="cryoviz-bench-cold-"))
    with sync_playwright() as p:
        cold_browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        cold = live.cold_start(SCENE, _first_image, lambda: _fair_page(cold_browser),
                               {"CRYOVIZ_CACHE": str(fresh / "cache"),
                                "NUMBA_CACHE_DIR": str(fresh / "numba")})
        cold_browser.close()
    port = _free_port()
    workdir = Path(tempfile.mkdtemp(prefix="cryoviz-bench-app-"))
    log = open(workdir / "serve.log", "w")  # noqa: SIM115 - closed below
    t_spawn = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "cryoviz", "serve", str(SCENE), "--port", str(port),
                             "--no-browser"], stdout=log, stderr=subprocess.STDOUT, cwd=workdir,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    res: dict = {"scene": str(SCENE.name), "quick": quick, "goals": GOALS, "load_avg_start": load_start,
                 "cold": cold, "autogroup": autogroup_nice()}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM,
                                        args=CHROMIUM_ARGS)
            page = _fair_page(browser, viewport={"width": 1920, "height": 1300})
            url = f"http://127.0.0.1:{port}/"
            deadline = time.monotonic() + 120
            while True:
                try:
                    page.goto(url, timeout=5000)
                    break
                except Exception:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError((workdir / "serve.log").read_text()[-2000:]) from None
                    time.sleep(0.1)
            _first_image(page)
            res["first_image_s"] = time.perf_counter() - t_spawn
            # the 3D view at exactly 1280x720, then wait for the full-resolution result
            page.add_style_tag(content='[aria-label="3D view"] { width: 1280px !important; '
                                       'height: 720px !important; flex: none !important; }')
            page.locator('#cv-sim[data-sim="full"]').wait_for(timeout=600_000)
            page.wait_for_timeout(1500)
            # times while the ice grows or thaws, so that every change gives a different picture
            chapters = page.evaluate("() => window.trame.state.get('chapters')")
            ice = [c for c in chapters if c["id"] in ("freeze1", "thaw_refreeze")]
            lo, hi = ice[0]["jump_s"], ice[-1]["end_s"] - 0.5
            times = np.random.default_rng(7).permutation(np.linspace(lo, hi, n_latency))
            lat, missed = [], 0
            for t in times:
                try:
                    lat.append(float(page.evaluate(_LATENCY_JS, float(t))))
                except Exception:   # no new picture within 10 s: counted, not hidden
                    missed += 1
                page.wait_for_timeout(1000)   # let the late re-push land before the next change
            res["latency_ms"] = {"median": float(np.median(lat)) if lat else float("nan"),
                                 "p95": float(np.percentile(lat, 95)) if lat else float("nan"),
                                 "n": len(lat), "missed": missed, "view_px": [1280, 720]}
            res["playback_1x"] = live.playback(page, "1", 8.0 if quick else 20.0)
            from cryoviz.deliver.app_view import DRAG_MODE

            # the previous round's drag pictures (full size) beside the chosen mode, same page, same moment
            drag_s = 3.0 if quick else 5.0
            res["rotation"] = {m: live.rotation(page, drag_s, mode=m) for m in ("full", DRAG_MODE)}
            # the ring of pictures drawn ahead (app_turntable): the page turns the view, same page and moment
            res["rotation"]["ring"] = live.rotation_ring(page, drag_s)
            # play for play_s, sampling the server's memory
            samples = []
            t0 = time.monotonic()
            page.locator('select[aria-label="Speed"]').select_option("4")
            while time.monotonic() - t0 < play_s:
                play = page.get_by_role("button", name="Play")
                if play.count():
                    play.click()
                m = _rss_mb(proc.pid)
                samples.append((time.monotonic() - t0, m["rss"], m["anon"], m["file"]))
                time.sleep(min(5.0, play_s / 12))
            if page.get_by_role("button", name="Pause").count():
                page.get_by_role("button", name="Pause").click()
            rss = np.array(samples)
            minute = min(60.0, play_s / 4)
            early = rss[rss[:, 0] <= minute, 1].mean()
            late = rss[rss[:, 0] >= play_s - minute, 1].mean()
            res["memory"] = {"played_s": play_s, "rss_start_mb": float(rss[0, 1]),
                             "rss_max_mb": float(rss[:, 1].max()), "rss_end_mb": float(rss[-1, 1]),
                             "growth_pct": float(100.0 * (late - early) / early),
                             "anon_start_mb": float(rss[0, 2]), "anon_end_mb": float(rss[-1, 2]),
                             "file_start_mb": float(rss[0, 3]), "file_end_mb": float(rss[-1, 3]),
                             "samples_t_s_rss_anon_file_mb": [[round(float(v), 1) for v in row]
                                                              for row in samples]}
            # re-planning: a new gland size, never a cache hit
            from cryoviz.deliver.app_state import sized_scene
            from cryoviz.model.scene_load import load_scene

            base = load_scene(SCENE)
            res["resize"] = {}
            for vol in (31.0, 99.0):
                live.forget_cached(sized_scene(base, volume_ml=vol), (1.0, 2.0, 3.0))
                res["resize"][str(int(vol))] = live.resize(page, vol)
            browser.close()
    finally:
        live.stop(proc)
        log.close()
    res["peer"] = _peer(n=4 if quick else 8)
    pb, rz = res["playback_1x"], res["resize"]
    res["load_avg_end"] = os.getloadavg()
    res["ok"] = {
        "first_image": res["first_image_s"] <= GOALS["first_image_s"],
        "cold_first_image": res["cold"]["first_image_s"] <= GOALS["first_image_s"],
        "story_per_wall": pb["story_per_wall"] >= GOALS["story_per_wall"],
        "pictures_per_s": pb["pictures_per_s"] >= GOALS["pictures_per_s"],
        "resize_first": all(v["first_picture_s"] <= GOALS["resize_first_s"] for v in rz.values()),
        "resize_full": all(v["full_result_s"] <= GOALS["resize_full_s"][k] for k, v in rz.items()),
        "latency": res["latency_ms"]["median"] <= GOALS["latency_median_ms"],
        "memory": res["memory"]["rss_max_mb"] <= GOALS["rss_mb"]
        and res["memory"]["growth_pct"] < GOALS["rss_growth_pct"],
    }
    Path(results_dir).mkdir(parents=True, exist_ok=True)
    (Path(results_dir) / "app.json").write_text(json.dumps(res, indent=2) + "\n")
    m, lat = res["memory"], res["latency_ms"]
    print(f"app: first image {res['first_image_s']:.2f} s (goal <= 6), timeline -> new picture at 1280x720 "
          f"median {lat['median']:.0f} ms, p95 {lat['p95']:.0f} ms (goal median <= 250)", file=out)
    print(f"app: server RSS {m['rss_start_mb']:.0f} -> {m['rss_end_mb']:.0f} MB (max {m['rss_max_mb']:.0f}) "
          f"after {m['played_s'] / 60:.0f} min playing, growth {m['growth_pct']:+.1f} % "
          f"(goal <= 1024 MB, < 5 %); heap {m['anon_start_mb']:.0f} -> {m['anon_end_mb']:.0f} MB, "
          f"mapped files {m['file_start_mb']:.0f} -> {m['file_end_mb']:.0f} MB", file=out)
    ro_old = res["rotation"]["full"]
    ro = next(v for k, v in res["rotation"].items() if k not in ("full", "ring"))
    rr = res["rotation"]["ring"]
    print("app: cold first picture (empty thermal, mesh and numba caches: the anatomy chapters while the "
          f"solver compiles) {res['cold']['first_image_s']:.1f} s, "
          f"warm {res['first_image_s']:.2f} s (goal <= 6)", file=out)
    print(f"app: playing at 1x: {pb['story_per_wall']:.2f} story s per wall s (goal >= 0.95), "
          f"{pb['pictures_per_s']:.1f} pictures/s at 1280x720 (goal >= 10)", file=out)
    print(f"app: rotation while dragging (remote view, the server draws each picture): "
          f"{ro['frame_ms_mean']:.0f} ms per picture in the browser in mode {ro['mode']!r} ({ro['pictures']} "
          f"pictures in {ro['drag_s']:.0f} s), full-size pictures as before {ro_old['frame_ms_mean']:.0f} ms "
          f"({ro_old['pictures']} pictures) (goal: the browser's frame rate, about 17 ms)", file=out)
    print(f"app: rotation while dragging on the ring drawn ahead (the page shows the nearest of "
          f"{rr['ring_views']} server pictures): a frame every {rr['frame_ms_median']:.0f} ms (median, p95 "
          f"{rr['frame_ms_p95']:.0f}; {rr['frames']} frames, {rr['pictures_changed']} picture changes in "
          f"{rr['drag_s']:.0f} s; the bench's mouse moved every {rr['mouse_ms_median']:.0f} ms), "
          f"mouse to frame {rr['input_to_frame_ms_median']:.0f} ms (p95 "
          f"{rr['input_to_frame_ms_p95']:.0f}), picture off the mouse's angle by at most "
          f"{rr['angle_err_deg_max']:.1f} deg (median {rr['angle_err_deg_median']:.1f}); the exact picture "
          f"{rr['exact_picture_after_release_ms']:.0f} ms after the release; ring complete "
          f"{rr['ring_ready_s']:.1f} s after the previous drag (goal: about 17 ms a frame)", file=out)
    for k, v in rz.items():
        pre = "" if v.get("preview_s") is None else f", coarse preview {v['preview_s']:.1f} s"
        print(f"app: prostate to {k} ml: old numbers withdrawn {v['old_numbers_withdrawn_s']:.2f} s (side "
              f"panel), old result gone from the whole page and the 3D picture "
              f"{v.get('old_result_withdrawn_s', float('nan')):.2f} s "
              f"({v.get('old_pictures_after_withdrawal', 0)} old pictures after), first "
              f"picture of the new patient ({v.get('first_stage')}) {v['first_picture_s']:.1f} s (goal <= 2)"
              f"{pre}, full result {v['full_result_s']:.1f} s (goal <= {GOALS['resize_full_s'][k]:g})",
              file=out)
    la0, la1 = res["load_avg_start"], res["load_avg_end"]
    print(f"app: load average (1, 5, 15 min) {la0[0]:.1f} {la0[1]:.1f} {la0[2]:.1f} at the start, "
          f"{la1[0]:.1f} {la1[1]:.1f} {la1[2]:.1f} at the end (shared machine)"
          + ("" if res.get("autogroup") is None else
             f"; bench, server and browser at autogroup nice {res['autogroup'][1]}"), file=out)
    pe = res["peer"]
    print(f"app: per timeline change in place {pe['in_place_median_ms']:.0f} ms vs naive rebuilt renderer "
          f"{pe['rebuilt_median_ms']:.0f} ms ({pe['speedup']:.1f}x)", file=out)
    return res
