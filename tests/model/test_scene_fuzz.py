"""Fuzzing ``parse_scene``: whatever the text, only ``InputError`` escapes, in the contract's shape.

Three sources of input: random text, TOML-ish text built from the scene vocabulary, and valid presets
mutated (wrong types, extreme numbers, unknown keys, random unicode, deleted keys). A scene that is
accepted must hold only values inside the documented ranges. No geometry is built here.
"""

from __future__ import annotations

import copy
import json
import math
import tomllib
from pathlib import Path

from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from cryoviz.core.errors import InputError
from cryoviz.model.scene import (
    LANGUAGES,
    LAYOUT_PRESETS,
    ORGAN_NAMES,
    PROBE_KINDS,
    SENSOR_SITES,
    Scene,
)
from cryoviz.model.scene_load import parse_scene

SCENES = Path(__file__).resolve().parents[2] / "scenes"
PRESETS = {p.name: tomllib.loads(p.read_text(encoding="utf-8")) for p in sorted(SCENES.glob("*.toml"))}
PATH = "fuzz.toml"


def fuzz(max_examples: int) -> settings:
    """Reproducible settings: derandomized, no example database, no deadline."""
    return settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

KEYS = ["title", "anatomy", "layout", "probes", "protocol", "warmer", "sensors", "story", "phantom",
        "thermal", "volume_ml", "post_radiation", "radiation_shrink", "rectum_gap_mm", "hydrodissection",
        "meshes", "rectal_wall_mm", "bladder_volume_ml", "preset", "kind", "hole", "position_mm",
        "depth_mm", "group", "name", "group_delay_s", "cycles", "freeze_s", "thaw_s", "thaw", "urethral",
        "urethral_temp_c", "rectal", "rectal_temp_c", "site", "language", "chapters", "freeze_speedup",
        "medium", "temp_c", "size_mm", "grid_mm", "margin_mm", *ORGAN_NAMES]
WORDS = [*PROBE_KINDS, *SENSOR_SITES, *LANGUAGES, *LAYOUT_PRESETS, "gel", "passive", "active", "C4", "F4",
         "Z0"]


def _check_outcome(text: str) -> Scene | None:
    """Parse; an error must be InputError with one well-formed line per problem."""
    try:
        scene = parse_scene(text, PATH)
    except InputError as exc:
        lines = str(exc).split("\n")
        assert len(lines) == len(exc.problems) >= 1
        for line in lines:
            assert line.startswith(PATH + ":"), line
            assert line.isprintable(), repr(line)
        return None
    _check_ranges(scene)
    return scene


def _check_ranges(s: Scene) -> None:
    """Every accepted value lies in the documented range."""
    a = s.anatomy
    assert 15 <= a.volume_ml <= 100 and 0 <= a.radiation_shrink <= 0.5 and 3 <= a.rectum_gap_mm <= 15
    assert 2 <= a.rectal_wall_mm <= 4 and 50 <= a.bladder_volume_ml <= 400
    assert set(a.meshes) <= set(ORGAN_NAMES)
    assert (s.layout is None) != (len(s.probes) == 0) or s.phantom is not None
    names = [p.name for p in s.probes]
    assert len(names) == len(set(names)) <= 25
    for p in s.probes:
        assert 20 <= p.depth_mm <= 150 and p.kind in PROBE_KINDS and 1 <= p.group <= 4
        assert math.isfinite(p.x_mm) and math.isfinite(p.y_mm)
    assert 1 <= len(s.protocol.cycles) <= 3 and 0 <= s.protocol.group_delay_s <= 600
    for c in s.protocol.cycles:
        assert 0 < c.freeze_s <= 1800 and 0 <= c.thaw_s <= 1800 and c.thaw in ("passive", "active")
    w = s.warmer
    assert 30 <= w.urethral_temp_c <= 45 and 30 <= w.rectal_temp_c <= 45
    assert isinstance(w.urethral, bool) and isinstance(w.rectal, bool)
    sensor_names = [x.name for x in s.sensors]
    assert len(sensor_names) == len(set(sensor_names))
    for x in s.sensors:
        assert (x.site is None) != (x.position_mm is None)
        assert x.site is None or x.site in SENSOR_SITES
    assert s.story.language in LANGUAGES and 1 <= s.story.freeze_speedup <= 120
    chapters = list(s.story.chapters)
    assert chapters == sorted(set(chapters)) and set(chapters) <= set(range(1, 9))
    assert 0.25 <= s.thermal.grid_mm <= 4 and 5 <= s.thermal.margin_mm <= 40
    if s.phantom is not None:
        assert 20 <= s.phantom.temp_c <= 40 and 30 <= s.phantom.size_mm <= 120 and not a.meshes


# --- a tiny TOML writer (inline tables), enough for the mutated presets ----------------------------------

def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def _to_toml(doc: dict) -> str:
    return "\n".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in doc.items()) + "\n"


def test_writer_round_trips_every_preset():
    for name, doc in PRESETS.items():
        assert tomllib.loads(_to_toml(doc)) == doc, name
        assert parse_scene(_to_toml(doc), name).title == parse_scene(
            (SCENES / name).read_text(encoding="utf-8"), name).title


