"""Small file helpers: atomic writes (a reader never sees a half-written file)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cryoviz.core.errors import InputError

__all__ = ["atomic_path", "atomic_write_text", "check_writable_target"]


def check_writable_target(path: Path, option: str = "-o") -> Path:
    """Fail early (exit-2 error) if ``path`` cannot be written; return it resolved."""
    path = Path(path)
    parent = path.resolve().parent
    if not parent.is_dir():
        raise InputError.one("argument", option, "the folder does not exist", "an existing folder",
                             str(parent))
    if not os.access(parent, os.W_OK):
        raise InputError.one("argument", option, "the folder is not writable", "a writable folder",
                             str(parent))
    if path.is_dir():
        raise InputError.one("argument", option, "is a folder", "a file path", str(path))
    return path


@contextlib.contextmanager
def atomic_path(target: Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only if the block succeeds.

    On any exception (including KeyboardInterrupt) the temporary file is removed and ``target`` is left
    untouched.
    """
    target = Path(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or target.suffix + ".part",
                               dir=target.resolve().parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def atomic_write_text(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` atomically (UTF-8)."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
