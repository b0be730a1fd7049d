"""The overlay's words never lie over each other, at a phone's view size too (tester's 390x844 screenshot:
the legend's "0 °C: edge of the ice you can see" ran into "Sensor by the rectum ...")."""

from __future__ import annotations

import pytest

from cryoviz.story.session import load_story
from cryoviz.view.overlay import GIVE_WAY
from cryoviz.view.render import SceneRenderer

#: The app's 3D view on a 390x844 phone (min(56vh, 80vw) high), smaller phones, a tablet and the video.
SIZES = ((390, 312), (360, 288), (320, 256), (640, 360), (1280, 720))
CHAPTERS = ("probes", "freeze1", "thaw_refreeze", "spared")


@pytest.fixture(scope="module", params=("en", "es"))
def story(request):
    return load_story("scenes/salvage_whole_gland.toml", lang=request.param, grid_mm=2.0)


def _boxes(r) -> dict[str, tuple[float, float, float, float]]:
    """Display boxes of every shown text actor and legend swatch, measured by VTK after a render."""
    ren = r.plotter.renderer
    out = {}
    for name, _key in GIVE_WAY:
        actor = getattr(r.overlay, name)
        if not actor.GetVisibility() or not (actor.GetInput() or "").strip():
            continue
        bb = [0.0] * 4
        actor.GetBoundingBox(ren, bb)          # relative to the actor's anchor
        x, y = actor.GetPosition()
        out[name] = (x + bb[0], x + bb[1], y + bb[2], y + bb[3])
    w, h = r.overlay.size
    for level, actor, pts in r.overlay.legend_swatches:
        if actor.GetVisibility():
            (x0, y0, _), (x1, y1, _) = pts.GetPoint(0), pts.GetPoint(2)
            out[f"swatch {level:g}"] = (x0 * w, x1 * w, y0 * h, y1 * h)
    return out


def _overlaps(boxes) -> list[str]:
    names = sorted(boxes)
    bad = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if a.startswith("swatch") and b.startswith("swatch"):
                continue
            (a0, a1, a2, a3), (b0, b1, b2, b3) = boxes[a], boxes[b]
            if min(a1, b1) > max(a0, b0) and min(a3, b3) > max(a2, b2):
                bad.append(f"{a} {boxes[a]} / {b} {boxes[b]}")
    return bad


def _time(story, chapter: str) -> float:
    ch = next(c for c in story.chapters if c.id == chapter)
    return ch.end_s - 0.05


def test_no_overlay_text_overlaps_another_at_any_view_size(story):
    r = SceneRenderer(story, (1280, 720))
    try:
        for chapter in CHAPTERS:
            state = story.state_at(_time(story, chapter))
            for size in SIZES:
                # as a still draws it: the state applied at its size
                r.plotter.window_size = size
                r.apply(state)
                r.image()
                assert r.overlay.size == size
                assert _overlaps(_boxes(r)) == [], (story.lang, chapter, size, "apply")
                # as the app's remote view does it: a big window, the state, then the phone's size
                r.plotter.window_size = (1280, 720)
                r.apply(state)
                r.plotter.ren_win.SetSize(*size)
                r.plotter.ren_win.Render()
                assert r.overlay.size == size
                boxes = _boxes(r)
                assert _overlaps(boxes) == [], (story.lang, chapter, size, "resized")
                if chapter == "spared":    # the legend (what the colours mean) always stays
                    assert "legend_text" in boxes and "disclaimer" in boxes, (size, sorted(boxes))
            r.plotter.window_size = (1280, 720)
            r.apply(state)
            r.image()
            if chapter == "spared":      # where there is room, the sensors are read out beside the legend
                assert r.overlay.readouts.GetVisibility()
    finally:
        r.close()
