"""Shape limits checked before the TOML parser: every real scene passes, the memory bombs do not."""

from __future__ import annotations

from pathlib import Path

import pytest

from cryoviz.model.scene_limits import MAX_KEY_DOTS, MAX_NESTING, shape_problem

REPO = Path(__file__).resolve().parents[2]


def test_every_scene_in_the_repository_passes():
    scenes = [*REPO.glob("scenes/**/*.toml"), *REPO.glob("tests/**/*.toml"), *REPO.glob("docs/**/*.toml")]
    assert len(scenes) >= 5
    for path in scenes:
        assert shape_problem(path.read_text(encoding="utf-8", errors="replace")) is None, path


@pytest.mark.parametrize("text, line, what", [
    ("a." * 40_000 + "a = 1\n", 1, "key with too many dotted parts"),
    ("title = 'x'\n[" + "t." * 50 + "t]\n", 2, "key with too many dotted parts"),
    ("x = {" + "k." * 20 + "k = 1}\n", 1, "key with too many dotted parts"),
    ("x = [{a = 1}, {" + "b." * 20 + "b = 2}]\n", 1, "key with too many dotted parts"),
    ("x = " + "[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1) + "\n", 1,
     "lists or tables nested too deeply"),
    ("k" * 300 + " = 1\n", 1, "key too long"),
])
def test_bombs_are_refused_with_their_line(text, line, what):
    got = shape_problem(text)
    assert got is not None and got[0] == line and got[1] == what


def test_dots_in_strings_comments_and_numbers_are_not_key_parts():
    dots = "." * (MAX_KEY_DOTS + 5)
    assert shape_problem(f'"a{dots}b" = 1.5\nc = "{dots}"\n# {dots}\nd = """\n{dots}\n"""\n') is None
    assert shape_problem(f"e = '{dots}'\nf = [1.5, 2.5, {{g = 0.5}}]\n[anatomy.meshes]\n") is None
