"""Probe catalogue, surface-temperature history and how probes land on the voxel grid."""

from __future__ import annotations

import itertools
import math

import numpy as np

from cryoviz.model.probes import (
    ACTIVE_THAW_MAX_S,
    ACTIVE_THAW_SETPOINT_C,
    PROBE_CATALOGUE,
    gas_on,
    probe_temp_c,
)
from cryoviz.model.scene import PROBE_KINDS, FreezeCycle, Protocol
from cryoviz.physics.probe_voxels import coupling_strength, voxelize_probe

PROTO = Protocol(cycles=(FreezeCycle(600.0, 300.0, "passive"), FreezeCycle(600.0, 300.0, "active")),
                 group_delay_s=60.0)


def test_catalogue():
    assert tuple(PROBE_CATALOGUE) == PROBE_KINDS
    assert PROBE_CATALOGUE["needle17g_15"].diameter_mm == 1.5
    assert PROBE_CATALOGUE["needle17g_15"].active_length_mm == 15.0
    assert PROBE_CATALOGUE["needle17g_25"].active_length_mm == 25.0
    assert PROBE_CATALOGUE["probe24"].diameter_mm == 2.4


def test_cool_down_hold_and_passive_thaw():
    assert probe_temp_c(0.0, PROTO, 1) == 37.0
    assert probe_temp_c(60.0, PROTO, 1) <= -140.0  # within about a minute
    assert -150.0 <= probe_temp_c(300.0, PROTO, 1) <= -140.0
    ts = np.arange(0.0, 600.0, 5.0)
    temps = [probe_temp_c(t, PROTO, 1) for t in ts]
    assert all(b <= a for a, b in itertools.pairwise(temps))  # only cools while freezing
    assert math.isnan(probe_temp_c(700.0, PROTO, 1)) and not gas_on(700.0, PROTO, 1)  # passive thaw


def test_groups_start_later_and_stop_together():
    assert math.isnan(probe_temp_c(30.0, PROTO, 2))
    assert probe_temp_c(61.0, PROTO, 2) < 37.0
    assert probe_temp_c(90.0, PROTO, 2) == probe_temp_c(30.0, PROTO, 1) < 0.0  # group 2 = group 1, 60 s later
    assert math.isnan(probe_temp_c(601.0, PROTO, 2)) and math.isnan(probe_temp_c(601.0, PROTO, 1))
    assert math.isnan(probe_temp_c(930.0, PROTO, 2)) and probe_temp_c(930.0, PROTO, 1) < 0.0  # 2nd freeze


def test_active_thaw_warms_toward_the_helium_set_point_for_a_bounded_time():
    end_freeze = 900.0 + 600.0
    warm = [probe_temp_c(end_freeze + s, PROTO, 1) for s in (1.0, 30.0, 100.0)]
    assert warm[0] < warm[1] < warm[2] <= ACTIVE_THAW_SETPOINT_C
    assert warm[2] > 50.0
    assert math.isnan(probe_temp_c(end_freeze + ACTIVE_THAW_MAX_S + 1.0, PROTO, 1))
    assert math.isnan(probe_temp_c(5000.0, PROTO, 1))  # after the protocol


def test_coupling_draws_the_cylinders_heat_wherever_the_axis_falls():
    # the fitted strength differs with the offset, but stays a modest link (stability) and is symmetric
    g = [coupling_strength(fx, fy, 0.5) for fx, fy in ((0.0, 0.0), (0.5, 0.0), (0.5, 0.5), (0.3, 0.1))]
    assert len(set(g)) == 4 and all(0.3 < v < 3.0 for v in g)
    assert coupling_strength(-0.3, 0.1, 0.5) == coupling_strength(0.1, 0.3, 0.5) == g[3]


def test_voxelize_probe_segment_ends_at_the_tip():
    pv = voxelize_probe((0.0, 0.0, 10.0), 25.0, (-20.0, -20.0, -30.0), 1.0, (41, 41, 61), 0.5)
    assert pv.core[0].size == 0  # links only: no column switches between held and free
    i, j, k = pv.link
    z = -30.0 + k
    assert z.max() == 10.0 and z.min() == -15.0
    nearest = pv.link_extra == pv.link_extra.max()
    assert set(i[nearest]) == {20} and set(j[nearest]) == {20}  # strongest on the axis' own column
    assert len(pv.link_extra) == len(i) and (pv.link_extra > 0).all()
    fine = voxelize_probe((0.0, 0.0, 10.0), 25.0, (-20.0, -20.0, -30.0), 0.25, (161, 161, 241), 0.75)
    full = fine.link_extra == fine.link_extra.max()
    cols = set(zip(fine.link[0][full], fine.link[1][full], strict=True))
    assert len(cols) == 37  # every column within r + dx/4 = 0.8125 mm of the axis links fully


def test_mirrored_probes_land_on_mirrored_voxels():
    shape, origin = (20, 20, 20), (-9.5, -9.5, 0.0)  # even grid, centre between voxels 9 and 10
    left = voxelize_probe((-2.0, 0.0, 15.0), 10.0, origin, 1.0, shape, 0.5)
    right = voxelize_probe((2.0, 0.0, 15.0), 10.0, origin, 1.0, shape, 0.5)
    assert sorted(zip(left.link[0], left.link[1], left.link[2], left.link_extra, strict=True)) == sorted(
        zip(shape[0] - 1 - right.link[0], right.link[1], right.link[2], right.link_extra, strict=True))
