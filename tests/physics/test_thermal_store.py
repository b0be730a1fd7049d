"""The solver writes its snapshots straight into the cache entry's file (``cache.open_temps``): the numbers
are those of a run that keeps them in memory, bit for bit, and a run that fails leaves no file behind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cryoviz.core import cache

REPO = Path(__file__).resolve().parents[2]
SCENE = REPO / "scenes" / "salvage_whole_gland.toml"


def _same_result(a, b) -> None:
    for name in ("times_s", "temps_c", "min_temp_c", "probe_temps_c"):
        x, y = np.asarray(getattr(a, name)), np.asarray(getattr(b, name))
        assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=True), name
    assert np.array_equal(a.grid.labels, b.grid.labels)
    assert list(a.sensors) == list(b.sensors)
    for n in a.sensors:
        assert np.array_equal(a.sensors[n], b.sensors[n]), n
    strip = ("wall_s",)
    assert {k: v for k, v in a.metrics.items() if k not in strip} == \
        {k: v for k, v in b.metrics.items() if k not in strip}


def test_snapshots_written_into_the_cache_file_equal_a_run_in_memory(tmp_path, monkeypatch):
    from cryoviz.model.scene_load import load_scene
    from cryoviz.physics.thermal import simulate

    monkeypatch.setenv("CRYOVIZ_CACHE", str(tmp_path))
    saved = []
    real_save = cache.np.save

    def spy(file, arr, *args, **kwargs):
        saved.append(Path(str(file)).name)
        return real_save(file, arr, *args, **kwargs)

    monkeypatch.setattr(cache.np, "save", spy)
    scene = load_scene(SCENE)
    in_memory = simulate(scene, grid_mm=4.0, use_cache=False)
    assert not isinstance(in_memory.temps_c, np.memmap)
    written = simulate(scene, grid_mm=4.0)          # a miss: solved into the entry's file
    assert isinstance(written.temps_c, np.memmap)
    assert "temps.npy" not in saved                 # not copied a second time to store it
    loaded = simulate(scene, grid_mm=4.0)           # a hit: read back from that file
    _same_result(in_memory, written)
    _same_result(in_memory, loaded)
    assert in_memory.temps_c.min() < -40           # the probes froze something: a real comparison
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".thermal-")]


def test_a_run_that_fails_leaves_no_temporary_file(tmp_path, monkeypatch):
    from cryoviz.model.scene_load import load_scene
    from cryoviz.physics import metrics
    from cryoviz.physics.thermal import simulate

    monkeypatch.setenv("CRYOVIZ_CACHE", str(tmp_path))

    def broken(*_a, **_k):
        raise RuntimeError("metrics failed")

    monkeypatch.setattr(metrics, "compute_metrics", broken)
    with pytest.raises(RuntimeError, match="metrics failed"):
        simulate(load_scene(SCENE), grid_mm=4.0)
    assert not [p for p in tmp_path.iterdir() if "thermal-" in p.name]


def test_the_mirror_half_fills_the_given_array_as_the_default_run_does():
    from cryoviz.model import probes as P
    from cryoviz.model.anatomy import build_anatomy
    from cryoviz.model.layout import resolve_probes
    from cryoviz.model.scene import FreezeCycle, Protocol
    from cryoviz.model.scene_load import load_scene
    from cryoviz.physics.thermal import scene_grid
    from cryoviz.physics.thermal_run import _mirror_plan, run_thermal

    scene = load_scene(SCENE)
    anatomy = build_anatomy(scene.anatomy)
    grid = scene_grid(scene, anatomy, 3.0)
    skin = anatomy.landmarks.skin_z_mm
    geoms = [P.ProbeGeometry.from_probe(p, skin) for p in resolve_probes(scene, anatomy)]
    assert _mirror_plan(grid.labels, grid.origin_mm, grid.spacing_mm, geoms) is not None
    one = Protocol(cycles=(FreezeCycle(120.0, 30.0, "passive"),))
    given = []

    def snapshots(shape, dtype):
        given.append(np.full(shape, np.nan, dtype))   # NaN: a voxel left unwritten would show
        return given[-1]

    for mirror in (True, False):
        plain = run_thermal(grid.labels, grid.origin_mm, grid.spacing_mm, geoms, one, urethral_temp_c=42.0,
                            mirror=mirror)
        into = run_thermal(grid.labels, grid.origin_mm, grid.spacing_mm, geoms, one, urethral_temp_c=42.0,
                           mirror=mirror, snapshots=snapshots)
        assert into.temps_c is given[-1]
        assert np.array_equal(plain.temps_c, into.temps_c)      # no NaN left, every bit the same
        assert np.array_equal(plain.min_temp_c, into.min_temp_c)
        assert np.array_equal(plain.cold_counts, into.cold_counts)
        assert plain.temps_c.min() < -20
    # the mirror image: x -> -x about the middle layer
    assert np.array_equal(given[0], given[0][:, ::-1])
    with pytest.raises(ValueError, match="float16"):
        run_thermal(grid.labels, grid.origin_mm, grid.spacing_mm, geoms, one,
                    snapshots=lambda shape, dtype: np.zeros(shape, np.float32))


def test_a_mapped_array_of_another_entry_is_saved_as_before(tmp_path):
    arrays = {"times_s": np.arange(3.0), "labels": np.zeros((2, 2, 2), np.uint8),
              "min_temp_c": np.zeros((2, 2, 2), np.float32)}
    other = cache.open_temps(tmp_path, "other", (3, 2, 2, 2), np.float16)
    other[...] = 7.0
    cache.store(tmp_path, "k1", {"grid_mm": 1.0}, arrays, other)     # not k1's own file: copied
    hit = cache.load(tmp_path, "k1")
    assert hit is not None and np.array_equal(hit["temps"], np.full((3, 2, 2, 2), 7.0, np.float16))
    own = cache.open_temps(tmp_path, "k2", (3, 2, 2, 2), np.float16)
    own[...] = -3.0
    cache.store(tmp_path, "k2", {"grid_mm": 1.0}, arrays, own)       # its own: renamed into place
    assert np.array_equal(cache.load(tmp_path, "k2")["temps"], np.full((3, 2, 2, 2), -3.0, np.float16))
    cache.discard(tmp_path, "other", other)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thermal-k1", "thermal-k2"]
