"""The generated anatomy: closed meshes, sizes, positions, labels and the committed default meshes."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cryoviz.model.anatomy import (
    LABELS,
    MESH_TRIANGLE_BUDGET,
    build_anatomy,
    phantom_anatomy,
    write_default_meshes,
)
from cryoviz.model.mesh_io import mesh_signed_distance
from cryoviz.model.scene import ORGAN_NAMES, AnatomyParams, Phantom

MESH_DIR = Path(__file__).resolve().parents[2] / "meshes"
#: Organ pairs whose surfaces may cross (the catheter runs through gland, sphincter and bladder neck).
MAY_TOUCH = {frozenset(p) for p in (("urethra", "prostate"), ("urethra", "sphincter"),
                                    ("urethra", "bladder"))}


@pytest.fixture(scope="module")
def default():
    return build_anatomy(AnatomyParams())


def _edge_use_counts(mesh) -> np.ndarray:
    tri = mesh.faces.reshape(-1, 4)[:, 1:]
    edges = np.sort(np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    return counts


def _surface_gap_mm(a, b) -> float:
    """Smallest distance between two closed meshes, measured both ways (negative if they cross)."""
    return float(min(mesh_signed_distance(b, a.points).min(), mesh_signed_distance(a, b.points).min()))


def _boxes_overlap(a, b, pad_mm: float = 1.0) -> bool:
    ba, bb = np.asarray(a.bounds), np.asarray(b.bounds)
    return bool(np.all(ba[0::2] - pad_mm <= bb[1::2]) and np.all(bb[0::2] - pad_mm <= ba[1::2]))


def test_every_organ_mesh_is_closed_manifold_and_within_budget(default):
    assert default.organs == ORGAN_NAMES
    total = 0
    for organ, mesh in default.meshes().items():
        assert mesh.n_cells > 0, organ
        assert mesh.is_all_triangles, organ
        assert mesh.n_open_edges == 0, organ
        counts = _edge_use_counts(mesh)
        assert np.all(counts == 2), f"{organ}: an edge is not shared by exactly two triangles"
        assert mesh.volume > 0, organ
        total += mesh.n_cells
    assert total <= 60_000
    assert total <= sum(MESH_TRIANGLE_BUDGET[o] for o in ORGAN_NAMES)


@pytest.mark.parametrize(("volume_ml", "post_radiation"),
                         [(15, False), (30, False), (60, False), (100, False), (40, True)])
def test_prostate_mesh_volume_matches_request(volume_ml, post_radiation):
    params = AnatomyParams(volume_ml=volume_ml, post_radiation=post_radiation, radiation_shrink=0.3)
    want_ml = volume_ml * (0.7 if post_radiation else 1.0)
    anatomy = build_anatomy(params)
    mesh = anatomy.mesh("prostate")
    assert mesh.n_open_edges == 0 and np.all(_edge_use_counts(mesh) == 2)
    got_ml = mesh.volume / 1000.0
    assert got_ml == pytest.approx(want_ml, rel=0.05)
    assert anatomy.landmarks.prostate_volume_ml == pytest.approx(want_ml)


def test_bladder_sits_above_the_base(default):
    pr, bl = default.mesh("prostate"), default.mesh("bladder")
    lm = default.landmarks
    assert bl.bounds[4] > pr.bounds[5] - 1.0
    assert bl.center_of_mass()[2] > lm.base_z_mm + 10.0
    # the bladder's urine volume is what was asked for (outer wall 4 mm beyond it)
    box = np.asarray(bl.bounds) + np.array([-2.0, 2, -2, 2, -2, 2])
    urine = default.label_grid(2.0, bounds_mm=box).volume_ml("urine")
    assert urine == pytest.approx(default.params.bladder_volume_ml, rel=0.08)


@pytest.mark.parametrize(("gap_mm", "hydro"), [(3.0, False), (6.0, False), (15.0, False), (11.0, True)])
def test_rectum_behind_with_requested_gap(gap_mm, hydro):
    anatomy = build_anatomy(AnatomyParams(rectum_gap_mm=gap_mm, hydrodissection=hydro))
    pr, re = anatomy.mesh("prostate"), anatomy.mesh("rectum")
    assert re.center_of_mass()[1] > pr.center_of_mass()[1] + 10.0
    assert _surface_gap_mm(pr, re) == pytest.approx(gap_mm, abs=0.5)


def test_urethra_runs_through_the_gland_and_bends_forward(default):
    lm = default.landmarks
    line = default.urethra_centreline_mm(120)
    assert line.shape == (120, 3)
    assert line[0, 2] > line[-1, 2]  # from the bladder down
    in_gland = line[(line[:, 2] > lm.apex_z_mm + 2.0) & (line[:, 2] < lm.base_z_mm - 2.0)]
    assert len(in_gland) > 30
    assert np.all(default.signed_distance("prostate", in_gland) < 0.0)
    deep = line[(line[:, 2] > lm.apex_z_mm + 5.0) & (line[:, 2] < lm.base_z_mm - 5.0)]
    assert np.all(default.signed_distance("prostate", deep) < -lm.urethra_radius_mm + 0.5)
    assert default.signed_distance("bladder", line[:1])[0] < 0.0  # the catheter tip is in the bladder
    assert line[-1, 2] < lm.apex_z_mm - 15.0  # continues below the apex (membranous part)
    # bend at the verumontanum: about 30° between the apex segment and the base segment
    v = np.asarray(lm.verumontanum_mm)
    up = line[np.argmin(np.abs(line[:, 2] - 0.8 * lm.base_z_mm))] - v
    down = v - line[np.argmin(np.abs(line[:, 2] - 0.8 * lm.apex_z_mm))]
    angle = np.degrees(np.arccos(up @ down / np.linalg.norm(up) / np.linalg.norm(down)))
    assert 20.0 <= angle <= 40.0
    assert up[1] < 0.0  # the upper segment tilts anteriorly
    assert lm.verumontanum_mm[1] < 0.0  # slightly anterior of the centre


def test_sphincter_surrounds_the_membranous_urethra_below_the_apex(default):
    lm = default.landmarks
    lo, hi = lm.sphincter_z_mm
    assert hi < lm.apex_z_mm
    line = default.urethra_centreline_mm(200)
    memb = line[(line[:, 2] > lo + 3.0) & (line[:, 2] < hi - 3.0)]
    assert len(memb) > 5
    ang = np.linspace(0.0, 2.0 * np.pi, 8, endpoint=False)
    ring = np.array([[np.cos(a) * 5.5, np.sin(a) * 5.5, 0.0] for a in ang])
    for c in memb:
        assert np.all(default.signed_distance("sphincter", c + ring) < 0.0)
        assert default.signed_distance("urethra", c[None])[0] < 0.0
    assert _surface_gap_mm(default.mesh("sphincter"), default.mesh("prostate")) > 1.0


def test_bundles_lie_outside_the_capsule_at_5_and_7_oclock(default):
    nvb = default.mesh("neurovascular_bundles")
    pts = np.asarray(nvb.points, dtype=float)
    assert default.signed_distance("prostate", pts).min() > 0.0
    assert default.signed_distance("prostate", pts).max() < 6.0  # hugging the capsule
    mid = pts[np.abs(pts[:, 2]) < 0.5 * default.landmarks.prostate_half_length_mm]
    for side, want_clock in ((1.0, 5.0), (-1.0, 7.0)):  # 3 o'clock = patient left (+x)
        c = mid[np.sign(mid[:, 0]) == side].mean(axis=0)
        clock = (np.degrees(np.arctan2(c[0], -c[1])) % 360.0) / 30.0
        assert clock == pytest.approx(want_clock, abs=0.7)


def _crossings(anatomy) -> list[tuple[str, str, float]]:
    meshes = anatomy.meshes()
    bad = []
    for a, b in itertools.combinations(anatomy.organs, 2):
        if frozenset((a, b)) in MAY_TOUCH or not _boxes_overlap(meshes[a], meshes[b]):
            continue
        gap = _surface_gap_mm(meshes[a], meshes[b])
        if gap < 0.2:
            bad.append((a, b, round(gap, 2)))
    return bad


@pytest.mark.parametrize("params", [
    AnatomyParams(),
    AnatomyParams(volume_ml=15, rectum_gap_mm=3.0, bladder_volume_ml=400, rectal_wall_mm=4.0),
    AnatomyParams(volume_ml=100, bladder_volume_ml=50, rectum_gap_mm=15.0, rectal_wall_mm=2.0),
], ids=["default", "small-gland-full-bladder-close-rectum", "large-gland-empty-bladder-far-rectum"])
def test_no_two_organ_surfaces_cross(params):
    anatomy = build_anatomy(params)
    assert _crossings(anatomy) == []
    for organ, mesh in anatomy.meshes().items():
        assert np.all(_edge_use_counts(mesh) == 2), organ


def test_committed_meshes_equal_the_generator(default, tmp_path):
    import pyvista as pv

    written = write_default_meshes(tmp_path)
    assert sorted(p.name for p in written) == sorted(f"{o}.vtp" for o in ORGAN_NAMES)
    for organ in ORGAN_NAMES:
        committed = pv.read(MESH_DIR / f"{organ}.vtp")
        fresh = default.mesh(organ)
        assert committed.n_points == fresh.n_points, f"{organ}: run `cryoviz meshes` and commit meshes/"
        assert np.allclose(committed.points, fresh.points, atol=1e-3), organ
        assert np.array_equal(committed.faces, fresh.faces), organ
        assert np.allclose(pv.read(tmp_path / f"{organ}.vtp").points, fresh.points, atol=1e-6)


def test_labels_match_the_meshes(default):
    pr = default.mesh("prostate")
    b = np.asarray(pr.bounds) + np.array([-2.0, 2, -2, 2, -2, 2])
    grid = default.label_grid(0.5, bounds_mm=b)
    lab = grid.labels
    ax = grid.axes_mm()
    X, Y, Z = np.meshgrid(*ax, indexing="ij")
    ur = lab == LABELS["urethra"]
    ur_pts = np.stack([X[ur], Y[ur], Z[ur]], axis=1)
    ur_in_gland = np.count_nonzero(default.signed_distance("prostate", ur_pts) < 0.0)
    gland_ml = (np.count_nonzero(lab == LABELS["prostate"]) + ur_in_gland) * 0.5 ** 3 / 1000.0
    assert gland_ml == pytest.approx(pr.volume / 1000.0, rel=0.05)
    # the urethra wins inside the prostate
    centre = np.round((np.asarray(default.landmarks.verumontanum_mm) - grid.origin_mm) / 0.5).astype(int)
    assert lab[tuple(centre)] == LABELS["urethra"]


def test_default_label_grid_holds_the_structures_the_thermal_model_needs(default):
    grid = default.label_grid(1.0)
    lm = default.landmarks
    present = set(np.unique(grid.labels).tolist())
    for name in ("tissue", "prostate", "urethra", "sphincter", "bladder_wall", "urine", "rectum_wall",
                 "rectum_lumen", "neurovascular_bundles"):
        assert LABELS[name] in present, name
    assert LABELS["saline"] not in present
    assert LABELS["gel"] not in present
    ax = grid.axes_mm()
    assert ax[1][-1] >= lm.rectum_axis_y_mm + lm.rectum_outer_radius_mm  # whole rectal wall and lumen
    assert ax[2][-1] >= lm.bladder_neck_mm[2] + lm.bladder_wall_mm  # the bladder neck
    assert ax[2][0] <= lm.sphincter_z_mm[0]
    assert grid.labels.dtype == np.uint8
    assert grid.volume_ml("rectum_wall") > 0.5


def test_hydrodissection_fills_the_gap_with_saline():
    anatomy = build_anatomy(AnatomyParams(hydrodissection=True, rectum_gap_mm=11.0))
    grid = anatomy.label_grid(1.0)
    saline = grid.labels == LABELS["saline"]
    assert grid.volume_ml("saline") > 1.0
    X, Y, Z = np.meshgrid(*grid.axes_mm(), indexing="ij")
    pts = np.stack([X[saline], Y[saline], Z[saline]], axis=1)
    assert np.all(anatomy.signed_distance("prostate", pts) > 0.0)
    assert np.all(anatomy.signed_distance("rectum", pts) > 0.0)
    assert np.all(pts[:, 1] > 0.0)  # behind the gland, in front of the rectum
    # the midline line from the capsule to the rectal wall is mostly saline
    lm = anatomy.landmarks
    i0 = np.argmin(np.abs(grid.axes_mm()[0]))
    k0 = np.argmin(np.abs(grid.axes_mm()[2]))
    column = grid.labels[i0, :, k0]
    y = grid.axes_mm()[1]
    front_of_rectum = lm.rectum_axis_y_mm - lm.rectum_outer_radius_mm
    between = (y > lm.prostate_half_ap_posterior_mm + 1) & (y < front_of_rectum - 1)
    assert np.mean(column[between] == LABELS["saline"]) > 0.8


def test_signed_distance_is_vectorised_and_signed(default):
    pts = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 200.0], [0.0, -5.0, 5.0]])
    d = default.signed_distance("prostate", pts)
    assert d.shape == (3,)
    assert d[0] < -8.0 and d[1] > 100.0
    # exact-ish far from the surface: the apex tip is about the half-length away from the centre
    assert abs(default.signed_distance("prostate", pts[:1])[0]) < default.landmarks.prostate_half_length_mm
    with pytest.raises(ValueError):
        default.signed_distance("prostate", np.zeros((4, 2)))
    with pytest.raises(KeyError):
        default.signed_distance("liver", pts)


def test_build_is_cached_and_deterministic():
    a = build_anatomy(AnatomyParams(volume_ml=42.0))
    assert build_anatomy(AnatomyParams(volume_ml=42.0)) is a
    from cryoviz.model.shapes import OrganShapes

    g1, g2 = OrganShapes(AnatomyParams(volume_ml=42.0)), OrganShapes(AnatomyParams(volume_ml=42.0))
    assert np.array_equal(g1.rectum_nodes, g2.rectum_nodes)
    assert np.array_equal(g1.urethra_nodes, g2.urethra_nodes)


def test_phantom_is_a_gel_cube():
    anatomy = phantom_anatomy(Phantom(size_mm=40.0))
    assert anatomy.organs == ("gel",)
    grid = anatomy.label_grid(2.0)
    assert np.all(grid.labels == LABELS["gel"])
    assert grid.shape == (21, 21, 21)
    mesh = anatomy.mesh("gel")
    assert mesh.n_open_edges == 0
    assert mesh.volume / 1000.0 == pytest.approx(64.0, rel=0.05)
    assert anatomy.landmarks.skin_z_mm == pytest.approx(-20.0)
    assert anatomy.signed_distance("gel", [[0.0, 0.0, 0.0]])[0] == pytest.approx(-20.0)


def test_landmarks_agree_with_the_shapes(default):
    lm = default.landmarks
    assert abs(default.signed_distance("prostate", [lm.apex_mm])[0]) < 0.3  # the apex tip is on the capsule
    assert lm.apex_mm[2] == pytest.approx(lm.apex_z_mm)
    axis = np.asarray(lm.rectum_axis_mm)
    beside_gland = axis[(axis[:, 2] > lm.apex_z_mm) & (axis[:, 2] < 0.0)]
    assert np.allclose(beside_gland[:, 1], lm.rectum_axis_y_mm)
    inside_by = -default.signed_distance("rectum", beside_gland)
    assert np.allclose(inside_by, lm.rectum_outer_radius_mm, atol=0.05)
    wall_mm = lm.rectum_outer_radius_mm - lm.rectum_inner_radius_mm
    assert wall_mm == pytest.approx(default.params.rectal_wall_mm)
    assert lm.skin_z_mm < lm.apex_z_mm < 0.0 < lm.base_z_mm
    assert default.signed_distance("bladder", [lm.bladder_neck_mm])[0] == pytest.approx(0.0, abs=0.3)
    assert lm.as_dict()["rectum_gap_mm"] == default.params.rectum_gap_mm


@settings(max_examples=12, deadline=None, derandomize=True)
@given(volume_ml=st.floats(15.0, 100.0), gap_mm=st.floats(3.0, 15.0), wall_mm=st.floats(2.0, 4.0),
       bladder_ml=st.floats(50.0, 400.0), post=st.booleans())
def test_shapes_hold_their_promises_for_any_valid_parameters(volume_ml, gap_mm, wall_mm, bladder_ml, post):
    """Without meshing: gap, gland volume, urethra inside, sphincter below the apex, bladder neck on top."""
    from cryoviz.model.shapes import OrganShapes

    params = AnatomyParams(volume_ml=volume_ml, rectum_gap_mm=gap_mm, rectal_wall_mm=wall_mm,
                           bladder_volume_ml=bladder_ml, post_radiation=post)
    g = OrganShapes(params)
    assert float(g.rectum_outer(g.surface).min()) == pytest.approx(gap_mm, abs=0.1)
    assert g.r_out - g.r_in == pytest.approx(wall_mm)
    # the gland's volume by counting 1 mm voxels of its implicit shape
    b = g.bounds("prostate")
    axes = [np.arange(b[2 * k], b[2 * k + 1], 1.0) + 0.5 for k in range(3)]
    X, Y, Z = np.meshgrid(*axes, indexing="ij")
    inside = g.prostate_implicit(np.stack([X.ravel(), Y.ravel(), Z.ravel()], axis=1)) < 0.0
    assert np.count_nonzero(inside) / 1000.0 == pytest.approx(params.effective_volume_ml, rel=0.05)
    line = g.urethra_nodes
    mid = line[(line[:, 2] > g.apex_z + 3.0) & (line[:, 2] < g.base_z - 3.0)]
    assert np.all(g.prostate_sd(mid) < 0.0)
    assert g.sphincter_z[1] < g.apex_z
    assert g.bladder_outer(line[-1:])[0] < 0.0  # the catheter ends inside the bladder
    assert g.bladder_neck[2] > g.base_z
