"""``cryoviz check``: good presets pass, every malformed scene exits 2 with contract lines.

Each file in ``tests/bad_scenes/`` says on its first line what the error must name:
``# expect: KEY`` (a ``PATH: KEY: what (allowed: ..., got: ...)`` line), ``# expect-line: N`` (a syntax or
encoding error ``PATH:N: ...``) or ``# expect-file: WORDS`` (a file-level problem ``PATH: ...WORDS...``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cryoviz.cli import main
from cryoviz.model.scene import DEFAULT_SCENE

ROOT = Path(__file__).resolve().parents[2]
PRESETS = sorted((ROOT / "scenes").glob("*.toml"))
BAD = sorted((Path(__file__).resolve().parent / "bad_scenes").glob("*.toml"))

#: ``PATH: key.path: what is wrong (allowed: ..., got: ...)``; ``got`` is optional.
KEY_LINE = re.compile(r"^(?P<path>.+?): (?P<key>[A-Za-z0-9_.\[\]-]+): (?P<what>[^()]+?)"
                      r" \(allowed: (?P<allowed>.+?)(?:, got: (?P<got>.+))?\)$")
#: ``PATH:LINE: what``.
SYNTAX_LINE = re.compile(r"^(?P<path>.+?):(?P<line>\d+): (?P<what>.+)$")


def _expectation(path: Path) -> tuple[str, str]:
    first = path.read_bytes().split(b"\n", 1)[0].decode("ascii")
    m = re.match(r"^# (expect|expect-line|expect-file): (.+)$", first)
    assert m, f"{path.name}: first line must say what is expected"
    return m.group(1), m.group(2).strip()


def test_presets_pass_check(capsys):
    assert len(PRESETS) >= 6
    assert main(["check", *map(str, PRESETS)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{p}: ok" for p in PRESETS]


def test_builtin_default_scene_passes_check(capsys):
    assert main(["check", str(DEFAULT_SCENE)]) == 0
    assert capsys.readouterr().out.strip() == f"{DEFAULT_SCENE}: ok"


def test_there_are_enough_bad_scenes():
    assert len(BAD) >= 25
    kinds = [_expectation(p)[0] for p in BAD]
    assert kinds.count("expect") >= 25


@pytest.mark.parametrize("bad", BAD, ids=[p.stem for p in BAD])
def test_bad_scene_exits_2_with_contract_line(bad, capsys):
    kind, expected = _expectation(bad)
    code = main(["check", str(bad)])
    captured = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in captured.err
    assert f"{bad}: ok" not in captured.out
    lines = captured.err.splitlines()
    assert lines, "no problem reported"
    if kind == "expect":
        matches = [KEY_LINE.match(line) for line in lines]
        assert all(matches), f"not in the contract shape: {lines}"
        assert all(m["path"] == str(bad) for m in matches)
        assert expected in [m["key"] for m in matches], lines
    elif kind == "expect-line":
        m = SYNTAX_LINE.match(lines[0])
        assert m and m["path"] == str(bad), lines
        assert int(m["line"]) == int(expected)
    else:
        assert lines[0].startswith(f"{bad}: ") and expected in lines[0], lines


def test_empty_and_missing_files_exit_2(tmp_path, capsys):
    empty = tmp_path / "empty.toml"
    empty.write_bytes(b"")
    missing = tmp_path / "missing.toml"
    assert main(["check", str(empty), str(missing), str(tmp_path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"{empty}: the file is empty (allowed: a TOML scene, see docs/scene-format.md)",
                   f"{missing}: file not found (allowed: an existing scene file)",
                   f"{tmp_path}: is a folder, not a scene file (allowed: a .toml file)"]


def test_good_and_bad_together_reports_only_the_bad(capsys):
    bad = next(p for p in BAD if p.stem == "anatomy_volume_range")
    assert main(["check", str(PRESETS[0]), str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out.strip() == f"{PRESETS[0]}: ok"
    assert captured.err.strip() == (f"{bad}: anatomy.volume_ml: out of range "
                                    "(allowed: a number from 15 to 100 ml, got: 250)")


def test_several_problems_in_one_file_are_all_reported(tmp_path, capsys):
    f = tmp_path / "many.toml"
    f.write_text('[anatomy]\nvolume_ml = "big"\nbladder_volume_ml = 9000\n'
                 '[story]\nlanguage = "xx"\n[[sensors]]\nsite = "nowhere"\n', encoding="utf-8")
    assert main(["check", str(f)]) == 2
    keys = [KEY_LINE.match(line)["key"] for line in capsys.readouterr().err.splitlines()]
    assert sorted(keys) == ["anatomy.bladder_volume_ml", "anatomy.volume_ml", "sensors[1].site",
                            "story.language"]
