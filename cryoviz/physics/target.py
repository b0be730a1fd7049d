"""What the plan meant to treat (the metrics' ``target``), as voxel weights on the label grid.

* layout ``whole_gland``, explicit probes, or no layout: the whole gland;
* ``hemi_left`` / ``hemi_right``: the gland on the patient's left (x > 0) or right (x < 0) of the
  mid-sagittal plane through the urethra; voxels centred on the plane count half to each side;
* ``focal`` with lesions (issue #17): every lesion grown by its margin, in tissue that can be frozen
  (:func:`cryoviz.physics.lesion_metrics.lesion_target_mask`); a hemi plan with lesions keeps its half;
* ``focal`` without lesions: the left half (the focal preset places its probes on the left
  posterolateral side, :func:`cryoviz.model.layout.auto_layout`).

"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["TargetRegion", "plan_target", "target_metrics"]

_LABEL_PROSTATE = 1


@dataclass(frozen=True)
class TargetRegion:
    """A treatment target on the label grid.

    Attributes
    ----------
    name : str
        ``"whole gland"``, ``"left half"``, ``"right half"`` (a lesion plan adds its own).
    weights : ndarray (nx, ny, nz), float32
        Share of each voxel that belongs to the target (0..1).
    """

    name: str
    weights: np.ndarray


def plan_target(scene, grid, lesions=()) -> TargetRegion | None:
    """The target of ``scene``'s plan on ``grid`` (None when the scene has no prostate, e.g. a phantom).

    ``lesions``: the scene's placed lesions (:func:`cryoviz.model.lesions.resolve_lesions`); a focal plan
    with lesions targets them with their margins (``"lesions with margin"``).
    """
    gland = (grid.labels == _LABEL_PROSTATE)
    if scene.phantom is not None or not gland.any():
        return None
    preset = scene.layout.preset if (scene.layout is not None and not scene.probes) else "whole_gland"
    if preset == "focal" and lesions:
        from cryoviz.physics.lesion_metrics import lesion_target_mask

        return TargetRegion("lesions with margin", lesion_target_mask(grid, lesions).astype(np.float32))
    if preset not in ("hemi_left", "hemi_right", "focal"):
        return TargetRegion("whole gland", gland.astype(np.float32))
    x = grid.axes_mm()[0]
    tol = 1e-6 * float(grid.spacing_mm)
    side = np.where(np.abs(x) <= tol, 0.5, 0.0).astype(np.float32)
    if preset == "hemi_right":
        side[x < -tol] = 1.0
        name = "right half"
    else:
        side[x > tol] = 1.0
        name = "left half"
    return TargetRegion(name, gland * side[:, None, None])


def target_metrics(region: TargetRegion | None, min_temp_c: np.ndarray, spacing_mm: float) -> dict | None:
    """``{name, volume_ml, fraction_below_minus40, fraction_below_minus20}`` of a target (volume-weighted)."""
    if region is None:
        return None
    w = region.weights
    total = float(w.sum())
    if total <= 0:
        return {"name": region.name, "volume_ml": 0.0, "fraction_below_minus40": 0.0,
                "fraction_below_minus20": 0.0}

    def frac(th: float) -> float:
        return round(float(w[min_temp_c <= th].sum()) / total, 4)

    return {"name": region.name, "volume_ml": round(total * spacing_mm ** 3 / 1000.0, 2),
            "fraction_below_minus40": frac(-40.0), "fraction_below_minus20": frac(-20.0)}
