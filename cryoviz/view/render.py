"""The one 3D renderer of cryoviz: stills, video frames and the consultation app all come from here.

:class:`SceneRenderer` builds the PyVista scene once — organs, instruments (:mod:`cryoviz.view.devices`),
three isotherm shells, the section views (:mod:`cryoviz.view.section`), organ names
(:mod:`cryoviz.view.labels`), the gap callout (:mod:`cryoviz.view.callout`) and the 2D overlay — and
:meth:`SceneRenderer.apply` moves it to a :class:`~cryoviz.story.timeline.FrameState` in place: actor
transforms, visibility, colours, the shells' geometry (``copy_from``) and overlay text. Nothing is added per
frame (section meshes are built once, on first use), so a frame is a pure function of state and options.

The look: organs are opaque and lit with a little specular (the story fades an organ only below
:data:`OPAQUE_FROM`), the bone is matte ivory and never see-through, the ice is glossy and translucent,
cool white to blue, with the lethal zone deep indigo (:mod:`cryoviz.view.palette`). When the caption names
an organ, the others fade toward the background.
"""

from __future__ import annotations

import os

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")  # no X server here: go to EGL

import numpy as np
import pyvista as pv
from vtkmodules.vtkCommonDataModel import vtkPlane

from cryoviz.view.callout import GapCallout
from cryoviz.view.devices import Devices
from cryoviz.view.labels import OrganLabels, organ_anchors
from cryoviz.view.lesions import Lesions
from cryoviz.view.overlay import Overlay, frame_unit, plain_text
from cryoviz.view.palette import (
    BACKGROUND,
    BONE_LOOK,
    ISOTHERM_STYLE,
    LIGHTS,
    ORGAN_LOOK,
    ORGAN_STYLE,
    frozen_colour,
    hex_rgb,
    light_position,
    lighten,
    recede,
)
from cryoviz.view.section import SectionPlanes, closed_outward, ice_lookup_table, style_ice_mapper
from cryoviz.view.shells import IsothermShells

__all__ = ["LABELLED_ORGANS", "LABEL_CHAPTERS", "OPAQUE_FROM", "VIEWS", "SceneRenderer"]

#: Organs named on screen, in the order they keep their place when space runs out.
LABELLED_ORGANS = ("prostate", "rectum", "urethra", "bladder", "sphincter", "neurovascular_bundles",
                   "seminal_vesicles", "pubic_bone")
#: Chapters that name every organ; the others name only the organ the caption is about.
LABEL_CHAPTERS = ("anatomy", "spared")
#: Views a renderer can be asked for ("story" follows the story's own section choice).
VIEWS = ("story", "sagittal", "transverse")
#: A story opacity at or above this draws the organ opaque (order-correct, and it shows its shape).
OPAQUE_FROM = 0.5
#: Depth-peeling passes of a still (a single picture can afford order-correct translucency).
STILL_DEPTH_PEELS = 4
_SEE_THROUGH = ("perineum", "gel")  # context volumes, always drawn at their own low opacity


