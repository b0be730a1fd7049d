"""An imported scene runs everywhere: ``simulate``, ``still``, ``render`` (short, small), ``serve`` (smoke).

The scene comes from ``cryoviz import`` of an LPS ``.seg.nrrd`` written by the tests' phantom (gland,
rectum, bladder, a lesion in the left half), with a coarse thermal grid so the machine stays free.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "model" / "imports"))
import _import_phantoms as P

from cryoviz.cli import main

#: This issue's port range (8150-8159); the first free one is used.
PORTS = range(8150, 8160)


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    d = tmp_path_factory.mktemp("imported")
    seg = P.write_seg_nrrd_lps(d)
    out = d / "patient.toml"
    assert main(["import", str(seg), "-o", str(out)]) == 0
    out.write_text(out.read_text() + "\n[thermal]\ngrid_mm = 2.0\n")
    return out


def test_simulate_reports_his_gland_and_sensors(imported, tmp_path, capsys):
    js = tmp_path / "m.json"
    assert main(["simulate", str(imported), "--json", str(js)]) == 0
    m = json.loads(js.read_text())
    assert m["organs"]["prostate"]["volume_ml"] == pytest.approx(41.3, abs=2.5)  # his gland on a 2 mm grid
    assert set(m["sensors"]) == {"rectal_wall", "apex", "sphincter"}
    assert [les["name"] for les in m["lesions"]] == ["lesion 1"]
    assert m["organs"]["prostate"]["fraction_below_0"] > 0.5


def test_still_draws_the_imported_anatomy(imported, tmp_path):
    from PIL import Image

    out = tmp_path / "still.png"
    assert main(["still", str(imported), "--chapter", "1", "-o", str(out), "--size", "480x270"]) == 0
    img = np.asarray(Image.open(out).convert("RGB"), dtype=float)
    assert img.shape == (270, 480, 3)
    centre = img[60:210, 140:340]
    assert centre.std() > 20.0  # organs drawn, not an empty background


@pytest.mark.video
def test_render_a_short_small_video(imported, tmp_path):
    out = tmp_path / "v.mp4"
    assert main(["render", str(imported), "-o", str(out), "--size", "320x180", "--duration", "1",
                 "--fps", "24", "--jobs", "1"]) == 0
    assert out.stat().st_size > 1000 and out.with_suffix(".vtt").exists()


def _free_port() -> int:
    for port in PORTS:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return port
    pytest.fail("no free port in 8150-8159")


def test_serve_smoke(imported, tmp_path):
    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "cryoviz", "serve", str(imported), "--host", "127.0.0.1",
                             "--port", str(port), "--no-browser"], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180.0
        status = None
        while time.monotonic() < deadline and status is None:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
                    status = resp.status
            except OSError:
                time.sleep(0.5)
        assert status == 200
        time.sleep(2.0)
        assert proc.poll() is None  # still serving after building his anatomy
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
