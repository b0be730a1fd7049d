"""Reading and checking scene TOML files into :class:`cryoviz.model.scene.Scene` (see docs/scene-format.md).

Every problem becomes one contract line (``PATH: key.path: what (allowed: ..., got: ...)``); several per
file are collected before raising :class:`~cryoviz.core.errors.InputError`.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from pathlib import Path

from cryoviz.core.errors import InputError, Problem
from cryoviz.model import template
from cryoviz.model.lesion_load import read_lesions
from cryoviz.model.scene import (
    HYDRODISSECTION_GAP_MM,
    LANGUAGES,
    LAYOUT_PRESETS,
    MAX_SCENE_BYTES,
    MESH_SUFFIXES,
    ORGAN_NAMES,
    PROBE_KINDS,
    SENSOR_SITES,
    AnatomyParams,
    FreezeCycle,
    Phantom,
    Probe,
    ProbeLayout,
    Protocol,
    Scene,
    Sensor,
    Story,
    ThermalSettings,
    Warmer,
)

__all__ = [
    "check_scene_geometry", "load_scene", "parse_scene",
]

_MAX_PROBES = 25
_MAX_SENSORS = 16
_MAX_CYCLES = 3
_NAME_MAX = 40
_TITLE_MAX = 120
_SENSOR_LIMIT_MM = 200.0
_PROBE_LIMIT_MM = 100.0
_MIN_PROBE_SPACING_MM = 2.0
#: A freehand ``position_mm`` may lie up to half a hole spacing outside the template's outer holes.
_TEMPLATE_REACH_TOL_MM = 2.5
_GOT_MAX = 60
_MISSING = object()

_TOP_KEYS = ("title", "anatomy", "layout", "probes", "protocol", "warmer", "sensors", "story", "phantom",
             "thermal", "lesions")
_ANATOMY_KEYS = ("volume_ml", "post_radiation", "radiation_shrink", "rectum_gap_mm", "hydrodissection",
                 "rectal_wall_mm", "bladder_volume_ml", "meshes")
_LAYOUT_KEYS = ("preset", "kind")
_PROBE_KEYS = ("hole", "position_mm", "depth_mm", "kind", "group", "name")
_PROTOCOL_KEYS = ("group_delay_s", "cycles")
_CYCLE_KEYS = ("freeze_s", "thaw_s", "thaw")
_THAW_MODES = ("passive", "active")
_WARMER_KEYS = ("urethral", "urethral_temp_c", "rectal", "rectal_temp_c")
_SENSOR_KEYS = ("name", "site", "position_mm")
_STORY_KEYS = ("language", "chapters", "freeze_speedup")
_CHAPTERS = (1, 2, 3, 4, 5, 6, 7, 8)
_PHANTOM_KEYS = ("medium", "temp_c", "size_mm")
_PHANTOM_MEDIA = ("gel",)
_THERMAL_KEYS = ("grid_mm", "margin_mm")


def _escape(text: str) -> str:
    """Make ``text`` safe for one line of a terminal: non-printable characters become escapes."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape", "backslashreplace").decode("ascii")
                   if ord(ch) < 0xD800 or ord(ch) > 0xDFFF else f"\\u{ord(ch):04x}" for ch in text)


class _Said(str):
    """A description of what was given (shown as is, not quoted like a TOML string)."""


def _show(value: object) -> str:
    """Show a TOML value the way it would be written in the file, on one short line."""
    if isinstance(value, _Said):
        text = _escape(value)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = '"' + _escape(value) + '"'
    elif isinstance(value, float):
        text = "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) \
            else repr(value)
    elif isinstance(value, int):
        text = str(value) if abs(value) < 10**40 else "a number with over 40 digits"
    elif isinstance(value, dict):
        text = "a table"
    elif isinstance(value, list):
        inner = ", ".join(_show(v) for v in value[:4])
        text = f"[{inner}{', ...' if len(value) > 4 else ''}]"
    elif hasattr(value, "isoformat"):
        text = value.isoformat()
    else:  # pragma: no cover - tomllib produces no other types
        text = type(value).__name__
    return text if len(text) <= _GOT_MAX else text[: _GOT_MAX - 3] + "..."


def _join(prefix: str, name: object) -> str:
    """Dotted key path; keys that are not bare TOML keys are quoted and escaped."""
    name = str(name)
    bare = name != "" and all(ch.isascii() and (ch.isalnum() or ch in "_-") for ch in name)
    part = name if bare else '"' + _escape(name)[:_GOT_MAX] + '"'
    return f"{prefix}.{part}" if prefix else part


