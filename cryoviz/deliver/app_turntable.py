"""Rotation and zoom at the browser's frame rate: a ring of pictures the server draws ahead (issue 18).

Every picture of the 3D view is drawn on the server by the one renderer (llvmpipe, no GPU): about 50 ms at
half size and 150 ms at full size on this machine, so a picture per mouse move cannot keep up with a 60 Hz
mouse. While the view is still (paused, nothing changed for :data:`STILL_S`), the server draws, with the
same renderer and the same scene objects, a *ring* of views around the current camera (every
:data:`AZ_STEP_DEG` degrees of azimuth over the full turn, at the elevations :data:`ELEVATIONS_DEG`), nearest
first, a few per event-loop turn, at :data:`RING_SCALE` of the view's size; they go to the page as JPEG
(binary, in the state key ``turn_batch``; the ring's description in ``turn_ring``). The page
(``web/turntable.js``) maps a drag to (azimuth, elevation) as VTK's trackball camera style does
(:func:`drag_angles`) and shows the nearest picture of the ring in the next animation frame, with no
server round trip; a wheel or pinch zoom scales the shown picture. On release it sends the final angles and
zoom once (trigger ``cv_turn``); the server turns the renderer's camera there (:func:`turn_camera`), holds it
as the doctor's camera and draws the exact picture. Any change of time, options, size, scene, result or
camera makes a new ring (:class:`Ring` is keyed by all of them); where the ring is not ready the page
leaves the drag to trame-vtk's remote view as before.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import weakref

from cryoviz.deliver.app_content import finite_or
from cryoviz.deliver.app_guard import Rejected, finite
from cryoviz.deliver.app_play import jpeg_bytes

__all__ = ["AZ_STEP_DEG", "ELEVATIONS_DEG", "RING_SCALE", "STILL_S", "Ring", "TurntableMixin", "drag_angles",
           "ring_size", "ring_views", "turn_camera", "turn_state"]

log = logging.getLogger("cryoviz.deliver.app")

#: Azimuth between two pictures of the ring, degrees: 36 views over the full turn. Halfway between two
#: views the shown picture is 5 degrees off the mouse's angle (``cryoviz bench app`` reports the worst).
AZ_STEP_DEG = 10.0
#: Elevations of the ring's rows relative to the camera, degrees.
ELEVATIONS_DEG = (-30.0, -15.0, 0.0, 15.0, 30.0)
#: Size of a ring picture relative to the view, and its JPEG quality: 640x360 for a 1280x720 view is
#: about 47 ms to draw and 22 kB of JPEG (measured at load 6-8 on 2 cores, llvmpipe).
RING_SCALE = 0.5
RING_QUALITY = 65
#: Narrowest ring picture, px (a smaller view's ring is drawn at the view's own size): the renderer lays
#: its caption, legend and disclaimer out for the window it draws, and at 191 px (a phone's view halved)
#: they ran into each other and the disclaimer was cut.
RING_MIN_PX = 480
#: How long the view must stay unchanged before the ring is drawn, s.
STILL_S = 0.3
#: Ring pictures drawn per event-loop turn (each blocks the loop for about 50 ms: one, so that a click or a
#: timeline change waits for one small picture at most).
BATCH = 1
#: Largest ring the server keeps, bytes of JPEG (the full ring of 180 views is about 4 MB).
MAX_RING_BYTES = 16 * 1024 * 1024
#: VTK's trackball camera style: degrees of azimuth per view width (and elevation per view height).
TRACKBALL_DEG = 200.0
#: The largest elevation and the zoom range the page may ask for.
EL_LIMIT_DEG = 80.0
ZOOM_RANGE = (0.25, 4.0)


def ring_size(width_px: int, height_px: int) -> tuple[int, int]:
    """Size (px) of the ring's pictures for a view of ``width_px`` x ``height_px``: :data:`RING_SCALE` of it,
    but never narrower than :data:`RING_MIN_PX` nor larger than the view."""
    w, h = max(int(width_px), 16), max(int(height_px), 16)
    scale = min(1.0, max(RING_SCALE, RING_MIN_PX / w))
    return max(16, round(w * scale)), max(16, round(h * scale))


def drag_angles(dx_px: float, dy_px: float, width_px: float, height_px: float) -> tuple[float, float]:
    """Azimuth and elevation (degrees) for a drag of (``dx_px``, ``dy_px``) screen pixels (y down).

    The same mapping as VTK's ``vtkInteractorStyleTrackballCamera::Rotate`` (``-20 / size * MotionFactor``
    with MotionFactor 10, VTK's y axis up), so a drag turns the scene as the remote view did.
    """
    w, h = max(float(width_px), 1.0), max(float(height_px), 1.0)
    return -TRACKBALL_DEG * float(dx_px) / w, TRACKBALL_DEG * float(dy_px) / h


def ring_views(az_step: float = AZ_STEP_DEG, elevations=ELEVATIONS_DEG) -> list[tuple[float, float]]:
    """The ring's (azimuth, elevation) pairs in degrees, nearest to the current camera first.

    Azimuths are in (-180, 180]; the order is by the angle between the view direction and the current one,
    so a drag that starts while the ring is being drawn finds its neighbours first.
    """
    n = max(round(360.0 / float(az_step)), 1)
    views = []
    for i in range(n):
        az = i * 360.0 / n
        az = az - 360.0 if az > 180.0 else az
        views.extend((az, float(el)) for el in elevations)
    return sorted(views, key=lambda v: (view_angle_deg(v, (0.0, 0.0)), abs(v[1]), v[0]))


def view_angle_deg(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Angle (degrees) between the view directions of two (azimuth, elevation) pairs."""
    def unit(az, el):
        az, el = math.radians(az), math.radians(el)
        return (math.cos(el) * math.sin(az), math.sin(el), math.cos(el) * math.cos(az))

    u, v = unit(*a), unit(*b)
    dot = max(-1.0, min(1.0, sum(x * y for x, y in zip(u, v, strict=True))))
    return math.degrees(math.acos(dot))


