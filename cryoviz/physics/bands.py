"""Sub-voxel samples of thin organ layers (the urethral wall, the rectal wall) and of a field on them.

A wall 1–3 mm thick holds only one to three voxel layers on a 1 mm grid, and which voxel centres fall inside
it depends on where the grid lies: a figure taken from those voxels moves with the grid. Here the layer is
defined by the organ's own surface (the anatomy's signed distance, exact for the generated tubes) and
sampled on a lattice of points fixed in the patient frame (multiples of ``step_mm`` from the origin), so
the samples are the same on every grid; only the temperature field read at them (trilinear) changes.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["band_points", "project_to_level", "sample_field"]


def band_points(anatomy, organ: str, grid, lo_mm: float, hi_mm: float, step_mm: float,
                candidates: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Lattice points (n, 3), mm, whose signed distance to ``organ``'s surface lies in ``(lo_mm, hi_mm]``,
    and those distances (n,).

    Parameters
    ----------
    anatomy : cryoviz.model.anatomy.Anatomy
    organ : str
        Organ whose surface defines the layer (negative distances are inside it).
    grid : cryoviz.model.anatomy.LabelGrid
        Only points inside the grid's box are returned.
    lo_mm, hi_mm : float
        The layer, as signed distances from the surface, mm.
    step_mm : float
        Lattice step, mm (each point stands for ``step_mm**3`` of volume).
    candidates : bool ndarray, optional
        Voxels that may hold layer points (default: every voxel; a smaller set near the organ saves time).
    """
    sp = float(grid.spacing_mm)
    origin = np.asarray(grid.origin_mm, float)
    none = (np.zeros((0, 3)), np.zeros(0))
    if organ not in anatomy.organs:
        return none
    if candidates is None:
        candidates = np.ones(grid.labels.shape, bool)
    cells = np.argwhere(candidates)
    if cells.size == 0:
        return none
    # keep the cells the layer can cross: centre within half a cell diagonal of it
    sd = anatomy.signed_distance(organ, origin + sp * cells)
    half_diag = 0.5 * sp * math.sqrt(3.0) + 1e-9
    cells = cells[(sd > lo_mm - half_diag) & (sd <= hi_mm + half_diag)]
    if cells.size == 0:
        return none
    # the lattice points of each cell: those whose nearest voxel centre is the cell's (an exact partition)
    m = math.ceil(sp / step_mm) + 1
    offs = np.stack(np.meshgrid(*(np.arange(m),) * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    first = np.ceil((origin + sp * (cells - 0.5)) / step_mm - 1e-9).astype(np.int64)
    lat = (first[:, None, :] + offs[None, :, :]).reshape(-1, 3)
    owner = np.repeat(cells, len(offs), axis=0)
    pts = lat * step_mm
    mine = np.all(np.rint((pts - origin) / sp).astype(np.int64) == owner, axis=1)
    pts = pts[mine]
    if pts.size == 0:
        return none
    sd = anatomy.signed_distance(organ, pts)
    keep = (sd > lo_mm) & (sd <= hi_mm)
    return pts[keep], sd[keep]


def sample_field(field: np.ndarray, grid, points_mm: np.ndarray) -> np.ndarray:
    """Trilinear values of a voxel ``field`` at ``points_mm`` (n, 3) (nearest voxel beyond the border)."""
    from scipy.ndimage import map_coordinates

    if len(points_mm) == 0:
        return np.zeros(0, np.float32)
    u = (np.asarray(points_mm, float) - np.asarray(grid.origin_mm, float)) / float(grid.spacing_mm)
    return map_coordinates(np.asarray(field, np.float32), u.T, order=1, mode="nearest").astype(np.float32)


def project_to_level(anatomy, organ: str, points_mm: np.ndarray, level_mm: float, h_mm: float = 0.05
                     ) -> np.ndarray:
    """``points_mm`` moved onto the surface where the signed distance to ``organ`` equals ``level_mm``.

    One Newton step along the (one-sided) numerical gradient of the signed distance (exact for the
    generated tubes, whose distance has a unit gradient). Used to sample a layer's boundary, where its
    extreme temperature lies (the cold comes from one side), which a lattice can miss by up to a step.
    """
    p = np.asarray(points_mm, float)
    if len(p) == 0:
        return p
    sd = anatomy.signed_distance(organ, p)
    grad = np.empty_like(p)
    for a in range(3):  # one-sided differences: the distance is smooth on the scale of h_mm
        e = np.zeros(3)
        e[a] = h_mm
        grad[:, a] = (anatomy.signed_distance(organ, p + e) - sd) / h_mm
    norm = np.linalg.norm(grad, axis=1, keepdims=True)
    grad = np.divide(grad, norm, out=np.zeros_like(grad), where=norm > 1e-9)
    return p - (sd - level_mm)[:, None] * grad
