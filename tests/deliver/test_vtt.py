"""WebVTT: timestamps, escaping, round trip, and rejection of broken files."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cryoviz.deliver.vtt import Cue, format_timestamp, parse_timestamp, parse_vtt, vtt_text, write_vtt


def test_timestamps_format_hours_minutes_seconds_millis():
    assert format_timestamp(0) == "00:00:00.000"
    assert format_timestamp(3.0) == "00:00:03.000"
    assert format_timestamp(61.2345) == "00:01:01.234"
    assert format_timestamp(3725.5) == "01:02:05.500"
    assert parse_timestamp("01:02:05.500") == pytest.approx(3725.5)
    assert parse_timestamp("02:05.500") == pytest.approx(125.5)


@pytest.mark.parametrize("bad", ["1:2:3", "00:00:61.000", "00:00:01,000", "abc", "00:01.5"])
def test_malformed_timestamps_are_rejected(bad):
    with pytest.raises(ValueError):
        parse_timestamp(bad)


def test_document_layout_and_escaping():
    text = vtt_text([(3.0, 5.5, "Ice <and> salt & water"), Cue(0.5, 2.0, "First\n\n\nsecond line")])
    assert text.startswith("WEBVTT\n\n1\n00:00:00.500 --> 00:00:02.000\nFirst\nsecond line\n\n2\n")
    assert "Ice &lt;and&gt; salt &amp; water" in text
    cues = parse_vtt(text)
    assert [c.text for c in cues] == ["First\nsecond line", "Ice <and> salt & water"]
    assert [(c.start_s, c.end_s) for c in cues] == [(0.5, 2.0), (3.0, 5.5)]


@pytest.mark.parametrize("lang", ["en", "es"])
def test_the_first_cue_says_it_is_for_education_not_treatment_planning(lang):
    from cryoviz.story.text import load_text

    said = load_text(lang)["common"]["disclaimer"]
    first, *rest = parse_vtt(vtt_text([(4.5, 9.0, "Story"), (9.0, 12.0, "more")], said))
    assert first == Cue(0.0, 4.5, said) and [c.text for c in rest] == ["Story", "more"]  # shown, not a NOTE
    assert ("education" in said and "not for treatment planning" in said.lower()) if lang == "en" else \
        ("educación" in said and "no sirve para planificar el tratamiento" in said.lower())
    early = parse_vtt(vtt_text([(0.5, 2.0, "At once")], said, duration_s=2.0))   # a subtitle at once,
    assert early[0] == Cue(0.0, 2.0, said) and early[1].text == "At once"        # a 2-s clip: within it
    assert parse_vtt(vtt_text([], said))[0] == Cue(0.0, 3.0, said)


def test_empty_and_zero_length_cues_are_dropped():
    cues = parse_vtt(vtt_text([(0, 1, "  "), (2, 2, "zero"), (3, 4, "kept")]))
    assert cues == [Cue(3.0, 4.0, "kept")]


def test_reader_accepts_notes_settings_and_short_timestamps():
    doc = ("\ufeffWEBVTT - made elsewhere\r\n\r\nNOTE a comment\r\n\r\n"
           "00:01.000 --> 00:02.500 line:0\r\nHola\r\n")
    assert parse_vtt(doc) == [Cue(1.0, 2.5, "Hola")]


@pytest.mark.parametrize("doc", ["", "WEBVT\n\n1\n00:00:00.000 --> 00:00:01.000\nx\n",
                                 "WEBVTT\n\n1\nno timing here\n",
                                 "WEBVTT\n\n00:00:02.000 --> 00:00:01.000\nbackwards\n"])
def test_broken_documents_are_rejected(doc):
    with pytest.raises(ValueError):
        parse_vtt(doc)


_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=0x24F, blacklist_categories=("Cc",)),
                min_size=1, max_size=40).filter(lambda s: s.strip() and "-->" not in s)


@settings(deadline=None)  # timing-free: a loaded machine must not fail it
@given(st.lists(st.tuples(st.integers(0, 10_000_000), st.integers(1, 100_000), _TEXT), max_size=8))
def test_round_trip_keeps_times_to_the_millisecond_and_text(items):
    cues = [Cue(a / 1000, (a + d) / 1000, t) for a, d, t in items]
    back = parse_vtt(vtt_text(cues))
    want = sorted(cues, key=lambda c: c.start_s)
    assert [(c.start_s, c.end_s) for c in back] == [(c.start_s, c.end_s) for c in want]
    assert [c.text for c in back] == [c.text.strip() for c in want]


def test_write_vtt_is_utf8_and_complete(tmp_path):
    path = tmp_path / "x.vtt"
    write_vtt(path, [(0.0, 1.0, "Congelación a −40 °C")])
    assert parse_vtt(path.read_text(encoding="utf-8"))[0].text == "Congelación a −40 °C"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.vtt"]
