"""The gel phantom: a cube of gel for the single-probe demonstration (no organs)."""

from __future__ import annotations

import numpy as np

from cryoviz.model import primitives as S
from cryoviz.model.anatomy import LABELS, Anatomy, Landmarks
from cryoviz.model.scene import Phantom

__all__ = ["phantom_anatomy"]


class _PhantomGeometry:
    """A gel cube centred on the origin; the probe enters through its bottom face (z = -size / 2)."""

    background_label = LABELS["gel"]

    def __init__(self, phantom: Phantom):
        self.params = phantom
        h = float(phantom.size_mm) / 2.0
        self.half = h
        self.cube = S.sd_round_box((0.0, 0.0, 0.0), (h, h, h), min(2.0, 0.1 * h))

    def implicit(self, organ: str):
        if organ != "gel":
            raise KeyError(organ)
        return self.cube

    def mesh_fn(self, organ: str):
        return self.implicit(organ)

    def bounds(self, organ: str) -> np.ndarray:
        h = self.half + 0.5
        return np.array([-h, h, -h, h, -h, h])

    def default_bounds(self, margin_mm: float) -> np.ndarray:
        h = self.half
        return np.array([-h, h, -h, h, -h, h])


def phantom_anatomy(phantom: Phantom | None = None) -> Anatomy:
    """A gel cube (label ``gel`` everywhere, one organ ``"gel"``) for the single-probe demonstration.

    The cube of side ``phantom.size_mm`` is centred on the origin; the skin (entry face) is its bottom face.
    """
    phantom = Phantom() if phantom is None else phantom
    geo = _PhantomGeometry(phantom)
    h = geo.half
    lm = Landmarks(
        apex_z_mm=-h, base_z_mm=h, skin_z_mm=-h, prostate_volume_ml=0.0, prostate_half_width_mm=h,
        prostate_half_ap_anterior_mm=h, prostate_half_ap_posterior_mm=h, prostate_half_length_mm=h,
        urethra_radius_mm=0.0, verumontanum_mm=(0.0, 0.0, 0.0), apex_urethra_mm=(0.0, 0.0, -h),
        bladder_neck_mm=(0.0, 0.0, h), bladder_centre_mm=(0.0, 0.0, h), bladder_semi_axes_mm=(0.0, 0.0, 0.0),
        bladder_wall_mm=0.0, rectum_axis_x_mm=0.0, rectum_axis_y_mm=h + 20.0, rectum_inner_radius_mm=10.0,
        rectum_outer_radius_mm=10.0, rectum_wall_mm=0.0, rectum_gap_mm=0.0, hydrodissection=False,
        sphincter_z_mm=(-h, -h), membranous_bottom_z_mm=-h, apex_mm=(0.0, 0.0, -h),
    )
    return Anatomy(phantom, geo, lm, ("gel",))