def turn_camera(camera, base, azimuth_deg: float, elevation_deg: float, zoom: float = 1.0) -> None:
    """Put ``camera`` (a vtkCamera) at ``base`` turned by ``azimuth_deg`` then ``elevation_deg`` and zoomed.

    ``base`` is a vtkCamera (copied, not changed). Azimuth, elevation and orthogonalised view-up as VTK's
    trackball style; the zoom narrows the view angle, which is what scaling the shown picture does.
    """
    camera.DeepCopy(base)
    camera.Azimuth(float(azimuth_deg))
    camera.Elevation(float(elevation_deg))
    camera.OrthogonalizeViewUp()
    if zoom != 1.0:
        camera.Zoom(float(zoom))


class Ring:
    """The pictures drawn ahead for one still view, keyed by everything the picture depends on.

    ``key`` is the still view (time, options, size, scene, camera); :meth:`reset` with another key drops
    every picture and starts a new token, so nothing drawn for an older view is ever shown for this one.
    """

    def __init__(self, az_step: float = AZ_STEP_DEG, elevations=ELEVATIONS_DEG,
                 max_bytes: int = MAX_RING_BYTES) -> None:
        self.az_step, self.elevations, self.max_bytes = float(az_step), tuple(elevations), int(max_bytes)
        self.views = ring_views(self.az_step, self.elevations)
        self.key = None
        self.token = 0
        self.since = 0.0
        self.base = None        # the camera the ring turns around (a vtkCamera copy)
        self.size = (0, 0)      # the ring pictures' size, px
        self.pictures: dict[tuple[float, float], bytes] = {}
        self.nbytes = 0
        self.resend: list[tuple[float, float]] = []   # views still to send again (a new tab asked)

    def reset(self, key, now: float | None = None) -> bool:
        """Start a new ring for ``key`` if it differs from the current one; True when it did."""
        if key == self.key:
            return False
        self.key, self.token = key, self.token + 1
        self.since = time.monotonic() if now is None else float(now)
        self.pictures, self.nbytes, self.base, self.size, self.resend = {}, 0, None, (0, 0), []
        return True

    def ask_resend(self) -> None:
        """A page asked for the ring drawn so far: queue every picture drawn until now to be sent again."""
        self.resend = list(self.pictures)

    def next_resend(self, n: int) -> list[tuple[tuple[float, float], bytes]]:
        """The next ``n`` queued ``(view, jpeg)`` pairs to send again, nearest first (taken off the queue).

        The queue holds the views themselves, not a count from the end: a picture finished while the page's
        request arrived is added after it, and a count from the end then skipped the ring's first picture
        (straight ahead), without which the page never takes a drag.
        """
        views, self.resend = self.resend[:n], self.resend[n:]
        return [(v, self.pictures[v]) for v in views if v in self.pictures]

    def todo(self, n: int) -> list[tuple[float, float]]:
        """The next ``n`` views to draw (none when the ring is complete or full)."""
        if self.nbytes >= self.max_bytes:
            return []
        return [v for v in self.views if v not in self.pictures][:n]

    def add(self, view: tuple[float, float], jpeg: bytes) -> None:
        """Keep the picture ``jpeg`` (JPEG bytes) of ``view``."""
        if view not in self.pictures:
            self.pictures[view] = jpeg
            self.nbytes += len(jpeg)

    @property
    def complete(self) -> bool:
        """Whether every view of the ring is drawn (or the ring reached its size limit)."""
        return len(self.pictures) == len(self.views) or self.nbytes >= self.max_bytes

    def meta(self) -> dict:
        """The ring's description for the page (``turn_ring``)."""
        return {"token": self.token, "az_step": self.az_step, "els": list(self.elevations),
                "count": len(self.views), "w": int(self.size[0]), "h": int(self.size[1]),
                "trackball_deg": TRACKBALL_DEG, "el_limit": EL_LIMIT_DEG, "zoom_range": list(ZOOM_RANGE)}


