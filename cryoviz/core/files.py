"""Small file helpers: atomic writes (a reader never sees a half-written file) and output-target checks.

Inputs are never overwritten: :func:`check_writable_target` refuses a target that is one of the command's
inputs (the same file by ``os.path.samefile``, or the same resolved path), so ``cryoviz simulate S --json S``
or ``render X.vtt -o X.mp4`` (whose subtitles would go to ``X.vtt``) stop with exit 2 before anything runs.
Outputs get ordinary permissions (``0666`` less the umask, or the mode of the file they replace), not the
private ``0600`` of a temporary file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cryoviz.core.errors import InputError

__all__ = ["atomic_path", "atomic_write_text", "check_writable_target"]


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_writable_target(path: Path, option: str = "-o", inputs=()) -> Path:
    """Fail early (exit-2 error) if ``path`` cannot be written or is one of ``inputs``; return it.

    Parameters
    ----------
    path : path-like
        The file the command will write (check each sidecar it writes too).
    option : str
        The option that named it, for the error line.
    inputs : iterable of path-like
        Files the command reads (scene, meshes): the target must be none of them.
    """
    path = Path(path)
    for src in inputs:
        if src is not None and _same_file(path, Path(src)):
            raise InputError.one("argument", option, "would overwrite an input", "a new file name",
                                 str(path))
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
        with contextlib.suppress(OSError):
            os.chmod(tmp_path, _ordinary_mode(target))
        os.replace(tmp_path, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def _ordinary_mode(target: Path) -> int:
    """The mode a new file gets (``0666`` less the umask), or that of the file being replaced."""
    try:
        return os.stat(target).st_mode & 0o7777
    except OSError:
        pass
    umask = 0o022
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                umask = int(line.split()[1], 8)
    return 0o666 & ~umask


def atomic_write_text(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` atomically (UTF-8)."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
