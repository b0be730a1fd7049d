"""The consultation app's play clock: story time follows the wall clock, pictures come as fast as they can.

A picture on this machine (2 CPU cores, no GPU, 1280×720) takes 150–250 ms to draw and far longer when the
machine is busy. The old play loop moved the story by the time one loop turn took, pictures included, and
the page received its clock behind a growing queue of pictures: at 1× the story ran at a third of real time.
Here the story time is a function of the wall clock (:class:`PlayClock`); the loop asks for the picture of
*now* and, when drawing is slow, simply draws fewer of them — a slow frame drops pictures, never slows the
clock.
"""

from __future__ import annotations

import asyncio
import logging
import time

from cryoviz.deliver import app_state as st
from cryoviz.deliver.app_content import finite_or

__all__ = ["FRAME_JS", "KEY_STEP_S", "TEXT_EVERY_S", "FramePacer", "PlayClock", "PlayMixin", "jpeg_bytes"]

log = logging.getLogger("cryoviz.deliver.app")
#: Story seconds one left/right arrow press moves (the slider's own arrows move 1 s).
KEY_STEP_S = 5.0
#: While playing, the page's time, clock and panels follow at most this often (s) unless a caption, chapter
#: or panel line changes. Each state change re-renders the whole page in the browser (Vue): measured in
#: round 3 at 30-45 ms of Chromium's main thread under load, about what showing a picture costs.
TEXT_EVERY_S = 0.25


def _words_of(state) -> tuple:
    """What the page says beside a playing picture, apart from the clock (a change is sent at once)."""
    ch = getattr(state, "chapter", None)
    return (getattr(ch, "id", None), getattr(state, "caption", None), getattr(state, "card", None),
            getattr(state, "card_sub", None), tuple(getattr(state, "panel_lines", ()) or ()))


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

    @property
    def last(self) -> float | None:
        """The story time this clock last gave out (s), None before the first or after :meth:`stop`."""
        return self._last

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


def jpeg_bytes(image, quality: int = 85) -> bytes:
    """An (H, W, 3) uint8 picture as JPEG bytes (libjpeg-turbo via Pillow).

    Quality 85 keeps the isotherm edges clean at about 60–90 kB for a 1280×720 picture of this scene; the
    encoder releases the GIL, so it runs in a worker thread while the event loop sends messages.
    """
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=int(quality))
    return buf.getvalue()


#: The page's side of playing pictures (``client.Script``). The JPEG bytes arrive as binary in the state key
#: ``frame_jpeg`` (no template reads it, so a picture re-renders no part of the page) and go straight to the
#: ``<img id="cv-frame">`` as a Blob URL. One picture is loaded at a time and always shown: the newest one
#: waits while another loads (an older waiting one is dropped before it is ever loaded), and the next is
#: set only at the animation frame after a load, so every ``load`` is a picture the viewer saw. The load
#: answers the server (``cv_frame``), which then draws the next while this one is painted
#: (:class:`FramePacer`). Empty bytes hide the element (pause: the remote view shows the story again).
FRAME_JS = """
(function () {
  var busy = false, next = null, shownUrl = null;
  function img() { return document.getElementById('cv-frame'); }
  function hide(el) {
    el.classList.remove('cv-on'); el.removeAttribute('src');
    if (shownUrl) { URL.revokeObjectURL(shownUrl); shownUrl = null; }
  }
  function pump() {
    var el = img();
    if (busy || !next || !el) { return; }
    var bytes = next[0], seq = next[1];
    next = null;
    if (!bytes || !bytes.byteLength) { hide(el); return; }
    busy = true;
    var url = URL.createObjectURL(new Blob([bytes], {type: 'image/jpeg'}));
    el.onload = function () {
      if (shownUrl) { URL.revokeObjectURL(shownUrl); }
      shownUrl = url;
      el.classList.add('cv-on');
      if (window.trame && window.trame.trigger) { window.trame.trigger('cv_frame', [seq]); }
      requestAnimationFrame(function () { busy = false; pump(); });
    };
    el.onerror = function () { URL.revokeObjectURL(url); busy = false; pump(); };
    el.src = url;
  }
  function start() {
    var st = window.trame && window.trame.state;
    if (!st || !st.watch) { setTimeout(start, 100); return; }
    st.watch(['frame_jpeg', 'frame_seq'], function (bytes, seq) { next = [bytes, seq]; pump(); });
  }
  start();
})();
"""


