"""The play clock follows the wall clock however slow the pictures are; one picture in flight at a time."""

from __future__ import annotations

import io

import numpy as np
import pytest

from cryoviz.deliver.app_play import FramePacer, PlayClock, jpeg_bytes


def test_story_time_follows_the_wall_clock_whatever_the_frame_times():
    clock = PlayClock()
    wall = 100.0
    t = clock.story_s(10.0, 1.0, now=wall)
    assert t == 10.0
    # frames that take 0.05 s, then 0.9 s, then 0.3 s: the story time is the wall time, not a frame count
    for dt in (0.05, 0.9, 0.3, 2.5, 0.01):
        wall += dt
        t = clock.story_s(t, 1.0, now=wall)
    assert t == pytest.approx(10.0 + (wall - 100.0))


def test_speed_change_and_a_moved_timeline_reanchor_the_clock():
    clock = PlayClock()
    t = clock.story_s(0.0, 1.0, now=0.0)
    t = clock.story_s(t, 1.0, now=2.0)
    assert t == pytest.approx(2.0)
    t = clock.story_s(t, 4.0, now=2.0)        # 4x from here on
    t = clock.story_s(t, 4.0, now=3.0)
    assert t == pytest.approx(6.0)
    t = clock.story_s(50.0, 4.0, now=3.5)     # someone dragged the slider to 50 s
    assert t == pytest.approx(50.0)
    assert clock.story_s(t, 4.0, now=4.5) == pytest.approx(54.0)
    clock.stop()
    assert not clock.running
    assert clock.story_s(54.0, 4.0, now=100.0) == pytest.approx(54.0)   # a pause does not count


def test_pacer_waits_for_the_page_then_gives_up_on_a_silent_page():
    p = FramePacer(max_wait_s=1.0, in_flight=1)
    assert p.ready(now=0.0)
    seq = p.sent(now=0.0)
    assert not p.ready(now=0.5)
    p.shown(seq - 1)                 # an older picture's load event does not release the next
    assert not p.ready(now=0.5)
    p.shown("junk")
    assert not p.ready(now=0.5)
    p.shown(seq)
    assert p.ready(now=0.5)
    p.sent(now=1.0)
    assert not p.ready(now=1.9) and p.ready(now=2.0)   # a closed tab never answers: go on after 1 s
    assert p.drawn == 2


def test_pacer_draws_the_next_picture_while_the_page_shows_the_last():
    p = FramePacer(max_wait_s=1.0, in_flight=2)
    first = p.sent(now=0.0)
    assert p.ready(now=0.01)                    # one in flight: draw the next meanwhile
    second = p.sent(now=0.05)
    assert not p.ready(now=0.06)                # two in flight: wait for the page
    p.shown(first)
    assert p.ready(now=0.07)
    third = p.sent(now=0.08)
    p.shown(third)                              # the page skipped the second picture's load: both answered
    assert p.ready(now=0.09) and second < third
    p.sent(now=1.0)
    p.sent(now=1.5)
    assert not p.ready(now=1.9)
    assert p.ready(now=2.0)                     # the older one timed out: a silent page never blocks for long
    p.shown(10**400)                            # a hostile number changes nothing
    p.reset()
    assert p.ready(now=2.0) and p.drawn == 5


def test_jpeg_frame_decodes_to_the_picture():
    from PIL import Image

    rng = np.random.default_rng(3)
    img = np.zeros((72, 128, 3), np.uint8)
    img[10:40, 20:90] = (230, 120, 20)
    img += rng.integers(0, 4, img.shape, dtype=np.uint8)
    data = jpeg_bytes(img, quality=90)
    assert isinstance(data, bytes) and data[:2] == b"\xff\xd8"      # sent as binary, not a data URL
    back = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert back.shape == img.shape
    assert np.abs(back.astype(int) - img.astype(int)).mean() < 4
