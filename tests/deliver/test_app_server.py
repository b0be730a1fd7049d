"""The consultation server refuses bad hosts, keys, ports and scenes before starting.

That a client without the key cannot connect is tested on the browser tests' server (one server per
module): ``tests/test_app_browser.py::test_only_clients_with_the_key_connect``.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from _apphelpers import REPO, SCENE, free_port

from cryoviz.cli import main


def test_non_loopback_host_without_key_is_refused_before_starting(capsys):
    port = free_port()
    assert main(["serve", str(SCENE), "--host", "0.0.0.0", "--port", str(port), "--no-browser"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("argument: --host: ") and "--auth-key" in err[0]
    assert "Traceback" not in capsys.readouterr().err


def test_refusal_exits_2_from_the_real_command():
    proc = subprocess.run([sys.executable, "-m", "cryoviz", "serve", "--host", "192.0.2.7", "--no-browser"],
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("argument: --host: ") and "Traceback" not in proc.stderr


@pytest.mark.parametrize("argv, key", [
    (["--auth-key", ""], "argument: --auth-key: "),
    (["--port", "70000"], "argument: --port: "),
])
def test_bad_key_or_port_is_one_contract_line(capsys, argv, key):
    assert main(["serve", str(SCENE), "--no-browser", *argv]) == 2
    assert capsys.readouterr().err.startswith(key)


def test_bad_scene_is_refused_before_starting(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[anatomy]\nvolume_ml = -3\n")
    assert main(["serve", str(bad), "--no-browser"]) == 2
    assert capsys.readouterr().err.startswith(str(bad))


def test_a_port_in_use_is_exit_2_with_a_hint_from_the_real_command():
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "cryoviz", "serve", "--port", str(port), "--no-browser"],
                              capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("argument: --port: port in use")
    assert f"--port {port + 1}" in lines[0] and "--port 0" in lines[0] and "Traceback" not in proc.stderr


def _record(name, msg, exc=None):
    import logging

    info = (type(exc), exc, None) if exc else None
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, (), info)


def test_ordinary_events_log_no_traceback_but_real_errors_do():
    from cryoviz.deliver.app_serve import REPLACED_VIEWS, OrdinaryEventFilter

    f = OrdinaryEventFilter()
    REPLACED_VIEWS.add("1")          # view 1 was replaced by a re-simulation
    # wslink's three records for a call on a replaced view, and aiohttp's for a closed tab
    assert not f.filter(_record("wslink.protocol", "Exception raised"))
    assert not f.filter(_record("wslink.protocol", "Exception('no view provided: 1')"))
    assert not f.filter(_record("wslink.protocol", "Traceback (most recent call last):\n  ...\nException"))
    reset = ConnectionResetError("Cannot write to closing transport")
    assert not f.filter(_record("aiohttp.server", "Error handling request from %s", reset))
    assert f.dropped == 2
    # a real bug keeps its words and its traceback
    assert not f.filter(_record("wslink.protocol", "Exception raised"))
    real = _record("wslink.protocol", "ZeroDivisionError('division by zero')")
    assert f.filter(real) and "division by zero" in real.getMessage()
    assert f.filter(_record("wslink.protocol", "Traceback (most recent call last):\n  ZeroDivisionError"))
    # a view that never was (a bad client call) is a real error too
    assert not f.filter(_record("wslink.protocol", "Exception raised"))
    assert f.filter(_record("wslink.protocol", "Exception('no view provided: -1')"))
