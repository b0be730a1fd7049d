"""On-disk cache of thermal results, keyed by a hash of everything that affects them.

One folder per key under ``$CRYOVIZ_CACHE`` (default ``~/.cache/cryoviz``)::

    thermal-<key>/arrays.npz     small arrays (times, min temperature, labels, sensors, probe temps)
    thermal-<key>/temps.npy      the temperature snapshots (float16), memory-mapped on load
    thermal-<key>/meta.json      metrics, probes, sensor positions, grid

A folder is written under a temporary name and renamed into place (readers never see half a result). A
folder that cannot be read (corrupt, truncated, wrong shape) is treated as missing and rewritten.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["cache_dir", "hash_key", "is_stored", "load", "source_digest", "store"]

_FORMAT = 1


def cache_dir(override: str | Path | None = None) -> Path:
    """The cache folder: ``override``, else ``$CRYOVIZ_CACHE``, else ``~/.cache/cryoviz``."""
    if override is not None:
        return Path(override)
    env = os.environ.get("CRYOVIZ_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "cryoviz"


def hash_key(parts: dict) -> str:
    """A stable hex key for a JSON-able description of a run."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(f"{_FORMAT}:{text}".encode()).hexdigest()[:32]


@functools.cache
def source_digest(packages: tuple[str, ...]) -> str:
    """SHA-256 of every ``.py`` file (path and bytes, in sorted order) of the named subpackages of cryoviz,
    read once per process: part of a cache key, so that a change in the code computes anew.

    Parameters
    ----------
    packages : tuple of str
        Subpackage folders relative to the ``cryoviz`` package, e.g. ``("model", "physics")``.
    """
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for name in packages:
        for p in sorted((root / name).rglob("*.py")):
            h.update(p.relative_to(root).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def is_stored(folder: Path, key: str) -> bool:
    """Whether a result for ``key`` is in ``folder`` (presence only; :func:`load` checks it is readable)."""
    return (Path(folder) / f"thermal-{key}" / "meta.json").is_file()


def load(folder: Path, key: str) -> dict | None:
    """Return the stored parts for ``key`` or ``None`` if absent or unreadable."""
    d = Path(folder) / f"thermal-{key}"
    if not d.is_dir():
        return None
    try:
        meta = json.loads((d / "meta.json").read_text(encoding="utf-8"))
        if meta.get("key") != key:
            return None
        with np.load(d / "arrays.npz", allow_pickle=False) as z:
            arrays = {name: z[name] for name in z.files}
        temps = np.load(d / "temps.npy", mmap_mode="r", allow_pickle=False)
        nt = arrays["times_s"].shape[0]
        if temps.shape != (nt, *arrays["labels"].shape) or arrays["min_temp_c"].shape != temps.shape[1:]:
            return None
    except (OSError, ValueError, KeyError, json.JSONDecodeError, EOFError):
        return None
    return {"meta": meta, "arrays": arrays, "temps": temps}


def store(folder: Path, key: str, meta: dict, arrays: dict[str, np.ndarray], temps: np.ndarray) -> None:
    """Write a result atomically (temporary folder renamed into place); errors writing are ignored."""
    folder = Path(folder)
    target = folder / f"thermal-{key}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".thermal-{key}.", dir=folder))
    except OSError:
        return
    try:
        np.save(tmp / "temps.npy", np.ascontiguousarray(temps), allow_pickle=False)
        np.savez(tmp / "arrays.npz", **arrays)
        (tmp / "meta.json").write_text(json.dumps({**meta, "key": key}), encoding="utf-8")
        if target.exists():  # a corrupt or stale copy: replace it
            shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