class FramePacer:
    """At most ``in_flight`` pictures unanswered: the next is drawn when the page has shown enough of them.

    Without a limit the server draws and queues pictures faster than a busy page shows them; the queue then
    delays every later message (the clock too) by seconds. With one picture in flight the server waits idle
    while the page decodes and answers; with two, it draws the next picture meanwhile (the page shows each
    one as it comes, and the queue is never longer than two). ``shown(seq)`` is called by the page's
    ``load`` event of a playing picture and answers every picture up to ``seq`` (the browser may skip the
    load of a picture replaced before it loaded); ``ready()`` says whether the next one may be drawn.

    Parameters
    ----------
    max_wait_s : float
        How long an unanswered picture blocks the next (a closed tab never answers), s.
    in_flight : int
        Pictures sent and not yet shown that the server may have at once (1 or more).
    """

    def __init__(self, max_wait_s: float = 1.0, in_flight: int = 2) -> None:
        self.max_wait_s = float(max_wait_s)
        self.in_flight = max(1, int(in_flight))
        self.seq = 0
        self._waiting: list[tuple[int, float]] = []   # (seq, sent at), oldest first
        self.drawn = 0

    def sent(self, now: float | None = None) -> int:
        """Record a picture sent; return its sequence number."""
        self.seq += 1
        self.drawn += 1
        self._waiting.append((self.seq, time.monotonic() if now is None else now))
        return self.seq

    def shown(self, seq) -> None:
        """The page showed picture ``seq`` (any tab): it and every older one are answered; a malformed
        number is ignored."""
        try:
            seq = int(seq)
        except (TypeError, ValueError, OverflowError):
            return
        self._waiting = [w for w in self._waiting if w[0] > seq]

    def ready(self, now: float | None = None) -> bool:
        """Whether the next picture may be drawn now."""
        now = time.monotonic() if now is None else now
        self._waiting = [w for w in self._waiting if now - w[1] < self.max_wait_s]
        return len(self._waiting) < self.in_flight

    def reset(self) -> None:
        """Forget the pictures in flight (pause)."""
        self._waiting = []


