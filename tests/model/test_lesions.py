"""The [[lesions]] scene table: validation (contract lines) and placement inside the actual gland."""

from __future__ import annotations

import numpy as np
import pytest

from cryoviz.core.errors import InputError
from cryoviz.model.anatomy import build_anatomy
from cryoviz.model.lesions import resolve_lesions
from cryoviz.model.scene import LESION_MARGIN_MM, AnatomyParams
from cryoviz.model.scene_load import check_scene_geometry, parse_scene

HEAD = 'title = "t"\n[anatomy]\nvolume_ml = 30\n'


def _problems(text: str) -> list[str]:
    with pytest.raises(InputError) as info:
        parse_scene(HEAD + text, "t.toml")
    return [str(p) for p in info.value.problems]


def test_a_lesion_from_a_report_reads_with_defaults():
    text = '[[lesions]]\nsector = "PZpl left mid"\ndiameter_mm = 12\npirads = 5\n'
    scene = parse_scene(HEAD + text, "t.toml")
    (les,) = scene.lesions
    assert (les.name, les.sector, les.diameter_mm, les.pirads) == ("lesion 1", "mid left PZpl", 12.0, 5)
    assert les.margin_mm == LESION_MARGIN_MM == 5.0
    assert les.visible_on_ultrasound is False  # many recurrences do not show on ultrasound
    assert parse_scene(HEAD, "t.toml").lesions == ()


@pytest.mark.parametrize("text, line", [
    ('[[lesions]]\nsector = "mid left"\ndiameter_mm = 12',
     't.toml: lesions[1].sector: not a PI-RADS v2.1 gland sector (missing the zone) (allowed: level'),
    ('[[lesions]]\nsector = "mid left PZa"',
     't.toml: lesions[1].diameter_mm: missing (allowed: a number from 3 to 40 mm)'),
    ('[[lesions]]\nposition_mm = [0, 5, 0]\ndiameter_mm = 2',
     't.toml: lesions[1].diameter_mm: out of range (allowed: a number from 3 to 40 mm, got: 2)'),
    ('[[lesions]]\nposition_mm = [0, 5, 0]\ndiameter_mm = 8\npirads = 6',
     't.toml: lesions[1].pirads: out of range (allowed: a whole number from 1 to 5, got: 6)'),
    ('[[lesions]]\nposition_mm = [0, 5, 0]\ndiameter_mm = 8\nmargin_mm = 20',
     't.toml: lesions[1].margin_mm: out of range (allowed: a number from 0 to 15 mm, got: 20)'),
    ('[[lesions]]\nposition_mm = [0, 5, 0]\nsector = "mid left PZa"\ndiameter_mm = 8',
     't.toml: lesions[1]: give only one of sector, position_mm, mesh'),
    ('[[lesions]]\nname = "x"\n', 't.toml: lesions[1]: needs exactly one place'),
    ('[[lesions]]\nmesh = "gtv.stl"\ndiameter_mm = 8',
     't.toml: lesions[1].diameter_mm: a lesion given as a mesh takes its size from the mesh'),
    ('[[lesions]]\nposition_mm = [0, 5, 0]\ndiameter_mm = 8\nvisible = true',
     't.toml: lesions[1].visible: unknown key'),
    ('[phantom]\n[[probes]]\nposition_mm=[0,0]\ndepth_mm=40\n'
     '[[lesions]]\nposition_mm = [0, 5, 0]\ndiameter_mm = 8',
     't.toml: lesions: a gel phantom has no prostate to hold a lesion'),
])
def test_bad_lesions_are_one_contract_line_each(text, line):
    assert any(p.startswith(line) for p in _problems(text)), _problems(text)


def test_six_lesions_are_too_many_and_names_are_unique():
    one = '[[lesions]]\nname = "a"\nposition_mm = [0, 5, 0]\ndiameter_mm = 4\n'
    assert any("wrong number of [[lesions]] entries" in p for p in _problems(one * 6))
    assert any("lesions[2].name: same name as lesions[1]" in p for p in _problems(one * 2))


def test_sector_lesions_sit_inside_the_gland_in_their_sector():
    scene = parse_scene(HEAD + '[[lesions]]\nsector = "mid left PZpl"\ndiameter_mm = 12\n'
                        '[[lesions]]\nposition_mm = [-3, -4, 8]\ndiameter_mm = 6\n', "t.toml")
    anatomy = build_anatomy(AnatomyParams(volume_ml=30))
    a, b = resolve_lesions(scene, anatomy)
    assert a.radius_mm == 6.0 and a.sector == "mid left PZpl"
    assert np.max(anatomy.signed_distance("prostate", a.surface_points_mm())) <= -0.9
    assert a.centre_mm[0] > 0 and a.centre_mm[1] > 0  # patient's left, posterior
    assert b.sector.startswith("base right") or b.sector.startswith("mid right")
    assert b.sector.endswith("TZa")


