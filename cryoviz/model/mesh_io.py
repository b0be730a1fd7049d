"""A patient's own organ surfaces: reading, checking and distances.

Files are STL, VTP, OBJ or PLY, in millimetres and in the patient frame of :mod:`cryoviz.model.anatomy`
(x = patient left, y = posterior, z = superior, origin at the prostate centre). Each one must be a closed
triangle surface of a plausible size lying roughly where that organ belongs; otherwise the problem is
reported as one contract line with the key ``anatomy.meshes.<organ>``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from cryoviz.core.errors import InputError

__all__ = [
    "MAX_CENTROID_OFFSET_MM",
    "SUPPORTED_SUFFIXES",
    "VOLUME_RANGE_ML",
    "box_mesh",
    "check_mesh",
    "load_patient_meshes",
    "mesh_from_implicit",
    "mesh_signed_distance",
]

SUPPORTED_SUFFIXES = (".stl", ".vtp", ".obj", ".ply", ".vtk")
#: Plausible volume of each organ's closed surface, ml (generous: anything outside is likely a unit or
#: export mistake).
VOLUME_RANGE_ML: dict[str, tuple[float, float]] = {
    "prostate": (5.0, 250.0), "urethra": (0.1, 30.0), "sphincter": (0.1, 40.0), "bladder": (20.0, 1200.0),
    "rectum": (5.0, 800.0), "seminal_vesicles": (0.3, 60.0), "neurovascular_bundles": (0.02, 15.0),
    "perineum": (0.5, 200.0), "pubic_bone": (1.0, 500.0),
    "lesion": (0.01, 40.0),  # a [[lesions]] mesh: a 40 mm ball is 33.5 ml
}
#: How far a patient's organ centroid may lie from the generated organ's centroid, mm.
MAX_CENTROID_OFFSET_MM = 25.0


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"


def check_mesh(organ: str, path: Path, shown: str, expected_centroid_mm=None, notes: list | None = None):
    """Read and check one organ surface; return it as a closed triangle ``pyvista.PolyData``.

    Parameters
    ----------
    organ : str
        Organ name (key of :data:`VOLUME_RANGE_ML`).
    path : Path
        File to read.
    shown : str
        How the file is named in messages (as the user wrote it).
    expected_centroid_mm : (3,) array, optional
        Centroid of the generated organ; the patient's must lie within :data:`MAX_CENTROID_OFFSET_MM`.
    notes : list, optional
        Receives one sentence per repair made: a frame change from Slicer's ``SPACE=RAS`` header (x and y
        change sign), small holes filled (:func:`cryoviz.model.imports.surface.repair_surface`).

    Raises
    ------
    InputError
        ``PATH: anatomy.meshes.<organ>: what is wrong (allowed: ..., got: ...)``.
    """
    import pyvista as pv

    key = f"anatomy.meshes.{organ}"

    def bad(what: str, allowed: str, got: str) -> InputError:
        return InputError.one(shown, key, what, allowed, got)

    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise bad("unsupported mesh file type", "STL, VTP, OBJ, PLY or VTK", suffix or "no extension")
    from cryoviz.model.mesh_guard import check_mesh_file

    check_mesh_file(path, shown, key)   # regular file, size cap, declared counts: before VTK reads it
    from vtkmodules.vtkCommonCore import vtkObject

    shown_before = vtkObject.GetGlobalWarningDisplay()
    vtkObject.GlobalWarningDisplayOff()  # a broken file is reported once, as a contract line
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            data = pv.read(path)
    except Exception:  # any reader failure is the file's fault, reported as such
        raise bad("mesh file cannot be read", f"a valid {suffix[1:].upper()} surface", str(path)) from None
    finally:
        vtkObject.SetGlobalWarningDisplay(shown_before)
    if data is None or data.n_points == 0 or data.n_cells == 0:
        raise bad("mesh file is empty or unreadable", f"a closed triangle surface in {suffix[1:].upper()}",
                  "no triangles")
    surf = data if isinstance(data, pv.PolyData) else data.extract_surface()
    surf = surf.triangulate().clean()
    if surf.n_cells == 0:
        raise bad("mesh file holds no surface", "a closed triangle surface", "0 triangles")
    from cryoviz.model.imports.meshes import declared_space
    from cryoviz.model.imports.surface import repair_surface

    said = []
    if declared_space(path) == "RAS":  # Slicer's marker: x = patient right, y = anterior
        surf.points = np.asarray(surf.points, dtype=float) * np.array([-1.0, -1.0, 1.0])
        said.append("the file says SPACE=RAS: turned into the patient frame (x and y change sign)")
    if surf.n_open_edges:
        fixed = repair_surface(surf, "surface", keep_all=True)
        if fixed.surface.n_open_edges == 0 and fixed.notes:
            surf = fixed.surface
            said.extend(n.removeprefix("surface: ") for n in fixed.notes)
    if notes is not None:
        notes.extend(f"{shown}: {key}: {s}" for s in said)
    open_edges = int(surf.n_open_edges)
    if open_edges or not surf.is_manifold:
        raise bad("surface is not closed", "a closed (watertight) triangle surface",
                  f"{open_edges} open edges" if open_edges else "edges shared by more than two triangles")
    surf = surf.compute_normals(cell_normals=False, split_vertices=False, auto_orient_normals=True,
                                consistent_normals=True)
    vol_ml = abs(float(surf.volume)) / 1000.0
    lo, hi = VOLUME_RANGE_ML[organ]
    if not lo <= vol_ml <= hi:
        raise bad(f"implausible size for the {organ.replace('_', ' ')} (are the units mm?)",
                  f"{_fmt(lo)} to {_fmt(hi)} ml", f"{_fmt(vol_ml)} ml")
    if expected_centroid_mm is not None:
        centre = np.asarray(surf.center_of_mass(), dtype=float)
        off = float(np.linalg.norm(centre - np.asarray(expected_centroid_mm, dtype=float)))
        if off > MAX_CENTROID_OFFSET_MM:
            exp = ", ".join(_fmt(v) for v in expected_centroid_mm)
            got = ", ".join(_fmt(v) for v in centre)
            raise bad(f"the {organ.replace('_', ' ')} lies far from where it belongs (patient frame, mm)",
                      f"centroid within {_fmt(MAX_CENTROID_OFFSET_MM)} mm of ({exp})",
                      f"({got}), {_fmt(off)} mm away")
    surf.points = surf.points.astype(np.float32)
    return surf


def _generated_centroid_mm(geo, organ: str, spacing_mm: float = 1.0) -> np.ndarray:
    """Centroid of a generated organ from its implicit shape (voxel average)."""
    b = geo.bounds(organ)
    axes = [np.arange(b[2 * k], b[2 * k + 1] + spacing_mm, spacing_mm) for k in range(3)]
    X, Y, Z = np.meshgrid(*axes, indexing="ij")
    pts = np.stack([X.ravel(), Y.ravel(), Z.ravel()], axis=1)
    inside = geo.inside_fn(organ)(pts)
    return pts[inside].mean(axis=0) if inside.any() else pts.mean(axis=0)


def load_patient_meshes(meshes: dict, geo, base_dir=None, notes: list | None = None) -> dict:
    """Read and check every ``organ -> path`` of ``AnatomyParams.meshes``; return ``organ -> PolyData``.

    Relative paths are taken from ``base_dir`` (the scene file's folder), else the working folder.
    """
    from cryoviz.model.scene import ORGAN_NAMES

    out = {}
    problems = []
    for organ, given in dict(meshes).items():
        shown = str(given)
        if organ not in ORGAN_NAMES:
            problems.append(InputError.one(shown, f"anatomy.meshes.{organ}", "unknown organ",
                                           ", ".join(ORGAN_NAMES), organ).problems[0])
            continue
        path = Path(given)
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        try:
            out[organ] = check_mesh(organ, path, shown, _generated_centroid_mm(geo, organ), notes)
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    return out


_DISTANCE_CACHE: dict[int, tuple[object, object]] = {}


def mesh_signed_distance(mesh, points_mm) -> np.ndarray:
    """Signed distance (mm, negative inside) from points ``(n, 3)`` to a closed, outward-facing surface."""
    from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy
    from vtkmodules.vtkCommonCore import vtkDoubleArray
    from vtkmodules.vtkFiltersCore import vtkImplicitPolyDataDistance

    hit = _DISTANCE_CACHE.get(id(mesh))
    if hit is None or hit[0] is not mesh:
        fn = vtkImplicitPolyDataDistance()
        fn.SetInput(mesh)
        hit = (mesh, fn)
        _DISTANCE_CACHE[id(mesh)] = hit
    fn = hit[1]
    p = np.ascontiguousarray(np.asarray(points_mm, dtype=float).reshape(-1, 3))
    out = vtkDoubleArray()
    fn.FunctionValue(numpy_to_vtk(p, deep=True), out)
    return vtk_to_numpy(out).astype(float).copy()


# ---- building surfaces from implicit shapes ----------------------------------------------------------
def mesh_from_implicit(fn, bounds_mm: np.ndarray, spacing_mm: float, budget: int):
    """Closed, manifold triangle surface of ``fn < 0`` (marching cubes, Taubin smoothing, decimation)."""
    import pyvista as pv

    b = np.asarray(bounds_mm, dtype=float)
    lo = b[0::2] - 2.0 * spacing_mm
    hi = b[1::2] + 2.0 * spacing_mm
    dims = (np.ceil((hi - lo) / spacing_mm).astype(int) + 1).tolist()
    grid = pv.ImageData(dimensions=dims, spacing=(spacing_mm,) * 3, origin=lo.tolist())
    values = _narrow_band_values(fn, lo, spacing_mm, dims)
    # nothing may touch the grid border, so the surface is closed
    values[[0, -1], :, :] = values[:, [0, -1], :] = np.inf  # type: ignore[index]
    values[:, :, [0, -1]] = np.inf
    values[np.isinf(values)] = 1.0e3
    grid.point_data["sd"] = values.ravel()
    surf = grid.contour([0.0], scalars="sd", method="flying_edges", compute_scalars=False)
    surf = _polys_only(surf.clean())
    surf = surf.smooth_taubin(n_iter=20, pass_band=0.05)
    if surf.n_cells > budget:
        surf = surf.decimate(1.0 - budget / surf.n_cells, volume_preservation=True)
    surf = _polys_only(surf.clean())
    surf.clear_data()
    surf = surf.compute_normals(cell_normals=False, split_vertices=False, auto_orient_normals=True,
                                consistent_normals=True)
    surf.points = surf.points.astype(np.float32)
    return surf


def _narrow_band_values(fn, lo_mm: np.ndarray, spacing_mm: float, dims: list[int],
                        step: int = 4) -> np.ndarray:
    """``fn`` on a grid, (nz, ny, nx) array, evaluated finely only near its zero level.

    ``fn`` is first sampled every ``step`` voxels; a fine voxel is evaluated only if its nearest coarse
    sample lies within a band around zero (``fn`` is about a distance in mm, at most a little steeper);
    elsewhere the coarse value is kept (its sign, all marching cubes needs there, is right).
    """
    axes = [lo_mm[k] + spacing_mm * np.arange(dims[k]) for k in range(3)]
    idx = [np.arange(0, dims[k] + step - 1, step).clip(max=dims[k] - 1) for k in range(3)]
    idx = [np.unique(i) for i in idx]
    cz, cy, cx = np.meshgrid(axes[2][idx[2]], axes[1][idx[1]], axes[0][idx[0]], indexing="ij")
    coarse = np.asarray(fn(np.stack([cx.ravel(), cy.ravel(), cz.ravel()], axis=1)), dtype=float)
    coarse = coarse.reshape(len(idx[2]), len(idx[1]), len(idx[0]))
    near = [np.searchsorted(idx[k], np.arange(dims[k]) - step / 2.0) for k in range(3)]
    near = [np.clip(n, 0, len(idx[k]) - 1) for k, n in enumerate(near)]
    values = coarse[np.ix_(near[2], near[1], near[0])]
    band = 2.0 * step * spacing_mm
    fz, fy, fx = np.nonzero(np.abs(values) < band)
    if len(fz):
        pts = np.stack([axes[0][fx], axes[1][fy], axes[2][fz]], axis=1)
        values[fz, fy, fx] = fn(pts)
    return values


def box_mesh(bounds_mm: np.ndarray):
    """A closed triangulated box."""
    import pyvista as pv

    surf = pv.Box(bounds=tuple(float(v) for v in bounds_mm), level=4, quads=False).clean()
    surf.clear_data()
    surf = surf.compute_normals(cell_normals=False, split_vertices=False, auto_orient_normals=True,
                                consistent_normals=True)
    surf.points = surf.points.astype(np.float32)
    return surf


def _polys_only(surf):
    """Keep only the triangles (cleaning may turn degenerate ones into lines or vertices)."""
    import pyvista as pv

    surf = surf.triangulate()
    if surf.n_lines or surf.n_verts:
        surf = pv.PolyData(surf.points, faces=surf.faces).clean()
    return surf
