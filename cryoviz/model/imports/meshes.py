"""Surface files (STL, VTP, OBJ, PLY, legacy VTK): their frame and their units.

3D Slicer (>= 4.8) writes the coordinate system into the file: ``SPACE=RAS`` or ``SPACE=LPS`` in an STL
header, an OBJ/PLY comment or a legacy VTK title line (Slicer pull request SlicerGitSVNArchive#1309).
That marker decides the frame; a file without one is in the frame given with ``--frame`` (default LPS,
DICOM's). RAS becomes LPS by changing the sign of x and y (a rotation by 180° about z: orientation kept).

Units are never guessed silently: a surface whose volume is implausible for its organ in millimetres is
refused, naming the ``--units`` that would make it plausible.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from cryoviz.core.errors import InputError

__all__ = ["MESH_SUFFIXES", "UNIT_MM", "declared_space", "read_surface", "to_lps", "units_hint"]

MESH_SUFFIXES = (".stl", ".vtp", ".obj", ".ply", ".vtk")
UNIT_MM = {"mm": 1.0, "cm": 10.0, "m": 1000.0}
_SPACE = re.compile(rb"SPACE\s*=\s*(RAS|LPS)", re.IGNORECASE)


def declared_space(path: Path) -> str | None:
    """``"RAS"`` or ``"LPS"`` when the file's header says so (Slicer's ``SPACE=`` marker), else None."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return None
    m = _SPACE.search(head)
    return m.group(1).decode("ascii").upper() if m else None


def to_lps(points: np.ndarray, frame: str) -> np.ndarray:
    """Points from ``frame`` (``LPS`` or ``RAS``) into LPS."""
    p = np.array(points, dtype=float, copy=True)
    if frame.upper() == "RAS":
        p[:, :2] *= -1.0
    return p


def read_surface(path: Path, shown: str):
    """The file's triangles as ``pyvista.PolyData`` (file coordinates; no checks beyond readability)."""
    import pyvista as pv
    from vtkmodules.vtkCommonCore import vtkObject

    suffix = path.suffix.lower()
    if suffix not in MESH_SUFFIXES:
        raise InputError.one(shown, "source", "unsupported file type",
                             "STL, VTP, OBJ, PLY, VTK, NIfTI, NRRD or a DICOM RT structure set",
                             suffix or "no extension")
    before = vtkObject.GetGlobalWarningDisplay()
    vtkObject.GlobalWarningDisplayOff()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            data = pv.read(path)
    except Exception:  # any reader failure is the file's fault, reported as such
        raise InputError.one(shown, "source", "mesh file cannot be read",
                             f"a valid {suffix[1:].upper()} surface", "unreadable") from None
    finally:
        vtkObject.SetGlobalWarningDisplay(before)
    if data is None or data.n_points == 0 or data.n_cells == 0:
        raise InputError.one(shown, "source", "mesh file holds no surface", "triangles", "none")
    surf = data if isinstance(data, pv.PolyData) else data.extract_surface(algorithm="dataset_surface")
    surf = surf.triangulate().clean()
    if surf.n_cells == 0:
        raise InputError.one(shown, "source", "mesh file holds no surface", "triangles", "0 triangles")
    return surf


def units_hint(volume_ml_as_mm: float, lo_ml: float, hi_ml: float) -> str | None:
    """The ``--units`` value that would bring a volume read as mm into ``[lo_ml, hi_ml]``, if one does."""
    for unit, factor in UNIT_MM.items():
        if lo_ml <= volume_ml_as_mm * factor ** 3 <= hi_ml:
            return unit
    return None
