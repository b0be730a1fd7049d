"""Write the imported anatomy as a scene: organ surfaces beside a ``.toml`` that names them, then check it.

The surfaces are moved so that the origin is the middle of the prostate (its centroid across, the middle
of its height from apex to base), in millimetres, x = patient left, y = posterior, z = superior (LPS
shifted). They are named by organ only (``<scene>-prostate.vtp``): nothing of the source files' names or
headers is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cryoviz.core.errors import InputError
from cryoviz.model.imports.gather import PAIRED, Gathered, gather

__all__ = ["ImportSummary", "import_scene"]

#: ``volume_ml`` is written clamped to the scene's range (docs/scene-format.md); his surface is used as is.
VOLUME_RANGE_ML = (15.0, 100.0)
GAP_RANGE_MM = (3.0, 15.0)


@dataclass
class ImportSummary:
    """What an import did, as lines for the terminal (no file names of the sources)."""

    lines: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)

    def text(self) -> str:
        return "\n".join(self.lines)


def _merge(parts) -> object:
    import pyvista as pv

    out = pv.PolyData()
    for p in parts:
        out = out.merge(p.surface) if out.n_points else p.surface.copy()
    return out


def import_scene(sources: list[Path], out_toml: Path, overrides: dict[str, str] | None = None,
                 units: str | None = None, frame: str | None = None) -> ImportSummary:
    """Import the sources and write ``out_toml`` plus one ``.vtp`` surface per organ beside it.

    Raises
    ------
    InputError
        Problems with a source (``source N: ...``), no prostate, two structures for one organ, or a
        scene that does not check (then nothing is left written).
    """
    from cryoviz.core.files import atomic_path, atomic_write_text, check_writable_target

    got = gather(list(sources), overrides, units, frame)
    organs = _organs(got)
    pro = organs["prostate"][0].surface
    pts = np.asarray(pro.points, dtype=float)
    centre = np.array([*np.asarray(pro.center_of_mass())[:2], 0.5 * (pts[:, 2].min() + pts[:, 2].max())])
    out_toml = Path(out_toml)
    stem = out_toml.name[: -len(out_toml.suffix)] if out_toml.suffix else out_toml.name
    summary = ImportSummary()
    files: dict[str, str] = {}
    try:
        for organ, parts in organs.items():
            # one file per organ (left and right pieces together); one per lesion ([[lesions]] blocks)
            groups = [[p] for p in parts] if organ == "lesion" else [parts]
            for n, group in enumerate(groups, start=1):
                surf = _merge(group)
                surf.points = (np.asarray(surf.points, dtype=float) - centre).astype(np.float32)
                surf.clear_data()
                key = f"lesion-{n}" if organ == "lesion" else organ
                target = out_toml.parent / f"{stem}-{key}.vtp"
                # a source named like a surface written here (OUT-prostate.vtp) was replaced, then deleted
                # with the rest when the scene failed its check
                check_writable_target(target, "-o", inputs=sources)
                with atomic_path(target, suffix=".part.vtp") as tmp:
                    surf.save(tmp, binary=True, recompute_normals=False)
                    tmp.chmod(0o644)
                summary.written.append(target)
                files[key] = target.name
        vol = abs(float(pro.volume)) / 1000.0
        atomic_write_text(out_toml, _scene_text(files, vol))
        summary.written.append(out_toml)
        _verify(out_toml, got, organs, files, vol, summary)
    except BaseException:
        for p in summary.written:
            p.unlink(missing_ok=True)
        raise
    return summary


def _organs(got: Gathered) -> dict[str, list]:
    organs: dict[str, list] = {}
    for p in got.parts:
        organs.setdefault(p.organ, []).append(p)
    if "prostate" not in organs:
        what = "no prostate among the sources"
        if got.skipped:
            unknown = "; ".join(s.split(": not recognised")[0] for s in got.skipped)
            what += f" (not recognised: {unknown})"
        raise InputError.one("import", "prostate", what,
                             "a structure named Prostate, CTV_Prostate, Próstata ... or --organ N=prostate",
                             ", ".join(sorted(organs)) or "no recognised organ")
    for organ, parts in organs.items():
        if len(parts) > 1 and organ not in (*PAIRED, "lesion"):
            said = organ.replace("_", " ")
            raise InputError.one("import", organ, f"{len(parts)} structures are the {said}",
                                 "one per organ (pass --organ NAME=ignore for the others)",
                                 "; ".join(p.where for p in parts))
    return organs


def _scene_text(files: dict[str, str], volume_ml: float) -> str:
    vol = min(max(round(volume_ml, 1), VOLUME_RANGE_ML[0]), VOLUME_RANGE_ML[1])
    lines = [
        "# A patient's own anatomy, imported by `cryoviz import` from his care team's files.",
        "# Organs not listed under [anatomy.meshes] are generated around his prostate.",
        "# For patient education, not treatment planning. Keys are explained in docs/scene-format.md.",
        "",
        'title = "Salvage cryoablation of his own prostate"',
        "",
        "[anatomy]",
        f"volume_ml = {vol:g}            # his gland measures {volume_ml:.1f} ml; his own surface is used",
        "",
        "[layout]",
        'preset = "whole_gland"       # probes placed to fit his gland',
        "",
        "[anatomy.meshes]",
    ]
    lines += [f'{organ} = "{name}"' for organ, name in files.items() if not organ.startswith("lesion")]
    for key, name in files.items():
        if key.startswith("lesion"):
            n = key.removeprefix("lesion-")
            lines += ["", "[[lesions]]                  # his lesion (GTV) as outlined by his care team",
                      f'name = "lesion {n}"', f'mesh = "{name}"']
    return "\n".join(lines) + "\n"


def _verify(out_toml: Path, got: Gathered, organs: dict, files: dict, vol: float,
            summary: ImportSummary) -> None:
    """Load the written scene like ``cryoviz check`` does and say what was built."""
    from cryoviz.model.anatomy import build_anatomy
    from cryoviz.model.layout import resolve_probes, resolve_sensors
    from cryoviz.model.overlaps import overlaps_ml
    from cryoviz.model.scene_load import load_scene

    scene = load_scene(out_toml, check_geometry=True)
    anatomy = build_anatomy(scene.anatomy, base_dir=out_toml.parent)
    lm = anatomy.landmarks
    L = summary.lines
    L.append("cryoviz import - for patient education, not treatment planning")
    for organ, parts in organs.items():
        for p in parts:
            ml = abs(float(p.surface.volume)) / 1000.0
            mask = f" (mask {p.mask_ml:.1f} ml)" if p.mask_ml is not None else ""
            L.append(f"  {organ.replace('_', ' '):22s} {ml:7.1f} ml{mask}  from {p.where}; {p.frame_note}")
    for n in got.notes:
        L.append(f"  repair: {n}")
    for s in got.skipped:
        L.append(f"  skipped: {s}")
    generated = [o for o in anatomy.organs if o not in anatomy.patient_organs]
    L.append(f"  generated around his prostate: {', '.join(o.replace('_', ' ') for o in generated)}")
    whose = "his rectum, as imaged" if "rectum" in anatomy.patient_organs else "generated rectum, scene gap"
    L.append(f"  prostate {lm.prostate_volume_ml:.1f} ml, apex to base {lm.base_z_mm - lm.apex_z_mm:.1f} mm; "
             f"gap to the rectal wall {lm.rectum_gap_mm:.1f} mm ({whose})")
    if not VOLUME_RANGE_ML[0] <= vol <= VOLUME_RANGE_ML[1]:
        L.append(f"  note: volume_ml in the scene is clamped to {VOLUME_RANGE_ML}; his surface "
                 f"({vol:.1f} ml) is what is drawn and simulated")
    probes = resolve_probes(scene, anatomy)
    names = ", ".join(p.name for p in probes)
    L.append(f"  whole-gland layout for his gland: {len(probes)} probes ({names})")
    sensors = resolve_sensors(scene, anatomy)
    L.append("  sensors: " + "; ".join(f"{k} ({', '.join(f'{v:.1f}' for v in xyz)}) mm"
                                       for k, xyz in sensors.items()))
    over = overlaps_ml(anatomy)
    if over:
        for (i, g), ml in over.items():
            L.append(f"  OVERLAP: generated {g.replace('_', ' ')} overlaps his {i.replace('_', ' ')} by "
                     f"{ml:.2f} ml")
    else:
        L.append("  overlaps between his organs and generated ones: none")
    for n in anatomy.notes:
        L.append(f"  note: {n}")
    if scene.lesions:
        L.append(f"  lesions: {len(scene.lesions)} written as [[lesions]] with their own surfaces")
    L.append(f"  wrote {out_toml} and {len(files)} surface(s) beside it")
