"""A pelvis phantom written the way care teams' files are: label maps (RAS NIfTI, LPS NRRD), a DICOM RT
structure set (with fake patient identifiers), and surface files in m, cm and mm.

Scanner coordinates (LPS, mm): the gland is an ellipsoid centred at ``GLAND_CENTRE`` (far from the
origin, as in every real export); a lesion sits in its LEFT half (patient left = +x in LPS); the rectum is
a vertical cylinder behind it at ``GAP_MM``; the bladder an ellipsoid above it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

GLAND_CENTRE = np.array([12.0, -30.0, 45.0])
GLAND_AXES = np.array([25.0, 18.0, 22.0])  # 41.5 ml
LESION_OFFSET = np.array([11.0, 6.0, 2.0])  # patient left, posterior
LESION_RADIUS = 6.0
GAP_MM = 5.0
RECTUM_RADIUS = 13.0
FAKE_NAME = "Doe^Johnathan"
FAKE_ID = "PID-SECRET-4711"


def analytic_ml() -> dict[str, float]:
    return {"prostate": 4.0 / 3.0 * np.pi * float(np.prod(GLAND_AXES)) / 1000.0}


def masks(spacing=(0.8, 0.8, 1.5), shape=(120, 120, 90)):
    """Boolean masks on an LPS grid; returns (masks dict, affine index -> LPS mm)."""
    sp = np.asarray(spacing, dtype=float)
    origin = GLAND_CENTRE - sp * (np.asarray(shape) / 2.0) + np.array([0.0, 18.0, 12.0])
    idx = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    P = [origin[k] + sp[k] * idx[k] for k in range(3)]
    q = [(P[k] - GLAND_CENTRE[k]) / GLAND_AXES[k] for k in range(3)]
    gland = q[0] ** 2 + q[1] ** 2 + q[2] ** 2 <= 1.0
    lc = GLAND_CENTRE + LESION_OFFSET
    lesion = sum((P[k] - lc[k]) ** 2 for k in range(3)) <= LESION_RADIUS ** 2
    ry = GLAND_CENTRE[1] + GLAND_AXES[1] + GAP_MM + RECTUM_RADIUS
    z0, z1 = GLAND_CENTRE[2] - 35.0, GLAND_CENTRE[2] + 30.0
    rectum = ((P[0] - GLAND_CENTRE[0]) ** 2 + (P[1] - ry) ** 2 <= RECTUM_RADIUS ** 2)
    rectum &= (P[2] >= z0) & (P[2] <= z1)
    bc = GLAND_CENTRE + np.array([0.0, -8.0, GLAND_AXES[2] + 3.0 + 30.0])
    bladder = sum(((P[k] - bc[k]) / a) ** 2 for k, a in enumerate((40.0, 30.0, 30.0))) <= 1.0
    bladder &= ~rectum
    affine = np.diag([*sp, 1.0])
    affine[:3, 3] = origin
    return {"prostate": gland, "lesion": lesion & gland, "rectum": rectum, "bladder": bladder}, affine


def write_nifti_ras(folder: Path, multi: bool = False) -> list[Path]:
    """NIfTI in RAS world (its standard): one file per organ, or one file with labels 1-4."""
    import nibabel as nib

    m, lps = masks()
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    codes = {"prostate": 1, "rectum": 2, "bladder": 3, "lesion": 4}
    if multi:
        data = np.zeros(m["prostate"].shape, dtype=np.uint8)
        for organ, code in codes.items():
            data[m[organ]] = code
        path = folder / "labels.nii.gz"
        nib.save(nib.Nifti1Image(data, ras), str(path))
        return [path]
    out = []
    for organ in ("prostate", "rectum", "bladder"):
        path = folder / f"{organ}.nii.gz"
        nib.save(nib.Nifti1Image(m[organ].astype(np.uint8), ras), str(path))
        out.append(path)
    return out


def write_seg_nrrd_lps(folder: Path) -> Path:
    """A Slicer-style ``.seg.nrrd`` in LPS with segment names (Spanish ones, for the synonyms)."""
    import nrrd

    m, lps = masks()
    data = np.zeros(m["prostate"].shape, dtype=np.uint8)
    names = {1: "Prostata", 2: "Recto", 3: "Vejiga", 4: "Lesion indice"}  # NRRD headers are ASCII
    for code, organ in zip(names, ("prostate", "rectum", "bladder", "lesion"), strict=True):
        data[m[organ]] = code
    header = {"space": "left-posterior-superior", "space directions": lps[:3, :3].T.tolist(),
              "space origin": lps[:3, 3].tolist(), "kinds": ["domain"] * 3}
    for i, (code, name) in enumerate(names.items()):
        header[f"Segment{i}_Name"] = name
        header[f"Segment{i}_LabelValue"] = str(code)
        header[f"Segment{i}_Layer"] = "0"
    path = folder / "segmentation.seg.nrrd"
    nrrd.write(str(path), data, header)
    return path


def write_rtstruct(folder: Path, slice_mm: float = 2.5) -> Path:
    """An RT structure set of the phantom (contours of the analytic shapes), with fake identifiers."""
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.481.3"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    path = folder / f"RS.{FAKE_ID}.dcm"
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "RTSTRUCT"
    ds.PatientName = FAKE_NAME
    ds.PatientID = FAKE_ID
    ds.PatientBirthDate = "19510203"
    ds.StructureSetLabel = "Plan 1"
    ds.StructureSetDescription = f"plan for {FAKE_NAME} {FAKE_ID}"
    rois, contours = [], []

    def ellipse(c, a, b, n=96):
        t = np.linspace(0, 2 * np.pi, n, endpoint=False)
        return np.column_stack([c[0] + a * np.cos(t), c[1] + b * np.sin(t)])

    def add(number, name, polys_by_z):
        r = pydicom.Dataset()
        r.ROINumber, r.ROIName = number, name
        rois.append(r)
        rc = pydicom.Dataset()
        rc.ReferencedROINumber = number
        seq = []
        for z, poly in polys_by_z:
            c = pydicom.Dataset()
            c.ContourGeometricType = "CLOSED_PLANAR"
            c.NumberOfContourPoints = len(poly)
            c.ContourData = [f"{v:.3f}" for v in np.column_stack([poly, np.full(len(poly), z)]).ravel()]
            seq.append(c)
        rc.ContourSequence = Sequence(seq)
        contours.append(rc)

    g, a = GLAND_CENTRE, GLAND_AXES
    zs = np.arange(g[2] - a[2] + 0.5 * slice_mm, g[2] + a[2], slice_mm)
    gland = []
    for z in zs:
        f = 1.0 - ((z - g[2]) / a[2]) ** 2
        if f > 0.01:
            gland.append((z, ellipse(g, a[0] * np.sqrt(f), a[1] * np.sqrt(f))))
    add(1, "Prostate", gland)
    ry = g[1] + a[1] + GAP_MM + RECTUM_RADIUS
    add(2, "Rectum", [(z, ellipse((g[0], ry), RECTUM_RADIUS, RECTUM_RADIUS))
                      for z in np.arange(g[2] - 35.0, g[2] + 30.0, slice_mm)])
    add(3, "PTV_7800", gland)
    lc, r = g + LESION_OFFSET, LESION_RADIUS
    zs = np.arange(lc[2] - r + 0.5 * slice_mm, lc[2] + r, slice_mm)
    add(4, "GTV_p", [(z, ellipse(lc, *(2 * [np.sqrt(r * r - (z - lc[2]) ** 2)]), 48)) for z in zs])
    ds.StructureSetROISequence = Sequence(rois)
    ds.ROIContourSequence = Sequence(contours)
    ds.save_as(str(path), enforce_file_format=True)
    return path


def write_meshes(folder: Path, unit: str = "mm", suffix: str = ".stl", hole: bool = False,
                 nested: bool = False, extra: bool = False, frame: str = "LPS") -> Path:
    """A gland surface (ellipsoid) in scanner coordinates, in ``unit``; optionally damaged."""
    import pyvista as pv

    surf = pv.ParametricEllipsoid(*GLAND_AXES, u_res=80, v_res=80, w_res=80).triangulate().clean()
    surf.points = np.asarray(surf.points) + GLAND_CENTRE
    if hole:
        surf = surf.remove_cells([100]).clean()
    if nested:
        surf = surf.merge(pv.Sphere(radius=LESION_RADIUS, center=GLAND_CENTRE + LESION_OFFSET))
    if extra:
        surf = surf.merge(pv.Sphere(radius=2.0, center=GLAND_CENTRE + np.array([60.0, 0.0, 0.0])))
    pts = np.asarray(surf.points, dtype=float)
    if frame == "RAS":
        pts[:, :2] *= -1.0
    surf.points = pts / {"mm": 1.0, "cm": 10.0, "m": 1000.0}[unit]
    path = folder / f"gland_{unit}{suffix}"
    surf.save(str(path))
    return path
