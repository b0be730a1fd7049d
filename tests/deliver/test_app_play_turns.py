"""The play loop's turns in process: a picture of the wall clock's time every turn, the page's words at most
every TEXT_EVERY_S (and at once when a caption changes), the last picture's time on pause."""

from __future__ import annotations

import asyncio
import itertools
import types

import pytest
from _apphelpers import SCENE

from cryoviz.deliver import app_play

SIZE = (240, 180)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from cryoviz.deliver.app import ConsultationApp
    from cryoviz.model.scene_load import load_scene

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRYOVIZ_CACHE", str(tmp_path_factory.mktemp("cache")))
        a = ConsultationApp(load_scene(SCENE), size=SIZE, preview_grid_mm=5.0, full_grid_mm=5.0,
                            screenshot_dir=tmp_path_factory.mktemp("shots"))
        assert a.future is None
        a.state.ready()
        yield a
        a._on_exit()


def _play(app, monkeypatch, start_s: float, turns: int, step_s: float = 0.1, moved_at: dict | None = None):
    """Play ``turns`` turns ``step_s`` of wall time apart (a fake clock), the page answering each picture.

    Returns per turn: (wall s, story time drawn, page t_s, frame_seq)."""
    wall = [1000.0]
    monkeypatch.setattr(app_play, "time", types.SimpleNamespace(monotonic=lambda: wall[0]))
    drawn = []
    real_image = app.renderer.image
    monkeypatch.setattr(app.renderer, "image",
                        lambda: (drawn.append(app.renderer._state.t_s), real_image())[1])
    rows = []

    async def scenario():
        app._loop, app._last_trim = asyncio.get_running_loop(), wall[0]
        with app.state:
            app.state.update({"t_s": float(start_s), "speed": 1.0, "playing": True})
        for i in range(turns):
            if moved_at and i in moved_at:
                with app.state:
                    app.state.t_s = float(moved_at[i])        # someone moves the timeline while playing
            before = len(drawn)
            await app._play_turn(1e9)
            assert len(drawn) == before + 1                    # one picture a turn
            rows.append((wall[0], drawn[-1], float(app.state.t_s), int(app.state.frame_seq)))
            app.frame_shown(app.state.frame_seq)
            wall[0] += step_s
        with app.state:
            app.state.playing = False
        await app._play_turn(1e9)                              # the pause turn
        app._loop = None

    asyncio.run(scenario())
    return rows


def test_each_turn_draws_the_wall_clock_time_and_the_page_follows_four_times_a_second(app, monkeypatch):
    start = app.story.chapter_time("freeze1") + 20.0
    rows = _play(app, monkeypatch, start, turns=20)
    walls = [r[0] - rows[0][0] for r in rows]
    for w, (_, t_drawn, _, _) in zip(walls, rows, strict=True):
        assert t_drawn == pytest.approx(start + w, abs=1e-6)    # the story follows the wall clock
    seqs = [r[3] for r in rows]
    assert seqs == list(range(seqs[0], seqs[0] + 20))           # a new picture every turn
    page = [r[2] for r in rows]
    changes = sum(b != a for a, b in itertools.pairwise(page))
    assert 5 <= changes <= 2.0 / app_play.TEXT_EVERY_S          # 2 s of playing: 8 page updates at most
    assert all(p <= t + 1e-9 and t - p < app_play.TEXT_EVERY_S + 0.1 + 1e-9
               for (_, t, p, _) in rows)                         # never ahead, never more than a turn behind
    # paused: the page gets the time of the last picture drawn, not the last one it was sent
    assert float(app.state.t_s) == pytest.approx(rows[-1][1], abs=1e-6)


def test_a_caption_change_reaches_the_page_with_its_picture(app, monkeypatch):
    story = app.story
    captions = [(c.start_s, c) for c in story.chapters]
    ch = next(c for _, c in captions if c.id == "freeze1")
    # a moment just before a caption changes inside the first freeze
    t0 = ch.start_s + 1.0
    first = story.state_at(t0).caption
    t_change = next(t0 + 0.05 * k for k in range(1, 4000) if story.state_at(t0 + 0.05 * k).caption != first)
    rows = _play(app, monkeypatch, t_change - 0.05, turns=4, step_s=0.05)
    for _, t, p, _ in rows:
        if story.state_at(t).caption != first:
            assert p == pytest.approx(t, abs=1e-9)                  # the first picture with the new words
            break
    else:
        raise AssertionError("no turn crossed the caption change")


def test_moving_the_timeline_while_playing_restarts_the_clock_there(app, monkeypatch):
    start = app.story.chapter_time("freeze1") + 5.0
    jump = app.story.chapter_time("spared") + 2.0
    rows = _play(app, monkeypatch, start, turns=6, moved_at={3: jump})
    assert rows[2][1] < jump
    assert rows[3][1] == pytest.approx(jump, abs=1e-6)
    assert rows[5][1] == pytest.approx(jump + 0.2, abs=1e-6)
