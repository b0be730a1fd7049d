"""Label maps: NIfTI (nibabel) and NRRD / Slicer ``.seg.nrrd`` (pynrrd), to masks in LPS millimetres.

Frames come from the files: a NIfTI affine maps voxels to RAS world millimetres (NIfTI-1 standard,
``qform``/``sform``); an NRRD header says its ``space`` (``left-posterior-superior``,
``right-anterior-superior``, ...) with ``space directions`` and ``space origin``. Both are turned into
LPS, which is cryoviz's patient frame up to a shift (x = patient left, y = posterior, z = superior).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cryoviz.core.errors import InputError

__all__ = ["LABELMAP_SUFFIXES", "Structure", "read_labelmap"]

LABELMAP_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".seg.nrrd", ".nhdr")
#: RAS -> LPS (and back): x and y change sign.
RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
#: NRRD ``space`` values -> sign of (x, y, z) that turns them into LPS.
_NRRD_SPACES = {
    "left-posterior-superior": (1, 1, 1), "lps": (1, 1, 1),
    "right-anterior-superior": (-1, -1, 1), "ras": (-1, -1, 1),
    "left-anterior-superior": (1, -1, 1), "las": (1, -1, 1),
}
_UNIT_MM = {"mm": 1.0, "millimeter": 1.0, "millimeters": 1.0, "cm": 10.0, "m": 1000.0, "meter": 1000.0,
            "meters": 1000.0, "micron": 0.001, "um": 0.001}


@dataclass
class Structure:
    """One structure of a source file, as a mask.

    Attributes
    ----------
    name : str
        Segment/ROI/label name (or the file's name for a single-label file).
    where : str
        Where it came from, without the file name (``label 2``, ``segment "Prostate"``).
    mask : bool array
    affine_lps : (4, 4) array
        Voxel index to LPS millimetres (units already applied).
    frame : str
        The frame the file declared (``RAS``, ``LPS``, ``LAS``).
    """

    name: str
    where: str
    mask: np.ndarray
    affine_lps: np.ndarray
    frame: str


def _stem(path: Path) -> str:
    name = path.name
    for suf in (".seg.nrrd", ".nii.gz", ".nii", ".nrrd", ".nhdr"):
        if name.lower().endswith(suf):
            return name[: -len(suf)]
    return path.stem


def _split_labels(data: np.ndarray, stem: str, names: dict[int, str], affine, frame) -> list[Structure]:
    data = np.asarray(data)
    if data.dtype.kind == "f":
        if np.nanmax(data) <= 1.0 and np.nanmin(data) >= 0.0 and not np.all(np.isin(data, (0.0, 1.0))):
            data = (data >= 0.5).astype(np.uint8)  # a probability map
        data = np.rint(np.nan_to_num(data)).astype(np.int64)
    values = [int(v) for v in np.unique(data) if v != 0]
    out = []
    for v in values:
        if len(values) == 1 and v not in names:
            name, where = stem, "the file's mask"
        else:
            name, where = names.get(v, f"label {v}"), f"label {v}"
        out.append(Structure(name, where, data == v, affine, frame))
    return out


def read_labelmap(path: Path, shown: str) -> list[Structure]:
    """Every labelled structure of a NIfTI or NRRD file.

    Raises
    ------
    InputError
        The file cannot be read, is not 3-D, or declares a frame or units cryoviz does not know.
    """
    low = path.name.lower()
    if low.endswith((".nii", ".nii.gz")):
        return _read_nifti(path, shown)
    return _read_nrrd(path, shown)


def _read_nifti(path: Path, shown: str) -> list[Structure]:
    import nibabel as nib

    try:
        img = nib.load(str(path))
        data = np.asanyarray(img.dataobj)
    except Exception as exc:  # any reader failure is the file's fault
        raise InputError.one(shown, "source", "NIfTI file cannot be read", "a NIfTI-1/2 label map",
                             type(exc).__name__) from None
    data = np.squeeze(data)
    if data.ndim != 3:
        raise InputError.one(shown, "source", "label map is not 3-D", "a 3-D label map", f"{data.ndim}-D")
    unit = img.header.get_xyzt_units()[0] or "mm"
    factor = _UNIT_MM.get(str(unit).lower(), 1.0)
    affine = RAS_TO_LPS @ np.asarray(img.affine, dtype=float)
    affine[:3, :] *= factor
    return _split_labels(data, _stem(path), {}, affine, "RAS")


def _read_nrrd(path: Path, shown: str) -> list[Structure]:
    import nrrd

    try:
        data, header = nrrd.read(str(path))
    except Exception as exc:
        raise InputError.one(shown, "source", "NRRD file cannot be read", "an NRRD label map",
                             type(exc).__name__) from None
    space = str(header.get("space", "left-posterior-superior")).lower()
    if space not in _NRRD_SPACES:
        raise InputError.one(shown, "source.space", "NRRD space not supported",
                             ", ".join(k for k in _NRRD_SPACES if "-" in k), space)
    dirs = header.get("space directions")
    origin = np.asarray(header.get("space origin", np.zeros(3)), dtype=float)
    dirs = [d for d in (dirs if dirs is not None else np.eye(3))
            if d is not None and np.all(np.isfinite(np.asarray(d, dtype=float)))]
    if len(dirs) != 3:
        raise InputError.one(shown, "source.space directions", "NRRD file has no 3-D voxel axes",
                             "three space directions", str(len(dirs)))
    units = header.get("space units") or ["mm"]
    factor = _UNIT_MM.get(str(units[0]).lower())
    if factor is None:
        raise InputError.one(shown, "source.space units", "unknown unit", "mm, cm, m", str(units[0]))
    a = np.eye(4)
    a[:3, :3] = np.asarray(dirs, dtype=float).T
    a[:3, 3] = origin
    a = np.diag([*_NRRD_SPACES[space], 1.0]) @ a
    a[:3, :] *= factor
    frame = space.upper() if len(space) == 3 else "".join(w[0] for w in space.split("-")).upper()
    data = np.asarray(data)
    segments = _slicer_segments(header)
    if data.ndim == 4:  # Slicer layers: (layer, i, j, k)
        out = []
        for layer in range(data.shape[0]):
            names = {v: n for (lay, v), n in segments.items() if lay == layer}
            out.extend(_split_labels(data[layer], _stem(path), names, a, frame))
        return out
    if data.ndim != 3:
        raise InputError.one(shown, "source", "label map is not 3-D", "a 3-D label map", f"{data.ndim}-D")
    names = {v: n for (_lay, v), n in segments.items()}
    return _split_labels(data, _stem(path), names, a, frame)


def _slicer_segments(header: dict) -> dict[tuple[int, int], str]:
    """Slicer ``SegmentN_Name`` / ``_LabelValue`` / ``_Layer`` -> {(layer, value): name}."""
    out = {}
    for key, value in header.items():
        m = re.fullmatch(r"Segment(\d+)_Name", str(key))
        if not m:
            continue
        n = m.group(1)
        try:
            label = int(header.get(f"Segment{n}_LabelValue", int(n) + 1))
            layer = int(header.get(f"Segment{n}_Layer", 0))
        except (TypeError, ValueError):
            continue
        out[(layer, label)] = str(value)
    return out
