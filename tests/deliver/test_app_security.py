"""The consultation server against hostile clients: a real server, a raw wslink client, any Origin.

One server for the module (no ``--auth-key``: it makes its own secret). Each test speaks to it over a real
websocket (:class:`cryoviz.bench.wsclient.WsProbe`), as a page on another site or a script would.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request

import pytest
from _apphelpers import SCENE, coarse_server

from cryoviz.bench.wsclient import WsProbe, hello_rejected
from cryoviz.cli import main
from cryoviz.deliver import app_security as sec


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with coarse_server(tmp_path_factory.mktemp("serve-sec")) as srv:
        yield srv


def _post_launcher(port: int, origin: str | None, host: str | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/paraview/", data=b"{}", method="POST")
    if origin:
        req.add_header("Origin", origin)
    if host:
        req.add_header("Host", host)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def _secret(server) -> str:
    status, body = _post_launcher(server.port, f"http://127.0.0.1:{server.port}")
    assert status == 200 and body["sessionURL"] == "ws://USE_HOST/ws"
    return body["secret"]


def _run(coro):
    return asyncio.run(coro)


def _answers(server, timeout_s: float = 5.0) -> bool:
    with urllib.request.urlopen(server.url, timeout=timeout_s) as resp:
        return resp.status == 200


# ------------------------------------------------------------------------------------------ secret
def test_the_secret_is_random_and_handed_only_to_this_servers_page(server):
    secret = _secret(server)
    assert len(secret) >= 40 and secret != "wslink-secret"
    assert _run(hello_rejected(server.port, "wslink-secret"))          # today: the public default works
    assert _run(hello_rejected(server.port, None))
    assert not _run(hello_rejected(server.port, secret))
    # a page on another site, or another site's name pointing here (DNS rebinding), gets nothing
    assert _post_launcher(server.port, "http://evil.example")[0] == 403
    assert _post_launcher(server.port, "http://evil.example:1", host="evil.example:1")[0] == 403
    assert _post_launcher(server.port, None)[0] == 403


def test_foreign_origins_are_refused_before_the_websocket_opens(server):
    import aiohttp

    async def attempt(origin):
        try:
            async with WsProbe(server.port, origin=origin) as ws:
                return await ws.hello(_secret(server))
        except aiohttp.WSServerHandshakeError as exc:
            return {"status": exc.status}

    assert _run(attempt("http://evil.example")) == {"status": 403}
    assert _run(attempt("null")) == {"status": 403}
    assert "result" in _run(attempt(f"http://127.0.0.1:{server.port}"))


def test_failed_hellos_are_throttled(server):
    async def guesses(n):
        t0 = time.perf_counter()
        results = await asyncio.gather(*(hello_rejected(server.port, f"guess-{i}") for i in range(n)))
        return time.perf_counter() - t0, results

    dt, results = _run(guesses(6))
    assert all(results)
    assert dt >= 6 * sec.FAIL_DELAY_S * 0.9, dt       # today: 4,700 guesses a second


# ------------------------------------------------------------------------------- hostile messages
def test_client_cannot_run_server_lifecycle_or_exit(server):
    async def scenario():
        async with WsProbe(server.port) as ws:
            await ws.hello(_secret(server))
            for name in ("server_exited", *["server_ready"] * 50):
                await ws.call("trame.lifecycle.update", [name])
            exit_reply = await ws.call("application.exit")
            later_reply = await ws.call("application.exit.later", [0])
            state = (await ws.call("trame.state.get"))["result"]["state"]
            await ws.update(t_s=10.0)
            await asyncio.sleep(1.0)
            return exit_reply, later_reply, state, dict(ws.state)

    exit_reply, later_reply, state, pushed = _run(scenario())
    assert "error" in exit_reply and "error" in later_reply
    assert state["sim_status"] in ("anatomy", "preview", "full")   # anatomy: the result is still computing
    assert server.alive() and _answers(server)
    log = server.log()
    assert "refused" in log
    # the renderer still draws after a client's "server_exited": a new time gives a new caption/clock
    assert pushed.get("clock") or pushed.get("caption")


@pytest.mark.timeout(120, method="thread")
def test_hostile_state_updates_are_refused_and_reverted(server):
    async def scenario():
        async with WsProbe(server.port) as ws:
            await ws.hello(_secret(server))
            await ws.update(volume_ml=31.0)
            for key, value in (("t_s", float("nan")), ("duration_s", "x"), ("organs_visible", "x"),
                               ("volume_ml", float("nan")), ("volume_ml", 1e308), ("volume_ml", "abc"),
                               ("volume_ml", [1]), ("rectum_gap_mm", float("inf")), ("disclaimer", ""),
                               ("sim_busy", True)):
                ws.state.clear()
                reply = await ws.update(**{key: value})
                assert "error" not in reply, (key, reply)
                await asyncio.sleep(0.2)
                assert key in ws.state, key             # pushed back: the last valid value
            await ws.update(playing=True, speed=4.0)
            await asyncio.sleep(2.0)
            state = (await ws.call("trame.state.get"))["result"]["state"]
            await ws.update(playing=False)
            return state

    t0 = time.monotonic()
    state = _run(scenario())
    assert time.monotonic() - t0 < 60 and _answers(server)
    assert state["volume_ml"] == 31.0 and state["disclaimer"] and state["duration_s"] > 60
    assert state["t_s"] > 0.0                              # it played
    assert isinstance(state["organs_visible"], dict)


def test_view_size_is_clamped_to_the_render_limits():
    got = []
    guard = sec.ServerGuard(app=None, secret="s" * 20, hand_out=False, loopback_only=True)
    guard._view_size(lambda obj, vid, w, h: got.append((w, h)))(None, "1", 8000, 8000)
    guard._view_size(lambda obj, vid, w, h: got.append((w, h)))(None, "1", "x", float("nan"))
    guard._view_quality(lambda obj, vid, q, r: got.append((q, r)))(None, "1", 1e9, 1e9)
    guard._still_render(lambda obj, o: got.append(tuple(o["size"])))(None, {"view": "1", "size": [9e9, -5]})
    guard._view_size(lambda obj, vid, w, h: got.append((w, h)))(None, "1", 3840, 2160)   # a 4K panel
    assert got == [(1920, 1200), (16, 16), (100, 1.0), (1920, 16), (1920, 1200)]


def test_huge_view_size_from_a_client_keeps_the_server_small(server):
    def rss_mb():
        with open(f"/proc/{server.proc.pid}/status") as fh:
            return next(int(ln.split()[1]) / 1024 for ln in fh if ln.startswith("VmRSS:"))

    async def scenario():
        async with WsProbe(server.port) as ws:
            await ws.hello(_secret(server))
            state = (await ws.call("trame.state.get"))["result"]
            view_ids = [str(v) for v in _view_ids(state)]
            assert view_ids
            for vid in view_ids:
                await ws.call("viewport.image.push.observer.add", [vid])
                await ws.call("viewport.image.push.original.size", [vid, 8000, 8000])
                await ws.call("viewport.image.push.quality", [vid, 100, 50])
                await ws.call("viewport.image.render", [{"view": vid, "size": [8000, 8000], "mtime": 0}])
            await ws.update(t_s=30.0)
            await asyncio.sleep(3.0)
            for vid in view_ids:
                await ws.call("viewport.image.push.observer.remove", [vid])

    _run(scenario())
    assert server.alive() and _answers(server)
    # 2 mm scene: about 600 MB drawing at 1920x1200; 920 MB at the former 4K limit; 3.8 GB unclamped
    assert rss_mb() < 800, rss_mb()



async def _picture(ws, view_id: str, timeout_s: float = 20.0):
    """The 3D picture every tab is sent now (trame-vtk's image push), as an (H, W, 3) int array, or None."""
    import io

    import numpy as np
    from PIL import Image

    got = []
    ws._session.register_subscription("viewport.image.push.subscription", got.append)
    try:
        t0 = time.monotonic()
        while not got and time.monotonic() - t0 < timeout_s:
            # asked again every 2 s: on a busy machine trame-vtk may drop a push while it is encoding
            await ws.call("viewport.image.push", [{"view": view_id}])
            for _ in range(20):
                if got:
                    break
                await asyncio.sleep(0.1)
    finally:
        ws._session.unregister_subscription("viewport.image.push.subscription", got.append)
    if not got:
        return None
    return np.asarray(Image.open(io.BytesIO(bytes(got[-1]["image"]))).convert("RGB")).astype(np.int16)


def test_one_client_cannot_blank_or_stop_the_picture_every_tab_shares(server):
    """Each message here, before the view guard: NaN/far/zero cameras blanked the scene for every tab;
    animation fps 0 divided trame-vtk by zero and no picture was sent again; observer.remove and
    push.enabled false stopped the pictures."""
    nan = float("nan")

    async def scenario():
        async with WsProbe(server.port) as ws:
            await ws.hello(_secret(server))
            # an earlier test's re-sizing may still be running: its result replaces the view (a new id)
            deadline = time.monotonic() + 180
            while (state := (await ws.call("trame.state.get"))["result"])["state"].get("sim_busy"):
                assert time.monotonic() < deadline, "the re-simulation did not finish"
                await asyncio.sleep(0.5)
            vid = str(_view_ids(state)[0])
            await ws.call("viewport.image.push.observer.add", [vid])          # as the page does
            await ws.update(playing=False, t_s=200.0)
            await asyncio.sleep(1.5)
            before = await _picture(ws, vid)
            attacks = [("viewport.camera.update", [vid, [nan] * 3, [0, 0, 1], [1, 2, 3]]),
                       ("viewport.camera.update", [vid, [0, 0, 0], [0, 0, 1], [1e300] * 3]),
                       ("viewport.camera.update", [vid, [0, 0, 0], [0, 0, 0], [0, 0, 0]]),
                       ("viewport.camera.update", [vid, [0, 0, 0], [0, 0, 1], [0, 0, 50]]),  # up along view
                       ("viewport.image.animation.fps.max", [0]),
                       ("viewport.image.animation.fps.max", ["x"]),
                       *[("viewport.image.animation.start", [vid])] * 20,
                       *[("viewport.image.push.observer.remove", [vid])] * 3,
                       ("viewport.image.push.enabled", [vid, False])]
            for method, args in attacks:
                await ws.call(method, args)
            await asyncio.sleep(1.0)
            after = await _picture(ws, vid)
            await ws.call("viewport.image.animation.stop", [vid])
            return before, after

    before, after = _run(scenario())
    assert before is not None and before.std() > 20
    assert after is not None, "no picture is sent any more"
    assert after.shape == before.shape and abs(after - before).mean() < 2.0   # the same picture
    assert server.alive() and _answers(server)


def test_camera_rules():
    from cryoviz.deliver.app_view_guard import camera_problem

    assert camera_problem([0, 0, 0], [0, 0, 1], [0, -300, 0]) is None
    for fp, up, pos in (([float("nan")] * 3, [0, 0, 1], [1, 2, 3]), ([0, 0, 0], [0, 0, 1], [1e300] * 3),
                        ([0, 0, 0], [0, 0, 0], [0, -300, 0]), ([0, 0, 0], [0, 0, 1], [0, 0, 0]),
                        ([0, 0, 0], [0, 0, 1], [0, 0, 300]), ([0, 0], [0, 0, 1], [0, -300, 0]),
                        ("abc", [0, 0, 1], [0, -300, 0]), ([0, 0, True], [0, 0, 1], [0, -300, 0])):
        assert camera_problem(fp, up, pos), (fp, up, pos)

def _view_ids(state) -> list:
    """The remote views' ids, as the page learns them (``trame__remote_view_<n>Id`` in the state)."""
    return [v for k, v in state.get("state", {}).items() if k.startswith("trame__remote_view") and
            k.endswith("Id") and v is not None]


def test_server_errors_reach_the_client_short_and_the_log_in_full(server):
    async def scenario():
        async with WsProbe(server.port) as ws:
            await ws.hello(_secret(server))
            # a malformed mouse event raises inside trame-vtk (KeyError: 'buttonLeft')
            return await ws.call("viewport.mouse.interaction", [{"view": "-1"}])

    reply = _run(scenario())
    assert "error" in reply
    text = json.dumps(reply["error"], default=str)
    assert "Traceback" not in text and ".py" not in text
    assert "Traceback" in server.log()


# ------------------------------------------------------------------------------------------ keys
@pytest.mark.parametrize("key", ["x", "\u200b" * 20, "short-key-12", " " * 30])
def test_weak_keys_are_refused_beyond_loopback(capsys, key):
    assert main(["serve", str(SCENE), "--host", "0.0.0.0", "--auth-key", key, "--no-browser"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("argument: --auth-key: ")


def test_key_from_environment_or_file_is_checked_like_a_key(capsys, monkeypatch, tmp_path):
    from cryoviz.deliver.app import read_auth_key

    monkeypatch.setenv("CRYOVIZ_AUTH_KEY", "tiny")
    assert main(["serve", str(SCENE), "--host", "0.0.0.0", "--no-browser"]) == 2
    assert capsys.readouterr().err.startswith("argument: --auth-key: key too weak")
    key_file = tmp_path / "key"
    key_file.write_text("a-long-enough-shared-key-1234\n")
    assert read_auth_key(None, key_file) == "a-long-enough-shared-key-1234"
    assert read_auth_key("given", key_file) == "given"
    assert read_auth_key(None, None, {"CRYOVIZ_AUTH_KEY": "from-env"}) == "from-env"
    assert main(["serve", str(SCENE), "--auth-key-file", str(tmp_path / "missing"), "--no-browser"]) == 2
    assert capsys.readouterr().err.startswith("argument: --auth-key-file: ")


def test_origin_rules():
    assert sec.origin_problem("127.0.0.1:80", None, loopback_only=True) is None
    assert sec.origin_problem("localhost:80", "http://localhost:80", loopback_only=True) is None
    assert sec.origin_problem("127.0.0.1:80", "http://127.0.0.1:81", loopback_only=True)
    assert sec.origin_problem("evil.example:80", "http://evil.example:80", loopback_only=True)
    assert sec.origin_problem("clinic.lan:80", "http://clinic.lan:80", loopback_only=False) is None
    assert sec.origin_problem("clinic.lan:80", "https://evil.example", loopback_only=False)
    assert sec.origin_problem(None, None, loopback_only=False)


def test_a_request_about_a_replaced_view_is_answered_not_raised(monkeypatch):
    from cryoviz.deliver import app_serve
    from cryoviz.deliver.app_view_guard import REPLACED_VIEW_RPCS, ViewRpcGuard

    monkeypatch.setattr(app_serve, "REPLACED_VIEWS", {"41"})
    calls = []

    def rpc(obj, *args):
        calls.append(args)
        raise Exception(f"no view provided: {args[0]}")     # what trame-vtk does for a view it lost

    guard = ViewRpcGuard()
    size = guard._replaced_view(rpc, REPLACED_VIEW_RPCS["viewport.image.push.original.size"])
    push = guard._replaced_view(rpc, REPLACED_VIEW_RPCS["viewport.image.push"])
    assert size(None, "41", 300, 200) == {"error": "Unable to get view with id 41"}
    assert push(None, {"view": 41, "size": [300, 200]}) == {"error": "Unable to get view with id 41"}
    assert calls == []
    with pytest.raises(Exception, match="no view provided: 7"):     # any other view: trame-vtk decides
        size(None, "7", 300, 200)
    for odd in ((), (None,), ({"view": None},), ([41],)):
        with pytest.raises(Exception, match="no view provided"):
            push(None, *odd) if odd else size(None, None)
