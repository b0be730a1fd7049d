"""``import_scene`` on files written here like a care team's: label maps in RAS and LPS, an RT structure set
with fake identifiers, meshes in m/cm/mm, with a hole, a nested shell and an extra piece."""

from __future__ import annotations

import _import_phantoms as P
import numpy as np
import pytest
import pyvista as pv

from cryoviz.core.errors import InputError
from cryoviz.model.imports.gather import gather
from cryoviz.model.imports.scene_out import import_scene


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("sources")
    return {"nifti": P.write_nifti_ras(d), "multi": P.write_nifti_ras(d, multi=True),
            "nrrd": [P.write_seg_nrrd_lps(d)], "rt": [P.write_rtstruct(d)], "dir": d}


def _surf(out_toml, organ):
    return pv.read(out_toml.parent / f"{out_toml.stem}-{organ}.vtp")


def _ml(surf) -> float:
    return abs(float(surf.volume)) / 1000.0


def test_label_maps_in_ras_give_mask_volumes_and_organs_where_they_belong(files, tmp_path):
    got = gather(files["nifti"])
    for part in got.parts:  # smooth surfaces, volumes within 5 % of the masks'
        assert abs(_ml(part.surface) - part.mask_ml) <= 0.05 * part.mask_ml, part.organ
        assert part.surface.n_cells <= 12000 and part.surface.n_open_edges == 0
        if part.organ == "rectum":  # a cylinder: its flat ends do face along z
            continue
        # no voxel staircase: few faces face exactly along a voxel axis (a staircase has most of them)
        n = np.abs(np.asarray(part.surface.compute_normals(cell_normals=True, point_normals=False)
                              .cell_data["Normals"]))
        assert np.mean(n.max(axis=1) > np.cos(np.radians(3.0))) < 0.10, part.organ  # raw: 0.31
    out = tmp_path / "nifti.toml"
    summary = import_scene(files["nifti"], out)
    pro, rec, bla = (_surf(out, o) for o in ("prostate", "rectum", "bladder"))
    assert abs(_ml(pro) - P.analytic_ml()["prostate"]) <= 0.05 * P.analytic_ml()["prostate"]
    # centred on the gland; rectum behind (+y), bladder above (+z): a RAS file read as RAS
    assert np.allclose(pro.center_of_mass(), 0.0, atol=1.0)
    assert rec.center_of_mass()[1] > 25.0 and bla.center_of_mass()[2] > 30.0
    assert "frame RAS (from the file)" in summary.text() and "overlaps between his organs" in summary.text()


def test_left_stays_left_from_ras_nifti_and_lps_nrrd(files, tmp_path):
    a = tmp_path / "ras.toml"
    import_scene(files["multi"], a, {"1": "prostate", "2": "rectum", "3": "bladder", "4": "lesion"})
    b = tmp_path / "lps.toml"
    summary = import_scene(files["nrrd"], b)  # Spanish segment names, no --organ needed
    for out in (a, b):
        les = _surf(out, "lesion-1")
        assert les.center_of_mass()[0] > 8.0  # patient left is +x: the lesion was put in his left half
        assert les.center_of_mass()[1] > 2.0  # and posterior
    # the same anatomy from either frame
    assert np.allclose(_surf(a, "prostate").bounds, _surf(b, "prostate").bounds, atol=0.5)
    assert 'label 4 "Lesion indice"' in summary.text()
    from cryoviz.model.scene_load import load_scene

    lesions = load_scene(a).lesions  # written as a [[lesions]] entry with its own surface (#17's table)
    assert len(lesions) == 1 and str(lesions[0].mesh).endswith("ras-lesion-1.vtp")


def test_rt_structure_set_with_fake_identifiers_leaks_none(files, tmp_path, capsys):
    from cryoviz.cli import main

    out = tmp_path / "rt.toml"
    assert main(["import", str(files["rt"][0]), "-o", str(out)]) == 0
    printed = capsys.readouterr()
    text = printed.out + printed.err
    pro = _surf(out, "prostate")
    ref = P.analytic_ml()["prostate"]
    assert abs(_ml(pro) - ref) <= 0.05 * ref
    assert "PTV_7800" in text and "skipped" in text  # a margin is never an organ
    written = [p for p in tmp_path.iterdir()]
    assert {p.name for p in written} == {"rt.toml", "rt-prostate.vtp", "rt-rectum.vtp", "rt-lesion-1.vtp"}
    assert _surf(out, "lesion-1").center_of_mass()[0] > 8.0  # the GTV in his left half
    assert 'ROI 4 "GTV_p"' in text and 'mesh = "rt-lesion-1.vtp"' in out.read_text()
    for secret in (P.FAKE_ID, "SECRET", "Doe", "Johnathan", "19510203", "RS."):
        assert secret not in text
    for secret in (P.FAKE_ID, P.FAKE_NAME, "Johnathan", "19510203"):  # short ones turn up in base64 data
        for p in written:
            assert secret.encode() not in p.read_bytes(), (secret, p.name)


