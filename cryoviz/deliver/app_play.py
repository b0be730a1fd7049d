"""The consultation app's play clock: story time follows the wall clock, pictures come as fast as they can.

A picture on this machine (2 CPU cores, no GPU, 1280×720) takes 150–250 ms to draw and far longer when the
machine is busy. The old play loop moved the story by the time one loop turn took, pictures included, and
the page received its clock behind a growing queue of pictures: at 1× the story ran at a third of real time.
Here the story time is a function of the wall clock (:class:`PlayClock`); the loop asks for the picture of
*now* and, when drawing is slow, simply draws fewer of them — a slow frame drops pictures, never slows the
clock.
"""

from __future__ import annotations

import time

__all__ = ["PlayClock"]


class PlayClock:
    """Story time from the wall clock: ``t = t0 + (now - wall0) * speed``, re-anchored on a jump or new speed.

    The anchor is set when playing starts, when the speed changes, and when someone moves the timeline
    (the story time handed in differs from the last one this clock gave out); otherwise the returned time
    depends only on the wall clock, however long each picture took.
    """

    def __init__(self) -> None:
        self._anchor: tuple[float, float, float] | None = None   # (wall s, story s, speed)
        self._last: float | None = None

    @property
    def running(self) -> bool:
        """Whether the clock has an anchor (it is playing)."""
        return self._anchor is not None

    def stop(self) -> None:
        """Forget the anchor (pause); the next :meth:`story_s` starts afresh."""
        self._anchor = self._last = None

    def story_s(self, current_s: float, speed: float, now: float | None = None) -> float:
        """Story time (s) at wall time ``now`` (``time.monotonic()`` by default).

        Parameters
        ----------
        current_s : float
            The story time shown now; if it is not the last value this clock returned, the timeline was
            moved by hand and the clock starts again from it.
        speed : float
            Story seconds per wall second.
        now : float, optional
            Wall time, s (monotonic).
        """
        now = time.monotonic() if now is None else float(now)
        a = self._anchor
        moved = self._last is None or abs(float(current_s) - self._last) > 1e-6
        if a is None or moved or a[2] != float(speed):
            self._anchor = a = (now, float(current_s), float(speed))
        self._last = a[1] + (now - a[0]) * a[2]
        return self._last


def encode_jpeg(image, quality: int = 85) -> str:
    """An (H, W, 3) uint8 picture as a ``data:image/jpeg;base64,...`` URL (libjpeg-turbo via Pillow).

    Quality 85 keeps the isotherm edges clean at about 60–90 kB for a 1280×720 picture of this scene; the
    encoder releases the GIL, so it runs in a worker thread while the event loop sends messages.
    """
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=int(quality))
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


class FramePacer:
    """One picture in flight at a time: the next is drawn when the page has shown the last (or after a wait).

    Without this the server draws and queues pictures faster than a busy page shows them; the queue then
    delays every later message (the clock too) by seconds. ``shown(seq)`` is called by the page's ``load``
    event of the playing picture; ``ready()`` says whether the next one may be drawn.

    Parameters
    ----------
    max_wait_s : float
        How long an unacknowledged picture blocks the next (a closed tab never acknowledges), s.
    """

    def __init__(self, max_wait_s: float = 1.0) -> None:
        self.max_wait_s = float(max_wait_s)
        self.seq = 0
        self._waiting: tuple[int, float] | None = None
        self.drawn = 0

    def sent(self, now: float | None = None) -> int:
        """Record a picture sent; return its sequence number."""
        self.seq += 1
        self.drawn += 1
        self._waiting = (self.seq, time.monotonic() if now is None else now)
        return self.seq

    def shown(self, seq) -> None:
        """The page showed picture ``seq`` (any tab); an old or malformed number is ignored."""
        try:
            seq = int(seq)
        except (TypeError, ValueError):
            return
        if self._waiting is not None and seq >= self._waiting[0]:
            self._waiting = None

    def ready(self, now: float | None = None) -> bool:
        """Whether the next picture may be drawn now."""
        if self._waiting is None:
            return True
        now = time.monotonic() if now is None else now
        return now - self._waiting[1] >= self.max_wait_s

    def reset(self) -> None:
        """Forget the picture in flight (pause)."""
        self._waiting = None
