"""The printable summary: its text carries the figures `cryoviz simulate --json` writes, in both languages."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess

import numpy as np
import pytest
from _apphelpers import SCENE
from PIL import Image


def _num(value: float, lang: str, decimals: int = 0) -> str:
    """Written independently of the exporter: rounded down (whole degrees and millimetres, the rule of
    every output), decimal comma in Spanish."""
    text = f"{math.floor(value * 10 ** decimals + 1e-9) / 10 ** decimals:.{decimals}f}"
    return text.replace(".", ",") if lang == "es" else text


@pytest.fixture(scope="module")
def metrics(tmp_path_factory):
    from cryoviz.cli import main

    out = tmp_path_factory.mktemp("sim") / "m.json"
    assert main(["simulate", str(SCENE), "--json", str(out)]) == 0
    return json.loads(out.read_text())


@pytest.fixture(scope="module", params=["en", "es"])
def summary(request, tmp_path_factory):
    from cryoviz.cli import main

    out = tmp_path_factory.mktemp("pdf") / f"SUMMARY-{request.param}.pdf"
    assert main(["export", str(SCENE), "-o", str(out), "--lang", request.param]) == 0
    return request.param, out


def _text(path) -> str:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    assert 1 <= len(reader.pages) <= 2
    return re.sub(r"\s+", " ", " ".join(p.extract_text() for p in reader.pages))


def test_summary_carries_the_simulated_figures(summary, metrics):
    lang, path = summary
    text = _text(path)
    organs = metrics["organs"]
    pr = organs["prostate"]
    target = metrics.get("target") or pr
    assert f"{math.floor(target['fraction_below_minus40'] * 100 + 1e-9)} %" in text
    assert f"{math.floor(target['fraction_below_minus20'] * 100 + 1e-9)} %" in text
    for organ in ("rectum_wall", "urethra", "sphincter", "neurovascular_bundles"):
        assert f"{_num(organs[organ]['min_temp_c'], lang)} °C" in text, organ
    gap = organs["rectum_wall"]["min_distance_to_minus40_mm"]
    assert f"{_num(gap, lang)} mm" in text
    for lesion in metrics.get("lesions", []) or []:
        assert lesion["name"] in text


def test_summary_says_what_happens_after_and_that_it_is_a_model(summary):
    from cryoviz.story.text import load_text

    lang, path = summary
    text = _text(path)
    t = load_text(lang)
    assert t["common"]["disclaimer"] in text
    from cryoviz import __version__

    assert f"cryoviz {__version__}" in text and re.search(r"\d{4}-\d\d-\d\d", text)
    assert ("3 months" if lang == "en" else "3 meses") in text
    assert ("about a week" if lang == "en" else "una semana") in text
    assert t["export"]["question_list"][0] in text
    assert "AUA" in text and "COLD" not in text  # a whole-gland plan: no figure of men treated on part of it
    assert SCENE.stem not in text  # no file name that could identify a patient


def test_pdftoppm_renders_a_printable_page(summary, tmp_path):
    _lang, path = summary
    pdftoppm = shutil.which("pdftoppm")
    assert pdftoppm, "poppler-utils (pdftoppm) is needed"
    subprocess.run([pdftoppm, "-r", "50", "-png", str(path), str(tmp_path / "p")], check=True, timeout=60)
    pages = sorted(tmp_path.glob("p*.png"))
    assert 1 <= len(pages) <= 2
    img = np.asarray(Image.open(pages[0]).convert("L"), int)
    # mostly white paper (cheap to print), with text and pictures on it
    assert np.mean(img > 240) > 0.6
    assert np.mean(img < 100) > 0.01


def test_same_scene_and_date_give_the_same_file(tmp_path):
    import datetime as dt

    from cryoviz.deliver.export import export_story
    from cryoviz.story.session import load_story

    story = load_story(SCENE)
    a = export_story(story, tmp_path / "a.pdf", date=dt.date(2026, 1, 2)).read_bytes()
    b = export_story(story, tmp_path / "b.pdf", date=dt.date(2026, 1, 2)).read_bytes()
    assert a == b