class SceneRenderer:
    """Draw a story's frames.

    Parameters
    ----------
    story : cryoviz.story.timeline.Story
        The story (scene, anatomy, thermal result, text).
    size : tuple of int
        Window size (width, height) in pixels.
    captions : bool
        Burn the caption into the picture.
    off_screen : bool
        Render without a window (always here: the app streams the server's pictures).
    ultrasound : bool
        Show the ultrasound view picture-in-picture.
    depth_peels : int
        Depth-peeling passes (0 = one blended pass). Stills use 4; video and app 0: on a CPU each pass
        costs about a whole picture (925 ms with 4 peels, 161 ms without, 1280x720, llvmpipe).
    shell_mm : float or None
        Voxel size of the isotherm shells (every n-th thermal voxel); None: the thermal grid (stills).
    """

    def __init__(self, story, size: tuple[int, int] = (1280, 720), *, captions: bool = True,
                 off_screen: bool = True, ultrasound: bool = False, depth_peels: int = 0,
                 shell_mm: float | None = 2.0):
        self.story = story
        self.size = (int(size[0]), int(size[1]))
        self.anatomy = story.anatomy
        self.result = story.result
        self._opts = {
            "organs_visible": {}, "cutaway": False, "isotherms_c": tuple(sorted(ISOTHERM_STYLE)),
            "captions": captions, "clinician": False, "ultrasound": ultrasound, "view": "story",
            "hold_camera": False, "lesion_on_ultrasound": None,
        }
        pl = pv.Plotter(off_screen=off_screen, window_size=self.size, lighting="none")
        pl.set_background(BACKGROUND)
        for _name, elevation, azimuth, intensity, colour in LIGHTS:
            pl.add_light(pv.Light(position=light_position(elevation, azimuth), light_type="camera light",
                                  intensity=intensity, color=colour))
        # Depth peeling needs a single-sample framebuffer: with MSAA on, Mesa's EGL drops every translucent
        # actor (seen with llvmpipe).
        pl.ren_win.SetMultiSamples(0)
        if depth_peels > 0:
            pl.enable_depth_peeling(number_of_peels=int(depth_peels), occlusion_ratio=0.0)
        else:
            # VTK's order-independent translucency costs two extra full-frame passes (about 20 ms a picture
            # on llvmpipe); the translucent shells are nested and drawn innermost first, and plain blending
            # differs from it by less than 0.4 grey levels on average (1280x720, measured on the story's
            # freeze and "what was spared" frames). Stills keep depth peeling.
            pl.renderer.SetUseOIT(False)
        self.plotter = pl
        self._organ_actors: dict[str, pv.Actor] = {}
        for name, mesh in self.anatomy.meshes().items():
            self._organ_actors[name] = self._organ_actor(name, mesh, f"organ:{name}")
        self.devices = Devices(pl, story, self.size)
        self.lesions = Lesions(pl, story)
        self.shells = IsothermShells(pl, self.result, shell_mm)
        self.sections = SectionPlanes(self.anatomy, story.frame_centre_mm, story.frame_radius_mm)
        self._section_actors: dict[str, dict[str, pv.Actor]] = {}
        self._culled: list[pv.Actor] = []   # closed capped organs: back faces culled, seen from outside
        self._outlines: dict[tuple[str, str], pv.Actor] = {}
        self._ice_mesh = pv.PolyData()
        self._ice_actor = pl.add_mesh(pv.Sphere(radius=0.01), name="section:ice", pickable=False)
        self._ice_actor.mapper.dataset = self._ice_mesh
        style_ice_mapper(self._ice_actor.mapper)
        self._ice_actor.prop.lighting = False
        self._ice_actor.visibility = False
        self._lut_levels = set(ISOTHERM_STYLE)
        self._cut_plane = vtkPlane()
        self._cut_targets = [a for n, a in self._organ_actors.items() if n != "urethra"]
        self.overlay = Overlay(pl.renderer, self.size)
        self.labels = OrganLabels(pl.renderer, [n for n in LABELLED_ORGANS if n in self.anatomy.organs])
        self._anchors_3d = organ_anchors(self.anatomy, self.labels.names)
        self.callout = GapCallout(pl.renderer, story.gap)
        self._label_lang = None
        self._us = None
        if ultrasound:
            from cryoviz.view.inset import UltrasoundInset

            self._us = UltrasoundInset(pl.ren_win, self.size)
        self._state = None
        self._view: str | None = None
        # the app's remote view resizes the window and renders without a new state: lay out on every render
        self._resize_tag = pl.renderer.AddObserver("StartEvent", self._follow_window_size)

    def _follow_window_size(self, *_args) -> None:
        self._cull_from_outside()
        size = tuple(self.plotter.ren_win.GetSize())
        if size != self.overlay.size:
            self.overlay.resize(size)
            if self._state is not None:
                self._apply_labels(self._state, self._view)
                self._apply_callout(self._state, self._view)

    def _cull_from_outside(self) -> None:
        """Cull the back faces of closed capped organs (same picture, less drawing; see
        :func:`.section.closed_outward`), but not of one whose box holds the camera: the clipping range is
        reset in front of every shown object, so only a camera inside an organ can see its inside."""
        cam = self.plotter.camera
        eye, margin = np.asarray(cam.position), 0.01 * float(cam.clipping_range[1])
        for a in self._culled:
            b = np.asarray(a.GetBounds()).reshape(3, 2)
            a.prop.SetBackfaceCulling(not bool(np.all((eye > b[:, 0] - margin) & (eye < b[:, 1] + margin))))

    def _organ_actor(self, name: str, mesh, actor_name: str):
        colour, opacity = ORGAN_STYLE.get(name, ("#cccccc", 0.6))
        look = BONE_LOOK if name == "pubic_bone" else ORGAN_LOOK
        return self.plotter.add_mesh(mesh, color=colour, opacity=opacity, smooth_shading=True,
                                     name=actor_name, **look)

    def _section_organs(self, view: str) -> dict[str, pv.Actor]:
        """Organ -> capped actor of ``view`` (built on first use, with the cut face's outline)."""
        if view not in self._section_actors:
            actors = {}
            for name, mesh in self.sections.capped(view).items():
                a = self._organ_actor(name, mesh, f"section:{view}:{name}")
                a.visibility = False
                actors[name] = a
                if name not in _SEE_THROUGH and closed_outward(mesh):
                    self._culled.append(a)
                line = self.sections.outline(view, name) if name not in _SEE_THROUGH else None
                if line is not None:
                    o = self.plotter.add_mesh(line, color=ORGAN_STYLE[name][0], lighting=False,
                                              name=f"outline:{view}:{name}",
                                              line_width=max(2.0, 3.0 * frame_unit(self.size)))
                    o.visibility = False
                    self._outlines[(view, name)] = o
            self._section_actors[view] = actors
        return self._section_actors[view]

    def set_options(self, *, organs_visible: dict[str, bool] | None = None, cutaway: bool | None = None,
                    isotherms_c: tuple[float, ...] | None = None, captions: bool | None = None,
                    lang: str | None = None, clinician: bool | None = None, view: str | None = None,
                    hold_camera: bool | None = None, lesion_on_ultrasound: bool | None = None) -> None:
        """Change viewing options; they apply at the next :meth:`apply`.

        ``view`` is one of :data:`VIEWS`; ``hold_camera`` leaves the camera where the viewer put it
        (the app, after the doctor rotates or zooms); ``lesion_on_ultrasound`` shows every lesion on the
        ultrasound (True) or none (False); by default (never set) those the scene marks visible on it.
        """
        if organs_visible is not None:
            self._opts["organs_visible"] = dict(organs_visible)
        if isotherms_c is not None:
            self._opts["isotherms_c"] = tuple(float(v) for v in isotherms_c)
        if view is not None:
            if view not in VIEWS:
                raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
            self._opts["view"] = view
        for key, value in (("cutaway", cutaway), ("captions", captions), ("clinician", clinician),
                           ("hold_camera", hold_camera), ("lesion_on_ultrasound", lesion_on_ultrasound)):
            if value is not None:
                self._opts[key] = bool(value)
        if hold_camera is False:
            self._camera_set = None  # the story camera comes back: nothing to compare with until it is set
        if lang is not None and lang != self.story.lang:
            self.story = self.story.with_language(lang)

    def _camera_now(self) -> np.ndarray:
        cam = self.plotter.camera
        return np.array([*cam.position, *cam.focal_point, *cam.up, cam.view_angle], float)

    def camera_moved(self) -> bool:
        """True when the camera is no longer where the story last put it (the doctor rotated or zoomed)."""
        set_ = getattr(self, "_camera_set", None)
        return set_ is not None and not np.allclose(self._camera_now(), set_, rtol=0.0, atol=1e-6)

    def view_of(self, state) -> str | None:
        """The section drawn for ``state`` under the current options (None: the whole 3D scene)."""
        v = self._opts["view"]
        return state.section if v == "story" else v

    # ------------------------------------------------------------------ per frame (in place)
    def apply(self, state) -> None:
        """Move every actor to ``state`` (in place) — the picture is a function of state and options."""
        self._state = state
        view = self._view = self.view_of(state)
        self._apply_organs(state, view)
        self.devices.apply(state)
        self._apply_clipping(view)
        self._apply_isotherms(state, view)
        self._apply_camera(state, view)
        self._apply_overlay(state)
        self._apply_labels(state, view)
        self._apply_callout(state, view)
        self._apply_ultrasound(state)

    def _apply_organs(self, state, view: str | None) -> None:
        visible = self._opts["organs_visible"]
        opac = state.organ_opacity
        section = self._section_organs(view) if view else {}
        for v, actors in self._section_actors.items():
            if v != view:
                for a in actors.values():
                    a.visibility = False
        for (v, _n), a in self._outlines.items():
            if v != view:
                a.visibility = False
        frozen = set(getattr(state, "frozen_organs", ()) or ())  # drawn like ice once the result is told
        for name, actor in self._organ_actors.items():
            colour, base = ORGAN_STYLE.get(name, ("#cccccc", 0.6))
            colour = frozen_colour(colour) if name in frozen else colour
            op = float(opac.get(name, base))
            shown = bool(visible.get(name, True)) and op > 0.01
            if name in _SEE_THROUGH:
                drawn = min(op, base)
            elif view or name == "pubic_bone" or op >= OPAQUE_FROM:
                drawn = 1.0  # cut organs are solid; bone is never see-through
            else:
                drawn = op
            faded = state.focus is not None and name != state.focus
            rgb = recede(colour) if faded else hex_rgb(colour)
            outline = self._outlines.get((view, name)) if view else None
            for a, on in ((actor, shown and not view), (section.get(name), shown and bool(view)),
                          (outline, shown)):
                if a is None:
                    continue
                a.visibility = on
                a.prop.opacity = min(max(drawn, 0.0), 1.0)
                a.prop.color = rgb
            if outline is not None:
                outline.prop.color = lighten(colour, 0.35) if not faded else recede(colour)
        self.lesions.apply(visible.get("lesion", True), section=bool(view))
        cut = self._opts["cutaway"] and not view
        for actor in self._cut_targets:
            actor.mapper.RemoveAllClippingPlanes()
            if cut:
                actor.mapper.AddClippingPlane(self._cut_plane)

    def _apply_clipping(self, view: str | None) -> None:
        plane = self.sections.set_clip(view) if view else None
        for actor in [*self.devices.actors(), *self.shells.actors()]:
            actor.mapper.RemoveAllClippingPlanes()
            if plane is not None:
                actor.mapper.AddClippingPlane(plane)

    def _apply_isotherms(self, state, view: str | None) -> None:
        t = state.isotherm_time_s
        shown = set(state.isotherms_c) & set(self._opts["isotherms_c"])
        if self.shells.follow(t, bool(state.show_coldest)):
            self._ice_key = None
        self.shells.show(shown)
        ice = bool(view) and t is not None and bool(shown)
        if ice and self._lut_levels != shown:
            ice_lookup_table(shown, self._ice_actor.mapper.GetLookupTable())
            self._lut_levels = shown
        if ice and getattr(self, "_ice_key", None) != (self.shells.key, view):
            self._ice_mesh.copy_from(self.sections.ice_slice(self.shells.field, view))
            self._ice_key = (self.shells.key, view)
        self._ice_actor.visibility = ice and self._ice_mesh.n_points > 0

    def _apply_camera(self, state, view: str | None) -> None:
        if self._opts["hold_camera"]:
            self.plotter.renderer.ResetCameraClippingRange()
            return
        c = state.camera
        if view is not None and view != state.section:
            from cryoviz.story.camera import section_pose

            c = section_pose(view, self.story.frame_centre_mm, self.story.frame_radius_mm).camera()
        cam = self.plotter.camera
        cam.position = tuple(c.position)
        cam.focal_point = tuple(c.focal_point)
        cam.up = tuple(c.view_up)
        cam.view_angle = float(c.view_angle_deg)
        self._camera_set = self._camera_now()
        if self._opts["cutaway"]:
            focal = np.array(cam.focal_point)
            normal = np.array(cam.position) - focal
            normal /= np.linalg.norm(normal) or 1.0
            self._cut_plane.SetOrigin(*focal)
            self._cut_plane.SetNormal(*(-normal))
        self.plotter.renderer.ResetCameraClippingRange()

    def _apply_overlay(self, state) -> None:
        self.overlay.resize(tuple(self.plotter.window_size))
        self.overlay.show_state(state, self._opts["isotherms_c"], captions=self._opts["captions"])

    def _apply_labels(self, state, view: str | None) -> None:
        if self.story.lang != self._label_lang:
            organs = self.story.text.get("organs", {})
            self.labels.set_texts({n: plain_text(organs.get(n, n)) for n in self.labels.names})
            self._label_lang = self.story.lang
        all_names = state.chapter is not None and state.chapter.id in LABEL_CHAPTERS
        if state.card or not (all_names or state.focus):
            self.labels.hide()
            return
        anchors = {}
        for name in self.labels.names:
            actor = (self._section_actors[view].get(name) if view else self._organ_actors.get(name))
            if actor is None or not actor.visibility or not (all_names or name == state.focus):
                continue
            p = self.sections.face_anchor(view, name) if view else self._anchors_3d[name]
            if p is not None:
                anchors[name] = p
        size = tuple(self.plotter.window_size)
        left = self.overlay.margin
        if self._us is not None and self._us.renderer.GetDraw():
            left = self._us.renderer.GetViewport()[2] * size[0] + self.overlay.margin
        self.labels.layout(anchors, size, self.overlay.free_band(), (left, size[0] - self.overlay.margin),
                           focus=state.focus,
                           avoid=self.callout.box_px(self.story.gap if state.callout else None))

    def _apply_callout(self, state, view: str | None) -> None:
        self.callout.follow(state, self.story, tuple(self.plotter.window_size))

    def _apply_ultrasound(self, state) -> None:
        if self._us is not None:
            self._us.follow(state, self.story, self._us_lesions())

    def _us_lesions(self) -> tuple:
        from cryoviz.view.inset import lesion_mask

        cache = self.__dict__.setdefault("_usm", {})
        return lesion_mask(self.story, self._opts["lesion_on_ultrasound"], cache)

    def _us_lesion_mask(self):
        """Voxels of the lesions the ultrasound shows now, or None (see :func:`.inset.lesion_mask`)."""
        return self._us_lesions()[0]

    def image(self) -> np.ndarray:
        """Render and return the picture as an (H, W, 3) uint8 array."""
        self.plotter.render()
        return np.asarray(self.plotter.screenshot(return_img=True, transparent_background=False))[..., :3]

    def close(self) -> None:
        """Release the render window."""
        self.plotter.close()
