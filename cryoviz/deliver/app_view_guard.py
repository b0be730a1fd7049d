"""What one client may do to the 3D view that every tab of a consultation shares (trame-vtk's RPCs).

Part of the server guard (:class:`cryoviz.deliver.app_security.ServerGuard` inherits :class:`ViewRpcGuard`):
each method wraps one trame-vtk RPC of the remote view. The page draws nothing itself, it shows pictures
the server draws, so one client's size, camera or animation request changes the picture of every tab:

* view sizes are clamped to :data:`VIEW_PX` (memory: about 70 bytes a drawn pixel), quality and ratio too;
* a camera must show something (:func:`camera_problem`): NaN, 1e300 or a zero view direction blanked it;
* the interaction animation's frame rate stays in :data:`ANIMATION_FPS` (0 divided trame-vtk by zero and
  left every later picture unsent), and a view animates once however often a client starts it;
* the last observer of a view stays and pictures cannot be switched off (either stopped every tab's
  pictures);
* a page asking about a view a re-simulation replaced (:data:`REPLACED_VIEW_RPCS`) gets trame-vtk's own
  answer for a view it does not know, not an error: each such error was an unhandled promise rejection in
  the page (8 ``pageerror: Object`` for one change of the prostate volume).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("cryoviz.deliver.app_security")

__all__ = ["ANIMATION_FPS", "CAMERA_MM", "REPLACED_VIEW_RPCS", "VIEW_PX", "ViewRpcGuard", "camera_problem",
           "named_view"]

#: Smallest and largest 3D view size a client may ask for, px (width, height). Each drawn pixel costs the
#: server about 70 bytes while playing (VTK's offscreen buffers, the screenshot and its JPEG; measured
#: +650 MB at 3840x2160, +175 MB at 1920x1080 over a 640 MB server), so the 1 GB a consultation may use
#: holds 1920x1200 and not 4K; the page never asks for more (its 3D view is at most that size, see
#: ``app_ui``). 8000x8000 once grew the server from 0.4 to 3.8 GB.
VIEW_PX = ((16, 16), (1920, 1200))
#: Largest camera coordinate a client may set, mm (the scene spans about 200 mm).
CAMERA_MM = 1.0e4
#: Frame rates a client may ask the interaction animation for, frames/s (0 divided trame-vtk by zero).
ANIMATION_FPS = (1.0, 60.0)
#: trame-vtk's RPCs that name one view, and where: the position of the view id, or "view" of an options dict.
#: The unmounting remote view of a replaced window still sends its size, a last picture and its observer's
#: removal after the server has dropped that window; a page mounting on it asks to observe it.
REPLACED_VIEW_RPCS = {
    "viewport.image.push.original.size": 0, "viewport.image.push": "view",
    "viewport.image.push.observer.add": 0, "viewport.image.push.observer.remove": 0,
    "viewport.image.push.quality": 0,
    "viewport.image.push.enabled": 0, "viewport.image.push.invalidate.cache": 0,
    "viewport.image.animation.start": 0, "viewport.image.animation.stop": 0,
    "viewport.image.render": "view",
}


def _clamp_int(value: Any, lo: int, hi: int) -> int:
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        return lo
    return int(min(max(v, lo), hi)) if v == v else lo


class ViewRpcGuard:
    """Wrappers of trame-vtk's view RPCs (each takes the RPC function, returns the guarded one)."""

    def _view_size(self, func):
        (w0, h0), (w1, h1) = VIEW_PX

        def view_size(obj, view_id=None, width=None, height=None, *_, **__):
            return func(obj, view_id, _clamp_int(width, w0, w1), _clamp_int(height, h0, h1))

        return view_size

    def _view_quality(self, func):
        def view_quality(obj, view_id=None, quality=None, ratio=1, *_, **__):
            q = _clamp_int(quality, 1, 100)
            try:
                r = float(ratio)
            except (TypeError, ValueError, OverflowError):
                r = 1.0
            r = min(max(r, 0.1), 1.0) if r == r else 1.0
            return func(obj, view_id, q, r)

        return view_quality

    def _still_render(self, func):
        (w0, h0), (w1, h1) = VIEW_PX

        def still_render(obj, options=None, *_, **__):
            opts = dict(options) if isinstance(options, dict) else {}
            if "size" in opts:
                size = opts["size"] if isinstance(opts["size"], (list, tuple)) and len(opts["size"]) == 2 \
                    else (w0, h0)
                opts["size"] = [_clamp_int(size[0], w0, w1), _clamp_int(size[1], h0, h1)]
            return func(obj, opts)

        return still_render

    # ---------------------------------------------------------------- the 3D view every tab shares
    def _camera(self, func):
        """A camera of NaN, 1e300 or a zero view direction blanked the picture for every tab."""
        def camera(obj, view_id=None, focal_point=None, view_up=None, position=None, *rest, **__):
            problem = camera_problem(focal_point, view_up, position)
            if problem:
                log.info("camera update refused: %s", problem)
                return None
            return func(obj, view_id, [float(v) for v in focal_point], [float(v) for v in view_up],
                        [float(v) for v in position], *rest[:1])

        return camera

    def _animation_fps(self, func):
        def fps(obj, value=30, *_, **__):
            v = _finite(value)
            if v is None:
                return None
            return func(obj, min(max(v, ANIMATION_FPS[0]), ANIMATION_FPS[1]))

        return fps

    def _animation_start(self, func):
        """Each start added the view once more: every animation frame then drew it that many times."""
        def start(obj, view_id="-1", *_, **__):
            result = func(obj, view_id)
            views = getattr(obj, "views_in_animations", None)
            if isinstance(views, list):
                views[:] = list(dict.fromkeys(views))
            return result

        return start

    def _observer_remove(self, func):
        """Pictures stop for every tab once a view's last observer goes: a client cannot remove that one."""
        def remove(obj, view_id=None, *_, **__):
            try:
                info = obj.tracking_views.get(str(obj.get_global_id(obj.get_view(view_id))))
            except Exception:   # an unknown view: trame-vtk answers with its own error
                info = None
            if isinstance(info, dict) and info.get("observerCount", 0) <= 1:
                return {"result": "success"}
            return func(obj, view_id)

        return remove

    def _replaced_view(self, func, where):
        """A request about a view a re-simulation replaced: answered as trame-vtk answers a view it does not
        know (``{"error": ...}``, a resolved reply the page ignores), not raised. Raised, it reached the page
        as a rejected promise nobody catches (``pageerror: Object``) while the view was remounting anyway
        (``app_start.stale_view_asked``)."""
        def replaced(obj, *args, **kwargs):
            from cryoviz.deliver.app_serve import REPLACED_VIEWS

            view_id = named_view(args, where)
            if view_id is not None and view_id in REPLACED_VIEWS:
                log.debug("request about replaced view %s answered without it", view_id)
                return {"error": f"Unable to get view with id {view_id}"}
            return func(obj, *args, **kwargs)

        return replaced

    def _push_enabled(self, func):
        """Turning the pictures off would turn them off for every tab: only on is accepted."""
        def enabled(obj, view_id=None, value=True, *_, **__):
            return func(obj, view_id, True) if value is True else None

        return enabled


