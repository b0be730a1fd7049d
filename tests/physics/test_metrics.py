"""Metrics from a synthetic result, where every number can be worked out by hand."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from cryoviz.model.anatomy import LabelGrid
from cryoviz.model.scene import Scene
from cryoviz.physics.metrics import compute_metrics
from cryoviz.physics.warnings import WARNING_CODES, evaluate_warnings


def _result(min_field, labels, snaps):
    grid = LabelGrid(labels=labels, origin_mm=np.zeros(3), spacing_mm=1.0)
    return SimpleNamespace(grid=grid, min_temp_c=min_field, temps_c=snaps,
                           times_s=10.0 * np.arange(len(snaps)),
                           sensors={"rectal_wall": np.array([37.0, 12.5, 20.0])})


def test_fractions_distances_and_isotherms():
    labels = np.zeros((20, 10, 10), np.uint8)
    labels[2:12] = 1  # prostate: 1000 voxels = 1 ml
    labels[15:17] = 6  # rectal wall
    tmin = np.full(labels.shape, 37.0, np.float32)
    tmin[2:6] = -50.0  # 40 % of the gland at -50
    tmin[6:8] = -30.0  # 20 % between -40 and -20
    tmin[8:10] = -5.0  # 20 % between -20 and 0
    late = np.full(labels.shape, 10.0)
    late[2:11] = -1.0  # the 0 °C region is largest later (0.9 ml), when the -40 °C core has gone
    snaps = np.stack([np.full(labels.shape, 37.0), tmin, late]).astype(np.float16)
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
    # each isotherm at its own largest extent: -40 °C peaks in snapshot 1, 0 °C in snapshot 2
    assert m["isotherms"]["-40"] == {"volume_ml": 0.4, "extent_mm": [4.0, 10.0, 10.0], "at_s": 10.0,
                                     "ever_ml": 0.4}
    assert m["isotherms"]["0"]["volume_ml"] == 0.9 and m["isotherms"]["0"]["at_s"] == 20.0
    assert m["isotherms"]["0"]["ever_ml"] == 0.8  # the coldest field: the later ice was never below 0
    for organ in ("prostate", "rectum_wall", "perineum"):
        assert {"volume_ml", "fraction_below_0", "fraction_below_minus20", "fraction_below_minus40",
                "min_temp_c"} <= set(m["organs"][organ])
    assert m["target"] == {"name": "whole gland", "volume_ml": 1.0, "fraction_below_minus40": 0.4,
                           "fraction_below_minus20": 0.6}
    assert m["sensors"] == {"rectal_wall": {"min_temp_c": 12.5}}
    assert m["steps"] == 7 and m["grid_shape"] == [20, 10, 10]


def _organs(**over):
    base = {"prostate": {"fraction_below_minus40": 0.9}, "urethra": {"min_temp_c": 30.0},
            "rectum_wall": {"min_temp_c": 20.0}, "sphincter": {"min_temp_c": 25.0},
            "bladder": {"min_temp_c": 20.0}, "neurovascular_bundles": {"fraction_below_0": 0.0}}
    base.update(over)
    return {"organs": base, "target": {"fraction_below_minus40": 0.9}}


def test_warnings_are_plain_sentences_with_stable_codes():
    assert evaluate_warnings(_organs(), True) == ([], [])
    codes, w = evaluate_warnings(_organs(rectum_wall={"min_temp_c": -3.2}), True)
    assert codes == ["rectal_wall_frozen"]  # not also "near ice"
    assert w == ["The rectal wall reached -4 °C: the ice touched the rectum."]  # rounded down
    codes, w = evaluate_warnings(_organs(urethra={"min_temp_c": -12.0}), False)
    assert codes == ["urethra_frozen_warmer_off"] and "warming catheter off" in w[0] and w[0].endswith(".")
    codes, _ = evaluate_warnings(_organs(urethra={"min_temp_c": -12.0}), True)
    assert codes == ["urethral_wall_frozen"]
    m = _organs()
    m["target"] = {"fraction_below_minus40": 0.56}  # a large gland at 56 % must warn (issue #11)
    codes, w = evaluate_warnings(m, True)
    assert codes == ["target_undertreated"] and "56 %" in w[0]
    codes, _ = evaluate_warnings(_organs(sphincter={"min_temp_c": -0.5}, bladder={"min_temp_c": -2.0},
                                         neurovascular_bundles={"fraction_below_0": 0.5}), True)
    assert codes == ["sphincter_frozen", "bladder_frozen", "nerve_bundles_frozen"]


def test_every_warning_code_says_why_and_reads_a_real_figure():
    for code in WARNING_CODES.values():
        assert len(code.reason) > 40 and code.sentence.endswith(".") and "{value}" in code.sentence
        assert code.figure.split(".")[0] in ("organs", "target", "sensors")
