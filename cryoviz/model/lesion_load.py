"""Reading the ``[[lesions]]`` table of a scene (docs/scene-format.md) into ``Lesion`` records.

Called by :func:`cryoviz.model.scene_load.parse_scene` with its problem collector, so every bad value is one
contract line (``PATH: lesions[1].diameter_mm: out of range (allowed: ..., got: ...)``). Whether a lesion
fits inside the gland needs the anatomy: see :func:`cryoviz.model.lesions.resolve_lesions`.
"""

from __future__ import annotations

from pathlib import Path

from cryoviz.model.scene import LESION_MARGIN_MM, MESH_SUFFIXES, Lesion
from cryoviz.model.sectors import parse_sector

__all__ = ["LESION_KEYS", "MAX_LESIONS", "read_lesions"]

MAX_LESIONS = 5
LESION_KEYS = ("name", "sector", "position_mm", "diameter_mm", "mesh", "pirads", "margin_mm",
               "visible_on_ultrasound")
#: Lesion diameter range, mm (issue #17: below 3 mm nothing is visible on MRI; above 40 mm is not focal).
DIAMETER_RANGE_MM = (3.0, 40.0)
#: Margin range, mm (0 = the lesion itself; 15 mm is beyond any focal plan).
MARGIN_RANGE_MM = (0.0, 15.0)
_POSITION_LIMIT_MM = 60.0
_NAME_MAX = 40
_WHERE = 'one of sector = "mid left PZpl", position_mm = [x, y, z] or mesh = "lesion.stl"'
_SECTOR_ALLOWED = ('level (base, mid, apex), side (left, right) and zone (AS, TZa, TZp, PZa, PZpm, PZpl; '
                   'CZ at the base), e.g. "mid left PZpl"')


def read_lesions(r, data: dict, base_dir: Path | None) -> tuple[Lesion, ...]:
    """The scene's ``[[lesions]]`` (0–5), checked with the scene reader ``r`` (a ``toml_reader.Reader``).

    Parameters
    ----------
    r : toml_reader.Reader
        Collects problems (``r.add``) and checks values (``r.number``, ``r.text``, ...).
    data : dict
        The whole TOML document.
    base_dir : Path, optional
        Folder relative mesh file names are taken from.
    """
    if "lesions" not in data:
        return ()
    out: list[Lesion] = []
    seen: dict[str, str] = {}
    for i, item in enumerate(r.tables(data["lesions"], "lesions", 0, MAX_LESIONS), start=1):
        key = f"lesions[{i}]"
        t = r.table(item if item is not None else data["lesions"][i - 1], key, LESION_KEYS)
        if t is None:
            continue
        given = [k for k in ("sector", "position_mm", "mesh") if k in t]
        if len(given) != 1:
            what = "needs exactly one place" if not given else "give only one of sector, position_mm, mesh"
            r.add(key, what, _WHERE, r_said(" and ".join(given) if given else "none"))
            continue
        sector = position = mesh = diameter = None
        ok = True
        if "sector" in t:
            value = t["sector"]
            try:
                if not isinstance(value, str):
                    raise ValueError("not text")
                sector = parse_sector(value).name
            except ValueError as exc:
                r.add(f"{key}.sector", f"not a PI-RADS v2.1 gland sector ({exc})", _SECTOR_ALLOWED, value)
                ok = False
        elif "position_mm" in t:
            position = r.vector(t, key, "position_mm", 3, _POSITION_LIMIT_MM)
            ok = position is not None
        else:
            value = t["mesh"]
            allowed = "a file name ending in " + ", ".join(MESH_SUFFIXES)
            if not isinstance(value, str) or not value.strip() or not value.isprintable():
                r.add(f"{key}.mesh", "must be a file name", allowed, value)
                ok = False
            elif Path(value).suffix.lower() not in MESH_SUFFIXES:
                r.add(f"{key}.mesh", "not a supported mesh file", allowed, value)
                ok = False
            else:
                p = Path(value)
                mesh = p if p.is_absolute() or base_dir is None else base_dir / p
        if mesh is None and ok:
            diameter = r.number(t, key, "diameter_mm", None, *DIAMETER_RANGE_MM, "mm", required=True)
            ok = diameter is not None
        elif mesh is not None and "diameter_mm" in t:
            r.add(f"{key}.diameter_mm", "a lesion given as a mesh takes its size from the mesh",
                  "no diameter_mm with mesh", t["diameter_mm"])
            ok = False
        pirads = r.integer(t, key, "pirads", 0, 1, 5) if "pirads" in t else None
        margin = r.number(t, key, "margin_mm", LESION_MARGIN_MM, *MARGIN_RANGE_MM, "mm")
        visible = r.boolean(t, key, "visible_on_ultrasound", False)
        name = r.text(t, key, "name", f"lesion {i}", _NAME_MAX)
        if name is None or not ok:
            continue
        if name in seen:
            r.add(f"{key}.name", f"same name as {seen[name]}", "a name used by one lesion only", name)
            continue
        seen[name] = key
        out.append(Lesion(name=name, sector=sector, position_mm=position, diameter_mm=diameter, mesh=mesh,
                          pirads=pirads or None, margin_mm=margin, visible_on_ultrasound=visible))
    return tuple(out)


def r_said(text: str):
    """A description of what was given, shown without quotes (``toml_reader.Said``)."""
    from cryoviz.model.toml_reader import Said as _Said

    return _Said(text)
