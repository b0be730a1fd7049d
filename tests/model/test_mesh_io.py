"""A patient's own organ meshes: accepted when plausible, one contract line per problem otherwise."""

from __future__ import annotations

import re

import numpy as np
import pytest

from cryoviz.core.errors import InputError
from cryoviz.model.anatomy import LABELS, build_anatomy
from cryoviz.model.scene import AnatomyParams

CONTRACT = re.compile(r"^(?P<path>[^:]+): anatomy\.meshes\.prostate: .+ \(allowed: .+, got: .+\)$")


@pytest.fixture(scope="module")
def mesh_dir(tmp_path_factory):
    import pyvista as pv

    d = tmp_path_factory.mktemp("meshes")
    sphere = pv.Sphere(radius=19.3, theta_resolution=40, phi_resolution=40)  # about 30 ml
    sphere.save(d / "gland.stl")
    sphere.save(d / "gland.ply")
    sphere.translate((60.0, 0.0, 0.0)).save(d / "far.stl")
    pv.Sphere(radius=1.0).save(d / "tiny.vtp")
    sphere.remove_cells(range(200)).save(d / "open.obj")  # a hole too large to fill (> 6 mm)
    (d / "notes.txt").write_text("not a mesh\n", encoding="utf-8")
    (d / "broken.stl").write_text("solid broken\nfacet nonsense\n", encoding="utf-8")
    return d


def test_a_plausible_mesh_replaces_the_generated_organ(mesh_dir):
    anatomy = build_anatomy(AnatomyParams(meshes={"prostate": "gland.stl"}), base_dir=mesh_dir)
    mesh = anatomy.mesh("prostate")
    assert mesh.n_open_edges == 0
    assert mesh.volume / 1000.0 == pytest.approx(30.0, rel=0.03)
    d = anatomy.signed_distance("prostate", np.array([[0.0, 0.0, 0.0], [30.0, 0.0, 0.0], [19.3, 0, 0]]))
    assert d[0] == pytest.approx(-19.3, abs=0.2)
    assert d[1] == pytest.approx(10.7, abs=0.2)
    assert abs(d[2]) < 0.2
    grid = anatomy.label_grid(1.0, bounds_mm=(-22, 22, -22, 22, -22, 22))
    assert grid.volume_ml("prostate") + grid.volume_ml("urethra") == pytest.approx(30.0, rel=0.06)
    assert grid.labels[22, 22 + 15, 22] == LABELS["prostate"]  # a sphere: round where the model is flat
    # other organs are still generated
    assert anatomy.mesh("rectum").n_cells > 0
    # absolute paths work without a base folder
    other = build_anatomy(AnatomyParams(meshes={"prostate": str(mesh_dir / "gland.ply")}))
    assert other.mesh("prostate").volume == pytest.approx(mesh.volume, rel=1e-3)


@pytest.mark.parametrize(("name", "words"), [
    ("missing.stl", "not found"),
    ("notes.txt", "unsupported mesh file type"),
    ("broken.stl", "unreadable"),
    ("open.obj", "not closed"),
    ("tiny.vtp", "implausible size"),
    ("far.stl", "far from where it belongs"),
])
def test_bad_patient_meshes_give_one_contract_line(mesh_dir, name, words):
    with pytest.raises(InputError) as exc:
        build_anatomy(AnatomyParams(meshes={"prostate": name}), base_dir=mesh_dir)
    text = str(exc.value)
    assert len(text.splitlines()) == 1
    m = CONTRACT.match(text)
    assert m is not None, text
    assert m.group("path") == name  # names the file as the user wrote it
    assert words in text
