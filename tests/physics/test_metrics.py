"""Metrics from a synthetic result, where every number can be worked out by hand."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from cryoviz.model.anatomy import LabelGrid
from cryoviz.model.scene import Scene
from cryoviz.physics.metrics import compute_metrics, warnings_for


def _result(min_field, labels, snaps):
    grid = LabelGrid(labels=labels, origin_mm=np.zeros(3), spacing_mm=1.0)
    return SimpleNamespace(grid=grid, min_temp_c=min_field, temps_c=snaps,
                           sensors={"rectal_wall": np.array([37.0, 12.5, 20.0])})


def test_fractions_distances_and_isotherms():
    labels = np.zeros((20, 10, 10), np.uint8)
    labels[2:12] = 1  # prostate: 1000 voxels = 1 ml
    labels[15:17] = 6  # rectal wall
    tmin = np.full(labels.shape, 37.0, np.float32)
    tmin[2:6] = -50.0  # 40 % of the gland at -50
    tmin[6:8] = -30.0  # 20 % between -40 and -20
    tmin[8:10] = -5.0  # 20 % between -20 and 0
    snaps = np.stack([np.full(labels.shape, 37.0), tmin, np.full(labels.shape, 10.0)]).astype(np.float16)
    anatomy = SimpleNamespace(organs=("prostate", "rectum", "perineum"))
    m = compute_metrics(_result(tmin, labels, snaps), Scene(), anatomy, steps=7, wall_s=0.1)
    pr = m["organs"]["prostate"]
    assert pr["volume_ml"] == 1.0
    assert (pr["fraction_below_minus40"], pr["fraction_below_minus20"], pr["fraction_below_0"]) == (
        0.4, 0.6, 0.8)
    rw = m["organs"]["rectum_wall"]
    assert rw["min_temp_c"] == 37.0
    assert rw["min_distance_to_minus40_mm"] == 10.0  # x 15 to x 5
    assert rw["min_distance_to_0_mm"] == 6.0  # x 15 to x 9
    assert m["organs"]["perineum"]["min_temp_c"] == 37.0  # outside the box: the far-field temperature
    assert m["isotherms"]["-40"] == {"volume_ml": 0.4, "extent_mm": [4.0, 10.0, 10.0]}
    assert m["isotherms"]["0"]["volume_ml"] == 0.8
    assert m["sensors"] == {"rectal_wall": {"min_temp_c": 12.5}}
    assert m["steps"] == 7 and m["grid_shape"] == [20, 10, 10]


def test_warnings_are_plain_sentences():
    base = {"prostate": {"fraction_below_minus40": 0.9}, "urethra": {"min_temp_c": 30.0},
            "rectum_wall": {"min_temp_c": 20.0}}
    assert warnings_for(base, True) == []
    w = warnings_for({**base, "rectum_wall": {"min_temp_c": -3.2}}, True)
    assert w == ["The rectal wall reached -3 °C: the ice touched the rectum."]
    w = warnings_for({**base, "urethra": {"min_temp_c": -12.0}}, False)
    assert len(w) == 1 and "warming catheter off" in w[0] and w[0].endswith(".")
    w = warnings_for({**base, "prostate": {"fraction_below_minus40": 0.3}}, True)
    assert w and "30 %" in w[0]
