"""The result cache keeps at most its size limit, deleting the least recently used results first."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from cryoviz.core import cache


def _store(folder, key: str, mb: float) -> None:
    n = int(mb * 1024 * 1024 / 2)
    temps = np.zeros((1, 1, 1, n), np.float16)
    arrays = {"times_s": np.zeros(1), "labels": np.zeros((1, 1, n), np.uint8),
              "min_temp_c": np.zeros((1, 1, n), np.float32)}
    cache.store(folder, key, {"grid": 1}, arrays, temps)


def test_least_recently_used_results_go_first_when_over_the_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("CRYOVIZ_CACHE_MAX_GB", str(12.0 / 1024))      # 12 MB
    for i, key in enumerate(("a", "b", "c")):                          # 3.5 MB each with the arrays
        _store(tmp_path, key, 1.0)
        os.utime(tmp_path / f"thermal-{key}" / "meta.json", (1000 + i, 1000 + i))
    assert all(cache.is_stored(tmp_path, k) for k in "abc")
    assert cache.load(tmp_path, "a") is not None                      # "a" used now: "b" is the oldest
    time.sleep(0.01)
    _store(tmp_path, "d", 1.0)
    assert not cache.is_stored(tmp_path, "b")
    assert all(cache.is_stored(tmp_path, k) for k in "acd")
    total = sum(f.stat().st_size for f in tmp_path.rglob("*") if f.is_file())
    assert total <= 12 * 1024 * 1024


def test_the_result_just_stored_stays_even_alone_over_the_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("CRYOVIZ_CACHE_MAX_GB", str(1.0 / 1024))       # 1 MB
    _store(tmp_path, "old", 0.2)
    _store(tmp_path, "big", 2.0)
    assert cache.is_stored(tmp_path, "big") and not cache.is_stored(tmp_path, "old")


@pytest.mark.parametrize(("raw", "gb"), [("", 2.0), ("5", 5.0), ("0.5", 0.5), ("0", 2.0), ("-1", 2.0),
                                         ("lots", 2.0), ("nan", 2.0)])
def test_limit_comes_from_the_environment_or_is_2_gb(monkeypatch, raw, gb):
    monkeypatch.setenv("CRYOVIZ_CACHE_MAX_GB", raw)
    assert cache.limit_bytes() == int(gb * 1024 ** 3)


def test_a_mapped_result_stays_readable_after_eviction(tmp_path):
    _store(tmp_path, "m", 0.5)
    hit = cache.load(tmp_path, "m")
    temps = hit["temps"]
    assert isinstance(temps, np.memmap)
    assert cache.evict(tmp_path, limit=0) == ["m"] and not cache.is_stored(tmp_path, "m")
    assert float(np.asarray(temps).sum()) == 0.0          # the mapping still reads the unlinked file
