"""The tables of a scene file, one reader each (``[anatomy]``, ``[layout]``, ``[[probes]]``, ``[protocol]``,
``[warmer]``, ``[[sensors]]``, ``[story]``, ``[phantom]``, ``[thermal]``); ``[[lesions]]`` is read by
:mod:`cryoviz.model.lesion_load`. Keys, units, ranges and defaults are those of docs/scene-format.md.
"""

from __future__ import annotations

import math
from pathlib import Path

from cryoviz.model import template
from cryoviz.model.scene import (
    HYDRODISSECTION_GAP_MM,
    LANGUAGES,
    LAYOUT_PRESETS,
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
    Sensor,
    Story,
    ThermalSettings,
    Warmer,
)
from cryoviz.model.toml_reader import Reader, Said, fmt, join_key

_MAX_PROBES = 25
_MAX_SENSORS = 16
_MAX_CYCLES = 3
_NAME_MAX = 40
TITLE_MAX = 120
_SENSOR_LIMIT_MM = 200.0
_PROBE_LIMIT_MM = 100.0
_MIN_PROBE_SPACING_MM = 2.0
#: A freehand ``position_mm`` may lie up to half a hole spacing outside the template's outer holes.
TEMPLATE_REACH_TOL_MM = 2.5

TOP_KEYS = ("title", "anatomy", "layout", "probes", "protocol", "warmer", "sensors", "story", "phantom",
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


def read_anatomy(r: Reader, data: dict, base_dir: Path | None) -> AnatomyParams:
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
            key = join_key("anatomy.meshes", organ)
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


def read_layout(r: Reader, data: dict) -> ProbeLayout | None:
    if "layout" not in data:
        return None
    d = ProbeLayout()
    t = r.table(data["layout"], "layout", _LAYOUT_KEYS)
    if t is None:
        return d
    # "hemi" is resolved to the side that holds the scene's lesions once they are read (scene_load)
    return ProbeLayout(preset=r.choice(t, "layout", "preset", d.preset, (*LAYOUT_PRESETS, "hemi"),
                                       "layout preset"),
                       kind=r.choice(t, "layout", "kind", d.kind, PROBE_KINDS, "probe kind"))


def read_probes(r: Reader, data: dict) -> tuple[Probe, ...]:
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
            r.add(key, "give either hole or position_mm, not both", where, Said("both"))
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
                      f"probes at least {fmt(_MIN_PROBE_SPACING_MM)} mm apart",
                      Said(p.hole or f"[{fmt(p.x_mm)}, {fmt(p.y_mm)}]"))
                break
    return tuple(probes)


def read_protocol(r: Reader, data: dict) -> Protocol:
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


def read_warmer(r: Reader, data: dict) -> Warmer:
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


def read_sensors(r: Reader, data: dict) -> tuple[Sensor, ...]:
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
            r.add(key, "give either site or position_mm, not both", where, Said("both"))
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


def read_story(r: Reader, data: dict) -> Story:
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


def read_phantom(r: Reader, data: dict) -> Phantom | None:
    if "phantom" not in data:
        return None
    d = Phantom()
    t = r.table(data["phantom"], "phantom", _PHANTOM_KEYS)
    if t is None:
        return d
    return Phantom(medium=r.choice(t, "phantom", "medium", d.medium, _PHANTOM_MEDIA, "phantom medium"),
                   temp_c=r.number(t, "phantom", "temp_c", d.temp_c, 20, 40, "°C"),
                   size_mm=r.number(t, "phantom", "size_mm", d.size_mm, 30, 120, "mm"))


def read_thermal(r: Reader, data: dict) -> ThermalSettings:
    d = ThermalSettings()
    t = r.table(data.get("thermal", {}), "thermal", _THERMAL_KEYS)
    if t is None:
        return d
    return ThermalSettings(grid_mm=r.number(t, "thermal", "grid_mm", d.grid_mm, 0.25, 4, "mm"),
                           margin_mm=r.number(t, "thermal", "margin_mm", d.margin_mm, 5, 40, "mm"))
