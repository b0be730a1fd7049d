"""``cryoviz export SCENE -o VISIT.html``: the patient's own visit as one offline HTML file.

The file holds everything it needs: the key moments' geometry (:mod:`cryoviz.deliver.scene_export`,
gzip-compressed and base64-encoded, unpacked by the browser's own ``DecompressionStream``), a small
three.js bundle (``vendor/three-viewer.min.js``, MIT, see ``vendor/README.md``), the viewer
(``web/visit.js``) and the text in the chosen language. A Content-Security-Policy with
``connect-src 'none'`` makes the promise explicit: the page never reaches the network.

Why three.js and not vtk.js: measured on the default scene (see ``docs/design-contract.md``, issue 19),
the vtk.js static viewer that PyVista's ``export_html`` writes is larger and cannot be given the key
moments, toggles and accessible controls without rebuilding it; a 550 kB three.js bundle with our own
100-line viewer does all of it.
"""

from __future__ import annotations

import base64
import datetime as _dt
import gzip
import html
import json
import string
from pathlib import Path

import numpy as np

__all__ = ["build_visit_html"]

_HERE = Path(__file__).parent
VENDOR_JS = _HERE / "vendor" / "three-viewer.min.js"


def _e(text: str) -> str:
    return html.escape(str(text), quote=True)


def _pack(geometries: list[dict]) -> tuple[list[dict], str]:
    """Concatenate every geometry's arrays into one buffer (4-byte aligned); return the manifest and the
    gzip+base64 text."""
    parts: list[bytes] = []
    offset = 0
    manifest = []

    def put(arr: np.ndarray) -> list[int]:
        nonlocal offset
        raw = np.ascontiguousarray(arr).tobytes()
        pad = (-len(raw)) % 4
        parts.append(raw + b"\0" * pad)
        where = [offset, int(arr.size)]
        offset += len(raw) + pad
        return where

    for g in geometries:
        entry = {"kind": g["kind"], "points": put(np.asarray(g["points"], "<f4"))}
        if g["kind"] == "mesh":
            entry["triangles"] = put(np.asarray(g["triangles"], "<u4"))
        cols = g.get("colours")
        entry["colours"] = put(np.asarray(cols, np.uint8)) if cols is not None else None
        entry["colour_size"] = int(np.shape(cols)[1]) if cols is not None else 0
        manifest.append(entry)
    blob = gzip.compress(b"".join(parts), compresslevel=9, mtime=0)
    return manifest, base64.b64encode(blob).decode("ascii")


def _list(items) -> str:
    return "".join(f"<li>{_e(x)}</li>" for x in items)


