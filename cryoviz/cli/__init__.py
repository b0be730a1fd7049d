"""The ``cryoviz`` command line (contract in ``docs/architecture.md``).

Bad input exits 2 with one ``PATH: key.path: what is wrong (allowed: ..., got: ...)`` line per problem;
an internal error exits 1. Heavy modules are imported inside the subcommand that needs them so that
``cryoviz check`` starts fast and never touches a renderer.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from cryoviz.core.errors import InputError
from cryoviz.model.scene import DEFAULT_SCENE

__all__ = ["DEFAULT_SCENE", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad arguments in the contract's one-line form and exits 2."""

    def error(self, message: str) -> None:  # pragma: no cover - exercised through main()
        raise InputError.one("argument", self.prog.replace("cryoviz ", "") or "cryoviz", message)


def _size(text: str) -> tuple[int, int]:
    try:
        w_s, h_s = text.lower().split("x")
        w, h = int(w_s), int(h_s)
    except ValueError:
        raise InputError.one("argument", "--size", "not a WIDTHxHEIGHT size",
                             "two even whole numbers such as 1280x720", text) from None
    if not (16 <= w <= 7680 and 16 <= h <= 4320) or w % 2 or h % 2:
        raise InputError.one("argument", "--size", "size out of range or odd",
                             "even sizes from 16x16 to 7680x4320", text)
    return w, h


def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="cryoviz", description="Patient-education views of salvage prostate cryoablation. "
                "For education, not treatment planning.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    s = sub.add_parser("serve", help="consultation app in the browser")
    s.add_argument("scene", nargs="?", type=Path, default=None)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--auth-key", default=None)
    s.add_argument("--auth-key-file", type=Path, default=None,
                   help="file holding the key (or set CRYOVIZ_AUTH_KEY): keeps it out of ps")
    s.add_argument("--no-browser", action="store_true", help="do not open a browser window")

    r = sub.add_parser("render", help="education video (MP4) with WebVTT subtitles")
    r.add_argument("scene", type=Path)
    r.add_argument("-o", "--output", type=Path, required=True)
    r.add_argument("--size", type=_size, default=(1280, 720))
    r.add_argument("--fps", type=int, default=30)
    r.add_argument("--lang", default=None)
    r.add_argument("--jobs", type=int, default=None)
    r.add_argument("--no-captions", action="store_true", help="do not burn captions into the picture")
    r.add_argument("--ultrasound", action="store_true", help="picture-in-picture ultrasound view")
    r.add_argument("--duration", type=float, default=None,
                   help="render only the first SECONDS of the story (previews, tests)")

    st = sub.add_parser("still", help="one frame as PNG")
    st.add_argument("scene", type=Path)
    g = st.add_mutually_exclusive_group(required=True)
    g.add_argument("--time", type=float)
    g.add_argument("--chapter")
    st.add_argument("-o", "--output", type=Path, required=True)
    st.add_argument("--size", type=_size, default=(1280, 720))
    st.add_argument("--lang", default=None)
    st.add_argument("--view", default="story",
                    help="story (the story's camera), sagittal or transverse (a section view)")

    sc = sub.add_parser("script", help="the story's captions with times and chapters, without rendering")
    sc.add_argument("scene", type=Path)
    sc.add_argument("--lang", default=None)
    sc.add_argument("--format", default="txt", choices=["txt", "vtt", "json"])

    sm = sub.add_parser("simulate", help="run the thermal model and write the metrics")
    sm.add_argument("scene", type=Path)
    sm.add_argument("--json", type=Path, default=None)
    sm.add_argument("--grid-mm", type=float, default=None)
    sm.add_argument("--no-cache", action="store_true")

    ex = sub.add_parser("export", help="take-home visit page (.html) or printable summary (.pdf)")
    ex.add_argument("scene", type=Path)
    ex.add_argument("-o", "--output", type=Path, required=True)
    ex.add_argument("--lang", default=None)

    c = sub.add_parser("check", help="validate scene files")
    c.add_argument("scenes", nargs="+", type=Path)

    im = sub.add_parser("import", help="a patient's own anatomy from label maps, RT structure sets or meshes")
    im.add_argument("sources", nargs="+", type=Path,
                    help="NIfTI/NRRD label maps, a DICOM RT structure set, STL/VTP/OBJ/PLY/VTK surfaces")
    im.add_argument("-o", "--output", type=Path, required=True, help="scene file to write (.toml)")
    im.add_argument("--organ", action="append", default=[], metavar="NAME=ORGAN",
                    help="say which organ a structure, segment, label or file is (or 'ignore')")
    im.add_argument("--units", choices=["mm", "cm", "m"], default=None,
                    help="units of mesh files (default mm)")
    im.add_argument("--frame", choices=["LPS", "RAS"], default=None,
                    help="frame of mesh files without a SPACE= marker (default LPS)")

    m = sub.add_parser("meshes", help="regenerate the default anatomy meshes")
    m.add_argument("--out", type=Path, default=Path("meshes"))

    b = sub.add_parser("bench", help="performance figures beside the naive peers")
    b.add_argument("what", nargs="?", default="all",
                   choices=["thermal", "video", "app", "ultrasound", "soak", "all"])
    b.add_argument("--quick", action="store_true", help="fewer repeats (smoke run)")
    return p


#: errno values of a disk that cannot take the output: full, over quota, read-only.
_DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


def _internal_error(exc: BaseException) -> int:
    """An internal error: one line, exit 1 (``CRYOVIZ_DEBUG=1`` raises it for the traceback)."""
    if os.environ.get("CRYOVIZ_DEBUG"):
        raise exc
    print(f"cryoviz: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    try:
        args = _build_parser().parse_args(argv)
        from cryoviz.cli import commands

        return int(getattr(commands, f"cmd_{args.command}")(args) or 0)
    except InputError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cryoviz: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        if exc.errno not in _DISK_ERRNOS:
            return _internal_error(exc)
        print(InputError.one(str(exc.filename or "output"), "output", "cannot write the output",
                             "a disk with free space that this user may write to", exc.strerror or str(exc)),
              file=sys.stderr)
        return 2
    except Exception as exc:
        return _internal_error(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