def named_view(args: tuple, where) -> str | None:
    """The view id a trame-vtk RPC's arguments name (``where``: its position or the options' key), or None."""
    try:
        value = args[where] if isinstance(where, int) else args[0].get(where)
    except (IndexError, AttributeError, TypeError):
        return None
    return None if value is None or isinstance(value, (dict, list)) else str(value)[:40]


def camera_problem(focal_point: Any, view_up: Any, position: Any) -> str | None:
    """Why a client's camera would not show the scene, or None (three finite coordinates each, within
    :data:`CAMERA_MM`; the eye away from the focal point; the up vector not along the view direction)."""
    vecs = []
    for name, vec in (("focal point", focal_point), ("view up", view_up), ("position", position)):
        if not isinstance(vec, (list, tuple)) or len(vec) != 3:
            return f"{name} is not three numbers"
        vals = [_finite(v) for v in vec]
        if any(v is None or abs(v) > CAMERA_MM for v in vals):
            return f"{name} is not finite within {CAMERA_MM:g} mm"
        vecs.append(vals)
    (fx, fy, fz), (ux, uy, uz), (px, py, pz) = vecs
    dx, dy, dz = px - fx, py - fy, pz - fz
    dist = (dx * dx + dy * dy + dz * dz) ** 0.5
    up = (ux * ux + uy * uy + uz * uz) ** 0.5
    if dist < 1e-3 or up < 1e-9:
        return "no view direction"
    cx, cy, cz = dy * uz - dz * uy, dz * ux - dx * uz, dx * uy - dy * ux
    if (cx * cx + cy * cy + cz * cz) ** 0.5 < 1e-6 * dist * up:
        return "view up along the view direction"
    return None


def _finite(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return v if v == v and abs(v) != float("inf") else None