def build_visit_html(story, date: _dt.date | None = None) -> str:
    """Return the visit page of a story (its language) as HTML text.

    Parameters
    ----------
    story : cryoviz.story.timeline.Story
    date : datetime.date, optional
        Date printed on the page (default: today).
    """
    from cryoviz import __version__
    from cryoviz.deliver.scene_export import export_moments
    from cryoviz.deliver.takehome_text import take_home_text
    from cryoviz.view.lesions import LESION_GHOST_OPACITY
    from cryoviz.view.palette import BACKGROUND, ISOTHERM_STYLE

    text, ex, ui = story.text, story.text["export"], story.text["ui"]
    words = take_home_text(story, date)
    data = export_moments(story)
    manifest, blob = _pack(data.geometries)
    moments = []
    for m in data.moments:
        title = ex["moment_lesion"] if m.id == "lesion" else m.title
        moments.append({"id": m.id, "title": title, "camera": m.camera, "actors": m.actors})
    scene_json = json.dumps({
        "geometries": manifest, "moments": moments, "label_anchors": data.label_anchors,
        "centre_mm": data.centre_mm, "background": BACKGROUND, "ui": {"view_3d": ui["view_3d"]},
        "lesion_ghost_opacity": LESION_GHOST_OPACITY,
    }, separators=(",", ":"), ensure_ascii=True).replace("</", "<\\/")

    buttons = "".join(
        f'<button type="button" data-moment="{i}" aria-pressed="{str(i == 0).lower()}">'
        f'{_e(m["title"])}</button>' for i, m in enumerate(moments))
    texts = []
    for i, m in enumerate(data.moments):
        lines = [f.text for f in words.figures if f.key == "lesion"] if m.id == "lesion" else m.captions
        body = "".join(f"<p>{_e(c)}</p>" for c in lines)
        extra = _list(m.readouts)
        texts.append(f'<div data-moment-text="{i}"{"" if i == 0 else " hidden"}>'
                     f'<h3>{_e(moments[i]["title"])}</h3><p class="cv-source">{_e(m.clock)}</p>{body}'
                     f'{f"<ul>{extra}</ul>" if extra else ""}</div>')
    organs = [n for n in data.organ_names if any(a["name"] == f"organ:{n}" or a["name"].endswith(f":{n}")
                                                 for m in moments for a in m["actors"])]
    boxes = "".join(
        f'<label class="cv-check"><input type="checkbox" data-organ-toggle="{_e(n)}" checked> '
        f'<span class="cv-swatch" style="background:{_swatch(n, data)}"></span>{_e(data.organ_names[n])}'
        f'</label>' for n in organs)
    sections = "".join(
        f'<label><input type="radio" name="cv-section" value="{v}"{" checked" if v == "none" else ""}> '
        f'{_e(ex[f"section_{v}"])}</label>' for v in ("none", "sagittal", "transverse"))
    labels = "".join(f'<span data-organ="{_e(n)}" hidden>{_e(data.organ_names[n])}</span>'
                     for n in data.label_anchors if n in organs or n.startswith("lesion:"))
    legend_keys = {0.0: "zero", -20.0: "minus20", -40.0: "minus40"}
    legend = "".join(f'<li><span class="cv-swatch" style="background:{c}"></span> '
                     f'{_e(text["legend"][legend_keys[lvl]])}</li>'
                     for lvl, (c, _o) in sorted(ISOTHERM_STYLE.items(), reverse=True) if lvl in legend_keys)
    story_html = "".join(
        f"<h3>{_e(ch.title)}</h3>" + "".join(f"<p>{_e(c.text)}</p>" for c in story.cues
                                             if ch.start_s <= c.start_s < ch.end_s)
        for ch in story.chapters)
    figures = "".join(
        f"<li>{_e(f.text)}{'' if f.froze is None else ' ' + _e(ex['froze_yes' if f.froze else 'froze_no'])}"
        + "".join(f" {_e(n)}" for n in f.notes) + "</li>" for f in words.figures)
    page = string.Template((_HERE / "web" / "visit.html").read_text(encoding="utf-8"))
    return page.substitute(
        lang=_e(story.lang), version=_e(__version__), title=_e(words.title_html),
        css=(_HERE / "web" / "visit.css").read_text(encoding="utf-8"),
        disclaimer=_e(words.disclaimer),
        prepared_for=f"<p>{_e(words.prepared_for)}</p>" if words.prepared_for else "",
        view_3d=_e(ui["view_3d"]), labels=labels, no_3d=_e(ex["no_3d"]), drag_hint=_e(ex["drag_hint"]),
        turn_left=_e(ex["turn_left"]), turn_right=_e(ex["turn_right"]), zoom_in=_e(ex["zoom_in"]),
        zoom_out=_e(ex["zoom_out"]), reset=_e(ex["reset"]),
        legend=f'<ul class="cv-legend" aria-label="{_e(text["legend"]["title"])}">{legend}</ul>',
        moments_title=_e(ex["moments"]), moment_buttons=buttons, section_title=_e(ex["section"]),
        section_radios=sections, organs_title=_e(ui["organs"]), organ_boxes=boxes, names=_e(ex["names"]),
        this_moment=_e(ex["this_moment"]), moment_texts="".join(texts),
        figures_title=_e(text["spared"]["title"]), model_note=_e(words.model_note), figures=figures,
        figures_source=_e(words.figures_source), after_title=_e(ex["after"]), after=_list(words.after),
        risks_title=_e(ex["risks"]), risks=_list(words.risks), questions_title=_e(ex["questions"]),
        questions=_list(words.questions), whole_story=_e(ex["whole_story"]), story=story_html,
        sources_title=_e(ex["sources"]), sources=_list(words.sources), made_by=_e(words.made_by),
        scene_json=scene_json, blob=blob,
        vendor=VENDOR_JS.read_text(encoding="utf-8").replace("</script", "<\\/script"),
        viewer=(_HERE / "web" / "visit.js").read_text(encoding="utf-8"),
    )


def _swatch(organ: str, data) -> str:
    """The organ's colour as the renderer drew it (first moment that shows it)."""
    for m in data.moments:
        for a in m.actors:
            if a["name"] == f"organ:{organ}":
                r, g, b = (round(255 * c) for c in a["colour"])
                return f"#{r:02x}{g:02x}{b:02x}"
    return "#cccccc"
