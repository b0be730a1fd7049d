"""Physics checks of the bioheat solver, run with the same numerical settings as ``simulate``.

Grids are small: a 1-D slab for the analytic check, synthetic blocks for symmetry, and the default anatomy
on the 2 mm grid where the question is about the scene, not the resolution.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import erf

from cryoviz.model import probes as P
from cryoviz.model.anatomy import build_anatomy
from cryoviz.model.layout import resolve_probes
from cryoviz.model.scene import FreezeCycle, Protocol
from cryoviz.model.scene_load import load_scene
from cryoviz.model.tissue import LABEL_MATERIALS, Material, TissueTable, material_arrays
from cryoviz.physics.solver import BioheatSolver
from cryoviz.physics.thermal import MAX_STEP_S, SCHEME, run_thermal

SCENES = __import__("pathlib").Path(__file__).resolve().parents[2] / "scenes"


def _stefan_lambda(stefan: float) -> float:
    return brentq(lambda lam: math.sqrt(math.pi) * lam * math.exp(lam * lam) * math.erf(lam) - stefan,
                  1e-6, 5.0)


def test_one_phase_neumann_front_within_half_a_voxel():
    # Medium at its melting temperature, surface held at T0 from t = 0, narrow mushy range, no perfusion.
    k, c, latent, t0_c = 2.0, 1.8e6, 300e6, -60.0
    mat = Material(k_unfrozen=k, k_frozen=k, c_unfrozen=c, c_frozen=c, latent_j_m3=latent, solidus_c=-0.5,
                   liquidus_c=0.0, perfusion_w_m3k=0.0, metabolic_w_m3=0.0)
    rows = material_arrays(TissueTable(materials={name: mat for name in (*LABEL_MATERIALS,
                                                                          "prostate_irradiated")}))
    dx_mm, n = 1.0, 60
    solver = BioheatSolver(np.zeros((n, 1, 1), np.uint8), dx_mm, rows, init_temp_c=0.0, boundary_temp_c=0.0,
                           insulated_axes=(1, 2), max_step_s=MAX_STEP_S, scheme=SCHEME)
    solver.set_fixed(solver.flat((np.array([0]), np.array([0]), np.array([0]))), t0_c)
    lam = _stefan_lambda(c * (0.0 - t0_c) / latent)
    kappa = k / c
    for t_s in (300.0, 900.0):
        solver.advance(t_s - solver.time_s)
        temps = solver.temp_c[:, 0, 0].astype(float)
        frozen = np.clip((0.0 - temps[1:]) / 0.5, 0.0, 1.0)  # frozen fraction of each free voxel
        front_mm = 0.5 * dx_mm + frozen.sum() * dx_mm
        exact_mm = 2.0 * lam * math.sqrt(kappa * t_s) * 1e3
        assert abs(front_mm - exact_mm) < 0.5 * dx_mm, (t_s, front_mm, exact_mm)
        # temperature inside the frozen layer follows the similarity solution
        x_m = np.arange(1, int(exact_mm) - 1) * dx_mm * 1e-3
        exact_t = t0_c + (0.0 - t0_c) * erf(x_m / (2 * math.sqrt(kappa * t_s))) / math.erf(lam)
        assert np.max(np.abs(temps[1:1 + x_m.size] - exact_t)) < 2.0


@pytest.fixture(scope="module")
def default_setup():
    scene = load_scene(SCENES / "salvage_whole_gland.toml")
    anatomy = build_anatomy(scene.anatomy)
    # the grid simulate() uses: symmetric about x = 0 with a voxel layer on it
    from cryoviz.physics.thermal import _centred_bounds

    grid = anatomy.label_grid(2.0, bounds_mm=_centred_bounds(anatomy, 2.0, scene.thermal.margin_mm))
    probes = resolve_probes(scene, anatomy)
    geoms = [P.ProbeGeometry.from_probe(p, anatomy.landmarks.skin_z_mm) for p in probes]
    return scene, anatomy, grid, geoms


def test_no_probes_leaves_the_body_at_37_c(default_setup):
    _, _, grid, _ = default_setup
    short = Protocol(cycles=(FreezeCycle(120.0, 60.0, "passive"),))
    run = run_thermal(grid.labels, grid.origin_mm, grid.spacing_mm, [], short, urethral_temp_c=None)
    assert np.max(np.abs(run.temps_c.astype(np.float32) - 37.0)) < 0.02
    assert np.max(np.abs(run.min_temp_c - 37.0)) < 0.02


def test_mirror_symmetric_layout_gives_mirror_symmetric_field():
    n = (31, 25, 33)  # odd x: the grid is symmetric about x = 0
    labels = np.ones(n, np.uint8)
    labels[15, 10:13, :] = 2  # a urethra on the midline
    origin = (-15.0, -12.0, -16.0)
    geoms = [P.ProbeGeometry("L", (-7.0, 0.0, 10.0), 15.0, 0.75, 1, "needle17g_15"),
             P.ProbeGeometry("R", (7.0, 0.0, 10.0), 15.0, 0.75, 1, "needle17g_15"),
             P.ProbeGeometry("A", (0.0, -8.0, 8.0), 15.0, 0.75, 2, "needle17g_15")]
    proto = Protocol(cycles=(FreezeCycle(200.0, 60.0, "active"),), group_delay_s=30.0)
    run = run_thermal(labels, origin, 1.0, geoms, proto, urethral_temp_c=42.0, rectal_temp_c=None)
    assert run.min_temp_c.min() < -100.0  # the probes froze something
    np.testing.assert_allclose(run.min_temp_c, run.min_temp_c[::-1], atol=1e-3)
    np.testing.assert_allclose(run.temps_c[-1].astype(np.float32), run.temps_c[-1, ::-1].astype(np.float32),
                               atol=0.05)


def _iceball_counts(run, protocol):
    cyc1_end = protocol.cycles[0].freeze_s + protocol.cycles[0].thaw_s
    first = run.cold_counts[run.times_s <= cyc1_end].max()
    second = run.cold_counts[run.times_s > cyc1_end].max()
    return first, second


def test_second_freeze_reaches_at_least_the_first_iceball(default_setup):
    scene, _, grid, geoms = default_setup
    run = run_thermal(grid.labels, grid.origin_mm, grid.spacing_mm, geoms, scene.protocol,
                      urethral_temp_c=42.0)
    first, second = _iceball_counts(run, scene.protocol)
    assert first > 500
    assert second >= first


def test_more_probes_never_cover_less_of_the_gland(default_setup):
    _, _, grid, geoms = default_setup
    one_freeze = Protocol(cycles=(FreezeCycle(600.0, 0.0, "passive"),))
    pro = grid.labels == 1
    covered = []
    for subset in (geoms[:2], geoms[:4], geoms):
        run = run_thermal(grid.labels, grid.origin_mm, grid.spacing_mm, subset, one_freeze,
                          urethral_temp_c=42.0)
        covered.append(((run.min_temp_c[pro] <= -40).mean(), (run.min_temp_c[pro] <= 0).mean()))
    for (a40, a0), (b40, b0) in itertools.pairwise(covered):
        assert b40 >= a40 and b0 >= a0
    assert covered[-1][1] > covered[0][1] + 0.1


def test_large_super_steps_agree_with_small_ones():
    # The shipped settings (RKL1, steps growing to 10 s after each probe switch) against 0.25 s RKL2 steps,
    # one probe in tissue through a freeze and the first minutes of a passive thaw.
    labels = np.ones((27, 27, 35), np.uint8)
    geoms = [P.ProbeGeometry("C", (0.0, 0.0, 6.0), 15.0, 0.75, 1, "needle17g_15")]
    proto = Protocol(cycles=(FreezeCycle(300.0, 100.0, "passive"),))
    args = (labels, (-13.0, -13.0, -17.0), 1.0, geoms, proto)
    fast = run_thermal(*args, urethral_temp_c=None, rectal_temp_c=None)
    fine = run_thermal(*args, urethral_temp_c=None, rectal_temp_c=None, max_step_s=0.25, scheme="rkl2")
    assert fast.stages < fine.stages / 3
    for th in (-40.0, 0.0):
        a, b = (fast.min_temp_c <= th).sum(), (fine.min_temp_c <= th).sum()
        assert abs(int(a) - int(b)) <= 0.03 * b
    diff = np.abs(fast.temps_c.astype(np.float32) - fine.temps_c.astype(np.float32))
    # °C at any snapshot (gradients reach 100 °C/mm at the probe), outside the columns coupled to the probe
    near = np.zeros(labels.shape, bool)
    near[11:16, 11:16, :] = True  # within 2 voxels of the axis (13, 13)
    assert diff[:, ~near].max() < 3.5
    # the coupled columns follow the probe's own cool-down (time constant 11 s) with a lag that the first
    # super steps resolve less well (about 10 °C at 20 s); after the first minute they agree as well
    assert diff[fast.times_s >= 60.0].max() < 3.5


def test_mirror_half_solve_equals_the_whole_grid(default_setup):
    # A left-right symmetric scene is solved on the half x >= 0 with a mirror plane; the unfolded result
    # must be the whole-grid solve (float16 snapshots: within one rounding step).
    _, _, grid, geoms = default_setup
    from cryoviz.physics.thermal_run import _mirror_plan

    assert _mirror_plan(grid.labels, grid.origin_mm, grid.spacing_mm, geoms) is not None
    one = Protocol(cycles=(FreezeCycle(200.0, 60.0, "passive"),))
    half = run_thermal(grid.labels, grid.origin_mm, grid.spacing_mm, geoms, one, urethral_temp_c=42.0)
    whole = run_thermal(grid.labels, grid.origin_mm, grid.spacing_mm, geoms, one, urethral_temp_c=42.0,
                        mirror=False)
    assert half.temps_c.shape == whole.temps_c.shape
    assert np.abs(half.temps_c.astype(np.float32) - whole.temps_c.astype(np.float32)).max() <= 0.13
    assert np.abs(half.min_temp_c - whole.min_temp_c).max() < 0.01
    assert np.array_equal(half.cold_counts, whole.cold_counts)
    assert half.min_temp_c.min() < -100  # the probes froze something
    # an asymmetric layout is solved whole
    assert _mirror_plan(grid.labels, grid.origin_mm, grid.spacing_mm, geoms[:1]) is None
