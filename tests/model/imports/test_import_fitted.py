"""The whole body follows the patient: organs, layout, sensors and volume fitted around his own gland; and the
shared cases A4 (one missing triangle) and B5 (Slicer's SPACE=RAS header) behave as their NOTEs say.

The B5 gland is a real 69.6 ml segmentation (phpitblitw/prostate_puncture) in a scene that still says
``volume_ml = 30``: before this work the urethra, sphincter, bladder, rectum, probes and sensors stayed
placed for 30 ml (rectal-wall sensor 3 mm inside his gland, bladder overlapping it by 2.5 ml).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pyvista as pv

from cryoviz.model.anatomy import build_anatomy
from cryoviz.model.layout import resolve_probes, resolve_sensors
from cryoviz.model.overlaps import overlaps_ml
from cryoviz.model.scene_load import load_scene

CASES = Path(__file__).parent / "cases"
B5 = CASES / "B5_slicer_space_ras_header"
A4 = CASES / "A4_one_missing_triangle_refused"


def _built(scene_path: Path):
    scene = load_scene(scene_path, check_geometry=True)
    return scene, build_anatomy(scene.anatomy, base_dir=scene_path.parent)


@pytest.fixture(scope="module")
def lone():
    return _built(B5 / "scene_prostate_only.toml")


@pytest.fixture(scope="module")
def with_rectum():
    return _built(B5 / "scene.toml")


def test_b5_space_ras_is_honoured_not_mirrored(lone):
    _, anatomy = lone
    raw = pv.read(B5 / "prostate_space_ras.stl").clean()
    mine = anatomy.mesh("prostate")
    # x and y change sign (RAS -> LPS): his left half is still his left half
    mp, rp = np.asarray(mine.points), np.asarray(raw.points)
    for k in (0, 1):
        assert np.allclose(np.sort(mp[:, k]), np.sort(-rp[:, k]), atol=1e-3)
    assert any("SPACE=RAS" in n for n in anatomy.notes)


def test_b5_rectum_in_ras_is_accepted_behind_the_gland(with_rectum):
    _, anatomy = with_rectum
    assert np.asarray(anatomy.mesh("rectum").center_of_mass())[1] > 15.0  # posterior
    assert sum("SPACE=RAS" in n for n in anatomy.notes) == 2


def test_a4_one_missing_triangle_is_filled_with_a_note():
    _, anatomy = _built(A4 / "scene.toml")
    gland = anatomy.mesh("prostate")
    assert gland.n_open_edges == 0 and gland.is_manifold
    assert gland.volume / 1000.0 == pytest.approx(65.2, abs=0.5)
    (note,) = anatomy.notes
    assert note.endswith("anatomy.meshes.prostate: 1 small hole filled (largest 1.7 mm across)")


def test_volume_apex_base_and_layout_follow_his_gland(lone):
    scene, anatomy = lone
    lm = anatomy.landmarks
    gland = anatomy.mesh("prostate")
    z = np.asarray(gland.points)[:, 2]
    assert scene.anatomy.volume_ml == 30.0
    assert lm.prostate_volume_ml == pytest.approx(abs(gland.volume) / 1000.0, rel=1e-6)
    assert lm.prostate_volume_ml == pytest.approx(69.6, abs=0.3)
    assert lm.apex_z_mm == pytest.approx(z.min(), abs=1e-3)
    assert lm.base_z_mm == pytest.approx(z.max(), abs=1e-3)
    # urethra through his gland from apex to base; sphincter below his apex; bladder above his base
    line = anatomy.urethra_centreline_mm(200)
    inner = line[(line[:, 2] > lm.apex_z_mm + 3.0) & (line[:, 2] < lm.base_z_mm - 3.0)]
    assert len(inner) > 20 and np.all(anatomy.signed_distance("prostate", inner) < 0.0)
    assert lm.sphincter_z_mm[1] < lm.apex_z_mm
    bladder = np.asarray(anatomy.mesh("bladder").points)
    assert bladder[:, 2].min() > lm.base_z_mm - 8.0
    assert anatomy.mesh("bladder").center_of_mass()[2] > lm.base_z_mm
    # probes sized to his gland: the needles enter inside his capsule at mid-gland
    probes = resolve_probes(scene, anatomy)
    assert len(probes) >= 6
    mid = 0.5 * (lm.apex_z_mm + lm.base_z_mm)
    xy = np.array([[p.x_mm, p.y_mm, mid] for p in probes])
    assert np.all(anatomy.signed_distance("prostate", xy) < -2.0)


def test_generated_rectum_at_the_scene_gap_and_sensors_on_his_surfaces(lone):
    scene, anatomy = lone
    gland_pts = np.asarray(anatomy.mesh("prostate").points, dtype=float)
    gap = float(anatomy.signed_distance("rectum", gland_pts).min())
    assert gap == pytest.approx(scene.anatomy.rectum_gap_mm, abs=0.3)
    sensors = resolve_sensors(scene, anatomy)
    rw = np.array([sensors["rectal_wall"]])
    assert abs(anatomy.signed_distance("rectum", rw)[0]) < 0.3  # on the rectal wall
    assert anatomy.signed_distance("prostate", rw)[0] == pytest.approx(gap, abs=0.5)  # facing his gland
    apex = np.array([sensors["apex"]])
    assert -3.0 < anatomy.signed_distance("prostate", apex)[0] < 0.0  # inside his apex ...
    assert anatomy.signed_distance("urethra", apex)[0] > 1.0  # ... not in the warming catheter
    assert apex[0, 2] < anatomy.landmarks.apex_z_mm + 8.0
    nvb = np.asarray(anatomy.mesh("neurovascular_bundles").points, dtype=float)
    d = anatomy.signed_distance("prostate", nvb)  # on his capsule (1 mm gap, 1.5 mm radius), not in it
    assert d.min() > -0.5 and 0.3 < float(np.median(d)) < 4.0


def test_his_rectum_gives_the_gap_and_the_rectal_wall_sensor(with_rectum):
    scene, anatomy = with_rectum
    gland_pts = np.asarray(anatomy.mesh("prostate").points, dtype=float)
    measured = float(anatomy.signed_distance("rectum", gland_pts).min())
    assert anatomy.landmarks.rectum_gap_mm == pytest.approx(measured, abs=0.2)
    rw = np.array([resolve_sensors(scene, anatomy)["rectal_wall"]])
    assert abs(anatomy.signed_distance("rectum", rw)[0]) < 0.3
    assert anatomy.signed_distance("prostate", rw)[0] == pytest.approx(measured, abs=0.5)


@pytest.mark.parametrize("which", ["lone", "with_rectum"])
def test_no_generated_organ_overlaps_an_imported_one(which, request):
    _, anatomy = request.getfixturevalue(which)
    assert overlaps_ml(anatomy) == {}


def test_check_says_ok_and_names_the_repairs(capsys):
    from cryoviz.cli import main

    assert main(["check", str(A4 / "scene.toml"), str(B5 / "scene.toml")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("scene.toml: ok")
    assert out[1].startswith("  repaired: ")
    assert out[1].endswith("1 small hole filled (largest 1.7 mm across)")
    assert sum("SPACE=RAS" in line for line in out) == 2


def test_import_smooths_a_staircase_mesh_and_says_so():
    from cryoviz.model.imports.gather import gather
    from cryoviz.model.imports.surface import axis_facing_fraction

    raw = pv.read(B5 / "prostate_space_ras.stl")
    got = gather([B5 / "prostate_space_ras.stl"])
    (part,) = got.parts
    assert axis_facing_fraction(raw) > 0.5 and axis_facing_fraction(part.surface) < 0.15
    assert abs(part.surface.volume) == pytest.approx(abs(raw.volume), rel=0.01)
    assert part.surface.n_cells <= 12000
    assert any("staircase smoothed" in n for n in got.notes) and any("decimated" in n for n in got.notes)
    assert part.frame_note == "frame RAS (from the file's SPACE= header)"