def turn_state() -> dict:
    """The state keys of the ring (their initial values)."""
    return {"turn_ring": {"token": 0, "count": 0}, "turn_batch": {"token": 0, "items": []},
            "turn_applied": 0}


def _number(value, lo: float, hi: float) -> float | None:
    """``value`` if it is a real, finite number in ``[lo, hi]`` (not a bool, not a string), else None."""
    try:
        v = finite(value)
    except Rejected:
        return None
    return v if lo <= v <= hi else None


class TurntableMixin:
    """The ring of pictures drawn ahead, part of :class:`~cryoviz.deliver.app.ConsultationApp`."""

    def _turn_ready(self, **_) -> None:
        """Server ready: start the ring's loop (once)."""
        if getattr(self, "_turn_task", None) is None or self._turn_task.done():
            self.ring = getattr(self, "ring", None) or Ring()
            self._turn_task = asyncio.get_event_loop().create_task(self._turn_loop())
            self.server.controller.on_server_exited.add(self._turn_exit)

    def _turn_exit(self, **_) -> None:
        if getattr(self, "_turn_task", None) is not None:
            self._turn_task.cancel()
        self._turn_close()

    def _turn_key(self):
        """Everything the picture depends on, or None while nothing should be drawn ahead: while playing, and
        while the solver runs (a cold start or a re-planning: the ring's pictures would take the CPU from
        the first picture and the result; there the remote view turns the anatomy chapters)."""
        s, r = self.state, self.renderer
        if not getattr(self, "_turn_wanted", False):   # no page has shown its first picture yet
            return None
        if r is None or self.view is None or s.playing or s.frame_jpeg or s.sim_busy:
            return None
        cam = r.plotter.camera
        size = tuple(int(v) for v in r.plotter.ren_win.GetSize())
        options = json.dumps([s.organs_visible, s.cutaway, s.iso_0, s.iso_m20, s.iso_m40, s.clinician,
                              s.lesion_us, s.section_view, s.lang], sort_keys=True, default=str)
        camera = tuple(round(float(v), 6) for v in (*cam.GetPosition(), *cam.GetFocalPoint(),
                                                     *cam.GetViewUp(), cam.GetViewAngle()))
        return (id(r), id(self.story), round(finite_or(s.t_s, 0.0), 4), options, size, camera)

    async def _turn_loop(self, tick_s: float = 0.1) -> None:
        busy = False
        while True:
            await asyncio.sleep(0.005 if busy else tick_s)   # between two ring pictures: a breath only
            try:
                busy = bool(await self._turn_step())
            except asyncio.CancelledError:
                raise
            except Exception:   # the ring is a help: a failure leaves the remote view's rotation
                log.exception("drawing the turntable ring failed")
                await asyncio.sleep(1.0)

    async def _turn_step(self) -> bool:
        """One step of the ring: drop it on a change, send it again, or draw one more picture (True)."""
        ring, key = self.ring, self._turn_key()
        if ring.reset(key):
            with self.state:
                self.state.turn_ring = ring.meta()
            return False
        if ring.resend:
            again = ring.next_resend(12)
            if again:
                self._turn_publish(again)
            return True
        if key is None or time.monotonic() - ring.since < STILL_S:
            return False
        views = ring.todo(BATCH)
        if not views:
            return False
        images = self._turn_draw(views)
        if not images:
            return True
        jpegs = await self._loop.run_in_executor(None, _encode_all, images)
        if self._turn_key() != key:     # something changed while encoding: these pictures are stale
            return False
        fresh = ring.size != images[0].shape[1::-1]
        ring.size = images[0].shape[1::-1]
        for view, jpeg in zip(views, jpegs, strict=True):
            ring.add(view, jpeg)
        if fresh:
            with self.state:
                self.state.turn_ring = ring.meta()
        self._turn_publish(list(zip(views, jpegs, strict=True)))
        return True

    def _turn_publish(self, items) -> None:
        with self.state:
            self.state.turn_batch = {"token": self.ring.token,
                                     "items": [[az, el, jpeg] for (az, el), jpeg in items]}

    def _ring_renderer(self, size: tuple[int, int]):
        """The renderer that draws the ring: another :class:`~cryoviz.view.render.SceneRenderer` of the shown
        story, built once per result (same scene objects, same colours, same options).

        The shown renderer is never turned for the ring: its label layout depends on the cameras it drew
        before (a turn and back moved the organ names by up to 10 px), and trame-vtk may send its last frame.
        Returns None on the turn that builds it (about 0.6 s), so the event loop breathes in between.
        """
        ref = getattr(self, "_ring_for", None)
        if ref is None or ref() is not self.renderer:
            self._turn_close()
            # a second render window made before the shown one ever drew left the page without any remote
            # picture (a cold start: the ring was built before the first page connected); draw it first
            self.renderer.plotter.render()
            self._ring_r = self._make_renderer(self.story, size)
            self._ring_for = weakref.ref(self.renderer)   # a replaced renderer is not kept alive
            return None
        r = self._ring_r
        if tuple(int(v) for v in r.plotter.ren_win.GetSize()) != tuple(size):
            r.plotter.ren_win.SetSize(*size)
        return r

    def _turn_close(self) -> None:
        """Let the ring's renderer go (a new result, or the server stops)."""
        old, self._ring_r, self._ring_for = getattr(self, "_ring_r", None), None, None
        if old is not None:
            old.close()

    def _turn_draw(self, views) -> list | None:
        """Draw ``views`` of the ring (None while the ring's renderer is being built)."""
        from vtkmodules.vtkRenderingCore import vtkCamera

        ring, shown = self.ring, self.renderer
        r = self._ring_renderer(ring_size(*shown.plotter.ren_win.GetSize()))
        if r is None:
            return None
        if ring.base is None:
            ring.base = vtkCamera()
            ring.base.DeepCopy(shown.plotter.camera)
        self._push_options(r)
        r.set_options(hold_camera=True)   # the ring's own camera, turned below
        share_ice(shown, r)
        state = self.story.state_at(finite_or(self.state.t_s, 0.0))
        images = []
        for az, el in views:
            turn_camera(r.plotter.camera, ring.base, az, el)
            r.apply(state)
            images.append(r.image())
        return images

    def turn_resend(self) -> bool:
        """A page has shown its first 3D picture and asks for the ring drawn so far (trigger
        ``cv_turn_sync``). Only then is the ring drawn at all: drawn while the first page was still
        loading, it delayed that page's first picture from 13-17 s to 21-31 s (warm start, load 17-24).

        Returns True, the page's sign that it was heard: the server drops every trigger before its first
        story is shown (:mod:`~cryoviz.deliver.app_security`), and a page whose first picture was the
        empty window's asks again with its next picture.
        """
        self._turn_wanted = True
        ring = getattr(self, "ring", None)
        if ring is not None:
            ring.ask_resend()
        return True

    def turn_to(self, token=None, azimuth=None, elevation=None, zoom=None, seq=None) -> bool:
        """The page's drag or zoom ended at (``azimuth``, ``elevation``, ``zoom``) from ring ``token``'s
        camera (trigger ``cv_turn``): turn the renderer's camera there and draw the exact picture.

        Every value is checked (the server owns its state): a stale token, a non-finite or out-of-range
        number is refused and the camera stays. Returns whether the camera moved.
        """
        ring = getattr(self, "ring", None)
        az = _number(azimuth, -3600.0, 3600.0)
        el = _number(elevation, -EL_LIMIT_DEG, EL_LIMIT_DEG)
        z = _number(zoom, *ZOOM_RANGE)
        n = _number(seq, 0, 2 ** 31)
        ok = (ring is not None and ring.base is not None and not isinstance(token, bool)
              and token == ring.token and None not in (az, el, z) and self.renderer is not None)
        if ok:
            az = (az + 180.0) % 360.0 - 180.0
            turn_camera(self.renderer.plotter.camera, ring.base, az, el, z)
            self._show(force=True)     # the camera moved: _show_now holds it as the doctor's and draws
        if n is not None:
            self.state.turn_applied = int(n)
        return ok


def share_ice(src, dst) -> None:
    """Give renderer ``dst`` the isotherm shells ``src`` contoured (same thermal result, same time).

    Contouring the shells at a new time costs the ring's renderer 0.5-1.3 s on the event loop (measured at
    load 8); the shown renderer has just done it for this time, so its meshes and field are shared (no
    copy) and ``dst`` contours only when it is asked for another time.
    """
    a, b = src.shells, dst.shells
    if b.history.result is a.history.result:
        b.history = a.history
    if a.key is None or b.key == a.key or b.history is not a.history:
        return
    b.field.point_data["T"] = a.field.point_data["T"]
    for level, (mesh, _actor) in b.shells.items():
        mesh.copy_from(a.shells[level][0], deep=False)
    b.key = a.key


def _encode_all(images) -> list[bytes]:
    return [jpeg_bytes(img, RING_QUALITY) for img in images]
