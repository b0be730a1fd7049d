"""The probe calibration: one 17G needle, 10 minutes in gel at body temperature (clinical-facts §4).

Published: a ≤ −40 °C core about 1 cm across (radius ≈ 5 mm) and a 0 °C edge between about 10 mm (iceball
"about 2 cm across") and 15 mm (the −40 °C isotherm up to 1 cm inside the edge). Checked within ±20 % of
5 mm and of 12.5 mm, on the 1 mm grid, and the −40 °C radius must move by less than 1 mm from 2 mm to 1 mm.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cryoviz.model import probes as P
from cryoviz.model.anatomy import phantom_anatomy
from cryoviz.model.layout import resolve_probes
from cryoviz.model.scene import FreezeCycle, Protocol
from cryoviz.model.scene_load import load_scene
from cryoviz.physics.thermal import run_thermal

GEL = Path(__file__).resolve().parents[2] / "scenes" / "gel_single_probe.toml"


def _radii_mm(grid_mm: float) -> dict[float, float]:
    scene = load_scene(GEL)
    anatomy = phantom_anatomy(scene.phantom)
    grid = anatomy.label_grid(grid_mm)
    (probe,) = resolve_probes(scene, anatomy)
    geom = P.ProbeGeometry.from_probe(probe, anatomy.landmarks.skin_z_mm)
    run = run_thermal(grid.labels, grid.origin_mm, grid.spacing_mm, [geom],
                      Protocol(cycles=(FreezeCycle(600.0, 0.0, "passive"),)), urethral_temp_c=None,
                      rectal_temp_c=None, body_temp_c=scene.phantom.temp_c)
    assert run.times_s[-1] == 600.0
    field = run.temps_c[-1].astype(float)
    x, y, z = grid.axes_mm()
    j = int(np.argmin(np.abs(y - geom.tip_mm[1])))
    k = int(np.argmin(np.abs(z - (geom.tip_mm[2] - 0.5 * geom.active_length_mm))))
    i0 = int(np.argmin(np.abs(x - geom.tip_mm[0])))
    line, r = field[i0:, j, k], x[i0:] - geom.tip_mm[0]
    out = {}
    for th in (-40.0, 0.0):
        n = int(np.flatnonzero(line > th)[0])
        out[th] = float(r[n - 1] + (th - line[n - 1]) / (line[n] - line[n - 1]) * (r[n] - r[n - 1]))
    return out


@pytest.fixture(scope="module")
def radii():
    return {g: _radii_mm(g) for g in (1.0, 2.0)}


def test_gel_needle_matches_the_published_iceball(radii):
    r = radii[1.0]
    assert 0.8 * 5.0 <= r[-40.0] <= 1.2 * 5.0, r
    assert 0.8 * 12.5 <= r[0.0] <= 1.2 * 12.5, r
    assert r[0.0] - r[-40.0] >= 4.0  # lethal core well inside the visible edge


def test_halving_the_grid_moves_the_minus40_front_by_less_than_1mm(radii):
    assert abs(radii[1.0][-40.0] - radii[2.0][-40.0]) < 1.0, radii
    assert abs(radii[1.0][0.0] - radii[2.0][0.0]) < 1.5, radii
