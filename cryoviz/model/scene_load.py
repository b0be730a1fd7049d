"""Reading and checking scene TOML files into :class:`cryoviz.model.scene.Scene` (see docs/scene-format.md).

Every problem becomes one contract line (``PATH: key.path: what (allowed: ..., got: ...)``); several per
file are collected before raising :class:`~cryoviz.core.errors.InputError`.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

from cryoviz.core.errors import InputError, Problem
from cryoviz.model import template
from cryoviz.model.lesion_load import read_lesions
from cryoviz.model.scene import (
    MAX_SCENE_BYTES,
    ProbeLayout,
    Scene,
)
from cryoviz.model.scene_tables import (
    TEMPLATE_REACH_TOL_MM,
    TITLE_MAX,
    TOP_KEYS,
    read_anatomy,
    read_layout,
    read_phantom,
    read_probes,
    read_protocol,
    read_sensors,
    read_story,
    read_thermal,
    read_warmer,
)
from cryoviz.model.toml_reader import Reader, Said, escape, fmt, show, syntax_line

__all__ = [
    "check_scene_geometry", "load_scene", "parse_scene",
]


def _lesion_side(lesion) -> str | None:
    """``"left"``/``"right"`` of a lesion given by sector or position (x > 0 is the patient's left)."""
    from cryoviz.model.sectors import parse_sector

    if lesion.sector is not None:
        return parse_sector(lesion.sector).side
    if lesion.position_mm is not None and lesion.position_mm[0] != 0.0:
        return "left" if lesion.position_mm[0] > 0.0 else "right"
    return None


def _hemi_side(r: Reader, scene: Scene) -> ProbeLayout:
    """``[layout] preset = "hemi"``: the half that holds the lesions (a half-gland plan aims at the cancer).

    Lesions given as meshes, on the midline or on both sides leave no side to choose: a contract line says
    which presets fit instead.
    """
    sides = {_lesion_side(les) for les in scene.lesions}
    allowed = ('"hemi_left" or "hemi_right", or "hemi" with [[lesions]] on one side given by sector or '
               'position_mm')
    if not scene.lesions:
        r.add("layout.preset", "a hemi plan takes the side that holds the lesions, and there are none",
              allowed, "hemi")
    elif None in sides:
        r.add("layout.preset", "a lesion given as a mesh or on the midline has no side for a hemi plan",
              allowed, "hemi")
    elif len(sides) > 1:
        r.add("layout.preset", "lesions on both sides: a half-gland plan treats one side",
              '"whole_gland", "focal", ' + allowed, Said("hemi with lesions left and right"))
    else:
        return ProbeLayout(preset=f"hemi_{sides.pop()}", kind=scene.layout.kind)
    return scene.layout


def parse_scene(text: str, path: str = "<string>", base_dir: Path | None = None) -> Scene:
    """Parse and validate the TOML text of a scene (format: ``docs/scene-format.md``).

    Parameters
    ----------
    text : str
        The TOML document.
    path : str, default: "<string>"
        Shown in messages and stored as :attr:`Scene.path`.
    base_dir : Path, optional
        Folder that relative ``[anatomy.meshes]`` file names are taken from (the scene file's folder);
        default: the folder of ``path`` when it names a file, else the names are kept as written.

    Returns
    -------
    Scene

    Raises
    ------
    InputError
        Every problem found, one contract line each (syntax errors as ``PATH:LINE: ...``).
    """
    path = str(path)
    r = Reader(path)
    if not isinstance(text, str):
        raise InputError(Problem(path, "", "the scene must be text", "TOML text", show(type(text).__name__)))
    if text.startswith("\ufeff"):
        text = text[1:]  # a byte-order mark written by some Windows editors
    from cryoviz.model.scene_limits import shape_problem

    shape = shape_problem(text)        # before tomllib: one long dotted key costs it gigabytes
    if shape is not None:
        raise InputError(Problem(path, "", shape[1], shape[2], line=shape[0]))
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise InputError(Problem(path, "", "lists or tables nested too deeply", "a flat scene file",
                                 line=1)) from None
    except ValueError as exc:  # tomllib.TOMLDecodeError, or a bare ValueError for a too-long integer
        line, what = syntax_line(exc, text)
        raise InputError(Problem(path, "", f"not valid TOML: {escape(what)}", line=line)) from None
    if not data:
        raise InputError(Problem(path, "", "the file holds no settings",
                                 "at least a title, see docs/scene-format.md", "an empty file"))
    if base_dir is None and not path.startswith("<"):
        base_dir = Path(path).resolve().parent
    r.table(data, "", TOP_KEYS)
    title = r.text(data, "", "title", Scene().title, TITLE_MAX)
    anatomy = read_anatomy(r, data, base_dir)
    layout = read_layout(r, data)
    probes = read_probes(r, data)
    phantom = read_phantom(r, data)
    if "layout" in data and "probes" in data:
        r.add("layout", "give either [layout] or [[probes]], not both", "one of them", Said("both"))
    if phantom is not None:
        if isinstance(data.get("anatomy"), dict) and "meshes" in data["anatomy"]:
            r.add("phantom", "a gel phantom has no anatomy: remove [anatomy.meshes] or [phantom]",
                  "[phantom] or [anatomy.meshes]", Said("both"))
        if "layout" in data:
            r.add("phantom", "an automatic layout is sized to a prostate; a phantom needs [[probes]]",
                  "[[probes]]", Said("[layout]"))
        elif "probes" not in data:
            r.add("phantom", "a gel phantom needs at least one [[probes]]", "one or more [[probes]]",
                  Said("none"))
    elif layout is None and "probes" not in data:
        layout = ProbeLayout()
    scene = Scene(path=path, title=title or Scene().title, anatomy=anatomy, probes=probes, layout=layout,
                  protocol=read_protocol(r, data), warmer=read_warmer(r, data),
                  sensors=read_sensors(r, data), story=read_story(r, data), phantom=phantom,
                  thermal=read_thermal(r, data), lesions=read_lesions(r, data, base_dir))
    if scene.layout is not None and scene.layout.preset == "hemi" and not r.problems:
        scene = dataclasses.replace(scene, layout=_hemi_side(r, scene))
    if phantom is not None and "lesions" in data:
        r.add("lesions", "a gel phantom has no prostate to hold a lesion", "no [[lesions]] with [phantom]",
              Said("both"))
    if r.problems:
        raise InputError(r.problems)
    return scene


def load_scene(path: str | Path, check_geometry: bool = False) -> Scene:
    """Read, parse and validate a scene file.

    Parameters
    ----------
    path : str or Path
        The ``.toml`` file. Relative mesh files are taken from its folder.
    check_geometry : bool, default: False
        Also build the anatomy and check where the probes go (see :func:`check_scene_geometry`).

    Returns
    -------
    Scene

    Raises
    ------
    InputError
        The file cannot be read, is not UTF-8 TOML, or holds invalid settings.
    """
    shown = str(path)
    p = Path(path)
    try:
        if p.exists() and not p.is_dir() and not p.is_file():   # a FIFO or device would block or never end
            raise InputError(Problem(shown, "", "not a regular file", "a .toml file"))
        with p.open("rb") as fh:
            raw = fh.read(MAX_SCENE_BYTES + 1)
    except FileNotFoundError:
        raise InputError(Problem(shown, "", "file not found", "an existing scene file")) from None
    except IsADirectoryError:
        raise InputError(Problem(shown, "", "is a folder, not a scene file", "a .toml file")) from None
    except OSError as exc:
        raise InputError(Problem(shown, "", "cannot read the file", "a readable file",
                                 escape(exc.strerror or type(exc).__name__))) from None
    if len(raw) > MAX_SCENE_BYTES:
        raise InputError(Problem(shown, "", "file too large for a scene",
                                 f"at most {MAX_SCENE_BYTES} bytes", f"more than {MAX_SCENE_BYTES} bytes"))
    if not raw.strip():
        raise InputError(Problem(shown, "", "the file is empty", "a TOML scene, see docs/scene-format.md"))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise InputError(Problem(shown, "", "not UTF-8 text", "a file saved as UTF-8",
                                 f"byte 0x{raw[exc.start]:02x}", line=line)) from None
    scene = parse_scene(text, shown, base_dir=p.resolve().parent)
    if check_geometry:
        check_scene_geometry(scene)
    return scene


def check_scene_geometry(scene: Scene, anatomy: object | None = None) -> None:
    """Check where the explicit probes go in the body (or the phantom).

    Rejects positions outside the template's reach, probe tips inside the rectum (wall or lumen) or the
    bladder, (for a phantom) tips outside the gel block, and lesions that do not fit inside the gland
    (:func:`cryoviz.model.lesions.check_lesions`). The tip is at
    ``(x_mm, y_mm, anatomy.landmarks.skin_z_mm + depth_mm)``.

    Parameters
    ----------
    scene : Scene
    anatomy : Anatomy, optional
        Already built anatomy; default: built from the scene (:func:`cryoviz.model.anatomy.build_anatomy`).

    Raises
    ------
    InputError
        One problem per misplaced probe; patient mesh problems come from :mod:`cryoviz.model.anatomy`.
    """
    problems: list[Problem] = []
    xs = [template.hole_to_xy_mm(h)[0] for h in template.all_holes()]
    ys = [template.hole_to_xy_mm(h)[1] for h in template.all_holes()]
    tol = TEMPLATE_REACH_TOL_MM
    reach = (f"x from {fmt(min(xs) - tol)} to {fmt(max(xs) + tol)} mm, "
             f"y from {fmt(min(ys) - tol)} to {fmt(max(ys) + tol)} mm")
    for i, p in enumerate(scene.probes, start=1):
        if not (min(xs) - tol <= p.x_mm <= max(xs) + tol and min(ys) - tol <= p.y_mm <= max(ys) + tol):
            problems.append(Problem(scene.path, f"probes[{i}].position_mm", "outside the template's reach",
                                    reach, f"[{fmt(p.x_mm)}, {fmt(p.y_mm)}]"))
    if problems:
        raise InputError(problems)
    if not scene.probes and not scene.lesions and not (scene.phantom is None and scene.anatomy.meshes):
        return          # patient meshes are checked (read, closed, plausible) in every scene, probes or not
    import numpy as np

    if anatomy is None:
        from cryoviz.model import anatomy as anatomy_mod  # pyvista core geometry: imported only when needed

        if scene.phantom is not None:
            anatomy = anatomy_mod.phantom_anatomy(scene.phantom)
        else:
            base_dir = None if scene.path.startswith("<") else Path(scene.path).resolve().parent
            anatomy = anatomy_mod.build_anatomy(scene.anatomy, base_dir=base_dir)
    if scene.lesions:
        from cryoviz.model.lesions import check_lesions

        check_lesions(scene, anatomy)
    if not scene.probes:
        return
    skin_z_mm = float(anatomy.landmarks.skin_z_mm)
    tips_mm = np.array([[p.x_mm, p.y_mm, skin_z_mm + p.depth_mm] for p in scene.probes])
    for organ in ("rectum", "bladder"):
        if organ not in anatomy.organs:
            continue
        inside = np.asarray(anatomy.signed_distance(organ, tips_mm)) < 0.0
        for i in np.flatnonzero(inside):
            tip = ", ".join(fmt(round(float(v), 1)) for v in tips_mm[i])
            problems.append(Problem(scene.path, f"probes[{i + 1}]", f"the tip lies inside the {organ}",
                                    "a tip outside the rectum and bladder: change the hole or depth_mm",
                                    f"tip at x, y, z = {tip} mm"))
    if scene.phantom is not None and "gel" in anatomy.organs:
        outside = np.asarray(anatomy.signed_distance("gel", tips_mm)) > 0.0
        for i in np.flatnonzero(outside):
            problems.append(Problem(scene.path, f"probes[{i + 1}].depth_mm",
                                    "the tip is outside the gel block",
                                    f"a tip inside the {fmt(scene.phantom.size_mm)} mm block",
                                    fmt(scene.probes[i].depth_mm)))
    if problems:
        raise InputError(problems)
