"""The app's solver process: fills the cache from a child at a lower priority, reports progress, closes."""

from __future__ import annotations

import os
import threading
import time

import pytest
from _apphelpers import SCENE


def _gone(child, timeout_s: float = 10.0) -> bool:
    """Whether the child process ended within ``timeout_s``. The executor's own thread may reap it first,
    and then ``is_alive()`` in this thread can go on answering True for a process that no longer exists:
    /proc tells (a process that ended but was not yet reaped is a zombie, state Z)."""
    from pathlib import Path

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        child.join(timeout=0.1)
        status = Path(f"/proc/{child.pid}/status")
        try:
            zombie = "\nState:\tZ" in status.read_text()
        except OSError:
            return True
        if zombie or not child.is_alive():
            return True
    return False


def test_the_solver_process_fills_the_cache_from_a_niced_child(tmp_path, monkeypatch, capfd):
    from cryoviz.deliver.app_sim import NICE, SolverProcess
    from cryoviz.model.scene_load import load_scene
    from cryoviz.physics.thermal import is_cached

    monkeypatch.setenv("CRYOVIZ_CACHE", str(tmp_path / "cache"))
    scene = load_scene(SCENE)
    solver = SolverProcess()
    try:
        assert not is_cached(scene, 4.0)
        assert solver.simulate(scene, 4.0) is True
        assert is_cached(scene, 4.0)
        (child,) = solver._pool._processes.values()
        assert child.pid != os.getpid()
        mine = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, child.pid) == min(mine + NICE, 19)
        err = capfd.readouterr().err
        assert "solver running at 4 mm" in err and "100 % of the protocol" in err
        assert solver.simulate(scene, 4.0) is True            # a cache hit: nothing to run
        assert "solver running" not in capfd.readouterr().err
    finally:
        solver.close()
    assert _gone(child)
    with pytest.raises(RuntimeError, match="closed"):          # closed: no run anywhere any more
        solver.simulate(scene, 4.0)


def test_closing_during_a_run_ends_it_without_a_fallback_run_in_the_server(tmp_path, monkeypatch):
    from cryoviz.deliver.app_sim import SolverProcess
    from cryoviz.model.scene_load import load_scene

    monkeypatch.setenv("CRYOVIZ_CACHE", str(tmp_path / "cache"))
    solver = SolverProcess()
    fut = solver.start(load_scene(SCENE), 1.0)      # a 1 mm run: seconds of work
    errors = []

    def wait():
        try:
            solver.simulate(load_scene(SCENE), 1.0)
        except RuntimeError as exc:
            errors.append(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(1.0)                                 # the waiter is blocked on the run
    solver.close()
    waiter.join(timeout=30)
    assert not waiter.is_alive()                     # no run in the server's own thread
    assert errors and "closed" in str(errors[0])
    with pytest.raises(Exception):                   # noqa: B017 - the abandoned run, whatever it raises
        fut.result(timeout=30)


def test_a_server_key_that_starts_with_a_dash_reaches_the_server(monkeypatch):
    """trame's parser took a random key starting with "-" for an option: the server refused to start."""
    import inspect

    from cryoviz.deliver import app_serve

    src = inspect.getsource(app_serve.serve)
    assert 'f"--authKey={secret}"' in src
    from trame.app import get_server

    parser = get_server("cryoviz-dash-key-test").cli
    ns, _rest = parser.parse_known_args(["--port", "0", "--authKey=-Ab_cd-ef"])
    assert ns.authKey == "-Ab_cd-ef"


def test_an_exit_without_close_does_not_wait_for_the_run(tmp_path):
    """An interpreter leaving with a run in progress (close() never called) ends within seconds."""
    import subprocess
    import sys

    code = ("from cryoviz.deliver.app_sim import SolverProcess\n"
            "from cryoviz.model.scene_load import load_scene\n"
            f"s = SolverProcess(); s.start(load_scene({str(SCENE)!r}), 0.75)\n"
            "import time; time.sleep(3)\n")
    env = {**os.environ, "CRYOVIZ_CACHE": str(tmp_path / "cache")}
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code], env=env, timeout=120, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert time.monotonic() - t0 < 25, "the exit waited for the 0.75 mm run"


def test_warm_up_starts_the_child_once_and_later_runs_are_handed_over(tmp_path, monkeypatch):
    from cryoviz.deliver.app_sim import SolverProcess
    from cryoviz.model.scene_load import load_scene
    from cryoviz.physics.thermal import is_cached

    monkeypatch.setenv("CRYOVIZ_CACHE", str(tmp_path / "cache"))
    scene = load_scene(SCENE)
    solver = SolverProcess()
    try:
        assert solver.handed_over(0.01) is False             # no child yet: nothing to wait for
        warm = solver.warm_up(scene)
        assert warm is not None and warm.result(timeout=300) > 0
        assert solver.warm_up(scene) is None                 # a child is up: not twice
        assert not (tmp_path / "cache").exists() or not [
            p for p in (tmp_path / "cache").iterdir() if "thermal-" in p.name]   # the warm-up stores nothing
        (child,) = solver._pool._processes.values()
        fut = solver.start(scene, 4.0)
        assert solver.handed_over(60.0) is True               # the warm child took the run
        fut.result(timeout=300)
        assert is_cached(scene, 4.0)
        assert list(solver._pool._processes.values()) == [child]   # the same child ran both
    finally:
        solver.close()
    assert solver.warm_up(scene) is None and solver.handed_over(0.01) is False   # closed
