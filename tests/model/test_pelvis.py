"""The pubic bone reads as bone (a symphysis and an arch, not a bent tube) and stays where it was."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cryoviz.model import shapes as S
from cryoviz.model.pelvis import PUBIC_TILT_DEG
from cryoviz.model.scene import AnatomyParams
from cryoviz.model.shapes import OrganShapes


@pytest.fixture(scope="module")
def geo():
    return OrganShapes(AnatomyParams())


def _mid_sagittal_section(geo, step=0.5):
    """Bone points in the plane x = 0 (y, z), mm."""
    b = geo.pubic.bounds()
    y, z = np.meshgrid(np.arange(b[2], b[3], step), np.arange(b[4], b[5], step), indexing="ij")
    pts = np.stack([np.zeros(y.size), y.ravel(), z.ravel()], axis=1)
    inside = geo.pubic(pts) < 0.0
    return pts[inside][:, 1:]


def test_the_bone_stays_where_the_story_had_it(geo):
    # the symphysis' centre is where the old bar's axis crossed the midline; its back face is the same
    # distance in front of the gland at that height
    y0 = -(geo.b_ant + S.PUBIC_ANTERIOR_GAP_MM + S.PUBIC_RADIUS_MM)
    z0 = 0.15 * geo.c
    assert geo.pubic(np.array([[0.0, y0, z0]]))[0] < -3.0  # inside the joint
    behind = np.array([[0.0, y0 + S.PUBIC_RADIUS_MM + 0.6, z0]])
    assert geo.pubic(behind)[0] > 0.0
    gap = geo.prostate_sd(np.array([[0.0, y0 + S.PUBIC_RADIUS_MM, z0]]))[0]
    assert gap == pytest.approx(S.PUBIC_ANTERIOR_GAP_MM, abs=1.5)


def test_mid_sagittal_cut_is_a_tall_tilted_oval_not_a_round_tube(geo):
    yz = _mid_sagittal_section(geo)
    centred = yz - yz.mean(axis=0)
    _evals, evecs = np.linalg.eigh(np.cov(centred.T))
    long_axis = evecs[:, 1] * np.sign(evecs[1, 1])  # (y, z), pointing up
    along = centred @ long_axis
    across = centred @ evecs[:, 0]
    assert np.ptp(along) > 35.0  # the symphysis is about 45 mm tall
    assert np.ptp(along) / np.ptp(across) > 2.5  # a tube's cut would be as tall as it is thick
    # the upper end leans forward (toward -y) by about the stated tilt, as on a mid-sagittal MRI
    tilt = math.degrees(math.atan2(-long_axis[0], long_axis[1]))
    assert tilt == pytest.approx(PUBIC_TILT_DEG, abs=6.0)


def test_an_arch_opens_under_the_symphysis(geo):
    """Below the joint, the midline is free and bone lies on both sides at the subpubic angle."""
    b = geo.pubic.bounds()
    x = np.arange(b[0], b[1], 0.5)
    y = np.arange(b[2], b[3], 0.5)
    lowest = _mid_sagittal_section(geo)[:, 1].min()
    half_widths = []
    for dz in (8.0, 16.0):
        z = lowest - dz
        X, Y = np.meshgrid(x, y, indexing="ij")
        pts = np.stack([X.ravel(), Y.ravel(), np.full(X.size, z)], axis=1)
        inside = pts[geo.pubic(pts) < 0.0]
        assert len(inside), f"no rami {dz} mm below the joint"
        assert np.all(np.abs(inside[:, 0]) > 4.0)  # the arch is open on the midline
        assert np.any(inside[:, 0] > 0.0) and np.any(inside[:, 0] < 0.0)  # rami on both sides
        half_widths.append(np.abs(inside[:, 0]).min())
    # the inner edges of the rami spread apart going down (an arch, not two parallel posts)
    assert half_widths[1] > half_widths[0] + 3.0


def test_a_full_bladder_moves_the_bone_forward_only_as_needed(geo):
    full = OrganShapes(AnatomyParams(volume_ml=15, bladder_volume_ml=400, rectum_gap_mm=3.0))
    y0 = -(full.b_ant + S.PUBIC_ANTERIOR_GAP_MM + S.PUBIC_RADIUS_MM)
    clear = min(float((full.bladder_outer(t._dense) - t._dense_r).min()) for t in full.pubic.tubes)
    assert clear >= 1.5
    assert full.pubic(np.array([[0.0, y0, 0.15 * full.c]]))[0] > -S.PUBIC_RADIUS_MM + 1.5  # it moved
    # the default anatomy's bladder never reaches it: no move there
    clear_default = min(float((geo.bladder_outer(t._dense) - t._dense_r).min()) for t in geo.pubic.tubes)
    assert clear_default > 1.5
