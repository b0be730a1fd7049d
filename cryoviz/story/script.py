"""The story as a script a urologist or a translator can read: captions with their times and chapters.

Built from the same :class:`~cryoviz.story.timeline.Story` the video and the app play, so what the script
says is what the patient will hear. Text only; the WebVTT form comes from :mod:`cryoviz.deliver.vtt`.
"""

from __future__ import annotations

import json

__all__ = ["script_data", "script_json", "script_text"]


def _clock(t_s: float) -> str:
    """Story time as ``M:SS.s``."""
    m, s = divmod(max(float(t_s), 0.0), 60.0)
    return f"{int(m)}:{s:04.1f}"


def script_data(story) -> dict:
    """The script as plain data (what ``--format json`` prints).

    Returns
    -------
    dict
        ``scene``, ``lang``, ``title``, ``subtitle``, ``disclaimer``, ``duration_s`` and ``chapters``: each
        with ``id``, ``number``, ``index``, ``title``, ``start_s``, ``end_s`` and ``cues`` (``start_s``,
        ``end_s``, ``text``, ``about``, ``outcome``; ``about`` names the structure or warning a result
        sentence reports).
    """
    text = story.text
    chapters = []
    for ch in story.chapters:
        cues = [{"start_s": round(c.start_s, 3), "end_s": round(c.end_s, 3), "text": c.text,
                 "about": c.about, "outcome": c.outcome}
                for c in story.cues if ch.start_s <= c.start_s < ch.end_s]
        chapters.append({"id": ch.id, "number": ch.number, "index": ch.index, "title": ch.title,
                         "start_s": round(ch.start_s, 3), "end_s": round(ch.end_s, 3), "cues": cues})
    return {
        "scene": str(getattr(story.scene, "path", "")), "lang": story.lang, "title": story.title,
        "subtitle": text["cards"]["opening_subtitle"], "disclaimer": text["common"]["disclaimer"],
        "duration_s": round(story.duration_s, 3), "chapters": chapters,
        "closing": [text["cards"]["closing_title"], text["cards"]["closing_body"]],
    }


def script_json(story) -> str:
    """The script as JSON text (UTF-8, not ASCII-escaped)."""
    return json.dumps(script_data(story), ensure_ascii=False, indent=2) + "\n"


def script_text(story) -> str:
    """The script as plain text: title, disclaimer, then each chapter with its captions and times."""
    d = script_data(story)
    out = [d["title"], d["subtitle"], d["disclaimer"], ""]
    for ch in d["chapters"]:
        out.append(f"[{_clock(ch['start_s'])}] {ch['index']}. {ch['title']}")
        out.extend(f"  {_clock(c['start_s'])}  {c['text']}" for c in ch["cues"])
        out.append("")
    out.append(f"[{_clock(d['duration_s'])}] {d['closing'][0]}")
    out.append(f"  {d['closing'][1]}")
    return "\n".join(out) + "\n"