def _fmt(x: float) -> str:
    return f"{x:g}"


class _Reader:
    """Collects problems while reading one scene; each check returns the value or a fallback."""

    def __init__(self, path: str):
        self.path = path
        self.problems: list[Problem] = []

    def add(self, key: str, what: str, allowed: str | None = None, got: object = _MISSING,
            line: int | None = None) -> None:
        shown = None if got is _MISSING else _show(got)
        self.problems.append(Problem(self.path, key, what, allowed, shown, line))

    def table(self, value: object, key: str, allowed: tuple[str, ...], what: str = "table") -> dict | None:
        """Check that ``value`` is a table with only ``allowed`` keys; return it or ``None``."""
        if not isinstance(value, dict):
            self.add(key, f"must be a {what}", f"a [{key}] table" if what == "table" else what, value)
            return None
        for name in value:
            if name not in allowed:
                close = difflib.get_close_matches(str(name), allowed, n=1)
                hint = f"; did you mean {close[0]}?" if close else ""
                self.add(_join(key, name), f"unknown key{hint}", ", ".join(allowed), str(name))
        return value

    def tables(self, value: object, key: str, lo: int, hi: int) -> list[dict | None]:
        """Check an array of tables (``[[key]]``) with ``lo``–``hi`` entries."""
        if not isinstance(value, list):
            self.add(key, f"must be a list of [[{key}]] tables", f"[[{key}]] blocks", value)
            return []
        if not lo <= len(value) <= hi:
            self.add(key, f"wrong number of [[{key}]] entries", f"{lo} to {hi}", len(value))
        return [v if isinstance(v, dict) else None for v in value]

    def number(self, tbl: dict, prefix: str, name: str, default: float | None, lo: float, hi: float,
               unit: str = "", *, lo_open: bool = False, required: bool = False) -> float | None:
        """A finite number (int or float, never a boolean) in ``[lo, hi]`` (``(lo, hi]`` if ``lo_open``)."""
        unit_s = f" {unit}" if unit else ""
        allowed = (f"a number above {_fmt(lo)} and up to {_fmt(hi)}{unit_s}" if lo_open
                   else f"a number from {_fmt(lo)} to {_fmt(hi)}{unit_s}")
        key = _join(prefix, name)
        if name not in tbl:
            if required:
                self.add(key, "missing", allowed)
            return default
        value = tbl[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.add(key, "must be a number", allowed, value)
            return default
        if isinstance(value, float) and not math.isfinite(value):
            self.add(key, "must be a finite number", allowed, value)
            return default
        if value < lo or value > hi or (lo_open and value <= lo):
            self.add(key, "out of range", allowed, value)
            return default
        return float(value)

    def integer(self, tbl: dict, prefix: str, name: str, default: int, lo: int, hi: int) -> int:
        """A whole number in ``[lo, hi]``."""
        allowed = f"a whole number from {lo} to {hi}"
        key = _join(prefix, name)
        if name not in tbl:
            return default
        value = tbl[name]
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(key, "must be a whole number", allowed, value)
            return default
        if not lo <= value <= hi:
            self.add(key, "out of range", allowed, value)
            return default
        return value

    def boolean(self, tbl: dict, prefix: str, name: str, default: bool) -> bool:
        """``true`` or ``false``."""
        if name not in tbl:
            return default
        value = tbl[name]
        if not isinstance(value, bool):
            self.add(_join(prefix, name), "must be true or false", "true, false", value)
            return default
        return value

    def choice(self, tbl: dict, prefix: str, name: str, default: str, choices: tuple[str, ...],
               what: str) -> str:
        """One of ``choices`` (text)."""
        if name not in tbl:
            return default
        value = tbl[name]
        allowed = ", ".join(f'"{c}"' for c in choices)
        if not isinstance(value, str):
            self.add(_join(prefix, name), f"must be text naming a {what}", allowed, value)
            return default
        if value not in choices:
            close = difflib.get_close_matches(value, choices, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            self.add(_join(prefix, name), f"unknown {what}{hint}", allowed, value)
            return default
        return value

    def text(self, tbl: dict, prefix: str, name: str, default: str | None, max_len: int) -> str | None:
        """Printable one-line text of 1 to ``max_len`` characters (spaces around it are dropped)."""
        if name not in tbl:
            return default
        value = tbl[name]
        allowed = f"text of 1 to {max_len} printable characters on one line"
        if not isinstance(value, str):
            self.add(_join(prefix, name), "must be text", allowed, value)
            return default
        value = value.strip()
        if not value or len(value) > max_len or not value.isprintable():
            self.add(_join(prefix, name), "not usable as a label", allowed, value)
            return default
        return value

    def vector(self, tbl: dict, prefix: str, name: str, n: int, limit_mm: float) -> tuple[float, ...] | None:
        """A list of ``n`` finite numbers, each within ``±limit_mm``."""
        axes = "[x, y]" if n == 2 else "[x, y, z]"
        allowed = f"{axes} in mm, each from {_fmt(-limit_mm)} to {_fmt(limit_mm)}"
        key = _join(prefix, name)
        value = tbl.get(name)
        if not isinstance(value, list) or len(value) != n:
            self.add(key, f"must be a list of {n} numbers", allowed, value)
            return None
        if any(isinstance(v, bool) or not isinstance(v, int | float) for v in value):
            self.add(key, "must hold numbers only", allowed, value)
            return None
        if any(isinstance(v, float) and not math.isfinite(v) for v in value):
            self.add(key, "must hold finite numbers", allowed, value)
            return None
        if any(abs(v) > limit_mm for v in value):
            self.add(key, "out of range", allowed, value)
            return None
        return tuple(float(v) for v in value)


def _syntax_line(exc: ValueError, text: str) -> tuple[int, str]:
    """Line number (1-based) and message of a TOML syntax error (Python 3.11 gives them only in text)."""
    import re

    msg = str(exc)
    m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
    if m:
        return int(m.group(1)), f"{msg[: m.start()].strip()} at column {m.group(2)}"
    if "(at end of document)" in msg:
        return max(1, text.count("\n") + (0 if text.endswith("\n") else 1)), \
            msg.replace("(at end of document)", "at the end of the file").strip()
    m = re.search(r"\d{4000,}", text)  # tomllib's bare ValueError: an integer too long to convert
    if m:
        return text.count("\n", 0, m.start()) + 1, "number with too many digits"
    return 1, msg.split("\n")[0]


def _read_anatomy(r: _Reader, data: dict, base_dir: Path | None) -> AnatomyParams:
    d = AnatomyParams()
    t = r.table(data.get("anatomy", {}), "anatomy", _ANATOMY_KEYS)
    if t is None:
        return d
    hydro = r.boolean(t, "anatomy", "hydrodissection", d.hydrodissection)
    gap_default = HYDRODISSECTION_GAP_MM if hydro else d.rectum_gap_mm
    meshes: dict[str, Path] = {}
    if "meshes" in t:
        mt = r.table(t["meshes"], "anatomy.meshes", ORGAN_NAMES)
        for organ, file in (mt or {}).items():
            if organ not in ORGAN_NAMES:
                continue
            key = _join("anatomy.meshes", organ)
            allowed = "a file name ending in " + ", ".join(MESH_SUFFIXES)
            if not isinstance(file, str) or not file.strip():
                r.add(key, "must be a file name", allowed, file)
            elif Path(file).suffix.lower() not in MESH_SUFFIXES or not file.isprintable():
                r.add(key, "not a supported mesh file", allowed, file)
            else:
                p = Path(file)
                meshes[organ] = p if p.is_absolute() or base_dir is None else base_dir / p
    return AnatomyParams(
        volume_ml=r.number(t, "anatomy", "volume_ml", d.volume_ml, 15, 100, "ml"),
        post_radiation=r.boolean(t, "anatomy", "post_radiation", d.post_radiation),
        radiation_shrink=r.number(t, "anatomy", "radiation_shrink", d.radiation_shrink, 0, 0.5),
        rectum_gap_mm=r.number(t, "anatomy", "rectum_gap_mm", gap_default, 3, 15, "mm"),
        hydrodissection=hydro,
        rectal_wall_mm=r.number(t, "anatomy", "rectal_wall_mm", d.rectal_wall_mm, 2, 4, "mm"),
        bladder_volume_ml=r.number(t, "anatomy", "bladder_volume_ml", d.bladder_volume_ml, 50, 400, "ml"),
        meshes=meshes,
    )


def _read_layout(r: _Reader, data: dict) -> ProbeLayout | None:
    if "layout" not in data:
        return None
    d = ProbeLayout()
    t = r.table(data["layout"], "layout", _LAYOUT_KEYS)
    if t is None:
        return d
    return ProbeLayout(preset=r.choice(t, "layout", "preset", d.preset, LAYOUT_PRESETS, "layout preset"),
                       kind=r.choice(t, "layout", "kind", d.kind, PROBE_KINDS, "probe kind"))


def _read_probes(r: _Reader, data: dict) -> tuple[Probe, ...]:
    if "probes" not in data:
        return ()
    probes: list[Probe] = []
    keys: list[str] = []
    for i, item in enumerate(r.tables(data["probes"], "probes", 1, _MAX_PROBES), start=1):
        key = f"probes[{i}]"
        t = r.table(item if item is not None else data["probes"][i - 1], key, _PROBE_KEYS)
        if t is None:
            continue
        hole: str | None = None
        xy: tuple[float, ...] | None = None
        where = 'hole = "C4" on the template grid or position_mm = [x, y]'
        if "hole" in t and "position_mm" in t:
            r.add(key, "give either hole or position_mm, not both", where, _Said("both"))
        elif "hole" in t:
            value = t["hole"]
            try:
                xy = template.hole_to_xy_mm(value)
                hole = value.strip().upper()
            except ValueError:
                r.add(f"{key}.hole", "not a hole of the template grid", "columns A–K, rows 1–9, e.g. \"C4\"",
                      value)
        elif "position_mm" in t:
            xy = r.vector(t, key, "position_mm", 2, _PROBE_LIMIT_MM)
        else:
            r.add(key, "needs a hole or a position_mm", where)
        d = Probe(name="", x_mm=0.0, y_mm=0.0, depth_mm=0.0)
        depth = r.number(t, key, "depth_mm", None, 20, 150, "mm beyond the skin", required=True)
        kind = r.choice(t, key, "kind", d.kind, PROBE_KINDS, "probe kind")
        group = r.integer(t, key, "group", d.group, 1, 4)
        name = r.text(t, key, "name", hole or f"P{i}", _NAME_MAX)
        if xy is not None and depth is not None and name is not None:
            probes.append(Probe(name=name, x_mm=xy[0], y_mm=xy[1], depth_mm=depth, kind=kind, group=group,
                                hole=hole))
            keys.append(key)
    seen: dict[str, str] = {}
    for key, p in zip(keys, probes, strict=True):
        if p.name in seen:
            r.add(f"{key}.name", f"same name as {seen[p.name]}", "a name used by one probe only", p.name)
        seen.setdefault(p.name, key)
    for j, (key, p) in enumerate(zip(keys, probes, strict=True)):
        for other_key, q in zip(keys[:j], probes[:j], strict=True):
            if math.hypot(p.x_mm - q.x_mm, p.y_mm - q.y_mm) < _MIN_PROBE_SPACING_MM:
                r.add(key, f"in the same place as {other_key}",
                      f"probes at least {_fmt(_MIN_PROBE_SPACING_MM)} mm apart",
                      _Said(p.hole or f"[{_fmt(p.x_mm)}, {_fmt(p.y_mm)}]"))
                break
    return tuple(probes)


def _read_protocol(r: _Reader, data: dict) -> Protocol:
    d = Protocol()
    t = r.table(data.get("protocol", {}), "protocol", _PROTOCOL_KEYS)
    if t is None:
        return d
    delay = r.number(t, "protocol", "group_delay_s", d.group_delay_s, 0, 600, "s")
    if "cycles" not in t:
        return Protocol(cycles=d.cycles, group_delay_s=delay)
    cycles: list[FreezeCycle] = []
    dc = FreezeCycle()
    for i, item in enumerate(r.tables(t["cycles"], "protocol.cycles", 1, _MAX_CYCLES), start=1):
        key = f"protocol.cycles[{i}]"
        ct = r.table(item if item is not None else t["cycles"][i - 1], key, _CYCLE_KEYS)
        if ct is None:
            continue
        cycles.append(FreezeCycle(
            freeze_s=r.number(ct, key, "freeze_s", dc.freeze_s, 0, 1800, "s", lo_open=True),
            thaw_s=r.number(ct, key, "thaw_s", dc.thaw_s, 0, 1800, "s"),
            thaw=r.choice(ct, key, "thaw", dc.thaw, _THAW_MODES, "thaw mode"),
        ))
    return Protocol(cycles=tuple(cycles) or d.cycles, group_delay_s=delay)


def _read_warmer(r: _Reader, data: dict) -> Warmer:
    d = Warmer()
    t = r.table(data.get("warmer", {}), "warmer", _WARMER_KEYS)
    if t is None:
        return d
    return Warmer(
        urethral=r.boolean(t, "warmer", "urethral", d.urethral),
        urethral_temp_c=r.number(t, "warmer", "urethral_temp_c", d.urethral_temp_c, 30, 45, "°C"),
        rectal=r.boolean(t, "warmer", "rectal", d.rectal),
        rectal_temp_c=r.number(t, "warmer", "rectal_temp_c", d.rectal_temp_c, 30, 45, "°C"),
    )


def _read_sensors(r: _Reader, data: dict) -> tuple[Sensor, ...]:
    if "sensors" not in data:
        return ()
    sensors: list[Sensor] = []
    seen: dict[str, str] = {}
    for i, item in enumerate(r.tables(data["sensors"], "sensors", 0, _MAX_SENSORS), start=1):
        key = f"sensors[{i}]"
        t = r.table(item if item is not None else data["sensors"][i - 1], key, _SENSOR_KEYS)
        if t is None:
            continue
        site = position = None
        where = 'a named site such as site = "rectal_wall" or position_mm = [x, y, z]'
        if "site" in t and "position_mm" in t:
            r.add(key, "give either site or position_mm, not both", where, _Said("both"))
            continue
        if "site" in t:
            site = r.choice(t, key, "site", "", SENSOR_SITES, "sensor site") or None
        elif "position_mm" in t:
            position = r.vector(t, key, "position_mm", 3, _SENSOR_LIMIT_MM)
        else:
            r.add(key, "needs a site or a position_mm", where)
            continue
        name = r.text(t, key, "name", site or f"S{i}", _NAME_MAX)
        if name is None or (site is None and position is None):
            continue
        if name in seen:
            r.add(f"{key}.name", f"same name as {seen[name]}", "a name used by one sensor only", name)
            continue
        seen[name] = key
        sensors.append(Sensor(name=name, site=site, position_mm=position))  # type: ignore[arg-type]
    return tuple(sensors)


def _read_story(r: _Reader, data: dict) -> Story:
    d = Story()
    t = r.table(data.get("story", {}), "story", _STORY_KEYS)
    if t is None:
        return d
    chapters = d.chapters
    if "chapters" in t:
        value = t["chapters"]
        allowed = "a list of chapter numbers 1 to 8 in story order, each once, e.g. [1, 2, 5]"
        if (not isinstance(value, list) or not value
                or any(isinstance(c, bool) or not isinstance(c, int) for c in value)):
            r.add("story.chapters", "must be a non-empty list of whole numbers", allowed, value)
        elif any(c not in _CHAPTERS for c in value):
            r.add("story.chapters", "chapter out of range", allowed, value)
        elif list(value) != sorted(set(value)):
            r.add("story.chapters", "chapters must be listed once each, in story order", allowed, value)
        else:
            chapters = tuple(value)
    return Story(language=r.choice(t, "story", "language", d.language, LANGUAGES, "language"),
                 chapters=chapters,
                 freeze_speedup=r.number(t, "story", "freeze_speedup", d.freeze_speedup, 1, 120, "x"))


def _read_phantom(r: _Reader, data: dict) -> Phantom | None:
    if "phantom" not in data:
        return None
    d = Phantom()
    t = r.table(data["phantom"], "phantom", _PHANTOM_KEYS)
    if t is None:
        return d
    return Phantom(medium=r.choice(t, "phantom", "medium", d.medium, _PHANTOM_MEDIA, "phantom medium"),
                   temp_c=r.number(t, "phantom", "temp_c", d.temp_c, 20, 40, "°C"),
                   size_mm=r.number(t, "phantom", "size_mm", d.size_mm, 30, 120, "mm"))


def _read_thermal(r: _Reader, data: dict) -> ThermalSettings:
    d = ThermalSettings()
    t = r.table(data.get("thermal", {}), "thermal", _THERMAL_KEYS)
    if t is None:
        return d
    return ThermalSettings(grid_mm=r.number(t, "thermal", "grid_mm", d.grid_mm, 0.25, 4, "mm"),
                           margin_mm=r.number(t, "thermal", "margin_mm", d.margin_mm, 5, 40, "mm"))


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
    r = _Reader(path)
    if not isinstance(text, str):
        raise InputError(Problem(path, "", "the scene must be text", "TOML text", _show(type(text).__name__)))
    if text.startswith("\ufeff"):
        text = text[1:]  # a byte-order mark written by some Windows editors
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise InputError(Problem(path, "", "lists or tables nested too deeply", "a flat scene file",
                                 line=1)) from None
    except ValueError as exc:  # tomllib.TOMLDecodeError, or a bare ValueError for a too-long integer
        line, what = _syntax_line(exc, text)
        raise InputError(Problem(path, "", f"not valid TOML: {_escape(what)}", line=line)) from None
    if not data:
        raise InputError(Problem(path, "", "the file holds no settings",
                                 "at least a title, see docs/scene-format.md", "an empty file"))
    if base_dir is None and not path.startswith("<"):
        base_dir = Path(path).resolve().parent
    r.table(data, "", _TOP_KEYS)
    title = r.text(data, "", "title", Scene().title, _TITLE_MAX)
    anatomy = _read_anatomy(r, data, base_dir)
    layout = _read_layout(r, data)
    probes = _read_probes(r, data)
    phantom = _read_phantom(r, data)
    if "layout" in data and "probes" in data:
        r.add("layout", "give either [layout] or [[probes]], not both", "one of them", _Said("both"))
    if phantom is not None:
        if isinstance(data.get("anatomy"), dict) and "meshes" in data["anatomy"]:
            r.add("phantom", "a gel phantom has no anatomy: remove [anatomy.meshes] or [phantom]",
                  "[phantom] or [anatomy.meshes]", _Said("both"))
        if "layout" in data:
            r.add("phantom", "an automatic layout is sized to a prostate; a phantom needs [[probes]]",
                  "[[probes]]", _Said("[layout]"))
        elif "probes" not in data:
            r.add("phantom", "a gel phantom needs at least one [[probes]]", "one or more [[probes]]",
                  _Said("none"))
    elif layout is None and "probes" not in data:
        layout = ProbeLayout()
    scene = Scene(path=path, title=title or Scene().title, anatomy=anatomy, probes=probes, layout=layout,
                  protocol=_read_protocol(r, data), warmer=_read_warmer(r, data),
                  sensors=_read_sensors(r, data), story=_read_story(r, data), phantom=phantom,
                  thermal=_read_thermal(r, data), lesions=read_lesions(r, data, base_dir))
    if phantom is not None and "lesions" in data:
        r.add("lesions", "a gel phantom has no prostate to hold a lesion", "no [[lesions]] with [phantom]",
              _Said("both"))
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
        with p.open("rb") as fh:
            raw = fh.read(MAX_SCENE_BYTES + 1)
    except FileNotFoundError:
        raise InputError(Problem(shown, "", "file not found", "an existing scene file")) from None
    except IsADirectoryError:
        raise InputError(Problem(shown, "", "is a folder, not a scene file", "a .toml file")) from None
    except OSError as exc:
        raise InputError(Problem(shown, "", "cannot read the file", "a readable file",
                                 _escape(exc.strerror or type(exc).__name__))) from None
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
    tol = _TEMPLATE_REACH_TOL_MM
    reach = (f"x from {_fmt(min(xs) - tol)} to {_fmt(max(xs) + tol)} mm, "
             f"y from {_fmt(min(ys) - tol)} to {_fmt(max(ys) + tol)} mm")
    for i, p in enumerate(scene.probes, start=1):
        if not (min(xs) - tol <= p.x_mm <= max(xs) + tol and min(ys) - tol <= p.y_mm <= max(ys) + tol):
            problems.append(Problem(scene.path, f"probes[{i}].position_mm", "outside the template's reach",
                                    reach, f"[{_fmt(p.x_mm)}, {_fmt(p.y_mm)}]"))
    if problems:
        raise InputError(problems)
    if not scene.probes and not scene.lesions:
        return
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
            tip = ", ".join(_fmt(round(float(v), 1)) for v in tips_mm[i])
            problems.append(Problem(scene.path, f"probes[{i + 1}]", f"the tip lies inside the {organ}",
                                    "a tip outside the rectum and bladder: change the hole or depth_mm",
                                    f"tip at x, y, z = {tip} mm"))
    if scene.phantom is not None and "gel" in anatomy.organs:
        outside = np.asarray(anatomy.signed_distance("gel", tips_mm)) > 0.0
        for i in np.flatnonzero(outside):
            problems.append(Problem(scene.path, f"probes[{i + 1}].depth_mm",
                                    "the tip is outside the gel block",
                                    f"a tip inside the {_fmt(scene.phantom.size_mm)} mm block",
                                    _fmt(scene.probes[i].depth_mm)))
    if problems:
        raise InputError(problems)
