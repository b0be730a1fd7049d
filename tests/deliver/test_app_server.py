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
