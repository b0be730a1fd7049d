"""ffmpeg pieces of the video path: one H.264 encoder per frame range, and the join without re-encoding.

Each :class:`PieceEncoder` runs its own ``ffmpeg`` that reads raw RGB frames from a pipe, so encoding
happens in that process, off the render path; a small writer thread feeds the pipe so that the renderer
never waits for a frame to be swallowed. :func:`concat_pieces` joins the pieces with the concat demuxer
and ``-c copy`` (no second encode) and moves the index to the front (``+faststart``) so a browser can start
playing before the whole file has arrived.

Child processes are started so that they die with their parent (Linux ``PR_SET_PDEATHSIG``) and are killed
in ``finally`` blocks: an interrupted render leaves no ffmpeg behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["X264_CRF", "X264_PRESET", "PieceEncoder", "concat_pieces", "die_with_parent", "ffmpeg_exe",
           "ffprobe_exe"]

#: x264 speed/size trade-off: ``veryfast`` keeps encoding well under the render time of a frame.
X264_PRESET = "veryfast"
#: Constant rate factor: 20 is visually clean for flat shaded anatomy and caption text.
X264_CRF = 20


def ffmpeg_exe() -> str:
    """Return the ffmpeg binary: ``CRYOVIZ_FFMPEG``, else imageio-ffmpeg's, else the one on ``PATH``."""
    env = os.environ.get("CRYOVIZ_FFMPEG")
    if env:
        return env
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # imageio-ffmpeg missing or without a binary for this platform
        exe = shutil.which("ffmpeg")
        if exe is None:
            raise RuntimeError("ffmpeg not found: install imageio-ffmpeg or the ffmpeg package") from None
        return exe


def ffprobe_exe() -> str | None:
    """Return an ``ffprobe`` binary (imageio-ffmpeg does not ship one), or None."""
    return shutil.which("ffprobe")


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask Linux to send ``sig`` to this process when its parent dies (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, int(sig), 0, 0, 0)  # PR_SET_PDEATHSIG = 1


def _child_setup() -> None:  # runs in the forked ffmpeg child, before exec
    die_with_parent(signal.SIGKILL)


class PieceEncoder:
    """Encode raw RGB frames to one H.264 MP4 piece with a private ffmpeg process.

    Parameters
    ----------
    path : Path
        The piece to write (MP4).
    size : (int, int)
        Frame width and height in pixels (even numbers).
    fps : int
        Frames per second.
    threads : int, optional
        x264 threads; ffmpeg's default (about 1.5 per core) when None.
    queue_frames : int
        Frames that may wait for the pipe before :meth:`write` blocks.
    faststart : bool
        Put the index at the front (for a piece that is the whole video).
    """

    def __init__(self, path: Path, size: tuple[int, int], fps: int, *, threads: int | None = None,
                 queue_frames: int = 3, faststart: bool = False):
        self.path = Path(path)
        self.size = (int(size[0]), int(size[1]))
        w, h = self.size
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(int(fps)), "-i", "pipe:0",
               "-an", "-c:v", "libx264", "-preset", X264_PRESET, "-crf", str(X264_CRF),
               "-pix_fmt", "yuv420p", "-r", str(int(fps))]
        if threads is not None:
            cmd += ["-threads", str(int(threads))]
        if faststart:
            cmd += ["-movflags", "+faststart"]
        cmd += ["-f", "mp4", str(self.path)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, preexec_fn=_child_setup)
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=max(1, queue_frames))
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._pump, name="ffmpeg-writer", daemon=True)
        self._thread.start()
        self.frames = 0
        self._closed = False

    def _pump(self) -> None:
        stdin = self._proc.stdin
        try:
            while True:
                buf = self._queue.get()
                if buf is None:
                    break
                stdin.write(buf)
        except BaseException as exc:  # broken pipe: ffmpeg died; reported by write()/close()
            self._error = exc
            # drain so that a blocked producer wakes up
            with contextlib.suppress(queue.Empty):
                while True:
                    self._queue.get_nowait()
        finally:
            with contextlib.suppress(OSError):
                stdin.close()

    def write(self, frame: np.ndarray) -> None:
        """Queue one ``(H, W, 3)`` uint8 frame."""
        if self._error is not None or self._proc.poll() is not None:
            self._fail()
        w, h = self.size
        if frame.shape != (h, w, 3) or frame.dtype != np.uint8:
            raise ValueError(f"frame must be ({h}, {w}, 3) uint8, got {frame.shape} {frame.dtype}")
        self._queue.put(np.ascontiguousarray(frame).tobytes())
        self.frames += 1

    def write_bytes(self, buf: bytes) -> None:
        """Queue one frame already converted to bytes (a reused frame costs no copy)."""
        if self._error is not None or self._proc.poll() is not None:
            self._fail()
        self._queue.put(buf)
        self.frames += 1

    def _fail(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        err = ""
        if self._proc.stderr and not self._proc.stderr.closed:
            err = self._proc.stderr.read().decode(errors="replace").strip()
        self.kill()
        raise RuntimeError(f"ffmpeg failed writing {self.path.name}: {err or self._error!r}")

    def close(self) -> None:
        """Finish the piece: flush the queue, wait for ffmpeg, raise if it failed (later calls do nothing)."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join()
        err = ""
        if self._proc.stderr:
            err = self._proc.stderr.read().decode(errors="replace").strip()
            self._proc.stderr.close()
        code = self._proc.wait()
        if code != 0 or self._error is not None:
            raise RuntimeError(f"ffmpeg exited {code} writing {self.path.name}: {err or self._error!r}")

    def kill(self) -> None:
        """Stop ffmpeg at once (interrupts, errors); safe to call twice."""
        self._closed = True
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        self._thread.join(timeout=5)
        with contextlib.suppress(OSError):
            if self._proc.stderr:
                self._proc.stderr.close()
            if self._proc.stdin:
                self._proc.stdin.close()

    def __enter__(self) -> PieceEncoder:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.kill()


def concat_pieces(pieces: Sequence[Path], out_path: Path) -> None:
    """Join MP4 pieces (same encoder settings) into ``out_path`` without re-encoding, index at the front.

    Parameters
    ----------
    pieces : sequence of Path
        The pieces in playing order.
    out_path : Path
        The MP4 to write (any name: the container is set explicitly).
    """
    out_path = Path(out_path)
    listing = out_path.with_name(out_path.name + ".concat.txt")
    lines = []
    for p in pieces:
        escaped = str(Path(p).resolve()).replace("'", "'\\''")
        lines.append(f"file '{escaped}'")
    listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
           "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", "-movflags", "+faststart",
           "-f", "mp4", str(out_path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=_child_setup)
    try:
        _, err = proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        with contextlib.suppress(FileNotFoundError):
            listing.unlink()
    if proc.returncode != 0:
        msg = err.decode(errors="replace").strip()
        raise RuntimeError(f"ffmpeg concat failed ({proc.returncode}): {msg}")
