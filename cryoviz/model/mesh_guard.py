"""Safety checks on a patient mesh file before any reader or hash touches it.

A mesh file named in a scene is untrusted: a FIFO makes a reader wait for ever, ``/dev/zero`` never ends,
a 2 GB file costs 2 GB, and a 595-byte ``.vtp`` declaring 5e9 points makes VTK abort the whole process
(SIGABRT, no Python exception). So before reading, :func:`check_mesh_file` demands:

* a **regular file** (after symlinks) of at most :data:`MAX_MESH_BYTES`;
* **declared counts** (read from the header only) of at most :data:`MAX_POINTS` points and
  :data:`MAX_CELLS` cells, and, where the format is not compressed, a file long enough to hold them
  (binary STL: exactly ``84 + 50 n`` bytes).

:func:`file_digest` hashes such a file in 1 MB chunks. Limits are generous for organ surfaces: the finest
organ meshes seen (Slicer exports at 0.5 mm) have about 200,000 triangles.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path

from cryoviz.core.errors import InputError

__all__ = ["MAX_CELLS", "MAX_MESH_BYTES", "MAX_POINTS", "check_mesh_file", "declared_counts", "file_digest"]

#: Largest mesh file read, bytes (256 MiB).
MAX_MESH_BYTES = 256 * 2**20
#: Most points a mesh file may declare.
MAX_POINTS = 5_000_000
#: Most cells (triangles, polygons, strips) a mesh file may declare.
MAX_CELLS = 10_000_000
_HEAD_BYTES = 256 * 1024
_CHUNK = 2**20


def _regular_size(path: Path) -> int | str:
    """The size of a regular file, or why it is not one."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or type(exc).__name__})"
    if stat.S_ISDIR(st.st_mode):
        return "a folder"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file (a pipe, device or socket)"
    return int(st.st_size)


def declared_counts(path: Path, head: bytes, size: int) -> tuple[int, int, str | None]:
    """Points and cells a file's header declares (0 when it says nothing), and a size mismatch or None.

    Parameters
    ----------
    path : Path
        The file (its suffix says the format).
    head : bytes
        Its first bytes (up to 256 KiB).
    size : int
        Its size, bytes.
    """
    suffix = path.suffix.lower()
    if suffix == ".stl":
        n = int.from_bytes(head[80:84], "little") if size >= 84 else -1
        if n >= 0 and size == 84 + 50 * n:
            return 3 * n, n, None              # binary STL (its header may start with "solid" too)
        if head.lstrip()[:5].lower() == b"solid":
            return 0, 0, None                  # ASCII STL: bounded by the file size
        if n < 0:
            return 0, 0, f"{size} bytes, shorter than a binary STL header"
        return 3 * n, n, f"declares {n} triangles ({84 + 50 * n} bytes) in {size} bytes"
    text = head.decode("latin-1")
    if suffix == ".vtp":
        pts = sum(int(v) for v in re.findall(r'NumberOfPoints\s*=\s*"\s*(\d{1,20})\s*"', text))
        cells = sum(int(v) for v in re.findall(
            r'NumberOf(?:Polys|Strips|Lines|Verts|Cells)\s*=\s*"\s*(\d{1,20})\s*"', text))
        return pts, cells, None
    if suffix == ".vtk":
        m = re.search(r"^\s*POINTS\s+(\d{1,20})\s+(\w+)", text, re.M)
        pts = int(m.group(1)) if m else 0
        cells = sum(int(v) for v in re.findall(r"^\s*(?:POLYGONS|TRIANGLE_STRIPS|CELLS|LINES|VERTICES)\s+"
                                               r"(\d{1,20})", text, re.M))
        if m and re.search(r"^\s*BINARY\s*$", text, re.M) and pts * 3 * 4 > size:
            return pts, cells, f"declares {pts} points in {size} bytes"
        return pts, cells, None
    if suffix == ".ply":
        end = text.find("end_header")
        header = text if end < 0 else text[:end]
        m_v = re.search(r"^element\s+vertex\s+(\d{1,20})", header, re.M)
        m_f = re.search(r"^element\s+face\s+(\d{1,20})", header, re.M)
        pts, cells = (int(m_v.group(1)) if m_v else 0), (int(m_f.group(1)) if m_f else 0)
        if "format ascii" not in header and pts * 12 > size:
            return pts, cells, f"declares {pts} vertices in {size} bytes"
        return pts, cells, None
    return 0, 0, None          # OBJ: plain text, bounded by the file size


def check_mesh_file(path: Path, shown: str, key: str) -> int:
    """Refuse a mesh file that is not a regular file of sane size and declared counts; return its size.

    Raises
    ------
    InputError
        ``SHOWN: KEY: what is wrong (allowed: ..., got: ...)``.
    """
    path = Path(path)
    size = _regular_size(path)
    if size == "missing":
        raise InputError.one(shown, key, "mesh file not found",
                             "an existing file (relative to the scene's folder)", str(path))
    if isinstance(size, str):
        raise InputError.one(shown, key, f"mesh file is {size}", "a regular mesh file", str(path))
    if size > MAX_MESH_BYTES:
        raise InputError.one(shown, key, "mesh file too large", f"at most {MAX_MESH_BYTES // 2**20} MiB",
                             f"{size / 2**20:.0f} MiB")
    if size == 0:
        raise InputError.one(shown, key, "mesh file is empty", "a closed triangle surface", "0 bytes")
    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEAD_BYTES)
    except OSError as exc:
        raise InputError.one(shown, key, "mesh file cannot be read", "a readable file",
                             exc.strerror or type(exc).__name__) from None
    pts, cells, mismatch = declared_counts(path, head, size)
    if mismatch:
        raise InputError.one(shown, key, "mesh file is truncated or its header is wrong",
                             "a header that matches the file", mismatch)
    if pts > MAX_POINTS or cells > MAX_CELLS:
        raise InputError.one(shown, key, "mesh file declares too many points or cells",
                             f"at most {MAX_POINTS} points and {MAX_CELLS} cells",
                             f"{pts} points, {cells} cells")
    return size


def file_digest(path: Path, limit: int = MAX_MESH_BYTES) -> str | None:
    """SHA-256 of a regular file, read in 1 MB chunks; None if not a regular file or over ``limit`` bytes."""
    size = _regular_size(Path(path))
    if isinstance(size, str) or size > limit:
        return None
    h = hashlib.sha256()
    read = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            read += len(chunk)
            if read > limit:       # grew while we read
                return None
            h.update(chunk)
    return h.hexdigest()
