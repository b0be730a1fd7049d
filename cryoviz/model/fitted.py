"""The generated body fitted around a patient's own prostate (and rectum, when his files give it).

:class:`FittedShapes` is :class:`cryoviz.model.shapes.OrganShapes` with the gland taken from the patient's
surface instead of the parametric chestnut: his volume, his apex and base heights, his capsule. Every
organ the files do not give is then placed by the same rules as in the generated anatomy, measured against
*his* capsule: the urethra runs through his gland from his apex to his base, the sphincter sits below his
apex, the bladder above his base, the rectum behind him at the scene's gap (``rectum_gap_mm``), the nerve
bundles on his capsule at 5 and 7 o'clock, the seminal vesicles above and behind his base. When his rectum
is given, its centreline and radius replace the generated tube in those rules and the gap is his measured
one.

Frame: the patient frame of :mod:`cryoviz.model.anatomy` (x = patient left, y = posterior, z = superior,
mm).
"""

from __future__ import annotations

import itertools

import numpy as np

from cryoviz.model.mesh_io import mesh_signed_distance
from cryoviz.model.primitives import rounded_polyline, sd_tube
from cryoviz.model.shapes import (
    BLADDER_WALL_MM,
    MEMBRANOUS_LENGTH_MM,
    URETHRA_RADIUS_MM,
    OrganShapes,
)

__all__ = ["FittedShapes"]

#: Height of the slices of his rectum whose centres make its centreline, mm.
RECTUM_SLICE_MM = 3.0
#: The urethra's control points in his gland lie this fraction of its length inside his apex and base.
URETHRA_END_FRACTION = 0.12
#: The apex sensor sits this deep inside his capsule, mm (the generated site is about 1.5 mm inside).
APEX_SENSOR_DEPTH_MM = 1.5


