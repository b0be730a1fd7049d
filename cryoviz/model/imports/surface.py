"""Organ surfaces from masks, and the repairs an imported surface may need (each one stated).

* :func:`mask_surface`: a voxel mask (any voxel size and orientation) to a smooth, closed, decimated triangle
  surface in patient millimetres (Gaussian-smoothed mask, VTK flying edges at the half level, Taubin
  smoothing, decimation): no voxel staircase, and the volume stays within a few per cent of the mask's.
* :func:`repair_surface`: small holes filled, several components reduced to the largest, shells nested
  inside the largest one separated out (a lesion inside the gland, or a refusal by the caller).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["HOLE_FILL_MAX_MM", "Repaired", "mask_surface", "repair_surface", "smooth_staircase"]

#: Largest hole filled without asking: its boundary loop fits in a sphere of this diameter, mm. A facet or
#: two of a 60 ml gland (1-3 mm) is an export slip; a bigger opening is a different surface (a cut-open
#: organ) and is refused by the caller.
HOLE_FILL_MAX_MM = 6.0
#: A surface is a voxel staircase when more than this fraction of its faces look straight along an axis
#: (within 3°): raw marching cubes of a prostate mask gives about 0.3, a smooth surface 0.02-0.05.
STAIRCASE_FRACTION = 0.15
#: Smoothing of a mask before contouring, mm (about one voxel of a prostate MRI or planning CT).
MASK_SMOOTHING_MM = 0.8


@dataclass
class Repaired:
    """A repaired closed surface and what was done to it.

    Attributes
    ----------
    surface : pyvista.PolyData
        The largest closed component (mm).
    nested : list of pyvista.PolyData
        Closed shells lying inside ``surface`` (a lesion exported with the gland).
    notes : list of str
        One plain sentence per repair made.
    """

    surface: object
    nested: list = field(default_factory=list)
    notes: list = field(default_factory=list)


def mask_surface(mask: np.ndarray, affine_mm: np.ndarray, budget: int = 12000):
    """Closed triangle surface of a boolean mask, in the frame of ``affine_mm``.

    Parameters
    ----------
    mask : bool array (ni, nj, nk)
    affine_mm : (4, 4) array
        Voxel index (i, j, k, 1) to millimetres in the patient frame.
    budget : int
        Target number of triangles (decimation).

    Returns
    -------
    pyvista.PolyData
        Outward normals, float32 points. Empty when the mask is empty.
    """
    import pyvista as pv
    from scipy import ndimage

    m = np.asarray(mask, dtype=bool)
    if not m.any():
        return pv.PolyData()
    a = np.asarray(affine_mm, dtype=float)
    spacing = np.linalg.norm(a[:3, :3], axis=0)
    # crop to the mask (plus a border so the surface closes)
    idx = np.argwhere(m)
    pad = 3
    lo = idx.min(axis=0) - pad
    hi = idx.max(axis=0) + pad + 1
    crop = np.zeros(tuple(hi - lo), dtype=np.float32)
    src_lo = np.maximum(lo, 0)
    src_hi = np.minimum(hi, m.shape)
    crop[tuple(slice(s - o, e - o) for s, e, o in zip(src_lo, src_hi, lo, strict=True))] = \
        m[tuple(slice(s, e) for s, e in zip(src_lo, src_hi, strict=True))]
    sigma = MASK_SMOOTHING_MM / spacing
    smooth = ndimage.gaussian_filter(crop, sigma=np.minimum(sigma, 1.5), mode="constant")
    grid = pv.ImageData(dimensions=smooth.shape, spacing=(1.0, 1.0, 1.0), origin=tuple(float(v) for v in lo))
    grid.point_data["m"] = smooth.ravel(order="F")
    surf = grid.contour([0.5], scalars="m", method="flying_edges", compute_scalars=False)
    pts = np.c_[np.asarray(surf.points, dtype=float), np.ones(surf.n_points)] @ a.T
    surf.points = pts[:, :3]
    surf = surf.clean().triangulate()
    surf = surf.smooth_taubin(n_iter=20, pass_band=0.05)
    if surf.n_cells > budget:
        surf = surf.decimate(1.0 - budget / surf.n_cells, volume_preservation=True)
    return _finish(surf)


def _finish(surf):
    import pyvista as pv

    surf = surf.triangulate().clean()
    if surf.n_lines or surf.n_verts:
        surf = pv.PolyData(surf.points, faces=surf.faces).clean()
    surf.clear_data()
    if surf.n_cells:
        surf = surf.compute_normals(cell_normals=False, split_vertices=False, auto_orient_normals=True,
                                    consistent_normals=True)
    surf.points = np.asarray(surf.points, dtype=np.float32)
    return surf


def _hole_loops(surf) -> list[np.ndarray]:
    """Boundary loops of an open surface, as point arrays (one per hole)."""
    import pyvista as pv

    edges = surf.extract_feature_edges(boundary_edges=True, feature_edges=False, manifold_edges=False,
                                       non_manifold_edges=False)
    if edges.n_cells == 0:
        return []
    conn = edges.connectivity()
    ids = np.asarray(conn.point_data["RegionId"])
    return [np.asarray(conn.points)[ids == r] for r in np.unique(ids)] if isinstance(conn, pv.PolyData) \
        else []


def repair_surface(surf, what: str, keep_all: bool = False) -> Repaired:
    """Fill small holes, keep the largest closed component, separate nested shells.

    Parameters
    ----------
    surf : pyvista.PolyData
        Triangles in mm.
    what : str
        How the surface is named in the notes ("the prostate surface").
    keep_all : bool
        Keep every component (organs in two pieces: the seminal vesicles, the nerve bundles).

    Returns
    -------
    Repaired
        ``surface`` may still be open or non-manifold when a hole was too large to fill; the caller checks
        ``surface.n_open_edges`` and refuses with its own line.
    """
    import pyvista as pv

    notes: list[str] = []
    surf = surf.triangulate().clean()
    loops = _hole_loops(surf)
    if loops:
        sizes = [float(np.ptp(lp, axis=0).max()) if len(lp) > 1 else 0.0 for lp in loops]
        if max(sizes) <= HOLE_FILL_MAX_MM:
            filled = surf.fill_holes(HOLE_FILL_MAX_MM * 2.0).triangulate().clean()
            if filled.n_open_edges == 0:
                surf = filled
                notes.append(f"{what}: {len(loops)} small hole{'s' if len(loops) > 1 else ''} filled "
                             f"(largest {max(sizes):.1f} mm across)")
    if keep_all:
        return Repaired(_finish(surf), [], notes)
    parts = surf.connectivity("all")
    region = np.asarray(parts.cell_data["RegionId"])
    pieces = [surf.connectivity("specified", region_ids=[int(r)]).clean() for r in np.unique(region)]
    if len(pieces) == 1:
        return Repaired(_finish(surf), [], notes)
    vols = [abs(float(p.volume)) for p in pieces]
    order = np.argsort(vols)[::-1]
    main = pieces[order[0]]
    main_fn = _inside_fn(main)
    nested, dropped = [], []
    for k in order[1:]:
        p = pieces[k]
        inside = main_fn(np.asarray(p.points, dtype=float))
        if np.all(inside):
            nested.append(_finish(p))
        else:
            dropped.append(vols[k] / 1000.0)
    if dropped:
        notes.append(f"{what}: {len(dropped)} extra piece{'s' if len(dropped) > 1 else ''} dropped "
                     f"({sum(dropped):.2f} ml in all), the largest ({vols[order[0]] / 1000.0:.1f} ml) kept")
    return Repaired(_finish(pv.PolyData(main.points, faces=main.faces)), nested, notes)


def _inside_fn(closed):
    """Inside test (points (n, 3) -> bool) of a closed surface."""
    from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy
    from vtkmodules.vtkCommonCore import vtkDoubleArray
    from vtkmodules.vtkFiltersCore import vtkImplicitPolyDataDistance

    oriented = closed.compute_normals(cell_normals=True, point_normals=True, auto_orient_normals=True,
                                      consistent_normals=True, split_vertices=False)
    fn = vtkImplicitPolyDataDistance()
    fn.SetInput(oriented)

    def inside(p: np.ndarray) -> np.ndarray:
        out = vtkDoubleArray()
        fn.FunctionValue(numpy_to_vtk(np.ascontiguousarray(p, dtype=float), deep=True), out)
        return vtk_to_numpy(out) < 0.0

    return inside


def axis_facing_fraction(surf) -> float:
    """Fraction of faces whose normal lies within 3° of a coordinate axis (a voxel staircase has many)."""
    n = surf.compute_normals(cell_normals=True, point_normals=False, split_vertices=False)
    normals = np.abs(np.asarray(n.cell_data["Normals"], dtype=float))
    return float(np.mean(normals.max(axis=1) > np.cos(np.radians(3.0)))) if len(normals) else 0.0


def smooth_staircase(surf, what: str, budget: int) -> tuple[object, list[str]]:
    """A mesh exported from voxels (staircase) smoothed, and any mesh decimated to ``budget`` triangles.

    Taubin smoothing (low-pass, volume-keeping; Taubin, SIGGRAPH 1995) then volume-preserving decimation;
    each change is stated. A smooth mesh under budget is returned unchanged.
    """
    notes = []
    before_ml = abs(float(surf.volume)) / 1000.0
    stair = axis_facing_fraction(surf)
    if stair > STAIRCASE_FRACTION:
        surf = surf.smooth_taubin(n_iter=30, pass_band=0.05)
        notes.append(f"{what}: voxel staircase smoothed ({100 * stair:.0f} % of faces were axis-aligned, now "
                     f"{100 * axis_facing_fraction(surf):.0f} %)")
    if surf.n_cells > budget:
        n0 = surf.n_cells
        surf = surf.decimate(1.0 - budget / n0, volume_preservation=True)
        notes.append(f"{what}: {n0} triangles decimated to {surf.n_cells}")
    if notes:
        surf = _finish(surf)
        after_ml = abs(float(surf.volume)) / 1000.0
        notes[-1] += f" (volume {before_ml:.1f} -> {after_ml:.1f} ml)"
    return surf, notes
