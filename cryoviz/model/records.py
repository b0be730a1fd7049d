"""Plain records of an anatomy: voxel labels on a grid, and named landmark positions (mm, patient frame)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["LABELS", "LabelGrid", "Landmarks"]

#: Voxel label codes shared with the thermal model and the ultrasound picture.
LABELS: dict[str, int] = {
    "tissue": 0, "prostate": 1, "urethra": 2, "sphincter": 3, "bladder_wall": 4, "urine": 5,
    "rectum_wall": 6, "rectum_lumen": 7, "seminal_vesicles": 8, "neurovascular_bundles": 9,
    "pubic_bone": 10, "saline": 11, "gel": 12,
}


@dataclass(frozen=True, eq=False)
class LabelGrid:
    """Voxel labels on a regular grid.

    Attributes
    ----------
    labels : uint8 array (nx, ny, nz)
        Codes of :data:`LABELS`.
    origin_mm : (3,) float array
        Centre of voxel (0, 0, 0).
    spacing_mm : float
        Voxel size; voxel (i, j, k) has its centre at ``origin_mm + spacing_mm * (i, j, k)``.
    """

    labels: np.ndarray
    origin_mm: np.ndarray
    spacing_mm: float

    @property
    def shape(self) -> tuple[int, int, int]:
        """Grid shape (nx, ny, nz)."""
        return tuple(int(n) for n in self.labels.shape)

    def axes_mm(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Voxel-centre coordinates along x, y and z."""
        return tuple(self.origin_mm[k] + self.spacing_mm * np.arange(self.labels.shape[k]) for k in range(3))

    def volume_ml(self, label: str | int) -> float:
        """Volume of one label, ml."""
        code = LABELS[label] if isinstance(label, str) else int(label)
        return float(np.count_nonzero(self.labels == code)) * self.spacing_mm ** 3 / 1000.0


@dataclass(frozen=True)
class Landmarks:
    """Named positions and sizes of the generated anatomy (mm, patient frame)."""

    apex_z_mm: float
    base_z_mm: float
    skin_z_mm: float
    prostate_volume_ml: float
    prostate_half_width_mm: float
    prostate_half_ap_anterior_mm: float
    prostate_half_ap_posterior_mm: float
    prostate_half_length_mm: float
    urethra_radius_mm: float
    verumontanum_mm: tuple[float, float, float]
    apex_urethra_mm: tuple[float, float, float]
    bladder_neck_mm: tuple[float, float, float]
    bladder_centre_mm: tuple[float, float, float]
    bladder_semi_axes_mm: tuple[float, float, float]
    bladder_wall_mm: float
    rectum_axis_x_mm: float
    rectum_axis_y_mm: float
    rectum_inner_radius_mm: float
    rectum_outer_radius_mm: float
    rectum_wall_mm: float
    rectum_gap_mm: float
    hydrodissection: bool
    sphincter_z_mm: tuple[float, float]
    membranous_bottom_z_mm: float
    apex_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rectum_axis_mm: tuple[tuple[float, float, float], ...] = ()

    def as_dict(self) -> dict:
        """The landmarks as a plain dict (for JSON and for code that looks names up)."""
        import dataclasses

        return dataclasses.asdict(self)
