"""DICOM RT structure sets (pydicom): planar contours rasterised to masks on a grid chosen here.

DICOM patient coordinates are LPS millimetres (DICOM PS3.3 C.7.6.2.1.1), the cryoviz frame up to a shift.
Each ROI's ``CLOSED_PLANAR`` contours lie in axial planes; a plane's contours are combined even-odd (a
contour inside another is a hole), and each plane stands for a slab one contour spacing thick, which is how
a planning system counts an ROI's volume. The in-plane grid is :data:`RT_PIXEL_MM`.

Only the structure set module is read: nothing of the patient module (name, ID, birth date, ...) is
touched, kept or printed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cryoviz.core.errors import InputError
from cryoviz.model.imports.labelmap import Structure

__all__ = ["RT_PIXEL_MM", "is_rtstruct", "read_rtstruct"]

#: In-plane voxel size of the rasterised contours, mm (a fifth of a typical 2-3 mm planning CT slice).
RT_PIXEL_MM = 0.5
RTSTRUCT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"


def is_rtstruct(path: Path) -> bool:
    """True when the file is DICOM (preamble ``DICM``) and an RT structure set."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
        if head[128:132] != b"DICM":
            return False
        import pydicom

        ds = pydicom.dcmread(str(path), stop_before_pixels=True, specific_tags=["SOPClassUID", "Modality"])
        return str(ds.get("SOPClassUID", "")) == RTSTRUCT_SOP_CLASS or ds.get("Modality", "") == "RTSTRUCT"
    except Exception:  # not DICOM, or not readable as such
        return False


def _fill_polygon(mask: np.ndarray, poly_ij: np.ndarray) -> None:
    """Toggle (even-odd) the pixels whose centres lie inside a polygon given in pixel coordinates."""
    ni, nj = mask.shape
    x, y = poly_ij[:, 0], poly_ij[:, 1]
    x1, y1 = np.roll(x, -1), np.roll(y, -1)
    j0, j1 = max(int(np.floor(y.min())), 0), min(int(np.ceil(y.max())) + 1, nj)
    rows = np.arange(j0, j1, dtype=float)
    if len(rows) == 0:
        return
    lo, hi = np.minimum(y, y1), np.maximum(y, y1)
    crosses = (rows[:, None] >= lo[None, :]) & (rows[:, None] < hi[None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (rows[:, None] - y[None, :]) / (y1 - y)[None, :]
        xc = x[None, :] + t * (x1 - x)[None, :]
    cols = np.arange(ni, dtype=float)
    for r, j in enumerate(range(j0, j1)):
        xs = np.sort(xc[r, crosses[r]])
        inside = np.zeros(ni, dtype=bool)
        for a, b in zip(xs[0::2], xs[1::2], strict=False):
            inside ^= (cols >= a) & (cols < b)
        mask[:, j] ^= inside


def read_rtstruct(path: Path, shown: str) -> list[Structure]:
    """Every ROI with closed planar contours, as a mask on its own grid (LPS mm).

    Raises
    ------
    InputError
        Not readable, no contours, or contours that are not axial.
    """
    import pydicom

    try:
        ds = pydicom.dcmread(str(path))
        rois = {int(r.ROINumber): str(r.ROIName) for r in ds.StructureSetROISequence}
        sequences = list(ds.ROIContourSequence)
    except Exception as exc:
        raise InputError.one(shown, "source", "RT structure set cannot be read",
                             "a DICOM RT structure set", type(exc).__name__) from None
    out = []
    for rc in sequences:
        number = int(rc.ReferencedROINumber)
        name = rois.get(number, f"ROI {number}")
        planes: dict[float, list[np.ndarray]] = {}
        for c in getattr(rc, "ContourSequence", []):
            if str(getattr(c, "ContourGeometricType", "CLOSED_PLANAR")) != "CLOSED_PLANAR":
                continue
            pts = np.asarray(c.ContourData, dtype=float).reshape(-1, 3)
            if len(pts) < 3:
                continue
            if np.ptp(pts[:, 2]) > 0.01:
                raise InputError.one(shown, f"ROI {number}", "contours are not axial",
                                     "closed planar contours in axial planes", "tilted contours")
            planes.setdefault(round(float(pts[0, 2]), 3), []).append(pts[:, :2])
        if not planes:
            continue
        out.append(_rasterise(name, number, planes))
    if not out:
        raise InputError.one(shown, "source", "RT structure set holds no contours",
                             "ROIs with CLOSED_PLANAR contours", "none")
    return out


def _rasterise(name: str, number: int, planes: dict[float, list[np.ndarray]]) -> Structure:
    zs = np.array(sorted(planes))
    dz = float(np.median(np.diff(zs))) if len(zs) > 1 else 2.0
    allpts = np.concatenate([p for ps in planes.values() for p in ps])
    lo = np.floor(allpts.min(axis=0) / RT_PIXEL_MM) * RT_PIXEL_MM - 2.0
    hi = allpts.max(axis=0) + 2.0
    ni, nj = (np.ceil((hi - lo) / RT_PIXEL_MM).astype(int) + 1).tolist()
    nk = round(float(zs[-1] - zs[0]) / dz) + 1
    mask = np.zeros((ni, nj, nk), dtype=bool)
    for z, polys in planes.items():
        k = round(float(z - zs[0]) / dz)
        plane = np.zeros((ni, nj), dtype=bool)
        for poly in polys:
            _fill_polygon(plane, (poly - lo) / RT_PIXEL_MM)
        mask[:, :, k] |= plane
    affine = np.diag([RT_PIXEL_MM, RT_PIXEL_MM, dz, 1.0])
    affine[:3, 3] = [lo[0], lo[1], zs[0]]
    return Structure(name, f"ROI {number}", mask, affine, "LPS")
