"""PI-RADS v2.1 sectors resolved on generated glands of several sizes and on a gland given as a mesh."""

from __future__ import annotations

import numpy as np
import pytest

from cryoviz.model import sectors as S
from cryoviz.model.anatomy import build_anatomy
from cryoviz.model.scene import AnatomyParams


def test_the_v21_map_has_38_gland_sectors_with_cz_only_at_the_base():
    names = [s.name for s in S.GLAND_SECTORS]
    assert len(names) == len(set(names)) == 38
    assert len(S.GLAND_SECTORS) + len(S.EXTRA_SECTORS) == 41  # plus both seminal vesicles and the sphincter
    assert [s.level for s in S.GLAND_SECTORS if s.zone == "CZ"] == ["base", "base"]
    # v2.1 added the posteromedial PZ at the base (v2 had 36 gland sectors)
    assert "base left PZpm" in names and "base right PZpm" in names


@pytest.mark.parametrize("text, name", [
    ("mid left PZpl", "mid left PZpl"), ("PZpl L midgland", "mid left PZpl"),
    ("apex_right_afs", "apex right AS"),
    ("BASE, Right, cz", "base right CZ"), ("base-left-tza", "base left TZa"),
])
def test_sector_names_are_read_in_any_order_and_case(text, name):
    assert S.parse_sector(text).name == name


@pytest.mark.parametrize("text, why", [
    ("mid left", "missing the zone"), ("mid left PZx", "unknown"), ("apex left CZ", "base sector only"),
    ("mid mid left PZa", "repeated"), ("", "missing the level and side and zone"),
])
def test_bad_sector_names_say_what_is_wrong(text, why):
    with pytest.raises(ValueError, match=why):
        S.parse_sector(text)


def _check_every_sector(anatomy):
    frame = S.gland_frame(anatomy)
    wrong = []
    for sec in S.GLAND_SECTORS:
        c = S.sector_centre_mm(anatomy, sec)
        assert anatomy.signed_distance("prostate", c[None, :])[0] < -0.5, sec.name  # inside the gland
        got = frame.classify(c)
        if got != sec:
            wrong.append((sec.name, got.name))
        # and the geometry itself agrees: third by height, side by x of the urethra, PZ outer / TZ inner
        third = (c[2] - frame.z_lo_mm) / (frame.z_hi_mm - frame.z_lo_mm)
        assert {"apex": 0, "mid": 1, "base": 2}[sec.level] == int(third * 3), sec.name
        cx, cy = frame.centre_mm(c[2])
        assert (c[0] > cx) == (sec.side == "left"), sec.name
        depth = -anatomy.signed_distance("prostate", c[None, :])[0]
        if sec.zone.startswith("PZ") or sec.zone == "AS":
            assert depth < 7.0, (sec.name, depth)  # near the capsule
        else:
            assert depth > 2.5, (sec.name, depth)  # deeper inside (an apex of a 15 ml gland is thin)
        if sec.zone in ("AS", "TZa", "PZa"):
            assert c[1] < cy, sec.name  # anterior of the horizontal mid-line (y = posterior)
        if sec.zone in ("TZp", "PZpl", "PZpm", "CZ"):
            assert c[1] > cy, sec.name
    assert wrong == []


@pytest.mark.parametrize("volume_ml", [15.0, 30.0, 100.0])
def test_every_gland_sector_lands_in_its_third_side_and_zone(volume_ml):
    _check_every_sector(build_anatomy(AnatomyParams(volume_ml=volume_ml)))


def test_sectors_follow_a_gland_given_as_a_mesh(tmp_path):
    # a patient's gland: the generated 40 ml one, squashed front to back, tilted and moved 4 mm to the left
    mesh = build_anatomy(AnatomyParams(volume_ml=40.0)).mesh("prostate").copy()
    pts = np.asarray(mesh.points, float)
    pts[:, 1] *= 0.8
    pts[:, 0] += 4.0 + 0.1 * pts[:, 2]
    mesh.points = pts
    path = tmp_path / "prostate.stl"
    mesh.save(path)
    anatomy = build_anatomy(AnatomyParams(meshes={"prostate": path}))
    frame = S.gland_frame(anatomy)
    assert frame.z_hi_mm - frame.z_lo_mm == pytest.approx(np.ptp(pts[:, 2]), abs=2.0)
    _check_every_sector(anatomy)
    # left really is the patient's left of the urethra on this gland, not of x = 0
    c = S.sector_centre_mm(anatomy, "mid right PZa")
    assert c[0] < frame.centre_mm(c[2])[0]


def test_a_ball_too_big_for_its_sector_is_refused_with_the_size_that_fits():
    anatomy = build_anatomy(AnatomyParams(volume_ml=15.0))
    c = S.sector_centre_mm(anatomy, "mid left PZpl", 5.0)
    assert anatomy.signed_distance("prostate", c[None, :])[0] <= -6.0
    with pytest.raises(ValueError, match="does not fit in apex left PZpl"):
        S.sector_centre_mm(anatomy, "apex left PZpl", 17.5)