class PlayMixin:
    """Playing and moving through the story, part of :class:`~cryoviz.deliver.app.ConsultationApp`:
    chapter and keyboard navigation, the wall-clock play loop and its pictures."""

    def toggle_organ(self, organ: str, visible: bool) -> None:
        """Show or hide one organ (the organ toggles call this)."""
        vis = self.state.organs_visible
        vis = dict(vis) if isinstance(vis, dict) else {}
        if isinstance(organ, str) and organ in vis:
            vis[organ] = bool(visible)
            self.state.organs_visible = vis

    def goto_chapter(self, index: int) -> None:
        """Jump to chapter ``index``: its first subtitle, past the title card (the chapter buttons)."""
        chapters = self.state.chapters or []
        try:
            i = int(index)
        except (TypeError, ValueError):
            return
        if 0 <= i < len(chapters):
            self.renderer.set_options(hold_camera=False)  # a chapter button brings the story camera back
            self.state.t_s = float(chapters[i]["jump_s"])
            self._show(force=True)

    def step_chapter(self, step: int) -> None:
        """Jump ``step`` chapters forward (or back when negative)."""
        if isinstance(step, bool) or not isinstance(step, int):
            return
        self.goto_chapter(st.step_chapter(self.story.chapters, finite_or(self.state.t_s, 0.0),
                                          max(min(step, 1000), -1000)))

    def toggle_play(self) -> None:
        """Play or pause; playing at the end starts again from the beginning."""
        s = self.state
        if not s.playing and finite_or(s.t_s, 0.0) >= finite_or(s.duration_s, 0.0):
            s.t_s = 0.0
        if not s.playing:
            self.renderer.set_options(hold_camera=False)  # Play follows the story camera again
        s.playing = not s.playing

    def on_key(self, key: str) -> None:
        """Keyboard: space plays/pauses, left/right arrows step :data:`KEY_STEP_S` of story, PageUp/PageDown
        step chapters, Home/End go to the start/end."""
        s = self.state
        if key == "space":
            self.toggle_play()
        elif key in ("ArrowRight", "ArrowLeft"):
            step = KEY_STEP_S if key == "ArrowRight" else -KEY_STEP_S
            s.t_s = min(max(float(s.t_s) + step, 0.0), float(s.duration_s))
        elif key in ("PageDown", "PageUp"):
            self.step_chapter(1 if key == "PageDown" else -1)
        elif key == "Home":
            s.t_s = 0.0
        elif key == "End":
            s.t_s = float(s.duration_s)

    def tick(self, dt_s: float) -> None:
        """Advance the story clock by ``dt_s`` wall seconds while playing (in-process use and tests)."""
        s = self.state
        if s.playing:
            speed = finite_or(s.speed, 1.0)
            self._play_to(finite_or(s.t_s, 0.0) + max(finite_or(dt_s, 0.0), 0.0)
                          * (speed if speed in st.SPEEDS else 1.0))

    def _play_to(self, t: float) -> None:
        """Move the playing story to ``t`` (s); at the end, stop there."""
        s = self.state
        duration = finite_or(s.duration_s, 0.0)
        t = finite_or(t, 0.0)
        if t >= duration:
            t, s.playing = duration, False
        s.t_s = t

    def _on_ready(self, **_):
        """Server ready: start the play loop (once; a second call changes nothing)."""
        if self._play_task is not None and not self._play_task.done():
            return
        self._loop = asyncio.get_event_loop()
        self._tune_image_delivery()
        for story, stage, gen in self._pending:
            self._loop.call_soon(self._install_and_flush, story, stage, gen)
        self._pending.clear()
        self._play_task = self._loop.create_task(self._play_loop())

    def _tune_image_delivery(self, stale_wait_s: float = 0.04) -> int:
        """Retry a picture still being encoded after ``stale_wait_s`` instead of trame-vtk's 0.5 s.

        The encoder runs in VTK's own thread; a push that finds it busy is retried after this wait, which
        otherwise adds half a second to every timeline change. Returns how many protocols were tuned.
        """
        proto = getattr(self.server, "protocol", None)
        links = proto.getLinkProtocols() if proto is not None and hasattr(proto, "getLinkProtocols") else []
        tuned = 0
        for link in links:
            if hasattr(link, "delta_stale_time_before_render"):
                link.delta_stale_time_before_render = float(stale_wait_s)
                tuned += 1
        return tuned

    async def _play_loop(self, trim_every_s: float = 20.0) -> None:
        """Play: each turn shows the story at the wall clock's time now (:class:`PlayClock`).

        One picture is in flight at a time (:class:`FramePacer`): the next is drawn when the page has shown
        the last, so no queue of pictures builds up and delays the clock; a slow turn makes the next
        picture jump further, never the story run slower. While playing, the pictures go to the page as
        JPEG (encoded in a worker thread) over the remote view; on pause the remote view takes over again.
        """
        self._last_trim = time.monotonic()
        while True:
            try:
                await self._play_turn(trim_every_s)
            except asyncio.CancelledError:
                raise
            except Exception:   # a bad value must never leave the consultation without its Play button
                log.exception("play loop turn failed; pausing and playing on")
                with self.state:
                    self.state.playing = False
                await asyncio.sleep(0.05)

    async def _play_turn(self, trim_every_s: float) -> None:
        """One turn of :meth:`_play_loop`: the picture of the wall clock's story time now.

        The page's words (time, clock, caption, panels, ultrasound) follow in the state at most every
        :data:`TEXT_EVERY_S`, and at once when a caption, chapter or panel line changes: each state change
        re-runs the whole page's Vue render in the browser, which cost about as much as showing a picture.
        The turns between move only the renderer (:meth:`_move_renderer`).
        """
        s = self.state
        if not s.playing:
            if self.clock.running:
                with self.state:
                    if self._page_time_is_ours():
                        s.t_s = self.clock.last      # the last picture's time, not the last one the page got
                self.clock.stop()
                self.pacer.reset()
                with self.state:
                    self._show(force=True)         # the remote view catches up with the last frame
                self._loop.call_later(0.8, self._clear_frame)
            await asyncio.sleep(0.05)
            return
        now = time.monotonic()
        if not self.pacer.ready(now):
            await asyncio.sleep(0.005)
            return
        speed = finite_or(s.speed, 1.0)
        speed = speed if speed in st.SPEEDS else 1.0
        current = self.clock.last if self._page_time_is_ours() else finite_or(s.t_s, 0.0)
        t = self.clock.story_s(current, speed, now)
        duration = finite_or(s.duration_s, 0.0)
        state = self.story.state_at(min(t, duration))
        if (t >= duration or now - self._text_at >= TEXT_EVERY_S
                or _words_of(state) != self._text_words):
            with self.state:
                self._play_to(t)
            self._t_pushed, self._text_at, self._text_words = s.t_s, now, _words_of(state)
            if self._show_handle is not None:   # the new time asked for a show: draw this turn's state now,
                self._show_handle.cancel()      # not the last turn's
                self._show_handle = None
                with self.state:
                    self._show_now()
        else:
            self._move_renderer(state)
        img = self.renderer.image()
        jpeg = await self._loop.run_in_executor(None, jpeg_bytes, img)
        if self.state.playing:
            with self.state:
                s.frame_jpeg, s.frame_seq = jpeg, self.pacer.sent()
        if now - self._last_trim > trim_every_s:
            st.release_freed_memory()
            self._last_trim = now

    def _page_time_is_ours(self) -> bool:
        """Whether the page's story time is the one the play loop last sent (nobody moved the timeline)."""
        return self.clock.running and self._t_pushed is not None and self.state.t_s == self._t_pushed

    def _move_renderer(self, state) -> None:
        """Move the renderer to a playing state without touching the page's state (see :meth:`_play_turn`)."""
        if self.renderer.camera_moved():   # the doctor turned or zoomed: keep his view (as ``_show_now``)
            self.renderer.set_options(hold_camera=True)
        self.renderer.apply(state)

    def _clear_frame(self) -> None:
        if not self.state.playing:
            with self.state:
                self.state.frame_jpeg = None

    def frame_shown(self, seq) -> None:
        """The page showed playing picture ``seq`` (see :data:`FRAME_JS`): the next may be drawn."""
        self.pacer.shown(seq)
