"""Read every source, recognise each structure's organ, make closed surfaces in the patient frame.

Sources are named in messages and summaries as ``source N`` (their place on the command line), never by
file name: file names of clinical exports often carry patient identifiers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cryoviz.core.errors import InputError
from cryoviz.model.imports import names as N
from cryoviz.model.imports.labelmap import LABELMAP_SUFFIXES, Structure, read_labelmap
from cryoviz.model.imports.meshes import (
    MESH_SUFFIXES,
    UNIT_MM,
    declared_space,
    read_surface,
    to_lps,
    units_hint,
)
from cryoviz.model.imports.rtstruct import is_rtstruct, read_rtstruct
from cryoviz.model.imports.surface import mask_surface, repair_surface, smooth_staircase

__all__ = ["ORGAN_CHOICES", "Gathered", "Part", "gather"]

#: What ``--organ NAME=ORGAN`` accepts: an organ, a lesion, a gland file holding its lesion, or ``ignore``.
ORGAN_CHOICES = (*N.IMPORTABLE, N.LESION, "prostate+lesion", "ignore")
#: Organs that are naturally two pieces (left and right): their components are all kept.
PAIRED = ("seminal_vesicles", "neurovascular_bundles", "pubic_bone")
#: Triangles per imported surface (what the renderer and the thermal labels need; see anatomy budgets).
SURFACE_BUDGET = 12000


@dataclass
class Part:
    """One recognised structure, as a closed surface in LPS mm (file position, not yet centred)."""

    organ: str
    surface: object
    where: str
    frame_note: str
    mask_ml: float | None = None


@dataclass
class Gathered:
    """Everything read from the sources."""

    parts: list[Part] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _kind(path: Path) -> str:
    low = path.name.lower()
    if low.endswith(LABELMAP_SUFFIXES):
        return "label map"
    if path.suffix.lower() in MESH_SUFFIXES:
        return "mesh"
    if is_rtstruct(path):
        return "RT structure set"
    return "unknown"


def _organ(name: str, overrides: dict[str, str], extra_keys: tuple[str, ...] = ()) -> str | None:
    for key in (name, *extra_keys):
        hit = overrides.get(str(key).strip().lower())
        if hit is not None:
            return hit
    return N.organ_for_name(name)


def gather(sources: list[Path], overrides: dict[str, str] | None = None, units: str | None = None,
           frame: str | None = None) -> Gathered:
    """Read the sources into recognised, repaired surfaces (LPS mm).

    Parameters
    ----------
    sources : list of Path
    overrides : dict
        Lower-case structure or file name -> organ of :data:`ORGAN_CHOICES` (``--organ``).
    units : {"mm", "cm", "m"}, optional
        Units of mesh files (label maps and DICOM carry their own); default mm.
    frame : {"LPS", "RAS"}, optional
        Frame of mesh files that do not declare one; default LPS.

    Raises
    ------
    InputError
        Unreadable or unknown sources, implausible sizes (naming the ``--units`` that fits), open surfaces
        with large holes, a shell nested in the gland that is not named as a lesion.
    """
    overrides = {k.lower(): v for k, v in (overrides or {}).items()}
    out = Gathered()
    problems = []
    for n, path in enumerate(sources, start=1):
        shown = f"source {n}"
        try:
            _gather_one(Path(path), shown, overrides, units, frame, out)
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    return out


def _gather_one(path: Path, shown: str, overrides, units, frame, out: Gathered) -> None:
    if not path.is_file():
        raise InputError.one(shown, "source", "file not found", "an existing file", "missing")
    kind = _kind(path)
    if kind == "unknown":
        raise InputError.one(shown, "source", "unknown file type",
                             "NIfTI, NRRD, DICOM RT structure set, STL, VTP, OBJ, PLY or VTK",
                             path.suffix or "no extension")
    if kind == "mesh":
        stem = path.name[: -len(path.suffix)]
        organ = _organ(stem, overrides, (path.name,))
        if organ is None or organ == "ignore":
            out.skipped.append(f"{shown} ({kind}): not recognised as an organ, skipped")
            return
        space = declared_space(path)
        used = space or (frame or "LPS").upper()
        note = f"frame {used} " + ("(from the file's SPACE= header)" if space else
                                   "(given with --frame)" if frame else "(no marker in the file; default)")
        surf = read_surface(path, shown)
        factor = UNIT_MM[units or "mm"]
        surf.points = to_lps(np.asarray(surf.points, dtype=float) * factor, used)
        what = f"the {organ.replace('+lesion', '').replace('_', ' ')} surface"
        surf, said = smooth_staircase(surf, what, SURFACE_BUDGET)
        out.notes.extend(said)
        _add(out, organ, surf, f"{shown} ({kind})", note, shown, stem, units, None)
        return
    structures: list[Structure] = (read_labelmap(path, shown) if kind == "label map"
                                   else read_rtstruct(path, shown))
    _lesions_into_gland(structures, overrides)
    for s in structures:
        organ = _organ(s.name, overrides, (s.where, s.where.removeprefix("label ")))
        label = f'{s.where} "{N.safe_label(s.name)}"' if kind != "label map" or s.where != "the file's mask" \
            else s.where
        if organ is None or organ == "ignore":
            out.skipped.append(f"{shown} ({kind}), {label}: not recognised as an organ, skipped")
            continue
        voxel_ml = abs(float(np.linalg.det(s.affine_lps[:3, :3]))) / 1000.0
        mask_ml = float(np.count_nonzero(s.mask)) * voxel_ml
        surf = mask_surface(s.mask, s.affine_lps, SURFACE_BUDGET)
        note = f"frame {s.frame} (from the file)"
        _add(out, organ, surf, f"{shown} ({kind}), {label}", note, shown, s.name, None, mask_ml)


def _add(out: Gathered, organ: str, surf, where: str, frame_note: str, shown: str, name: str,
         units: str | None, mask_ml: float | None) -> None:
    from cryoviz.model.mesh_io import VOLUME_RANGE_ML

    if organ in N.NOT_SHOWN:
        out.skipped.append(f"{where}: {organ.replace('_', ' ')} recognised; cryoviz does not show it")
        return
    gland_with_lesion = organ == "prostate+lesion" or (organ == "prostate" and N.names_lesion(name))
    base = "prostate" if organ == "prostate+lesion" else organ
    what = f"the {base.replace('_', ' ')} surface"
    rep = repair_surface(surf, what, keep_all=base in PAIRED)
    if rep.surface.n_open_edges:
        raise InputError.one(shown, "source", f"{what} is open and the holes are too large to fill",
                             "a closed surface (holes up to 6 mm across are filled)",
                             f"{int(rep.surface.n_open_edges)} open edges")
    out.notes.extend(rep.notes)
    if rep.nested:
        ml = ", ".join(f"{abs(float(s.volume)) / 1000.0:.2f} ml" for s in rep.nested)
        if base == "prostate" and gland_with_lesion:
            for s in rep.nested:
                out.parts.append(Part(N.LESION, s, where + ", shell inside the gland", frame_note))
            out.notes.append(f"{what}: {len(rep.nested)} shell(s) inside the gland ({ml}) taken as the "
                             "lesion")
        elif base == "prostate":
            raise InputError.one(shown, "source", "a second surface lies inside the prostate",
                                 "one closed gland surface; a lesion exported with it is used when named "
                                 "(--organ NAME=prostate+lesion)", f"{len(rep.nested)} nested shell(s), {ml}")
        else:
            out.notes.append(f"{what}: inner shell(s) ({ml}) dropped: the organ is taken as solid")
    vol_ml = abs(float(rep.surface.volume)) / 1000.0
    if base in VOLUME_RANGE_ML:
        lo, hi = VOLUME_RANGE_ML[base]
        if not lo <= vol_ml <= hi:
            hint = units_hint(vol_ml / UNIT_MM[units or "mm"] ** 3, lo, hi)
            factor = UNIT_MM[hint] / UNIT_MM[units or "mm"] if hint else 1.0
            fix = f"; the file looks like {hint} (x{factor:g}): use --units {hint}" \
                if hint and hint != (units or "mm") else ""
            raise InputError.one(shown, "source", f"implausible size for the {base.replace('_', ' ')}"
                                 f" in {units or 'mm'}{fix}", f"{lo:g} to {hi:g} ml", f"{vol_ml:.3g} ml")
    out.parts.append(Part(base, rep.surface, where, frame_note, mask_ml))



def _lesions_into_gland(structures: list[Structure], overrides) -> None:
    """A label map gives a lesion's voxels the lesion's label, not the gland's: put them back in the gland
    (same grid), so the gland surface is whole and the lesion a shell inside it."""
    def organ(s):
        return _organ(s.name, overrides, (s.where, s.where.removeprefix("label ")))

    glands = [s for s in structures if organ(s) == "prostate"]
    for les in (s for s in structures if organ(s) == N.LESION):
        for g in glands:
            if g.mask.shape == les.mask.shape and np.allclose(g.affine_lps, les.affine_lps):
                g.mask = g.mask | les.mask
