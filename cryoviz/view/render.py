"""The one 3D renderer of cryoviz: stills, video frames and the consultation app all come from here.

:class:`SceneRenderer` builds the PyVista scene once — organs, probes, the ultrasound probe, the warming
catheter, the template grid, sensor markers, three isotherm shells and the 2D overlay — and
:meth:`SceneRenderer.apply` moves it to a :class:`~cryoviz.story.timeline.FrameState` in place: actor
transforms,
visibility, opacity, the shells' geometry (``copy_from``) and overlay text. Nothing is added per frame, so a
frame is a pure function of the state and the options.
"""

from __future__ import annotations

import os

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")  # no X server here: go to EGL

from pathlib import Path

import numpy as np
import pyvista as pv
from vtkmodules.vtkRenderingCore import vtkActor2D

from cryoviz.view.overlay import Overlay, plain_text
from cryoviz.view.palette import (
    BACKGROUND,
    ISOTHERM_STYLE,
    LESION_STYLE,
    ORGAN_STYLE,
    PROBE_ACTIVE,
    PROBE_SHAFT,
)

__all__ = ["SceneRenderer", "write_still"]

_NEEDLE_LENGTH_MM = 140.0
#: Organs named on screen, and the chapters that name them.
LABELLED_ORGANS = ("prostate", "bladder", "rectum", "urethra", "sphincter", "seminal_vesicles",
                   "neurovascular_bundles", "pubic_bone")
