"""On-disk cache of thermal results, keyed by a hash of everything that affects them.

One folder per key under ``$CRYOVIZ_CACHE`` (default ``~/.cache/cryoviz``)::

    thermal-<key>/arrays.npz     small arrays (times, min temperature, labels, sensors, probe temps)
    thermal-<key>/temps.npy      the temperature snapshots (float16), memory-mapped on load
    thermal-<key>/meta.json      metrics, probes, sensor positions, grid

A folder is written under a temporary name and renamed into place (readers never see half a result). A
folder that cannot be read (corrupt, truncated, wrong shape, a ``meta.json`` that is not an object) is
treated as missing and rewritten. A temporary folder (``.thermal-<key>.<pid>.*``, about 180 MB at 1 mm)
left by a writer that was killed is swept by the next store: its process is gone, or it is older than
:data:`STALE_TEMP_S`.

Size limit: after every store the least recently used results are deleted until the thermal results
together take at most :func:`limit_bytes` (``$CRYOVIZ_CACHE_MAX_GB``, default 2 GB; one 1 mm result of the
default scene is about 190 MB). A load marks a result as used (the folder's ``meta.json`` time). A result
another process has memory-mapped stays readable after its deletion (the kernel keeps an unlinked file
until the last mapping goes). diskcache was considered: it evicts by its own records, but a result here is
a folder of files memory-mapped in place, which its values cannot be.
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

__all__ = ["cache_dir", "discard", "evict", "hash_key", "is_stored", "limit_bytes", "load", "open_temps",
           "source_digest", "store", "sweep_temp"]

_FORMAT = 1
#: Default size limit of the thermal results, GB (about ten 1 mm results of the default scene).
DEFAULT_MAX_GB = 2.0
#: Age after which a temporary result folder is swept even if its writer's process id is alive, s (a 1 mm
#: solve plus its write takes minutes; a pid may be reused or belong to another machine sharing the cache).
STALE_TEMP_S = 6 * 3600.0


def cache_dir(override: str | Path | None = None) -> Path:
    """The cache folder: ``override``, else ``$CRYOVIZ_CACHE``, else ``~/.cache/cryoviz``."""
    if override is not None:
        return Path(override)
    env = os.environ.get("CRYOVIZ_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "cryoviz"


def limit_bytes() -> int:
    """The cache's size limit, bytes: ``$CRYOVIZ_CACHE_MAX_GB`` (a number of GB) or 2 GB.

    A value that is not a positive number is ignored (the default applies); ``0`` is not allowed, because
    the result just stored would be deleted at once.
    """
    raw = os.environ.get("CRYOVIZ_CACHE_MAX_GB", "")
    try:
        gb = float(raw) if raw.strip() else DEFAULT_MAX_GB
    except ValueError:
        gb = DEFAULT_MAX_GB
    if not gb > 0 or gb != gb:
        gb = DEFAULT_MAX_GB
    return int(gb * 1024 ** 3)


def _folder_bytes(path: Path) -> int:
    total = 0
    for p in path.iterdir():
        with contextlib.suppress(OSError):
            total += p.stat().st_size
    return total


def _last_used(path: Path) -> float:
    try:
        return (path / "meta.json").stat().st_mtime
    except OSError:
        return 0.0


def evict(folder: str | Path, limit: int | None = None, keep: str | None = None) -> list[str]:
    """Delete the least recently used thermal results until the rest take at most ``limit`` bytes.

    Parameters
    ----------
    folder : path-like
        The cache folder.
    limit : int, optional
        Bytes (default :func:`limit_bytes`).
    keep : str, optional
        A key never deleted (the result just stored), even if it alone is over the limit.

    Returns
    -------
    list of str
        The keys deleted, oldest first.
    """
    limit = limit_bytes() if limit is None else int(limit)
    try:
        entries = [p for p in Path(folder).iterdir() if p.is_dir() and p.name.startswith("thermal-")]
    except OSError:
        return []
    sized = sorted(((_last_used(p), p, _folder_bytes(p)) for p in entries), key=lambda e: e[0])
    total = sum(e[2] for e in sized)
    gone = []
    for _used, path, size in sized:
        if total <= limit:
            break
        key = path.name.removeprefix("thermal-")
        if key == keep:
            continue
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            total -= size
            gone.append(key)
    return gone


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:           # exists, owned by someone else
        return True
    return True


def sweep_temp(folder: str | Path, max_age_s: float = STALE_TEMP_S) -> list[str]:
    """Delete temporary result folders whose writer died (SIGKILL, power loss); return their names.

    A folder ``.thermal-<key>.<pid>.<random>`` goes when process ``pid`` no longer exists or the folder is
    older than ``max_age_s``; one without a pid (older layout) goes by age only.
    """
    import time

    gone = []
    try:
        entries = [p for p in Path(folder).iterdir() if p.name.startswith(".thermal-") and p.is_dir()]
    except OSError:
        return gone
    now = time.time()
    for p in entries:
        parts = p.name.split(".")
        pid = int(parts[2]) if len(parts) >= 4 and parts[2].isdigit() else None
        try:
            age = now - p.stat().st_mtime
        except OSError:
            continue
        if (pid is not None and pid != os.getpid() and not _pid_alive(pid)) or age > max_age_s:
            shutil.rmtree(p, ignore_errors=True)
            gone.append(p.name)
    return gone


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
        if not isinstance(meta, dict) or meta.get("key") != key:
            return None
        with open(d / "arrays.npz", "rb") as fh, np.load(fh, allow_pickle=False) as z:   # closed if corrupt
            arrays = {name: z[name] for name in z.files}
        temps = np.load(d / "temps.npy", mmap_mode="r", allow_pickle=False)
        nt = arrays["times_s"].shape[0]
        if temps.shape != (nt, *arrays["labels"].shape) or arrays["min_temp_c"].shape != temps.shape[1:]:
            return None
    except Exception:   # truncated zip (BadZipFile), wrong dtype, anything: rebuilt by the next store
        return None
    with contextlib.suppress(OSError):
        os.utime(d / "meta.json")          # used now: the last to be evicted
    return {"meta": meta, "arrays": arrays, "temps": temps}


def _temp_folder(folder: Path, key: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    sweep_temp(folder)
    return Path(tempfile.mkdtemp(prefix=f".thermal-{key}.{os.getpid()}.", dir=folder))


def _own_temps(folder: Path, key: str, temps) -> Path | None:
    """The temporary folder of ``key`` whose ``temps.npy`` ``temps`` is (:func:`open_temps`), or None."""
    name = getattr(temps, "filename", None)
    if not isinstance(temps, np.memmap) or not name:
        return None
    tmp = Path(name).parent
    ok = (Path(name).name == "temps.npy" and tmp.parent == Path(os.path.abspath(folder))
          and tmp.name.startswith(f".thermal-{key}.{os.getpid()}."))
    return tmp if ok else None


def open_temps(folder: Path, key: str, shape: tuple[int, ...], dtype) -> np.memmap | None:
    """A new result's ``temps.npy``, created in its temporary folder and mapped for writing; None if the
    cache cannot be written.

    The solver writes its snapshots straight into it, and :func:`store` of the same key then renames the
    folder into place: the snapshots (about 180 MB at 1 mm) are neither copied again nor written a second
    time. Pages are left to the kernel to write back (no ``msync``), as :func:`numpy.save` leaves them; a
    reader in another process maps the same pages. :func:`discard` removes it when the run fails.
    """
    try:
        tmp = _temp_folder(Path(folder), key)
    except OSError:
        return None
    try:
        return np.lib.format.open_memmap(tmp / "temps.npy", mode="w+", dtype=dtype, shape=tuple(shape))
    except (OSError, ValueError):
        shutil.rmtree(tmp, ignore_errors=True)
        return None


def discard(folder: Path, key: str, temps) -> None:
    """Remove the temporary folder of an :func:`open_temps` array that will not be stored (a failed run)."""
    tmp = _own_temps(Path(folder), key, temps)
    if tmp is not None:
        shutil.rmtree(tmp, ignore_errors=True)


def store(folder: Path, key: str, meta: dict, arrays: dict[str, np.ndarray], temps: np.ndarray) -> None:
    """Write a result atomically (temporary folder renamed into place); errors writing are ignored.

    ``temps`` from :func:`open_temps` of the same key is already in its temporary folder: only the small
    arrays and the metadata are written beside it.
    """
    folder = Path(folder)
    target = folder / f"thermal-{key}"
    tmp = _own_temps(folder, key, temps)
    try:
        if tmp is None:
            tmp = _temp_folder(folder, key)
            np.save(tmp / "temps.npy", np.ascontiguousarray(temps), allow_pickle=False)
    except OSError:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    try:
        np.savez(tmp / "arrays.npz", **arrays)
        (tmp / "meta.json").write_text(json.dumps({**meta, "key": key}), encoding="utf-8")
        if target.exists():  # a corrupt or stale copy: replace it
            shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    except OSError:
        pass
    else:
        evict(folder, keep=key)
    finally:
        with contextlib.suppress(OSError):
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
