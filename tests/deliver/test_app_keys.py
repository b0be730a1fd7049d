"""A server reachable beyond this machine never runs without a strong key; without one, it makes one.

``cryoviz serve --host 0.0.0.0`` without a key used to be refused. Now, in a terminal, the server makes a
256-bit key for the run and prints the URL to open (``?secret=KEY``, the way the page gets a shared key) with
a one-line warning, on the terminal only: never into a log or a redirected stream, never handed out by the
server. Without a terminal nobody could read a made key, so the server still refuses; a weak key the user
gives is still refused (``test_app_security.py::test_weak_keys_are_refused_beyond_loopback``).
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
from _apphelpers import coarse_scene, free_port

from cryoviz.bench.wsclient import WsProbe, hello_rejected
from cryoviz.core.errors import InputError
from cryoviz.deliver import app_security as sec
from cryoviz.deliver.app_serve import check_host, key_for_host, show_made_key


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_key_is_made_only_beyond_loopback_in_a_terminal_and_only_when_none_was_given():
    made, was_made = key_for_host("0.0.0.0", None, terminal=_Terminal())
    assert was_made and sec.key_problem(made) is None and len(made) >= 43
    assert key_for_host("0.0.0.0", None, terminal=_Terminal())[0] != made      # a new one each run
    check_host("0.0.0.0", made)
    assert key_for_host("192.0.2.7", None, terminal=io.StringIO()) == (None, False)   # no terminal
    with pytest.raises(InputError, match=r"^argument: --host: .*terminal"):
        check_host("0.0.0.0", None)
    assert key_for_host("127.0.0.1", None, terminal=_Terminal()) == (None, False)     # loopback: no key
    assert key_for_host("0.0.0.0", "x", terminal=_Terminal()) == ("x", False)          # the user's, judged:
    with pytest.raises(InputError, match=r"^argument: --auth-key: key too weak"):
        check_host("0.0.0.0", "x")


def test_a_made_key_is_printed_to_a_terminal_only():
    url = "http://localhost:8123/?secret=abc"
    term = _Terminal()
    show_made_key("0.0.0.0", url, terminal=term)
    lines = term.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("cryoviz serve: WARNING: ") and "0.0.0.0" in lines[0]
    assert lines[1] == f"cryoviz serve: open {url}"
    redirected = io.StringIO()
    show_made_key("0.0.0.0", url, terminal=redirected)
    assert redirected.getvalue() == ""


def test_an_exposed_server_without_a_key_shows_its_made_key_and_accepts_only_it(tmp_path):
    import pty

    port = free_port()
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "cryoviz", "serve", str(coarse_scene(tmp_path)),
                             "--host", "0.0.0.0", "--port", str(port), "--no-browser"],
                            stdin=slave, stdout=slave, stderr=slave, cwd=tmp_path, close_fds=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", "CRYOVIZ_AUTH_KEY": ""})
    os.close(slave)
    seen = bytearray()

    def drain():                      # the server must never block on a full terminal
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                return
            if not chunk:
                return
            seen.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 240
        found = None
        url_line = re.compile(rb"cryoviz serve: open (http://localhost:(\d+)/\?secret=(\S+))\r?\n")
        while found is None and time.monotonic() < deadline and proc.poll() is None:
            found = url_line.search(bytes(seen))
            time.sleep(0.2)
        text = bytes(seen).decode(errors="replace")
        assert found is not None, text[-3000:]
        key = found.group(3).decode()
        assert int(found.group(2)) == port and sec.key_problem(key) is None and len(key) >= 43
        warnings = [ln for ln in text.splitlines() if "WARNING" in ln]
        assert len(warnings) == 1 and "0.0.0.0" in warnings[0] and key not in warnings[0]
        assert text.count(key) == 1                         # the URL line, nothing else

        async def scenario():
            async with WsProbe(port) as ws:
                ok = await ws.hello(key)
            return ok, await hello_rejected(port, "wslink-secret")

        ok, wrong_refused = asyncio.run(scenario())
        assert "result" in ok and wrong_refused
        # the page does not fetch it from the server: anyone on the network could
        req = urllib.request.Request(f"http://127.0.0.1:{port}/paraview/", data=b"{}", method="POST",
                                     headers={"Origin": f"http://127.0.0.1:{port}"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                body = resp.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            body = f"HTTP {exc.code}"
        assert key not in body
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        os.close(master)
        reader.join(timeout=5)