def test_a_lesion_outside_the_gland_is_an_error_naming_its_key():
    scene = parse_scene(HEAD + '[[lesions]]\nposition_mm = [0, 5, 0]\ndiameter_mm = 8\n'
                        '[[lesions]]\nposition_mm = [0, 25, 0]\ndiameter_mm = 8\n'
                        '[[lesions]]\nsector = "apex left PZpl"\ndiameter_mm = 35\n', "t.toml")
    with pytest.raises(InputError) as info:
        check_scene_geometry(scene)
    lines = [str(p) for p in info.value.problems]
    assert len(lines) == 2
    assert lines[0].startswith("t.toml: lesions[2].position_mm: the lesion reaches ")
    assert "outside the gland" in lines[0]
    assert lines[1].startswith("t.toml: lesions[3].diameter_mm: a lesion of 35 mm does not fit in "
                               "apex left PZpl")


def test_a_lesion_mesh_is_read_checked_and_placed(tmp_path):
    import pyvista as pv

    pv.Sphere(radius=4.0, center=(5.0, 4.0, 0.0)).save(tmp_path / "gtv.stl")
    pv.Sphere(radius=4.0, center=(5.0, 40.0, 0.0)).save(tmp_path / "far.stl")
    scene = parse_scene(HEAD + '[[lesions]]\nmesh = "gtv.stl"\n', str(tmp_path / "s.toml"))
    (les,) = resolve_lesions(scene, build_anatomy(AnatomyParams(volume_ml=30)))
    assert les.radius_mm == pytest.approx(4.0, abs=0.1)
    assert les.sector.startswith("mid left")
    scene = parse_scene(HEAD + '[[lesions]]\nmesh = "far.stl"\n', str(tmp_path / "s.toml"))
    with pytest.raises(InputError, match=r"lesions\[1\]\.mesh: the lesion reaches"):
        resolve_lesions(scene, build_anatomy(AnatomyParams(volume_ml=30)))
    scene = parse_scene(HEAD + '[[lesions]]\nmesh = "none.stl"\n', str(tmp_path / "s.toml"))
    with pytest.raises(InputError, match=r"lesions\[1\]\.mesh: mesh file not found"):
        resolve_lesions(scene, build_anatomy(AnatomyParams(volume_ml=30)))


@pytest.mark.parametrize("sector", ["mid left PZpl", "mid right PZa", "base left TZa"])
def test_focal_layout_places_its_needles_around_the_lesion(sector):
    from cryoviz.model.layout import RECTAL_WALL_MIN_C, rectal_wall_estimate_c, resolve_probes

    scene = parse_scene(HEAD + f'[layout]\npreset = "focal"\n[[lesions]]\nsector = "{sector}"\n'
                        'diameter_mm = 8\n', "t.toml")
    anatomy = build_anatomy(scene.anatomy)
    (les,) = resolve_lesions(scene, anatomy)
    probes = resolve_probes(scene, anatomy)
    assert 2 <= len(probes) <= 5
    xy = np.array([[p.x_mm, p.y_mm] for p in probes])
    assert np.all(np.linalg.norm(xy - les.centre_mm[:2], axis=1) <= les.radius_mm + les.margin_mm + 1e-9)
    assert rectal_wall_estimate_c(anatomy, xy) >= RECTAL_WALL_MIN_C
    # the needles' freezing segments span the lesion's height, or go as deep as the bladder and the bend of
    # the urethra allow (a lesion at the base, near the bladder neck)
    from cryoviz.model import layout as L

    names, _xy, _d, deepest = L._candidates(anatomy, 25.0, L.URETHRA_KEEPOUT_MM, 1.0)
    skin = anatomy.landmarks.skin_z_mm
    for p in probes:
        tip = skin + p.depth_mm
        assert tip - 25.0 <= les.centre_mm[2] - les.radius_mm
        deepest_here = deepest[names.index(p.hole)]  # depths are given to 0.1 mm
        assert tip >= les.centre_mm[2] + les.radius_mm - 2 or tip == pytest.approx(deepest_here, abs=0.06)