# --- strategies ------------------------------------------------------------------------------------------

SCALARS = st.one_of(
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**60), max_value=10**60),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1, 15, 100, 150, 1800, 1801, 0.25, 4, 1e308, -1e-308, 2**63, 1e-9]),
    st.text(max_size=20),
    st.sampled_from(WORDS),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), inner, max_size=4)),
    max_leaves=8)


NASTY = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, True, False, "30", "", " ", "\u202e", 0, 0.0, -0.0, -1,
                     1e308, -1e308, 10**40, -(2**63), 1e-300, 14.999, 100.001, 0.2499, 1800.5, [], {},
                     [1, 2, 3]]),
    SCALARS,
)


def _leaves(node: object, path: tuple = ()) -> list[tuple]:
    """Paths to every scalar (and every list of scalars, such as position_mm) inside a document."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    out = []
    for key, child in items:
        if isinstance(child, dict) or (isinstance(child, list) and any(isinstance(c, dict) for c in child)):
            out.extend(_leaves(child, (*path, key)))
        else:
            out.append((*path, key))
            if isinstance(child, list):
                out.extend(_leaves(child, (*path, key)))
    return out


def _fresh(draw) -> object:
    """A random value never shared with the document (sampled values are reused objects)."""
    return copy.deepcopy(draw(VALUES))


@st.composite
def mutated_preset(draw) -> dict:
    """A preset with one to three random changes: a nasty value at a leaf, or a change deeper or higher."""
    doc = json.loads(json.dumps(PRESETS[draw(st.sampled_from(sorted(PRESETS)))]))
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            *parents, last = draw(st.sampled_from(_leaves(doc)))
            node = doc
            for key in parents:
                node = node[key]
            node[last] = copy.deepcopy(draw(NASTY))
            continue
        node: object = doc
        # walk down a random path of tables and lists
        while True:
            children = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
            if not children or draw(st.integers(0, 2)) == 0:
                break
            key, child = draw(st.sampled_from(children))
            if not isinstance(child, dict | list):
                break
            node = child
        action = draw(st.sampled_from(["replace", "add", "delete"]))
        if isinstance(node, dict):
            keys = sorted(node)
            if action == "add" or not keys:
                node[draw(st.one_of(st.sampled_from(KEYS), st.text(min_size=1, max_size=10)))] = _fresh(draw)
            elif action == "delete":
                del node[draw(st.sampled_from(keys))]
            else:
                node[draw(st.sampled_from(keys))] = _fresh(draw)
        elif isinstance(node, list):
            if action == "add" or not node:
                node.append(_fresh(draw))
            elif action == "delete":
                node.pop(draw(st.integers(0, len(node) - 1)))
            else:
                node[draw(st.integers(0, len(node) - 1))] = _fresh(draw)
    return doc


@st.composite
def tomlish_text(draw) -> str:
    """Lines that look like scene TOML: headers, key = value, fragments, junk."""
    lines = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.integers(0, 5))
        if kind == 0:
            lines.append(f"[{draw(st.sampled_from(KEYS))}]")
        elif kind == 1:
            lines.append(f"[[{draw(st.sampled_from(['probes', 'sensors', 'protocol.cycles', 'story']))}]]")
        elif kind in (2, 3):
            value = draw(VALUES)
            try:
                rendered = _toml_value(value)
            except TypeError:  # pragma: no cover - VALUES only makes TOML types
                rendered = "1"
            lines.append(f"{draw(st.sampled_from(KEYS))} = {rendered}")
        elif kind == 4:
            lines.append(draw(st.sampled_from(["[", "]]", "=", "x =", '"', "'''", "# comment", "a.b.c = 1",
                                               "[anatomy.meshes]", "probes = []", "inf = nan", "\\u0000"])))
        else:
            lines.append(draw(st.text(max_size=15)))
    return "\n".join(lines)


# --- the properties --------------------------------------------------------------------------------------

@fuzz(1000)
@given(st.text(max_size=200))
def test_random_text_never_crashes(text):
    _check_outcome(text)


@fuzz(1000)
@given(tomlish_text())
def test_tomlish_text_never_crashes(text):
    _check_outcome(text)


@fuzz(1500)
@given(mutated_preset())
def test_mutated_presets_never_crash_and_accepted_ones_are_in_range(doc):
    _check_outcome(_to_toml(doc))


def test_fuzz_reaches_both_outcomes():
    """The mutation strategy must produce accepted scenes as well as rejected ones, or it tests little.

    Searched with ``find`` rather than counted over a fixed run: the share of accepted mutants in 200
    derandomized examples was 30 alone but 4 inside the whole suite, and a count threshold then failed for
    reasons that have nothing to do with the scene parser.
    """
    accepted = find(mutated_preset(), lambda d: _check_outcome(_to_toml(d)) is not None, settings=fuzz(2000))
    rejected = find(mutated_preset(), lambda d: _check_outcome(_to_toml(d)) is None, settings=fuzz(2000))
    assert _check_outcome(_to_toml(accepted)) is not None
    assert _check_outcome(_to_toml(rejected)) is None
