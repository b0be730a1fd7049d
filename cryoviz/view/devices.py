"""The instruments in the 3D scene: cryoprobes, the transrectal ultrasound probe, the warming catheter, the
template grid and the temperature sensors (presentation layer). Built once; :meth:`Devices.apply` only moves
them and shows or hides them.
"""

from __future__ import annotations

import numpy as np
import pyvista as pv

from cryoviz.view.palette import CATHETER, PROBE_ACTIVE, PROBE_SHAFT

__all__ = ["Devices"]

_NEEDLE_LENGTH_MM = 140.0


class Devices:
    """Every instrument of one scene.

    Parameters
    ----------
    plotter : pyvista.Plotter
    story : cryoviz.story.timeline.Story
    size : tuple of int
        Window size (the template's hole dots scale with it).
    """

    def __init__(self, plotter, story, size: tuple[int, int]):
        from cryoviz.model.layout import probe_segment_mm
        from cryoviz.model.probes import PROBE_CATALOGUE
        from cryoviz.model.template import all_holes, hole_to_xy_mm

        anatomy = story.anatomy
        self.probes = []
        for probe in story.probes:
            kind = PROBE_CATALOGUE[probe.kind]
            tip, _entry = probe_segment_mm(probe, anatomy, kind)
            tip = np.asarray(tip, float)
            r = kind.diameter_mm / 2.0
            active = pv.Cylinder(center=tip - [0, 0, kind.active_length_mm / 2], direction=(0, 0, 1),
                                 radius=r * 1.4, height=kind.active_length_mm, resolution=14)
            shaft_len = _NEEDLE_LENGTH_MM - kind.active_length_mm
            shaft = pv.Cylinder(center=tip - [0, 0, kind.active_length_mm + shaft_len / 2],
                                direction=(0, 0, 1), radius=r, height=shaft_len, resolution=10)
            a1 = plotter.add_mesh(active, color=PROBE_ACTIVE, name=f"probe:{probe.name}:active",
                                  smooth_shading=True, specular=0.5)
            a2 = plotter.add_mesh(shaft, color=PROBE_SHAFT, name=f"probe:{probe.name}:shaft",
                                  specular=0.6, smooth_shading=True)
            self.probes.append((probe, a1, a2))
        lm = anatomy.landmarks
        self.trus = None
        if "rectum" in anatomy.organs:
            # transrectal ultrasound probe: a rod in the rectal lumen, sliding in along +z
            self._trus_length = length = 120.0
            centre = (lm.rectum_axis_x_mm, lm.rectum_axis_y_mm, lm.base_z_mm + 10.0 - length / 2)
            trus = pv.Cylinder(center=centre, direction=(0, 0, 1), radius=lm.rectum_inner_radius_mm * 0.85,
                               height=length, resolution=30)
            self.trus = plotter.add_mesh(trus, color="#5a6470", name="trus", smooth_shading=True)
        self.catheter = None
        if "urethra" in anatomy.organs:  # warming catheter along the urethra
            line = pv.Spline(anatomy.urethra_centreline_mm(60), 120)
            cath = line.tube(radius=lm.urethra_radius_mm * 0.8, n_sides=16)
            self.catheter = plotter.add_mesh(cath, color=CATHETER, name="catheter", smooth_shading=True)
        # template grid: dots at the holes, a little below the skin
        skin_z = lm.skin_z_mm
        xy = np.array([hole_to_xy_mm(h) for h in all_holes()])
        pts = np.column_stack([xy, np.full(len(xy), skin_z - 12.0)])
        plate = pv.Box(bounds=(xy[:, 0].min() - 6, xy[:, 0].max() + 6, xy[:, 1].min() - 6,
                               xy[:, 1].max() + 6, skin_z - 14.0, skin_z - 13.0))
        self.template = [
            plotter.add_mesh(plate, color="#dfe7ee", opacity=0.25, name="template:plate"),
            plotter.add_mesh(pv.PolyData(pts), color="#ffffff", point_size=max(2, size[1] // 240),
                             render_points_as_spheres=False, name="template:holes"),
        ]
        sensors = story.sensor_positions_mm
        self._sensor_names = list(sensors)
        self.sensors = None
        if sensors:
            spts = pv.PolyData(np.array([sensors[n] for n in self._sensor_names], float))
            spts.point_data["temp_c"] = np.full(len(self._sensor_names), 37.0)
            self.sensors = plotter.add_mesh(
                spts.glyph(geom=pv.Sphere(radius=1.6), scale=False, orient=False), scalars="temp_c",
                cmap="coolwarm", clim=(-40, 40), show_scalar_bar=False, name="sensors")

    def actors(self) -> list:
        """Every actor (for clipping planes)."""
        out = [a for _p, a1, a2 in self.probes for a in (a1, a2)] + list(self.template)
        return out + [a for a in (self.trus, self.catheter, self.sensors) if a is not None]

    def apply(self, state) -> None:
        """Insertion depths, what is in, and the sensors' colours at ``state``."""
        depths = state.probe_depths_mm
        for probe, a1, a2 in self.probes:
            d = float(depths.get(probe.name, 0.0))
            shift = float(d) - float(probe.depth_mm)
            for a in (a1, a2):
                a.position = (0.0, 0.0, shift)
                a.visibility = d > 0.0
        if self.trus is not None:
            trus_in = float(state.trus_in)
            self.trus.position = (0.0, 0.0, -(1.0 - trus_in) * self._trus_length)
            self.trus.visibility = trus_in > 0.0
        if self.catheter is not None:
            self.catheter.visibility = float(state.catheter_in) > 0.0
        for a in self.template:
            a.visibility = bool(state.show_template)
        if self.sensors is not None:
            temps = state.sensor_temps_c
            vals = np.array([float(temps.get(n, 37.0)) for n in self._sensor_names])
            glyph_ds = self.sensors.mapper.dataset
            per = glyph_ds.n_points // max(len(vals), 1)
            glyph_ds.point_data["temp_c"] = np.repeat(vals, per)
            self.sensors.visibility = bool(state.show_sensors)