LABEL_CHAPTERS = ("anatomy", "spared")
#: Depth-peeling passes of a still (a single picture can afford order-correct translucency).
STILL_DEPTH_PEELS = 4
#: Opacity of the lesion's copy drawn over the scene (seen through the gland and the ice).
LESION_GHOST_OPACITY = 0.45



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
        Render without a window (always true here: the app streams the server's pictures).
    ultrasound : bool
        Show the ultrasound view picture-in-picture.
    depth_peels : int
        Depth-peeling passes for order-correct translucency (0 = one blended pass). Stills use 4; the
        video and the app use 0, because on a CPU renderer each pass costs about as much as the whole
        picture (measured: 925 ms with 4 peels, 161 ms without, 1280x720, llvmpipe).
    shell_mm : float or None
        Voxel size the isotherm shells are contoured at (every n-th voxel of the thermal grid); None uses
        the thermal grid itself (stills).
    """

    def __init__(self, story, size: tuple[int, int] = (1280, 720), *, captions: bool = True,
                 off_screen: bool = True, ultrasound: bool = False, depth_peels: int = 0,
                 shell_mm: float | None = 2.0):
        self.story = story
        self._shell_mm = shell_mm
        self.size = (int(size[0]), int(size[1]))
        self.anatomy = story.anatomy
        self.result = story.result
        self._opts = {
            "organs_visible": {}, "cutaway": False, "isotherms_c": tuple(sorted(ISOTHERM_STYLE)),
            "captions": captions, "clinician": False, "ultrasound": ultrasound,
            "lesion_on_ultrasound": None,
        }
        pl = pv.Plotter(off_screen=off_screen, window_size=self.size, lighting="light_kit")
        pl.set_background(BACKGROUND)
        # Depth peeling needs a single-sample framebuffer: with MSAA on, Mesa's EGL drops every translucent
        # actor (seen with llvmpipe). FXAA smooths edges cheaply instead.
        pl.ren_win.SetMultiSamples(0)
        if depth_peels > 0:
            pl.enable_depth_peeling(number_of_peels=int(depth_peels), occlusion_ratio=0.0)
        self.plotter = pl
        self._organ_actors: dict[str, pv.Actor] = {}
        self._build_organs()
        self._build_devices()
        self._build_isotherms()
        self._build_sensors()
        self._cut_plane = None
        self._build_cutaway()
        self.overlay = Overlay(pl.renderer, self.size)
        self._build_labels()
        self._us = None
        if ultrasound:
            self._build_ultrasound()
        self._iso_key: object = None
        self._state = None
        # the app's remote view resizes the window and renders without a new state: lay out on every render
        self._resize_tag = pl.renderer.AddObserver("StartEvent", self._follow_window_size)

    def _follow_window_size(self, *_args) -> None:
        self.overlay.resize(tuple(self.plotter.ren_win.GetSize()))

    # ------------------------------------------------------------------ build (once)
    def _build_organs(self) -> None:
        for name, mesh in self.anatomy.meshes().items():
            colour, opacity = ORGAN_STYLE.get(name, ("#cccccc", 0.6))
            actor = self.plotter.add_mesh(mesh, color=colour, opacity=opacity, smooth_shading=True,
                                          name=f"organ:{name}", specular=0.25, specular_power=20)
            self._organ_actors[name] = actor
        self._build_lesions()

    def _build_lesions(self) -> None:
        """The scene's lesions (known cancer), one calm shape each; toggled as the organ ``"lesion"``."""
        from cryoviz.model.lesions import resolve_lesions

        self._lesion_actors = []
        scene = getattr(self.story, "scene", None)
        if scene is None or not getattr(scene, "lesions", ()) or "prostate" not in self.anatomy.organs:
            return
        colour, opacity = LESION_STYLE
        # a faint copy in a layer drawn over the scene (same camera), so a lesion deep in the gland or inside
        # the ice still shows where it is; the solid one in the scene gives it depth where it is in view
        from vtkmodules.vtkRenderingCore import vtkRenderer

        ghost = vtkRenderer()
        ghost.SetLayer(1)
        ghost.InteractiveOff()
        ghost.SetActiveCamera(self.plotter.renderer.GetActiveCamera())
        rw = self.plotter.ren_win
        rw.SetNumberOfLayers(max(rw.GetNumberOfLayers(), 2))
        rw.AddRenderer(ghost)
        self._lesion_ghost = ghost
        for i, les in enumerate(resolve_lesions(scene, self.anatomy)):
            surf = les.surface()
            self._lesion_actors.append(self.plotter.add_mesh(
                surf, color=colour, opacity=opacity, smooth_shading=True, name=f"lesion:{i}",
                specular=0.15, specular_power=10, ambient=0.35))
            faint = pv.Actor(mapper=pv.DataSetMapper(surf))
            faint.prop.color = colour
            faint.prop.opacity = LESION_GHOST_OPACITY
            faint.prop.ambient = 0.6
            ghost.AddActor(faint)
            self._lesion_actors.append(faint)

    def _build_devices(self) -> None:
        from cryoviz.model.layout import probe_segment_mm
        from cryoviz.model.probes import PROBE_CATALOGUE

        self._probe_actors = []
        for probe in self.story.probes:
            kind = PROBE_CATALOGUE[probe.kind]
            tip, _entry = probe_segment_mm(probe, self.anatomy, kind)
            tip = np.asarray(tip, float)
            r = kind.diameter_mm / 2.0
            active = pv.Cylinder(center=tip - [0, 0, kind.active_length_mm / 2], direction=(0, 0, 1),
                                 radius=r * 1.4, height=kind.active_length_mm, resolution=14)
            shaft_len = _NEEDLE_LENGTH_MM - kind.active_length_mm
            shaft = pv.Cylinder(center=tip - [0, 0, kind.active_length_mm + shaft_len / 2],
                                direction=(0, 0, 1), radius=r, height=shaft_len, resolution=10)
            a1 = self.plotter.add_mesh(active, color=PROBE_ACTIVE, name=f"probe:{probe.name}:active",
                                       smooth_shading=True)
            a2 = self.plotter.add_mesh(shaft, color=PROBE_SHAFT, name=f"probe:{probe.name}:shaft",
                                       specular=0.6, smooth_shading=True)
            self._probe_actors.append((probe, a1, a2))
        lm = self.anatomy.landmarks
        self._trus = None
        if "rectum" in self.anatomy.organs:
            # transrectal ultrasound probe: a rod in the rectal lumen, sliding in along +z
            length = 120.0
            self._trus_tip_z = lm.base_z_mm + 10.0
            centre = (lm.rectum_axis_x_mm, lm.rectum_axis_y_mm, self._trus_tip_z - length / 2)
            trus = pv.Cylinder(center=centre,
                               direction=(0, 0, 1), radius=lm.rectum_inner_radius_mm * 0.85, height=length,
                               resolution=30)
            self._trus = self.plotter.add_mesh(trus, color="#5a6470", name="trus", smooth_shading=True)
            self._trus_length = length
        # warming catheter along the urethra
        if "urethra" in self.anatomy.organs:
            line = pv.Spline(self.anatomy.urethra_centreline_mm(60), 120)
            cath = line.tube(radius=lm.urethra_radius_mm * 0.8, n_sides=16)
            self._catheter = self.plotter.add_mesh(cath, color="#ffb000", name="catheter",
                                                   smooth_shading=True)
        else:
            self._catheter = None
        # template grid: dots at the holes, a little below the skin
        from cryoviz.model.template import all_holes, hole_to_xy_mm

        skin_z = lm.skin_z_mm
        xy = np.array([hole_to_xy_mm(h) for h in all_holes()])
        pts = np.column_stack([xy, np.full(len(xy), skin_z - 12.0)])
        plate = pv.Box(bounds=(xy[:, 0].min() - 6, xy[:, 0].max() + 6, xy[:, 1].min() - 6,
                               xy[:, 1].max() + 6, skin_z - 14.0, skin_z - 13.0))
        self._template = [
            self.plotter.add_mesh(plate, color="#dfe7ee", opacity=0.25, name="template:plate"),
            self.plotter.add_mesh(pv.PolyData(pts), color="#ffffff", point_size=max(2, self.size[1] // 240),
                                  render_points_as_spheres=False, name="template:holes"),
        ]

    def _build_isotherms(self) -> None:
        g = self.result.grid
        # shells are contoured from every ``stride``-th voxel: a 2 mm surface is smooth enough for the
        # picture and has a quarter of the triangles of a 1 mm one (video frames are drawn on a CPU)
        self._stride = max(1, round(self._shell_mm / g.spacing_mm)) if self._shell_mm else 1
        dims = tuple(len(range(0, n, self._stride)) for n in g.labels.shape)
        self._field = pv.ImageData(dimensions=dims, spacing=(g.spacing_mm * self._stride,) * 3,
                                   origin=tuple(g.origin_mm))
        self._field.point_data["T"] = np.full(int(np.prod(dims)), 37.0, np.float32)
        self._shells: dict[float, tuple[pv.PolyData, pv.Actor]] = {}
        for level, (colour, opacity) in sorted(ISOTHERM_STYLE.items()):
            mesh = pv.PolyData()
            actor = self.plotter.add_mesh(pv.Sphere(radius=0.01), color=colour, opacity=opacity,
                                          smooth_shading=True, name=f"isotherm:{level:g}")
            actor.mapper.dataset = mesh
            self._shells[level] = (mesh, actor)

    def _build_sensors(self) -> None:
        sensors = self.story.sensor_positions_mm
        self._sensor_names = list(sensors)
        if sensors:
            pts = pv.PolyData(np.array([sensors[n] for n in self._sensor_names], float))
            pts.point_data["temp_c"] = np.full(len(self._sensor_names), 37.0)
            self._sensor_pts = pts
            self._sensor_actor = self.plotter.add_mesh(
                pts.glyph(geom=pv.Sphere(radius=1.6), scale=False, orient=False), scalars="temp_c",
                cmap="coolwarm", clim=(-40, 40), show_scalar_bar=False, name="sensors")
        else:
            self._sensor_actor = None

    def _build_labels(self) -> None:
        """Organ names beside the organs (shown in the anatomy and "what was spared" chapters)."""
        from vtkmodules.vtkCommonCore import vtkStringArray
        from vtkmodules.vtkRenderingLabel import vtkLabeledDataMapper

        from cryoviz.view.overlay import text_property

        names = [n for n in LABELLED_ORGANS if n in self.anatomy.organs]
        anchors = []
        for name in names:
            c = np.array(self.anatomy.mesh(name).center, float)
            if name == "urethra":  # the membranous part below the apex is where the tube shows alone
                c = self.anatomy.urethra_centreline_mm(20)[-3]
            elif name == "neurovascular_bundles":  # the mesh centre falls between the two bundles
                pts = self.anatomy.mesh(name).points
                c = pts[np.argmax(pts[:, 0])]
            anchors.append(c)
        self._label_names = names
        self._label_poly = pv.PolyData(np.array(anchors, float) if anchors else np.zeros((0, 3)))
        self._label_text = vtkStringArray()
        self._label_text.SetName("label")
        self._label_text.SetNumberOfValues(len(names))
        self._label_poly.GetPointData().AddArray(self._label_text)
        mapper = vtkLabeledDataMapper()
        mapper.SetInputData(self._label_poly)
        mapper.SetLabelModeToLabelFieldData()
        mapper.SetFieldDataName("label")
        mapper.SetLabelTextProperty(text_property(max(int(17 * self.size[1] / 720), 7), background=0.55))
        self._labels = vtkActor2D()
        self._labels.SetMapper(mapper)
        self.plotter.renderer.AddViewProp(self._labels)
        self._label_lang = None

    def _apply_labels(self, state) -> None:
        show = state.chapter is not None and state.chapter.id in LABEL_CHAPTERS and not state.card
        self._labels.SetVisibility(bool(show and self._label_names))
        if self.story.lang != self._label_lang:
            organs = self.story.text.get("organs", {})
            for i, name in enumerate(self._label_names):
                self._label_text.SetValue(i, plain_text(organs.get(name, name)))
            self._label_text.Modified()
            self._label_poly.Modified()
            self._label_lang = self.story.lang

    def _build_cutaway(self) -> None:
        import vtkmodules.vtkCommonDataModel as dm

        self._cut_plane = dm.vtkPlane()
        self._cut_targets = [a for n, a in self._organ_actors.items() if n not in ("urethra",)]

    def _build_ultrasound(self) -> None:
        from cryoviz.view.inset import UltrasoundInset

        self._us = UltrasoundInset(self.plotter.ren_win, self.size)

    def _apply_ultrasound(self, state) -> None:
        if self._us is None:
            return
        us_s = getattr(state, "ultrasound_s", None)
        if us_s is None or "rectum" not in self.anatomy.organs:  # the ultrasound probe is not in: dark
            self._us.show(None)
            return
        from cryoviz.story.ultrasound import ultrasound_frame

        t = max(float(us_s), 0.0)
        depths = tuple(float(state.probe_depths_mm.get(p.name, 0.0)) for p in self.result.probes)
        mask = self._us_lesion_mask()
        key = (round(t, 3), depths, self.story.lang, mask is not None)  # labels in the story's language
        if self._us.shows(key):  # same picture: only make sure the inset is drawn
            self._us.reveal()
            return
        n = self._us.size_px
        # a lesion shown on ultrasound is looked at in its own sagittal plane (the probe is turned to it)
        plane_x = None if mask is None else self._us_plane_x
        img = ultrasound_frame(self.anatomy, self.result, t, plane="sagittal", size_px=(n, n),
                               inserted_mm=depths, words=self.story.text.get("ultrasound"),
                               lesion_mask=mask, position_mm=plane_x)
        self._us.show(img, key)

    def _us_lesion_mask(self):
        """Voxels of the lesions the ultrasound shows: those the scene marks visible on ultrasound, or all /
        none when the clinician option ``lesion_on_ultrasound`` says so; None when there are none."""
        scene = getattr(self.story, "scene", None)
        if scene is None or not getattr(scene, "lesions", ()):
            return None
        choice = self._opts["lesion_on_ultrasound"]
        if choice is False:
            return None
        key = bool(choice)
        cached = getattr(self, "_us_mask_cache", {})
        if key not in cached:
            from cryoviz.model.lesions import resolve_lesions
            from cryoviz.physics.lesion_metrics import lesion_masks

            placed = [p for p in resolve_lesions(scene, self.anatomy)
                      if choice or p.lesion.visible_on_ultrasound]
            masks = lesion_masks(self.result.grid, placed) if placed else []
            cached[key] = np.logical_or.reduce(masks) if masks else None
            self._us_plane_x = float(placed[0].centre_mm[0]) if placed else None
            self._us_mask_cache = cached
        return cached[key]

    # ------------------------------------------------------------------ options (app / video)
    def set_options(self, *, organs_visible: dict[str, bool] | None = None, cutaway: bool | None = None,
                    isotherms_c: tuple[float, ...] | None = None, captions: bool | None = None,
                    lang: str | None = None, clinician: bool | None = None,
                    lesion_on_ultrasound: bool | None = None) -> None:
        """Change viewing options; they apply at the next :meth:`apply`.

        ``lesion_on_ultrasound``: show every lesion on the ultrasound (True) or none (False); by default
        (never set) only those the scene marks ``visible_on_ultrasound``.
        """
        if organs_visible is not None:
            self._opts["organs_visible"] = dict(organs_visible)
        if cutaway is not None:
            self._opts["cutaway"] = bool(cutaway)
        if isotherms_c is not None:
            self._opts["isotherms_c"] = tuple(float(v) for v in isotherms_c)
        if captions is not None:
            self._opts["captions"] = bool(captions)
        if clinician is not None:
            self._opts["clinician"] = bool(clinician)
        if lesion_on_ultrasound is not None:
            self._opts["lesion_on_ultrasound"] = bool(lesion_on_ultrasound)
        if lang is not None and lang != self.story.lang:
            self.story = self.story.with_language(lang)

    # ------------------------------------------------------------------ per frame (in place)
    def apply(self, state) -> None:
        """Move every actor to ``state`` (in place) — the picture is a function of state and options."""
        self._state = state
        self._apply_organs(state)
        self._apply_devices(state)
        self._apply_isotherms(state)
        self._apply_sensors(state)
        self._apply_camera(state)
        self._apply_overlay(state)
        self._apply_labels(state)
        self._apply_ultrasound(state)

    def _apply_organs(self, state) -> None:
        visible = self._opts["organs_visible"]
        opac = state.organ_opacity
        for name, actor in self._organ_actors.items():
            base = ORGAN_STYLE.get(name, ("#cccccc", 0.6))[1]
            op = float(opac.get(name, base))
            actor.visibility = bool(visible.get(name, True)) and op > 0.01
            actor.prop.opacity = min(max(op, 0.0), 1.0)
        for actor in self._lesion_actors:
            actor.visibility = bool(visible.get("lesion", True))
        cut = self._opts["cutaway"]
        for actor in self._cut_targets:
            mapper = actor.mapper
            mapper.RemoveAllClippingPlanes()
            if cut:
                mapper.AddClippingPlane(self._cut_plane)

    def _apply_devices(self, state) -> None:
        depths = state.probe_depths_mm
        for probe, a1, a2 in self._probe_actors:
            d = float(depths.get(probe.name, 0.0))
            shift = float(d) - float(probe.depth_mm)
            vis = d > 0.0
            for a in (a1, a2):
                a.position = (0.0, 0.0, shift)
                a.visibility = vis
        if self._trus is not None:
            trus_in = float(state.trus_in)
            self._trus.position = (0.0, 0.0, -(1.0 - trus_in) * self._trus_length)
            self._trus.visibility = trus_in > 0.0
        if self._catheter is not None:
            self._catheter.visibility = float(state.catheter_in) > 0.0
        for a in self._template:
            a.visibility = bool(state.show_template)

    def _apply_isotherms(self, state) -> None:
        t = state.isotherm_time_s
        coldest = bool(state.show_coldest)
        shown = set(state.isotherms_c) & set(self._opts["isotherms_c"])
        key = (None if t is None else round(float(t), 3), coldest)
        if key != self._iso_key:
            self._iso_key = key
            if t is None:
                for mesh, _a in self._shells.values():
                    mesh.copy_from(pv.PolyData())
            else:
                field = self.result.min_temp_until(t) if coldest else self.result.temp_at(t)
                k = self._stride
                self._field.point_data["T"] = np.asarray(field[::k, ::k, ::k], np.float32).ravel(order="F")
                for level, (mesh, _a) in self._shells.items():
                    surf = self._field.contour([level], scalars="T", compute_normals=True,
                                               compute_scalars=False)
                    mesh.copy_from(surf)
        for level, (mesh, actor) in self._shells.items():
            actor.visibility = level in shown and mesh.n_points > 0

    def _apply_sensors(self, state) -> None:
        if self._sensor_actor is None:
            return
        temps = state.sensor_temps_c
        vals = np.array([float(temps.get(n, 37.0)) for n in self._sensor_names])
        glyph_ds = self._sensor_actor.mapper.dataset
        per = glyph_ds.n_points // max(len(vals), 1)
        glyph_ds.point_data["temp_c"] = np.repeat(vals, per)
        self._sensor_actor.visibility = bool(state.show_sensors)

    def _apply_camera(self, state) -> None:
        c = state.camera
        cam = self.plotter.camera
        cam.position = tuple(c.position)
        cam.focal_point = tuple(c.focal_point)
        cam.up = tuple(c.view_up)
        cam.view_angle = float(c.view_angle_deg)
        if self._opts["cutaway"]:
            focal = np.array(cam.focal_point)
            normal = np.array(cam.position) - focal
            normal /= np.linalg.norm(normal) or 1.0
            self._cut_plane.SetOrigin(*focal)
            self._cut_plane.SetNormal(*(-normal))
        self.plotter.renderer.ResetCameraClippingRange()

    def _apply_overlay(self, state) -> None:
        self.overlay.resize(tuple(self.plotter.window_size))
        shown = set(state.isotherms_c) & set(self._opts["isotherms_c"])
        legend = [(level, label) for level, label in state.legend if level in shown]
        chapter = state.chapter
        self.overlay.update(
            caption=(state.caption or "") if self._opts["captions"] else "",
            title=f"{chapter.index} · {chapter.title}" if chapter is not None else "",
            clock=state.clock_text,
            readouts="\n".join(state.sensor_readouts) if state.show_sensors else "",
            disclaimer=state.disclaimer,
            legend=legend,
            show_legend=bool(legend) and state.isotherm_time_s is not None,
            card=state.card,
            card_sub=state.card_sub or "",
        )

    # ------------------------------------------------------------------ output
    def render(self) -> None:
        """Render the current state."""
        self.plotter.render()

    def image(self) -> np.ndarray:
        """Render and return the picture as an (H, W, 3) uint8 array."""
        self.plotter.render()
        return np.asarray(self.plotter.screenshot(return_img=True, transparent_background=False))[..., :3]

    def close(self) -> None:
        """Release the render window."""
        self.plotter.close()


def write_still(scene_path, out_png, *, time_s: float | None = None, chapter: str | None = None,
                size: tuple[int, int] = (1280, 720), lang: str | None = None) -> None:
    """Write one frame of a scene's story as PNG (atomically).

    Parameters
    ----------
    scene_path : path-like
        Scene TOML file.
    out_png : path-like
        Output PNG path.
    time_s : float, optional
        Story time in seconds (clamped to the story).
    chapter : str, optional
        Chapter id or number; the frame is taken where the chapter's main action is shown.
    size : tuple of int
        (width, height) in pixels.
    lang : str, optional
        Language of the caption.
    """
    import imageio.v3 as iio

    from cryoviz.core.errors import InputError
    from cryoviz.core.files import atomic_path, check_writable_target
    from cryoviz.story.session import check_lang, load_story

    check_lang(lang)
    out_png = check_writable_target(Path(out_png), "-o")
    story = load_story(scene_path, lang=lang)
    if chapter is not None:
        t = story.chapter_time(chapter)
        if t is None:
            ids = ", ".join(c.id for c in story.chapters)
            raise InputError.one("argument", "--chapter", "unknown chapter",
                                 f"{ids} or 1-{len(story.chapters)}", chapter)
    else:
        if time_s is None or not np.isfinite(time_s) or time_s < 0:
            raise InputError.one("argument", "--time", "not a time in the story",
                                 f"0 to {story.duration_s:.0f} s", str(time_s))
        t = min(float(time_s), story.duration_s)
    renderer = SceneRenderer(story, size, depth_peels=STILL_DEPTH_PEELS, shell_mm=None)
    try:
        renderer.apply(story.state_at(t))
        img = renderer.image()
    finally:
        renderer.close()
    with atomic_path(out_png) as tmp:
        iio.imwrite(tmp, img, extension=".png")
