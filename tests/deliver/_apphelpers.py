"""Helpers for the consultation-app tests: a server in a subprocess, a free port, a real WebSocket client."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCENE = REPO / "scenes" / "salvage_whole_gland.toml"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def coarse_scene(folder: Path, grid_mm: float = 2.0) -> Path:
    """The default scene with a coarser thermal grid (one quick simulation instead of preview + 1 mm)."""
    text = SCENE.read_text()
    assert "grid_mm = 1.0" in text
    out = Path(folder) / "consult_coarse.toml"
    out.write_text(text.replace("grid_mm = 1.0", f"grid_mm = {grid_mm}"))
    return out


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``cryoviz serve`` in a subprocess on a free loopback port; stopped (by its own pid) on exit."""

    def __init__(self, *extra: str, scene: Path = SCENE, log_dir: Path | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = (log_dir or Path(os.environ.get("TMPDIR", "/tmp"))) / f"cryoviz-serve-{self.port}.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.t_start = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cryoviz", "serve", str(scene), "--host", "127.0.0.1",
             "--port", str(self.port), "--no-browser", *extra],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=str(log_dir or REPO),
            env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def wait_ready(self, timeout_s: float = 120.0) -> float:
        """Wait until the page is served; return seconds since start."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            with contextlib.suppress(OSError), urllib.request.urlopen(self.url, timeout=2) as resp:
                if resp.status == 200:
                    return time.perf_counter() - self.t_start
            time.sleep(0.2)
        raise TimeoutError(f"server not ready in {timeout_s} s:\n{self.log()}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


@contextlib.contextmanager
def coarse_server(folder: Path, *extra: str):
    """``cryoviz serve`` on :func:`coarse_scene` in ``folder``, ready (``srv.folder`` is ``folder``); at the
    end of the block the server must still be alive (a module's tests did not crash it)."""
    with ServerProcess(*extra, scene=coarse_scene(folder), log_dir=folder) as srv:
        srv.wait_ready()
        srv.folder = folder
        yield srv
        assert srv.alive(), srv.log()


async def _ws_try(url: str, secret: str | None, timeout_s: float) -> bool:
    from trame_server.client import Client, ConnectionStatus

    client = Client()
    kwargs = {} if secret is None else {"secret": secret}
    task = asyncio.ensure_future(client.connect(url, **kwargs))
    deadline = time.monotonic() + timeout_s
    ok = False
    while time.monotonic() < deadline:
        if client.connected == ConnectionStatus.CONNECTED:
            ok = True
            break
        if task.done():
            break
        await asyncio.sleep(0.05)
    if ok:
        await client.disconnect()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(task, 5)
    return ok


def ws_connects(port: int, secret: str | None, timeout_s: float = 10.0) -> bool:
    """Whether a real wslink WebSocket client gets through authentication with ``secret``."""
    from concurrent.futures import ThreadPoolExecutor

    # a thread of its own: Playwright's sync API keeps an event loop running in the calling thread
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _ws_try(f"ws://127.0.0.1:{port}/ws", secret, timeout_s)).result()


def launch_chromium(playwright):
    """Debian's Chromium, headless, no network of its own."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
