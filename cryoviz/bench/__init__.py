"""``cryoviz bench``: performance figures of each part beside its naive peer.

Each part lives in ``cryoviz.bench.<part>`` with ``run(quick=False, out=None) -> dict`` and is imported
only when asked for, so a part that is not built yet does not stop the others.
"""

from __future__ import annotations

import importlib
import sys

__all__ = ["EXTRA_PARTS", "PARTS", "run_bench"]

#: Benchmark parts in the order ``all`` runs them.
PARTS = ("thermal", "video", "app", "ultrasound")
#: Parts run only when named (long): the 10-minute hostile soak of the consultation server.
EXTRA_PARTS = ("soak",)


def run_bench(what: str = "all", quick: bool = False, out=None) -> dict:
    """Run one part's benchmark (or every part with ``"all"``); return ``{part: figures or None}``.

    Parameters
    ----------
    what : str
        One of :data:`PARTS` or ``"all"``.
    quick : bool
        Fewer repeats, shorter runs (a smoke run).
    out : text stream or path-like, optional
        Where summary lines go (a stream) or where the JSON figures go (a folder); see each part.
    """
    from cryoviz.core.errors import InputError

    if what != "all" and what not in PARTS + EXTRA_PARTS:
        raise InputError.one("argument", "bench", "unknown benchmark",
                             ", ".join((*PARTS, *EXTRA_PARTS, "all")), what)
    stream = out if hasattr(out, "write") else sys.stdout
    results: dict = {}
    for part in PARTS if what == "all" else (what,):
        try:
            mod = importlib.import_module(f"cryoviz.bench.{part}")
        except ModuleNotFoundError as exc:
            if exc.name != f"cryoviz.bench.{part}":
                raise
            print(f"bench {part}: not yet available", file=stream)
            results[part] = None
            continue
        results[part] = mod.run(quick=quick, out=out)
    return results
