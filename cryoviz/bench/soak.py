"""``cryoviz bench soak``: a consultation under seeded random hostile and ordinary events for 10 minutes.

Not part of ``bench all`` nor of the test suite (it takes 10 minutes; ``--quick`` runs 1). One
``cryoviz serve`` process on the default scene on 127.0.0.1; one Chromium page is the patient's screen (it
shows and acknowledges the pictures, as in a consultation); a raw wslink client
(:class:`cryoviz.bench.wsclient.WsProbe`) with this server's secret sends batches of events drawn from a
seeded generator: about two thirds hostile (NaN, inf, 1e308, strings, lists, dicts into every key;
server-only keys; lifecycle names; 8000 px view sizes; NaN cameras, animation and observer calls on the
shared 3D view; bad triggers; wrong secrets) and one third
ordinary (play, pause, timeline, chapters, speed, language, organs, sizing that re-simulates).

Every 10 s it checks that the server **answers** (the page over HTTP within 5 s), **plays** (with
``playing`` on, the story clock moves within 6 s), **draws** (paused, the shared 3D view sends a picture
within 10 s) and its memory: the server's resident memory (``VmRSS``) and, with the solver process it
starts, their proportional set size summed (``Pss``: a page both map counts once); the goal is all
answered, playing and drawn, and at most 1 GB by both measures.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from cryoviz.bench.app_live import stop

__all__ = ["GOALS", "run"]

GOALS = {"rss_max_mb": 1024.0, "answered_fraction": 1.0, "played_fraction": 1.0, "drawn_fraction": 1.0}
_HOSTILE_VALUES = [float("nan"), float("inf"), -float("inf"), 1e308, -1e308, "abc", "", [], [1, 2], {},
                   {"x": 1}, None, True, False, 2**62, -1, "<img src=x onerror=alert(1)>", "x" * 5000]
_CLIENT_KEYS = ["t_s", "playing", "speed", "lang", "organs_visible", "cutaway", "iso_0", "iso_m20",
                "iso_m40", "clinician", "volume_ml", "rectum_gap_mm", "hydrodissection", "preset"]
_SERVER_KEYS = ["duration_s", "sim_busy", "disclaimer", "chapters", "caption", "frame_jpeg", "labels"]
_NAN = float("nan")
#: One message each once blanked or stopped the picture every tab shares (see deliver/app_view_guard).
_VIEW_ATTACKS = [("viewport.camera.update", ["VIEW", [_NAN] * 3, [0, 0, 1], [1, 2, 3]]),
                 ("viewport.camera.update", ["VIEW", [0, 0, 0], [0, 0, 0], [0, 0, 0]]),
                 ("viewport.image.animation.fps.max", [0]),
                 ("viewport.image.animation.start", ["VIEW"]),
                 ("viewport.image.push.observer.remove", ["VIEW"]),
                 ("viewport.image.push.enabled", ["VIEW", False])]


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) / 1024 for line in fh if line.startswith("VmRSS:"))


def _pss_mb(pid: int) -> float:
    """Proportional set size of ``pid`` (``/proc/PID/smaps_rollup``), MB: each shared page counted as a share
    among the processes that map it, so the sum over processes is the memory they take together."""
    with open(f"/proc/{pid}/smaps_rollup") as fh:
        return next(int(line.split()[1]) / 1024 for line in fh if line.startswith("Pss:"))


def _tree_rss_mb(pid: int, measure=None) -> float:
    """Memory of ``pid`` and all its descendants (the solver process), MB. By default resident memory, in
    which shared pages count once per process (an upper bound); ``measure=_pss_mb`` gives their true sum."""
    import os

    measure = measure or _rss_mb

    parents: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as fh:
                    parents[int(name)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, grew = {pid}, True
    while grew:
        more = {c for c, par in parents.items() if par in tree} - tree
        tree |= more
        grew = bool(more)
    total = 0.0
    for p in tree:
        try:
            total += measure(p)
        except (OSError, StopIteration):
            continue
    return total


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status == 200
    except OSError:
        return False


def _secret(port: int) -> str:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/paraview/", data=b"{}", method="POST",
                                 headers={"Origin": f"http://127.0.0.1:{port}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())["secret"]


def _event(rng: random.Random) -> tuple[str, list]:
    """One seeded event: ``(rpc method, args)``."""
    r = rng.random()
    if r < 0.30:
        key = rng.choice(_CLIENT_KEYS + _SERVER_KEYS)
        return "trame.state.update", [[{"key": key, "value": rng.choice(_HOSTILE_VALUES)}]]
    if r < 0.38:
        return "trame.lifecycle.update", [rng.choice(["server_exited", "server_ready", "client_exited",
                                                      "nonsense", 5])]
    if r < 0.45:
        return "trame.trigger", [rng.choice(["cv_chapter", "cv_organ", "cv_key", "cv_frame", "cv_play",
                                             "nope"]), [rng.choice(_HOSTILE_VALUES)], {}]
    if r < 0.52:
        return "viewport.image.push.original.size", ["VIEW", rng.choice([8000, 1e9, -5, "x", 1200]),
                                                     rng.choice([8000, 1e9, -5, None, 800])]
    if r < 0.54:
        return rng.choice(_VIEW_ATTACKS)
    if r < 0.55:
        return "application.exit.later", [0]
    # ordinary
    o = rng.random()
    if o < 0.25:
        return "trame.state.update", [[{"key": "t_s", "value": rng.uniform(0, 600)}]]
    if o < 0.40:
        return "trame.trigger", ["cv_chapter", [rng.randrange(0, 8)], {}]
    if o < 0.50:
        return "trame.state.update", [[{"key": "speed", "value": rng.choice([0.5, 1.0, 2.0, 4.0])}]]
    if o < 0.60:
        return "trame.state.update", [[{"key": "lang", "value": rng.choice(["en", "es"])}]]
    if o < 0.70:
        return "trame.state.update", [[{"key": "clinician", "value": rng.random() < 0.5}]]
    if o < 0.78:
        return "trame.state.update", [[{"key": "cutaway", "value": rng.random() < 0.5}]]
    if o < 0.82:
        return "trame.state.update", [[{"key": "volume_ml", "value": float(rng.choice([25, 30, 40, 55]))}]]
    return "trame.state.update", [[{"key": "playing", "value": True}]]


async def _batch(port: int, secret: str, rng: random.Random, n: int, view_id: str) -> dict:
    from cryoviz.bench.wsclient import WsProbe, hello_rejected

    counts = {"sent": 0, "errors": 0, "bad_hellos": 0}
    if rng.random() < 0.3:
        counts["bad_hellos"] += int(await hello_rejected(port, f"guess-{rng.random()}"))
    async with WsProbe(port) as ws:
        await ws.hello(secret)
        for _ in range(n):
            method, args = _event(rng)
            args = [view_id if a == "VIEW" else a for a in args]
            reply = await ws.call(method, args, timeout_s=20)
            counts["sent"] += 1
            counts["errors"] += int("error" in reply)
            await asyncio.sleep(rng.uniform(0.0, 0.05))
    return counts


async def _plays(port: int, secret: str) -> tuple[bool, str]:
    """Start playing (an ordinary client's Play) and see the story clock move within 6 s."""
    from cryoviz.bench.wsclient import WsProbe

    async with WsProbe(port) as ws:
        await ws.hello(secret)
        state = (await ws.call("trame.state.get"))["result"]["state"]
        view = next((str(v) for k, v in state.items() if k.startswith("trame__remote_view") and
                     k.endswith("Id") and v is not None), "")
        start = 1.0
        await ws.update(t_s=start, speed=4.0, playing=True)
        deadline = time.monotonic() + 6.0       # a busy 2-core machine may take a second per picture
        t = start
        while time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            t = (await ws.call("trame.state.get"))["result"]["state"].get("t_s", start)
            if isinstance(t, (int, float)) and math.isfinite(t) and t > start + 0.5:
                return True, view
        return False, view


async def _draws(port: int, secret: str, view: str) -> bool:
    """Paused, the shared 3D view still sends a picture when asked (within 10 s)."""
    from cryoviz.bench.wsclient import WsProbe

    got: list = []
    async with WsProbe(port) as ws:
        await ws.hello(secret)
        await ws.update(playing=False)
        ws._session.register_subscription("viewport.image.push.subscription", got.append)
        await ws.call("viewport.image.push", [{"view": view or "-1"}])
        deadline = time.monotonic() + 10.0
        while not got and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
    return bool(got) and bool(got[-1].get("image"))


def run(quick: bool = False, out=None, minutes: float | None = None, seed: int = 12,
        port: int | None = None) -> dict:
    """Run the soak; return the figures (and print one summary line to ``out`` if it is a stream)."""
    from playwright.sync_api import sync_playwright

    from cryoviz.model.scene import DEFAULT_SCENE

    minutes = minutes if minutes is not None else (1.0 if quick else 10.0)
    rng = random.Random(seed)
    workdir = Path(tempfile.mkdtemp(prefix="cryoviz-soak-"))
    port = port or _free_port()
    url = f"http://127.0.0.1:{port}/"
    log = open(workdir / "serve.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "cryoviz", "serve", str(DEFAULT_SCENE),
                             "--port", str(port), "--no-browser"],
                            stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    res = {"minutes": minutes, "seed": seed, "checks": 0, "answered": 0, "played": 0, "drawn": 0,
           "rss_mb": [], "tree_rss_mb": [], "tree_pss_mb": [], "events": 0, "event_errors": 0,
           "bad_hellos": 0, "goals": GOALS}
    try:
        deadline = time.monotonic() + 180
        while not _answers(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((workdir / "serve.log").read_text()[-2000:])
            time.sleep(0.5)
        secret = _secret(port)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(url)
            page.get_by_label("3D view").locator("img").first.wait_for(timeout=120_000)
            end = time.monotonic() + 60 * minutes
            view_id = ""
            next_check = time.monotonic()
            while time.monotonic() < end and proc.poll() is None:
                if time.monotonic() >= next_check:
                    res["checks"] += 1
                    res["answered"] += int(_answers(url))
                    ok, view_id = _in_thread(_plays(port, secret))
                    res["played"] += int(ok)
                    res["drawn"] += int(_in_thread(_draws(port, secret, view_id)))
                    res["rss_mb"].append(round(_rss_mb(proc.pid), 1))
                    res["tree_rss_mb"].append(round(_tree_rss_mb(proc.pid), 1))
                    res["tree_pss_mb"].append(round(_tree_rss_mb(proc.pid, _pss_mb), 1))
                    next_check += 10.0
                counts = _in_thread(_batch(port, secret, rng, 20, view_id or "1"))
                res["events"] += counts["sent"]
                res["event_errors"] += counts["errors"]
                res["bad_hellos"] += counts["bad_hellos"]
                page.wait_for_timeout(200)         # the page keeps drawing and acknowledging pictures
            res["page_alive"] = page.locator(".cv-caption").count() == 1
            browser.close()
        res["server_alive"] = proc.poll() is None
    finally:
        stop(proc, timeout_s=20)
        log.close()
    rss = res["rss_mb"] or [0.0]
    res["tree_rss_max_mb"] = max(res["tree_rss_mb"] or [0.0])
    res["tree_pss_max_mb"] = max(res["tree_pss_mb"] or [0.0])
    res.update(rss_max_mb=max(rss), rss_first_mb=rss[0], rss_last_mb=rss[-1],
               answered_fraction=res["answered"] / max(res["checks"], 1),
               played_fraction=res["played"] / max(res["checks"], 1),
               drawn_fraction=res["drawn"] / max(res["checks"], 1), log=str(workdir / "serve.log"))
    res["ok"] = (res["server_alive"] and res["answered_fraction"] >= 1.0 and res["played_fraction"] >= 1.0
                 and res["drawn_fraction"] >= 1.0 and res["rss_max_mb"] <= GOALS["rss_max_mb"]
                 and res["tree_pss_max_mb"] <= GOALS["rss_max_mb"])
    if hasattr(out, "write"):
        print(f"soak: {minutes:g} min, {res['events']} events ({res['event_errors']} refused with an error), "
              f"answered {res['answered']}/{res['checks']}, played {res['played']}/{res['checks']}, "
              f"drew {res['drawn']}/{res['checks']}, "
              f"RSS {res['rss_first_mb']:.0f} -> {res['rss_last_mb']:.0f} MB (max {res['rss_max_mb']:.0f}; "
              f"with the solver process max {res['tree_rss_max_mb']:.0f} resident, "
              f"{res['tree_pss_max_mb']:.0f} proportional); "
              f"{'ok' if res['ok'] else 'FAILED'}", file=out)
    return res


def _in_thread(coro):
    """Run a coroutine to its end in a thread of its own (Playwright's sync API holds this thread's loop)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
