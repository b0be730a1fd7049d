"""The thermal cache heals: an unreadable entry is rebuilt, a killed writer's temporary folder is swept,
and ``simulate`` unwinds on SIGTERM like ``render``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cryoviz.core import cache

REPO = Path(__file__).resolve().parents[2]
SCENE = REPO / "scenes" / "salvage_whole_gland.toml"


def _entry(folder: Path, key: str = "k1") -> Path:
    arrays = {"times_s": np.arange(3.0), "labels": np.zeros((2, 2, 2), np.uint8),
              "min_temp_c": np.zeros((2, 2, 2), np.float32)}
    cache.store(folder, key, {"grid_mm": 1.0}, arrays, np.zeros((3, 2, 2, 2), np.float16))
    assert cache.load(folder, key) is not None
    return folder / f"thermal-{key}"


def test_a_truncated_array_file_or_a_non_dict_meta_reads_as_missing(tmp_path):
    d = _entry(tmp_path)
    data = (d / "arrays.npz").read_bytes()
    (d / "arrays.npz").write_bytes(data[: len(data) // 2])                  # today: BadZipFile every run
    assert cache.load(tmp_path, "k1") is None
    d = _entry(tmp_path)                                                     # the next store rebuilds it
    assert cache.load(tmp_path, "k1") is not None
    (d / "meta.json").write_text(json.dumps(["not", "a", "dict"]))           # today: AttributeError
    assert cache.load(tmp_path, "k1") is None
    (d / "meta.json").write_text("{")
    assert cache.load(tmp_path, "k1") is None


def test_temporary_folders_of_dead_writers_are_swept(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = tmp_path / f".thermal-abc.{dead.pid}.x1"                        # SIGKILL'd writer
    orphan.mkdir(parents=True)
    (orphan / "temps.npy").write_bytes(b"\0" * 1000)
    old = tmp_path / ".thermal-def.zz9"                                      # old layout, no pid: by age
    old.mkdir()
    os.utime(old, (time.time() - 2 * cache.STALE_TEMP_S,) * 2)
    mine = tmp_path / f".thermal-ghi.{os.getpid()}.x2"                       # a live writer's: kept
    mine.mkdir()
    _entry(tmp_path)
    assert not orphan.exists() and not old.exists() and mine.exists()


def test_simulate_recomputes_over_a_corrupt_entry(tmp_path, monkeypatch):
    from cryoviz.model.scene_load import load_scene
    from cryoviz.physics.thermal import simulate

    monkeypatch.setenv("CRYOVIZ_CACHE", str(tmp_path))
    scene = load_scene(SCENE)
    first = simulate(scene, grid_mm=4.0)
    (entry,) = [p for p in tmp_path.iterdir() if p.name.startswith("thermal-")]
    (entry / "arrays.npz").write_bytes(b"PK\x03\x04 truncated")
    again = simulate(scene, grid_mm=4.0)
    assert again.metrics["organs"]["prostate"] == first.metrics["organs"]["prostate"]
    (entry2,) = [p for p in tmp_path.iterdir() if p.name.startswith("thermal-")]
    assert cache.load(tmp_path, entry2.name.removeprefix("thermal-")) is not None


@pytest.mark.timeout(300)
def test_simulate_unwinds_on_sigterm(tmp_path):
    env = {**os.environ, "CRYOVIZ_CACHE": str(tmp_path), "PYTHONPATH": str(REPO)}
    # 0.75 mm: a run of about 15 s on a quiet machine, so the signal lands mid-solve (a warm 1 mm run ends
    # in under 4 s there, before the 6 s wait is over, and exits 0)
    proc = subprocess.Popen([sys.executable, "-m", "cryoviz", "simulate", str(SCENE), "--grid-mm", "0.75"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    time.sleep(6.0)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (proc.returncode, err[-800:])               # today: -15
    assert "Traceback" not in err and err.strip().endswith("interrupted")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".thermal-")]


def test_metrics_name_this_runs_scene_never_a_cached_ones(tmp_path, monkeypatch):
    """The cache key leaves the scene's path out, so a second file with the same scene loads the first
    one's entry: its metrics must still name the second file, and the cache must hold no file name."""
    from cryoviz.cli import main

    monkeypatch.setenv("CRYOVIZ_CACHE", str(tmp_path / "cache"))
    text = SCENE.read_text(encoding="utf-8")
    first, second = tmp_path / "a" / "john_doe_1956.toml", tmp_path / "b" / "plan.toml"
    for p in (first, second):
        p.parent.mkdir()
        p.write_text(text, encoding="utf-8")
    for p in (first, second):
        assert main(["simulate", str(p), "--grid-mm", "4", "--json", str(p.with_suffix(".json"))]) == 0
    out = [json.loads(p.with_suffix(".json").read_text(encoding="utf-8")) for p in (first, second)]
    assert [m["scene"] for m in out] == [str(first), str(second)]             # today: the second says first
    assert out[0]["organs"] == out[1]["organs"]                  # the same result, from the cache
    (entry,) = [p for p in (tmp_path / "cache").iterdir() if p.name.startswith("thermal-")]
    assert "john_doe" not in (entry / "meta.json").read_text(encoding="utf-8")
