"""``cryoviz export``: the take-home files of a scene, chosen by the output's suffix.

``.html`` writes the visit page (:mod:`cryoviz.deliver.export_html`), ``.pdf`` the printable summary
(:mod:`cryoviz.deliver.export_pdf`). Both are written atomically with ordinary file permissions (a patient
copies them to a stick or mails them), in the story's language.
"""

from __future__ import annotations

import datetime as _dt
import os
import time
from pathlib import Path

from cryoviz.core.errors import InputError

__all__ = ["KINDS", "export_file", "export_story", "write_take_home"]

#: Output suffix -> kind.
KINDS = {".html": "html", ".htm": "html", ".pdf": "pdf"}


def _kind(out: Path) -> str:
    kind = KINDS.get(Path(out).suffix.lower())
    if kind is None:
        raise InputError.one("argument", "-o", "unknown output type", ", ".join(sorted(KINDS)),
                             Path(out).name)
    return kind


def ordinary_mode(path: Path) -> None:
    """Give ``path`` the permissions a new file gets here (0666 less the umask), not a temp file's 0600."""
    umask = os.umask(0o022)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def export_story(story, out: Path, date: _dt.date | None = None) -> Path:
    """Write the take-home file ``out`` (``.html`` or ``.pdf``) of an already built story."""
    from cryoviz.core.files import atomic_path

    out = Path(out)
    kind = _kind(out)
    with atomic_path(out) as tmp:
        if kind == "html":
            from cryoviz.deliver.export_html import build_visit_html

            tmp.write_text(build_visit_html(story, date), encoding="utf-8")
        else:
            from cryoviz.deliver.export_pdf import build_summary_pdf

            tmp.write_bytes(build_summary_pdf(story, date))
        ordinary_mode(tmp)
    return out


def export_file(scene_path, out: Path, lang: str | None = None) -> Path:
    """Load a scene's story and write its take-home file; bad arguments fail before any work."""
    from cryoviz.core.files import check_writable_target
    from cryoviz.story.session import check_lang, load_story

    check_lang(lang)
    _kind(out)
    out = check_writable_target(Path(out), "-o", inputs=(scene_path,))
    return export_story(load_story(scene_path, lang=lang), out)


def write_take_home(story, folder: Path) -> list[Path]:
    """Write both take-home files of a story into ``folder`` (the app's "Take home" button).

    The names carry the kind, language and time (``cryoviz-visit-es-20261130-154200.html``), never a patient
    name or the scene's file name. Runs in the caller's thread (about 10 s on a 2-core machine): the
    summary renders with VTK, which is not shared across threads here.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return [export_story(story, folder / f"cryoviz-{kind}-{story.lang}-{stamp}.{ext}")
            for kind, ext in (("visit", "html"), ("summary", "pdf"))]
