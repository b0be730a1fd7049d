"""``cryoviz export SCENE -o SUMMARY.pdf``: a one- or two-page summary to print and keep (fpdf2).

Printable in black and white: black text on white, the pictures on a white background, and every picture
explained in words (nothing is told by colour alone). It holds a 3D still and a side cut of "what was
spared", the patient's figures in plain words (:mod:`cryoviz.deliver.takehome_text`, the same numbers as
``cryoviz simulate --json``), what happens after, the risks with their sources, questions to ask the care
team, sources and the disclaimer, with the date and cryoviz version on every page.

The core PDF font (Helvetica, Latin-1) is enough: the text files are Latin-1 by rule (see ``lang/en.toml``),
so no font file has to ship.
"""

from __future__ import annotations

import datetime as _dt

import numpy as np

__all__ = ["build_summary_pdf", "summary_pictures"]

#: Pixel size of each picture (16:10), drawn 89 mm wide on the page (about 270 dpi): the summary fits one
#: page in both languages with the pictures this size.
PICTURE_PX = (960, 600)
_WHITE = "#ffffff"


def _for_paper(r) -> np.ndarray:
    """The renderer's picture on white, with its organ names (laid out by the renderer) but without the
    on-screen overlay text (title, clock, caption, disclaimer, legend: the page says them in words)."""
    from vtkmodules.vtkRenderingCore import vtkProp

    r.plotter.set_background(_WHITE)
    for value in vars(r.overlay).values():
        for prop in value if isinstance(value, list | tuple) else (value,):
            if isinstance(prop, vtkProp):
                prop.SetVisibility(False)
    return r.image()


def summary_pictures(story, size: tuple[int, int] = PICTURE_PX) -> tuple[np.ndarray, np.ndarray]:
    """A 3D still (the probes in place) and the renderer's side cut (sagittal section) of "what was
    spared", for print.

    Both come from the project's :class:`~cryoviz.view.render.SceneRenderer` on a white background: the 3D
    still at the story's "probes" moment (the first chapter when there is none), the section at its
    "what was spared" moment (its last chapter when there is none) with ``view="sagittal"`` — the
    renderer's capped section with the coldest temperature reached as ice bands.

    Returns
    -------
    (still, section) : two (H, W, 3) uint8 arrays
    """
    from cryoviz.view.render import STILL_DEPTH_PEELS, SceneRenderer

    def at(chapter: str, fallback) -> float:
        t = story.chapter_time(chapter)
        return story.chapter_time(fallback.id) if t is None else t

    r = SceneRenderer(story, size, captions=False, depth_peels=STILL_DEPTH_PEELS, shell_mm=None)
    try:
        r.apply(story.state_at(at("probes", story.chapters[0])))
        still = _for_paper(r)
        r.set_options(view="sagittal")
        r.apply(story.state_at(at("spared", story.chapters[-1])))
        section = _for_paper(r)
    finally:
        r.close()
    return still, section


def build_summary_pdf(story, date: _dt.date | None = None) -> bytes:
    """Return the printable summary of a story (its language) as PDF bytes.

    Parameters
    ----------
    story : cryoviz.story.timeline.Story
    date : datetime.date, optional
        Date printed on every page and set as the PDF's creation date (default: today), so the same scene
        and date give the same file.
    """
    from fpdf import FPDF
    from PIL import Image

    from cryoviz import __version__
    from cryoviz.deliver.takehome_text import take_home_text

    date = date or _dt.date.today()
    words = take_home_text(story, date)
    ex, text = story.text["export"], story.text
    still, section = summary_pictures(story)

    class _Summary(FPDF):
        def footer(self) -> None:
            self.set_y(-16)
            self.set_font("helvetica", "B", 8)
            self.cell(0, 4, words.disclaimer, new_x="LMARGIN", new_y="NEXT", align="C")
            self.set_font("helvetica", "", 8)
            page = ex["page"].format(page=self.page_no(), pages="{nb}")
            self.cell(0, 4, f"{words.made_by}  {page}", align="C")

    pdf = _Summary(format="A4", unit="mm")
    pdf.set_creation_date(_dt.datetime.combine(date, _dt.time(12, 0), tzinfo=_dt.UTC))
    pdf.set_title(words.title_pdf)
    pdf.set_author(f"cryoviz {__version__} (computer model, for education)")
    pdf.set_creator(f"cryoviz {__version__}")
    pdf.set_lang(story.lang)
    pdf.set_margins(14, 12, 14)
    pdf.set_auto_page_break(True, margin=20)
    pdf.add_page()
    w = pdf.epw

    def heading(title: str) -> None:
        pdf.ln(1.5)
        pdf.set_font("helvetica", "B", 11.5)
        pdf.cell(0, 6.5, title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", "", 9.5)

    def bullets(lines) -> None:
        pdf.set_font("helvetica", "", 9.5)
        for line in lines:
            pdf.set_x(pdf.l_margin)
            pdf.cell(4, 4.6, "-")
            pdf.multi_cell(w - 4, 4.5, line, new_x="LMARGIN", new_y="NEXT", align="L")

    pdf.set_font("helvetica", "B", 15)
    pdf.multi_cell(w, 7.5, words.title_pdf, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "B", 10)
    pdf.multi_cell(w, 5, words.disclaimer, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "", 9)
    if words.prepared_for:
        pdf.multi_cell(w, 4.5, words.prepared_for, new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(w, 4.5, words.made_by, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    y0, pic_w = pdf.get_y(), (w - 4) / 2
    pic_h = pic_w * still.shape[0] / still.shape[1]
    for k, (img, caption) in enumerate(((still, ex["picture_3d"]), (section, ex["picture_section"]))):
        x = pdf.l_margin + k * (pic_w + 4)
        pdf.image(Image.fromarray(img), x=x, y=y0, w=pic_w, h=pic_h)
        pdf.rect(x, y0, pic_w, pic_h)
        pdf.set_xy(x, y0 + pic_h + 0.8)
        pdf.set_font("helvetica", "B", 9)
        pdf.cell(pic_w, 4.5, caption)
    pdf.set_xy(pdf.l_margin, y0 + pic_h + 6)
    pdf.set_font("helvetica", "", 8.5)
    legend = [text["legend"][k] for k in ("zero", "minus20", "minus40")]
    pdf.multi_cell(w, 4.2, f'{text["legend"]["title"]}: ' + "; ".join(legend) + ".",
                   new_x="LMARGIN", new_y="NEXT")

    heading(ex["figures"])
    pdf.multi_cell(w, 4.6, words.model_note, new_x="LMARGIN", new_y="NEXT")
    froze = {True: ex["froze_yes"], False: ex["froze_no"], None: ""}
    bullets([" ".join(p for p in (f.text, froze[f.froze], *f.notes) if p) for f in words.figures])
    pdf.set_font("helvetica", "I", 8.5)
    pdf.multi_cell(w, 4.2, words.figures_source, new_x="LMARGIN", new_y="NEXT")
    heading(ex["after"])
    bullets(words.after)
    heading(ex["risks"])
    bullets(words.risks)
    heading(ex["questions"])
    bullets(words.questions)
    heading(ex["sources"])
    pdf.set_font("helvetica", "", 8.5)
    for line in words.sources:
        pdf.multi_cell(w, 4.2, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