@pytest.mark.parametrize("unit", ["m", "cm"])
def test_meshes_in_other_units_are_refused_with_the_fix_then_read(files, tmp_path, unit, capsys):
    from cryoviz.cli import main

    mesh = P.write_meshes(files["dir"], unit)
    out = tmp_path / f"{unit}.toml"
    assert main(["import", str(mesh), "--organ", f"{mesh.stem}=prostate", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("source 1: source: implausible size for the prostate")
    assert f"(x{ {'m': 1000, 'cm': 10}[unit] }): use --units {unit}" in err[0] and not out.exists()
    argv = ["import", str(mesh), "--organ", f"{mesh.stem}=prostate", "--units", unit, "-o", str(out)]
    assert main(argv) == 0
    ref = P.analytic_ml()["prostate"]
    assert abs(_ml(_surf(out, "prostate")) - ref) <= 0.02 * ref


@pytest.mark.parametrize("suffix", [".vtk", ".ply", ".obj"])
def test_other_mesh_formats(files, tmp_path, suffix):
    mesh = P.write_meshes(files["dir"], "mm", suffix)
    got = gather([mesh], {mesh.stem: "prostate"})
    assert got.parts[0].organ == "prostate"
    assert abs(_ml(got.parts[0].surface) - P.analytic_ml()["prostate"]) <= 0.02 * P.analytic_ml()["prostate"]


def test_hole_is_filled_and_said(files):
    mesh = P.write_meshes(files["dir"], "mm", hole=True)
    got = gather([mesh], {mesh.stem: "prostate"})
    assert got.parts[0].surface.n_open_edges == 0
    assert any("small hole filled" in n for n in got.notes)


def test_extra_piece_is_dropped_and_said(files):
    mesh = P.write_meshes(files["dir"], "mm", extra=True)
    got = gather([mesh], {mesh.stem: "prostate"})
    assert len(got.parts) == 1 and got.parts[0].surface.n_points > 0
    assert any("1 extra piece dropped" in n for n in got.notes)
    assert abs(_ml(got.parts[0].surface) - P.analytic_ml()["prostate"]) <= 0.02 * P.analytic_ml()["prostate"]


def test_nested_shell_is_refused_unless_named_a_lesion(files, tmp_path):
    mesh = P.write_meshes(files["dir"], "mm", nested=True, frame="RAS")
    with pytest.raises(InputError) as exc:
        gather([mesh], {mesh.stem: "prostate"})
    line = str(exc.value)
    assert line.startswith("source 1: source: a second surface lies inside the prostate")
    assert "prostate+lesion" in line and "\n" not in line
    out = tmp_path / "nested.toml"
    summary = import_scene([mesh], out, {mesh.stem: "prostate+lesion"}, frame="RAS")
    les = _surf(out, "lesion-1")
    assert les.center_of_mass()[0] > 8.0  # --frame RAS for a bare mesh: left stays left
    assert 0.8 < _ml(les) < 1.0  # a 6 mm sphere: 0.905 ml
    assert "taken as the lesion" in summary.text()


def test_a_source_named_like_a_surface_the_import_writes_is_never_overwritten(files, tmp_path, capsys):
    """``import scene-prostate.vtp -o scene.toml`` wrote its own scene-prostate.vtp over the source (and
    deleted it if the scene then failed its check): a patient's file lost, exit 0."""
    from cryoviz.cli import main

    source = P.write_meshes(tmp_path, "mm", ".vtp").rename(tmp_path / "scene-prostate.vtp")
    before = source.read_bytes()
    out = tmp_path / "scene.toml"
    assert main(["import", str(source), "--organ", "scene-prostate=prostate", "-o", str(out)]) == 2
    assert capsys.readouterr().err.startswith("argument: -o: would overwrite an input")
    assert source.read_bytes() == before and not out.exists()
    assert sorted(q.name for q in tmp_path.iterdir()) == ["scene-prostate.vtp"]