class FittedShapes(OrganShapes):
    """Organ shapes built around a patient's prostate surface (``pyvista.PolyData``, mm, patient frame).

    Parameters
    ----------
    params : AnatomyParams
        ``volume_ml``, ``post_radiation`` and ``radiation_shrink`` are not used: his gland is as imaged.
    patient : dict of str to pyvista.PolyData
        His surfaces; must hold ``"prostate"``; ``"rectum"`` is used when present.
    """

    def __init__(self, params, patient: dict):
        self.patient = dict(patient)
        pro = self.patient["prostate"]
        self._pro_sd = lambda p, mesh=pro: mesh_signed_distance(mesh, p)
        cells = np.asarray(pro.cell_centers().points, dtype=float)
        self._pro_pts = np.concatenate([np.asarray(pro.points, dtype=float), cells])
        self._pro_ml = abs(float(pro.volume)) / 1000.0
        super().__init__(params)
        if "rectum" in self.patient:
            self.rectum_gap_mm = float(mesh_signed_distance(self.patient["rectum"], self._pro_pts).min())

    # ---- his gland --------------------------------------------------------------------------------------
    def _size_gland(self) -> None:
        p = self._pro_pts
        self.volume_ml = self._pro_ml
        self.scale = (1000.0 * self.volume_ml / self._unit_volume_mm3()) ** (1.0 / 3.0)
        self.apex_z, self.base_z = float(p[:, 2].min()), float(p[:, 2].max())
        self.c = 0.5 * (self.base_z - self.apex_z)
        mid = p[np.abs(p[:, 2] - 0.5 * (self.apex_z + self.base_z)) < 0.2 * self.c]
        self.a0 = float(np.abs(mid[:, 0]).max()) if len(mid) else float(np.abs(p[:, 0]).max())
        self.b_ant, self.b_post = float(-p[:, 1].min()), float(p[:, 1].max())

    def _prostate_surface_points(self, n_z: int = 0, n_theta: int = 0) -> np.ndarray:
        return self._pro_pts

    def shear_y(self, z: np.ndarray) -> np.ndarray:
        """His gland is as imaged: no parametric bend."""
        return np.zeros(np.shape(z))

    def prostate_implicit(self, p: np.ndarray) -> np.ndarray:
        """Signed distance to his capsule, mm (negative inside)."""
        return self._pro_sd(np.asarray(p, dtype=float).reshape(-1, 3))

    @property
    def prostate_sd(self):
        return self.prostate_implicit

    def capsule_point(self, direction_xy: np.ndarray, z: float) -> np.ndarray:
        """Where a horizontal ray from the middle of his gland's slice at height ``z`` leaves his capsule."""
        d = np.asarray(direction_xy, dtype=float) / np.linalg.norm(direction_xy)
        band = self._pro_pts[np.abs(self._pro_pts[:, 2] - z) < 1.5]
        c = band[:, :2].mean(axis=0) if len(band) else np.zeros(2)
        r = np.linspace(0.0, 80.0, 801)
        pts = np.column_stack([c[0] + r * d[0], c[1] + r * d[1], np.full_like(r, z)])
        inside = np.flatnonzero(self._pro_sd(pts) <= 0.0)
        k = int(inside[-1]) if len(inside) else 0
        return pts[k]

    def _slice_centre(self, z: float) -> np.ndarray:
        """(x, y) centre of his gland's cross-section at height ``z`` (mean of nearby surface points)."""
        half = 1.0
        while True:
            band = self._pro_pts[np.abs(self._pro_pts[:, 2] - z) < half]
            if len(band) >= 12 or half > self.c:
                return band[:, :2].mean(axis=0) if len(band) else np.zeros(2)
            half *= 2.0

    def _neck_y(self, z_neck: float) -> float:
        """The bladder neck sits over the middle of his base."""
        return float(self._slice_centre(self.base_z - URETHRA_END_FRACTION * (self.base_z - self.apex_z))[1])

    def _build_urethra(self) -> None:
        """Through the middle of his gland: his apex, mid-gland (a little anterior), base, then the neck."""
        length = self.base_z - self.apex_z
        za, zm = self.apex_z + URETHRA_END_FRACTION * length, self.apex_z + 0.5 * length
        zb = self.base_z - URETHRA_END_FRACTION * length
        ca, cm, cb = (self._slice_centre(z) for z in (za, zm, zb))
        z_top = self.bladder_neck[2] + BLADDER_WALL_MM + 6.0
        self.membranous_bottom_z = self.apex_z - MEMBRANOUS_LENGTH_MM - 4.0
        ctrl = np.array([
            [ca[0], ca[1], self.membranous_bottom_z],
            [ca[0], ca[1], self.apex_z],
            [cm[0], cm[1] + self.y_verum, zm],
            [cb[0], cb[1], zb],
            [self.bladder_neck[0], self.bladder_neck[1], z_top],
        ])
        self.apex_urethra = ctrl[1]
        self.urethra_nodes = rounded_polyline(ctrl, 6.0 * self.scale, n_arc=10)
        self.urethra = sd_tube(self.urethra_nodes, URETHRA_RADIUS_MM)

    # ---- his rectum (when given) ------------------------------------------------------------------------
    def _place_rectum(self) -> None:
        if "rectum" not in self.patient:
            super()._place_rectum()
            return
        rec = np.asarray(self.patient["rectum"].points, dtype=float)
        z0, z1 = rec[:, 2].min(), rec[:, 2].max()
        edges = np.arange(z0, z1 + RECTUM_SLICE_MM, RECTUM_SLICE_MM)
        nodes, radii = [], []
        for lo, hi in itertools.pairwise(edges):
            sl = rec[(rec[:, 2] >= lo) & (rec[:, 2] < hi)]
            if len(sl) < 6:
                continue
            c = sl.mean(axis=0)
            nodes.append([c[0], c[1], 0.5 * (lo + hi)])
            radii.append(float(np.median(np.hypot(sl[:, 0] - c[0], sl[:, 1] - c[1]))))
        nodes = np.asarray(nodes)
        mid = int(np.argmin(np.abs(nodes[:, 2] - 0.5 * (self.apex_z + self.base_z))))
        self.r_out = float(np.median(radii))
        self.r_in = max(self.r_out - self.params.rectal_wall_mm, 1.0)
        self.rectum_y = float(nodes[mid, 1])
        self.rectum_x = float(nodes[mid, 0])
        self.rectum_nodes = rounded_polyline(nodes, 3.0, n_arc=4) if len(nodes) > 2 else nodes
        self.rectum_outer = sd_tube(self.rectum_nodes, self.r_out)
        self.rectum_lumen = sd_tube(self.rectum_nodes, self.r_in)

    def _bend_rectum(self) -> None:
        if "rectum" not in self.patient:
            super()._bend_rectum()

    # ---- sensor sites on his surfaces -------------------------------------------------------------------
    def site_mm(self, site: str, anatomy) -> tuple[float, float, float] | None:
        """A sensor site measured on his surfaces, or None where the generated rule already is.

        * ``rectal_wall``: the point of the rectum's outer surface (his, or the one generated behind him)
          nearest his capsule, within the middle half of the gland's height.
        * ``apex``: the lowest point :data:`APEX_SENSOR_DEPTH_MM` inside his capsule and as far outside the
          urethra (the warming catheter), behind it.
        """
        if site == "rectal_wall":
            band = self._pro_pts[np.abs(self._pro_pts[:, 2] - 0.5 * (self.apex_z + self.base_z))
                                 < 0.5 * self.c]
            q = band[int(np.argmin(anatomy.signed_distance("rectum", band)))]
            return _closest_surface_point(anatomy.mesh("rectum"), q)
        if site == "apex":
            ax, ay, _ = self.apex_urethra
            step = 0.5
            xs = np.arange(-6.0, 6.0 + step, step) + ax
            ys = np.arange(0.0, 12.0 + step, step) + ay + 1.0
            for z in np.arange(self.apex_z, self.apex_z + 0.5 * self.c, step):
                X, Y = np.meshgrid(xs, ys, indexing="ij")
                pts = np.column_stack([X.ravel(), Y.ravel(), np.full(X.size, z)])
                ok = self._pro_sd(pts) <= -APEX_SENSOR_DEPTH_MM
                ok &= self.urethra(pts) >= APEX_SENSOR_DEPTH_MM
                if ok.any():
                    cand = pts[ok]
                    k = int(np.argmin(np.hypot(cand[:, 0] - ax, cand[:, 1] - ay - 4.5)))
                    return tuple(float(v) for v in cand[k])
        return None


def _closest_surface_point(mesh, point) -> tuple[float, float, float]:
    """The point of a surface (on a triangle, not only a vertex) nearest ``point``."""
    from vtkmodules.vtkCommonCore import mutable
    from vtkmodules.vtkCommonDataModel import vtkCellLocator, vtkGenericCell

    loc = vtkCellLocator()
    loc.SetDataSet(mesh)
    loc.BuildLocator()
    out = [0.0, 0.0, 0.0]
    cell_id, sub_id, dist2 = mutable(0), mutable(0), mutable(0.0)
    loc.FindClosestPoint([float(v) for v in point], out, vtkGenericCell(), cell_id, sub_id, dist2)
    return tuple(float(v) for v in out)
