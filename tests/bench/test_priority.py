"""The bench gives the browser its own scheduling weight (cryoviz.bench.priority), on a fake /proc."""

from pathlib import Path

from cryoviz.bench.priority import autogroup_nice, match_browser_priority


def _proc(root: Path, pid: int, ppid: int, cmd: str, group: str, nice: int) -> None:
    d = root / str(pid)
    d.mkdir()
    (d / "stat").write_text(f"{pid} ({cmd.split()[0]} x) S {ppid} 1 1 0")
    (d / "cmdline").write_bytes(cmd.replace(" ", "\0").encode())
    (d / "autogroup").write_text(f"/autogroup-{group} nice {nice}\n")


def test_browser_groups_get_the_bench_weight_and_nothing_else(tmp_path):
    _proc(tmp_path, 100, 1, "python3 -m cryoviz bench app", "1", -15)
    _proc(tmp_path, 101, 100, "node playwright driver", "1", -15)          # same group: left alone
    _proc(tmp_path, 102, 101, "/usr/bin/chromium --headless", "7", 0)      # the browser's own session
    _proc(tmp_path, 103, 102, "/usr/lib/chromium/chromium --type=renderer", "7", 0)
    _proc(tmp_path, 104, 100, "/usr/bin/chromium --other", "8", 0)         # a second browser
    _proc(tmp_path, 200, 1, "/usr/bin/chromium --someone-elses", "9", 0)   # not ours
    changed = match_browser_priority(root=100, proc=tmp_path)
    assert sorted(changed) == ["/autogroup-7", "/autogroup-8"]
    assert (tmp_path / "102" / "autogroup").read_text() == "-15"
    assert (tmp_path / "104" / "autogroup").read_text() == "-15"
    assert autogroup_nice(200, tmp_path) == ("/autogroup-9", 0)
    assert autogroup_nice(101, tmp_path) == ("/autogroup-1", -15)


def test_nothing_changes_without_autogroups(tmp_path):
    _proc(tmp_path, 100, 1, "python3", "1", 0)
    (tmp_path / "100" / "autogroup").unlink()
    _proc(tmp_path, 102, 100, "/usr/bin/chromium", "7", 5)
    assert match_browser_priority(root=100, proc=tmp_path) == []
    assert autogroup_nice(102, tmp_path) == ("/autogroup-7", 5)


def test_real_proc_is_readable_or_absent():
    got = autogroup_nice()
    assert got is None or (got[0].startswith("/autogroup-") and -20 <= got[1] <= 19)
