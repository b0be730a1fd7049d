"""The browser's share of the CPU during a bench: the same scheduling priority as the bench's own processes.

Linux groups processes by session for scheduling (``/proc/sys/kernel/sched_autogroup_enabled``): each
session's group gets an equal share of the CPU whatever the ``nice`` of its processes, and a group's own
weight is set in ``/proc/<pid>/autogroup``. Playwright starts Chromium in a session of its own, at the
default weight. When a bench runs in a shell given a higher weight (``echo -15 > /proc/self/autogroup``, to
measure on a machine shared with other work), the server it spawns inherits that weight and the browser does
not: the page then starves whenever the server or its solver computes, and the page-side figures measure a
starved browser (a re-planned result shown 13 s after the server had it) rather than the app.
:func:`match_browser_priority` gives the browser's group the bench's own weight. It does nothing where
autogroups do not exist or may not be changed.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["autogroup_nice", "match_browser_priority"]

_PROC = Path("/proc")


def autogroup_nice(pid: int | str = "self", proc: Path = _PROC) -> tuple[str, int] | None:
    """(group name, nice) of the autogroup of process ``pid``; None where there is none or unreadable."""
    try:
        name, _word, nice = (proc / str(pid) / "autogroup").read_text().split()[:3]
        return name, int(nice)
    except (OSError, ValueError):
        return None


def _children(proc: Path) -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in proc.iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(d.name))
    return kids


def match_browser_priority(root: int | None = None, word: str = "chromium", proc: Path = _PROC) -> list[str]:
    """Give every autogroup of ``root``'s descendants whose command line holds ``word`` the weight of ours.

    Parameters
    ----------
    root : int, optional
        The process whose descendants are searched (default this one: Playwright's driver and its browser
        are its children).
    word : str
        A word of the browser's command line.
    proc : Path
        The proc file system (a folder laid out like it in tests).

    Returns
    -------
    list of str
        The autogroups changed (empty where ours is unreadable, where theirs already has our weight, or
        where the change is not permitted).
    """
    ours = autogroup_nice("self" if root is None else root, proc)
    if ours is None:
        return []
    kids = _children(proc)
    todo, seen, changed = list(kids.get(os.getpid() if root is None else root, [])), set(), []
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        todo.extend(kids.get(pid, []))
        try:
            if word not in (proc / str(pid) / "cmdline").read_bytes().decode("utf-8", "replace"):
                continue
        except OSError:
            continue
        theirs = autogroup_nice(pid, proc)
        if theirs is None or theirs[0] == ours[0] or theirs[1] == ours[1] or theirs[0] in changed:
            continue
        try:
            (proc / str(pid) / "autogroup").write_text(str(ours[1]))
            changed.append(theirs[0])
        except OSError:
            continue
    return changed
