"""``cryoviz script``: the story's captions, from the same Story the video plays, to stdout only."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from cryoviz.cli import main
from cryoviz.deliver.vtt import parse_vtt

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def scene_2mm(tmp_path_factory):
    """The default scene on a 2 mm grid (same outcomes, a fast solve)."""
    text = (ROOT / "scenes" / "salvage_whole_gland.toml").read_text(encoding="utf-8")
    text = text.replace("grid_mm = 1.0", "grid_mm = 2.0")
    path = tmp_path_factory.mktemp("script") / "whole.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_script_prints_every_caption_and_writes_no_file(scene_2mm, capsys, tmp_path, monkeypatch):
    from cryoviz.story.session import load_story

    monkeypatch.chdir(tmp_path)
    before = sorted(os.listdir(scene_2mm.parent)), sorted(os.listdir(tmp_path))
    code, out, err = _run(capsys, "script", str(scene_2mm))
    assert code == 0 and err == ""
    assert (sorted(os.listdir(scene_2mm.parent)), sorted(os.listdir(tmp_path))) == before
    story = load_story(scene_2mm)
    assert out.splitlines()[0] == "Whole-gland salvage cryoablation"  # the scene's title
    assert "Not for treatment planning" in out
    for cue in story.cues:
        assert cue.text in out
    for ch in story.chapters:
        assert f"{ch.index}. {ch.title}" in out
    # times are story times: the first cue of "What was spared" at its start
    sp = next(c for c in story.cues if c.about == "target")
    m, s = divmod(sp.start_s, 60)
    assert f"{int(m)}:{s:04.1f}  {sp.text}" in out


def test_script_json_and_vtt_match_the_story(scene_2mm, capsys):
    from cryoviz.story.session import load_story

    story = load_story(scene_2mm, lang="es")
    code, out, _ = _run(capsys, "script", str(scene_2mm), "--lang", "es", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["lang"] == "es" and [c["id"] for c in data["chapters"]] == [c.id for c in story.chapters]
    cues = [c for ch in data["chapters"] for c in ch["cues"]]
    assert [c["text"] for c in cues] == [c.text for c in story.cues]
    assert {c["about"] for c in cues} >= {"target", "rectal_wall", "urethral_wall", "sphincter",
                                           "nerve_bundles", "bladder"}
    code, out, _ = _run(capsys, "script", str(scene_2mm), "--lang", "es", "--format", "vtt")
    assert code == 0 and out.startswith("WEBVTT")
    first, *parsed = parse_vtt(out)
    assert first.text == story.text["common"]["disclaimer"] and first.start_s == 0.0  # shown, in Spanish
    assert "educación" in first.text and first.end_s >= parsed[0].start_s - 1e-3
    assert [c.text for c in parsed] == [c.text for c in story.cues]
    assert parsed[0].start_s == pytest.approx(story.cues[0].start_s, abs=1e-3)


def test_script_bad_arguments_are_contract_errors(scene_2mm, capsys):
    code, out, err = _run(capsys, "script", str(scene_2mm), "--lang", "fr")
    assert code == 2 and out == "" and re.fullmatch(r"argument: --lang: unknown language.*\n", err)
    code, out, err = _run(capsys, "script", str(scene_2mm), "--format", "pdf")
    assert code == 2 and out == "" and "format" in err
    code, out, err = _run(capsys, "script", "no/such/scene.toml")
    assert code == 2 and out == "" and err.startswith("no/such/scene.toml")
