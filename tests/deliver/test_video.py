"""The education video: encoding machinery (with a numpy-drawn stand-in), then the real story renders.

Videos are checked by their properties: frame count and duration, codec and pixel format (ffprobe), the
subtitles against the story's cues, pictures that change over time, the same pictures with one or two worker
processes, and nothing left behind when a render is interrupted or refused.
"""

from __future__ import annotations

import errno
import functools
import io
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

from cryoviz.core.errors import InputError
from cryoviz.deliver.encode import ffmpeg_exe
from cryoviz.deliver.frames import encode_frames, split_ranges
from cryoviz.deliver.video import check_video_args

FFPROBE = shutil.which("ffprobe")
pytestmark = pytest.mark.video


# ------------------------------------------------------------------------------------------- helpers
class _Pattern:
    """Stand-in renderer: a picture that is a pure function of the state (a moving bar over a ramp)."""

    def __init__(self, size, fail_at=None, disk_full=False):
        self.w, self.h = size
        self.fail_at = fail_at
        self.disk_full = disk_full

    def frame(self, state):
        if self.fail_at is not None and state >= self.fail_at:
            if self.disk_full:
                raise OSError(errno.ENOSPC, "No space left on device", "/media/full/piece.mp4")
            raise ValueError("stand-in renderer broke on purpose")
        img = np.zeros((self.h, self.w, 3), np.uint8)
        img[..., 0] = (np.arange(self.w) * 255 // self.w)[None, :]
        img[..., 1] = int(state * 24 * 11) % 256  # about 11 levels a frame at 24 fps
        x = int(state * 24 * 5) % self.w
        img[:, max(0, x - 6):x + 6, 2] = 255
        return img

    def close(self):
        pass


def _pattern(size, fail_at=None, disk_full=False):
    return _Pattern(size, fail_at, disk_full)


def test_a_full_disk_in_a_worker_is_a_contract_line_not_a_traceback(tmp_path, monkeypatch, capsys):
    """Issue #12: ``render --jobs 2`` on a full disk printed a worker's traceback."""
    with pytest.raises(OSError) as info:  # the worker's OSError comes back as itself, not as a traceback
        encode_frames([i / 24 for i in range(48)], functools.partial(_pattern, (64, 48), 1.5, True),
                      tmp_path / "w.mp4", (64, 48), 24, jobs=2, progress=False)
    assert info.value.errno == errno.ENOSPC and "Traceback" not in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no pieces left behind

    from cryoviz.cli import main
    from cryoviz.deliver import video

    def full(*args, **kwargs):
        raise info.value

    monkeypatch.setattr(video, "render_video", full)
    scene = Path(__file__).resolve().parents[2] / "scenes" / "salvage_whole_gland.toml"
    assert main(["render", str(scene), "-o", str(tmp_path / "v.mp4")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    assert err[0].startswith("/media/full/piece.mp4: output: cannot write the output")
    assert "No space left on device" in err[0]


def _descendants(pid: int | None = None) -> list[int]:
    """Living descendants of ``pid`` (this process by default), from /proc.

    Python's own multiprocessing resource tracker (one per parent, started with the first spawned worker,
    it lives as long as the parent) is not counted.
    """
    pid = os.getpid() if pid is None else pid
    parents: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            try:
                cmd = (d / "cmdline").read_bytes()
            except OSError:
                continue
            if fields[0] != "Z" and b"resource_tracker" not in cmd:
                parents.setdefault(int(fields[1]), []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _probe(path: Path) -> dict:
    out = subprocess.run([FFPROBE, "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=codec_name,pix_fmt,width,height:format=duration", "-of", "json", str(path)],
                         capture_output=True, text=True, check=True)
    data = json.loads(out.stdout)
    return {**data["streams"][0], "duration": float(data["format"]["duration"])}


def _frames(path: Path, size: tuple[int, int]) -> np.ndarray:
    """Every frame of a video as (n, H, W, 3) uint8, decoded by ffmpeg."""
    w, h = size
    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24",
                          "pipe:1"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)


# ------------------------------------------------------------------------------------------- chunks
def test_ranges_are_contiguous_and_balanced_by_frames_actually_drawn():
    states = [0] * 50 + list(range(1, 51))  # a held card, then 50 different pictures
    ranges = split_ranges(states, 2)
    assert ranges[0][0] == 0 and ranges[-1][1] == 100
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    # the held run costs little, so the first range takes the card and about half the drawn frames
    drawn = [len({*states[a:b]}) for a, b in ranges]
    assert abs(drawn[0] - drawn[1]) <= 3, (ranges, drawn)
    assert ranges[0][1] > 70


def test_ranges_never_empty_and_never_more_than_frames():
    assert split_ranges([1, 2, 3], 8) == [(0, 1), (1, 2), (2, 3)]
    assert split_ranges([7] * 10, 3)[-1][1] == 10
    assert all(b > a for a, b in split_ranges([7] * 10, 3))
    assert split_ranges([], 2) == []


# ------------------------------------------------------------------------------------------- arguments
@pytest.mark.parametrize(("kwargs", "key"), [
    ({"fps": 23}, "--fps"), ({"fps": 61}, "--fps"), ({"fps": 30.0}, "--fps"),
    ({"size": (321, 180)}, "--size"), ({"size": (8, 8)}, "--size"),
    ({"jobs": 0}, "--jobs"), ({"duration_s": -1.0}, "--duration"),
    ({"duration_s": float("nan")}, "--duration"),
])
def test_bad_options_give_one_contract_line(tmp_path, kwargs, key):
    args = {"out_path": tmp_path / "v.mp4", "size": (320, 180), "fps": 24, "jobs": 1, "duration_s": None}
    args.update(kwargs)
    with pytest.raises(InputError) as err:
        check_video_args(**args)
    line = str(err.value)
    assert line.startswith(f"argument: {key}: ") and "(allowed: " in line and ", got: " in line
    assert "\n" not in line
    assert list(tmp_path.iterdir()) == []


def test_missing_folder_and_wrong_suffix_are_refused(tmp_path):
    with pytest.raises(InputError, match=r"^argument: -o: the folder does not exist"):
        check_video_args(tmp_path / "no" / "v.mp4", (320, 180), 24, 1)
    with pytest.raises(InputError, match=r"^argument: -o: the video must be an \.mp4 file"):
        check_video_args(tmp_path / "v.avi", (320, 180), 24, 1)
    assert check_video_args(tmp_path / "v.mp4", (320, 180), 24, None)[3] >= 1


# ------------------------------------------------------------------------------------------- encoding
@pytest.mark.skipif(FFPROBE is None, reason="ffprobe (Debian package ffmpeg) is not installed")
def test_stand_in_frames_encode_alike_with_one_or_two_workers(tmp_path):
    fps, size = 24, (256, 144)
    states = [i / fps for i in range(60)] + [2.5] * 36  # 2.5 s moving, then a 1.5 s hold
    out = {}
    for jobs in (1, 2):
        out[jobs] = tmp_path / f"j{jobs}.mp4"
        stats = encode_frames(states, functools.partial(_pattern, size), out[jobs], size, fps, jobs=jobs,
                              progress=False)
        assert stats["jobs"] == jobs
        assert stats["frames"] == 96
        assert stats["rendered"] == 61  # the hold is drawn once
        assert imageio_ffmpeg.count_frames_and_secs(str(out[jobs])) == (96, 4.0)
        info = _probe(out[jobs])
        assert (info["codec_name"], info["pix_fmt"], info["width"], info["height"]) == ("h264", "yuv420p",
                                                                                          256, 144)
    one, two = _frames(out[1], size), _frames(out[2], size)
    assert one.shape == two.shape == (96, 144, 256, 3)
    per_frame = np.abs(one.astype(int) - two).mean(axis=(1, 2, 3))
    assert per_frame.max() < 2.0  # same pictures (only the encoder's rounding differs)
    shifted = np.abs(one[1:61].astype(int) - two[:60]).mean(axis=(1, 2, 3))
    assert shifted.min() > 4 * per_frame.max() + 1  # and a one-frame shift would show
    assert np.abs(one[0].astype(int) - one[59]).mean() > 10  # the picture moves
    assert sorted(p.name for p in tmp_path.iterdir()) == ["j1.mp4", "j2.mp4"]  # no pieces left
    assert _descendants() == []


def test_a_worker_that_breaks_fails_the_render_and_leaves_nothing(tmp_path):
    states = [i / 24 for i in range(48)]
    with pytest.raises(RuntimeError, match="stand-in renderer broke on purpose"):
        encode_frames(states, functools.partial(_pattern, (64, 48), fail_at=1.5), tmp_path / "x.mp4",
                      (64, 48), 24, jobs=2, progress=False)
    assert list(tmp_path.iterdir()) == []  # no pieces, no half-joined file
    assert _descendants() == []


def test_progress_bar_counts_frames_and_time(tmp_path):
    buf = io.StringIO()
    encode_frames([i / 24 for i in range(30)], functools.partial(_pattern, (64, 48)), tmp_path / "p.mp4",
                  (64, 48), 24, jobs=1, progress=buf)
    last = buf.getvalue().strip().replace("\r", "\n").splitlines()[-1]
    assert last.startswith("render: 100%") and "30/30 [" in last and "<00:00" in last
    assert "frame/s]" in last


# ------------------------------------------------------------------------------------------- the real story
SIZE, FPS = (256, 144), 24
CLIP_S = 5.0  # the 3 s opening card, the first chapter's title card, then the first subtitle


@pytest.fixture(scope="module")
def scene_file(tmp_path_factory) -> Path:
    """The default scene on a 2 mm thermal grid (fast), written to a scratch folder."""
    from cryoviz.model.scene import DEFAULT_SCENE

    text = DEFAULT_SCENE.read_text(encoding="utf-8").replace("grid_mm = 1.0", "grid_mm = 2.0")
    assert "grid_mm = 2.0" in text
    path = tmp_path_factory.mktemp("scene") / "default_2mm.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def story(scene_file):
    from cryoviz.story.session import load_story

    return load_story(scene_file)


@pytest.fixture(scope="module")
def clips(scene_file, tmp_path_factory):
    """The same short clip rendered through the CLI with one worker and with two."""
    from cryoviz.cli import main

    folder = tmp_path_factory.mktemp("clips")
    out = {}
    for jobs in (1, 2):
        out[jobs] = folder / f"clip{jobs}.mp4"
        code = main(["render", str(scene_file), "-o", str(out[jobs]), "--size", f"{SIZE[0]}x{SIZE[1]}",
                     "--fps", str(FPS), "--duration", str(CLIP_S), "--jobs", str(jobs)])
        assert code == 0
    return out


@pytest.mark.skipif(FFPROBE is None, reason="ffprobe (Debian package ffmpeg) is not installed")
def test_clip_has_the_frames_duration_codec_and_size_asked_for(clips):
    for path in clips.values():
        assert imageio_ffmpeg.count_frames_and_secs(str(path)) == (round(CLIP_S * FPS), CLIP_S)
        info = _probe(path)
        assert (info["codec_name"], info["pix_fmt"]) == ("h264", "yuv420p")
        assert (info["width"], info["height"]) == SIZE
        assert info["duration"] == pytest.approx(CLIP_S, abs=0.05)
        with path.open("rb") as f:  # +faststart: the index (moov) comes before the pictures (mdat)
            head = f.read(4096)
        assert 0 <= head.find(b"moov") < max(head.find(b"mdat"), 0) or head.find(b"mdat") < 0
    folder = next(iter(clips.values())).parent
    assert sorted(p.name for p in folder.iterdir()) == ["clip1.mp4", "clip1.vtt", "clip2.mp4", "clip2.vtt"]
    umask = os.umask(0o022)
    os.umask(umask)
    assert all(p.stat().st_mode & 0o777 == 0o666 & ~umask for p in folder.iterdir())  # not private temp modes


def test_subtitles_match_the_story_cues(clips, story):
    from cryoviz.deliver.vtt import parse_vtt

    disclaimer, *cues = parse_vtt(clips[1].with_suffix(".vtt").read_text(encoding="utf-8"))
    assert disclaimer.text == story.text["common"]["disclaimer"] and disclaimer.start_s == 0.0
    assert 0 < disclaimer.end_s <= CLIP_S
    want = [c for c in story.cues if c.start_s < CLIP_S]
    assert want, "the clip should reach the first subtitle"
    assert len(cues) == len(want)
    for got, c in zip(cues, want, strict=True):
        assert got.start_s == pytest.approx(c.start_s, abs=0.0011)
        assert got.end_s == pytest.approx(min(c.end_s, CLIP_S), abs=0.0011)
        assert got.text == c.text.strip()
    assert clips[2].with_suffix(".vtt").read_text(encoding="utf-8") == \
        clips[1].with_suffix(".vtt").read_text(encoding="utf-8")


def test_pictures_change_and_two_workers_give_the_same_pictures(clips):
    one, two = _frames(clips[1], SIZE), _frames(clips[2], SIZE)
    n = round(CLIP_S * FPS)
    assert one.shape == two.shape == (n, SIZE[1], SIZE[0], 3)
    diff = np.abs(one.astype(int) - two).mean(axis=(1, 2, 3))
    assert diff.max() < 2.0
    first, last = one[0].astype(int), one[-1].astype(int)
    assert np.abs(first - last).mean() > 5  # the opening card is gone by the end of the clip
    assert one.std() > 10  # not a blank picture


def test_bad_arguments_exit_2_with_the_contract_line_and_leave_nothing(tmp_path, scene_file, capsys):
    from cryoviz.cli import main

    bad_scene = tmp_path / "bad.toml"
    bad_scene.write_text(scene_file.read_text(encoding="utf-8").replace("volume_ml = 30", "volume_ml = -3"),
                         encoding="utf-8")
    out = str(tmp_path / "v.mp4")
    cases = [
        (["--fps", "12"], "argument: --fps: "),
        (["--fps", "90"], "argument: --fps: "),
        (["--size", "257x144"], "argument: --size: "),
        (["--lang", "xx"], "argument: --lang: unknown language"),
        (["--jobs", "0"], "argument: --jobs: "),
        (["--duration", "0"], "argument: --duration: "),
    ]
    for extra, head in cases:
        assert main(["render", str(scene_file), "-o", out, *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(head) and "(allowed: " in err and "\n" not in err, err
    assert main(["render", str(scene_file), "-o", str(tmp_path / "missing" / "v.mp4")]) == 2
    assert capsys.readouterr().err.startswith("argument: -o: the folder does not exist")
    assert main(["render", str(bad_scene), "-o", out]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{bad_scene}: anatomy.volume_ml: ") and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


def _living(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if state[state.rindex(")") + 2:].split()[0] != "Z":
            alive.append(pid)
    return alive


@pytest.mark.parametrize(("sig", "jobs"), [(signal.SIGINT, 2), (signal.SIGTERM, 1)])
def test_interrupted_render_leaves_no_file_no_temp_and_no_process(tmp_path, scene_file, sig, jobs):
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "v.mp4"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "cryoviz", "render", str(scene_file), "-o", str(out),
                             "--size", "256x144", "--fps", "24", "--jobs", str(jobs)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
    seen = []
    try:
        deadline = time.monotonic() + 120
        buf = b""
        while time.monotonic() < deadline:  # wait until frames are being encoded
            chunk = os.read(proc.stderr.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
            if re.search(rb"render: +\d+%\|[^|]*\| ([1-9]\d*)/\d+ \[", buf):
                break
        assert re.search(rb" ([1-9]\d*)/\d+ \[", buf), buf.decode(errors="replace")
        seen = _descendants(proc.pid)
        assert len(seen) >= jobs  # ffmpeg (and the workers) are running
        proc.send_signal(sig)
        rest = proc.communicate(timeout=60)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (buf + rest).decode(errors="replace")
    assert b"Traceback" not in rest
    assert list(out.parent.iterdir()) == []
    time.sleep(0.5)
    assert _living(seen) == []


def test_cards_and_held_shots_are_drawn_once(story):
    from cryoviz.deliver.video import video_plan

    cards_s = 4.4  # the opening card, then the first chapter's title card
    plan = video_plan(story, FPS, duration_s=cards_s)
    assert len(plan.states) == round(cards_s * FPS)
    runs = [s for i, s in enumerate(plan.states) if i == 0 or s != plan.states[i - 1]]
    assert [r.card for r in runs] == [story.state_at(0).card, story.state_at(cards_s).card]  # two pictures
    assert runs[0].card != runs[1].card
    assert all(s.t_s == 0.0 for s in plan.states)
    full = video_plan(story, FPS)
    drawn = sum(1 for i, s in enumerate(full.states) if i == 0 or s != full.states[i - 1])
    assert drawn < len(full.states)
    assert full.duration_s == pytest.approx(story.duration_s, abs=1 / FPS)


def test_a_stretch_from_mid_story_shifts_and_clips_the_cues(story):
    from cryoviz.deliver.video import video_plan

    cue = story.cues[len(story.cues) // 2]
    plan = video_plan(story, FPS, duration_s=4.0, start_s=cue.start_s - 1.0)
    showing = [c for c in story.cues if c.start_s < cue.start_s - 1.0 < c.end_s]  # on screen at the cut
    if showing:  # clipped to start the stretch
        assert plan.cues[0].start_s == pytest.approx(0.0) and plan.cues[0].text == showing[-1].text.strip()
    else:
        assert plan.cues[0].text == cue.text.strip()
    mine = next(c for c in plan.cues if c.text == cue.text)
    assert mine.start_s == pytest.approx(1.0, abs=1e-6)
    assert mine.end_s == pytest.approx(min(cue.end_s - cue.start_s + 1.0, 4.0), abs=1e-6)
    assert all(0.0 <= c.start_s < c.end_s <= 4.0 for c in plan.cues)
