"""The generated anatomy: implicit organ shapes turned into surface meshes and voxel labels.

Patient frame
-------------
All coordinates are millimetres in one patient frame: **x = patient left, y = posterior, z = superior
(toward the head), origin at the prostate centre**. The patient lies on his back; the probes go in along +z
from the perineal skin (``landmarks.skin_z_mm``).

How it is built
---------------
Each organ is an implicit shape (negative inside; see :mod:`cryoviz._shapes`). Sizes follow
``clinical-facts.md`` §3 and scale with the prostate volume. From the same shapes come

* surface meshes (marching cubes on a fine grid, smoothed, cleaned, decimated, closed and manifold), and
* voxel labels (:data:`LABELS`) for the thermal model, filled in an order that makes anatomical sense
  (the urethra wins inside the prostate, saline fills the hydrodissection gap).

A patient's own meshes (``AnatomyParams.meshes``) replace the generated ones (:mod:`cryoviz.mesh_io`).
This is a picture for patient education, not a treatment-planning model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from cryoviz import _shapes as S
from cryoviz.scene import ORGAN_NAMES, AnatomyParams, Phantom

__all__ = [
    "LABELS",
    "MESH_TRIANGLE_BUDGET",
    "Anatomy",
    "LabelGrid",
    "Landmarks",
    "build_anatomy",
    "phantom_anatomy",
    "write_default_meshes",
]

#: Voxel label codes shared with the thermal model and the ultrasound picture.
LABELS: dict[str, int] = {
    "tissue": 0, "prostate": 1, "urethra": 2, "sphincter": 3, "bladder_wall": 4, "urine": 5,
    "rectum_wall": 6, "rectum_lumen": 7, "seminal_vesicles": 8, "neurovascular_bundles": 9,
    "pubic_bone": 10, "saline": 11, "gel": 12,
}

# --- shape constants (mm, degrees); sizes from clinical-facts.md §3 ---------------------------------------
#: Prostate shape at scale 1: half-width (x), anterior and posterior half-depth (y), half-length (z).
PROSTATE_HALF_WIDTH_MM = 21.0
PROSTATE_HALF_AP_ANTERIOR_MM = 15.0
PROSTATE_HALF_AP_POSTERIOR_MM = 12.5  # flattened posteriorly (faces the rectum)
PROSTATE_HALF_LENGTH_MM = 20.0
#: Width grows toward the base (z > 0) and shrinks toward the apex: a(z) = a0 (1 + taper z / c).
PROSTATE_TAPER = 0.25
#: Exponent of |z / c| on the base side (> 2 gives the broad, flat-topped chestnut base).
PROSTATE_BASE_EXPONENT = 3.0
#: How much the gland follows the bend of the urethra (0 = not at all, 1 = fully).
PROSTATE_FOLLOWS_URETHRA = 0.6
URETHRA_RADIUS_MM = 3.0  # a 16-22 Fr warming catheter is 5-7 mm across
URETHRA_ANTERIOR_MM = 2.0  # at the verumontanum, at scale 1 (slightly anterior of centre)
#: The prostatic urethra bends forward by about 30° at the verumontanum (Holmes 2014; 29 ± 12°).
URETHRA_BEND_DEG = 30.0
#: Going up, the apex segment leans back by the rest of the bend and the base segment forward by this.
URETHRA_UPPER_TILT_DEG = 22.0
MEMBRANOUS_LENGTH_MM = 20.0
SPHINCTER_GAP_MM = 2.5  # below the apex
SPHINCTER_LENGTH_MM = 14.0
SPHINCTER_OUTER_RADIUS_MM = 8.0
SPHINCTER_INNER_RADIUS_MM = 2.0  # overlaps the urethra so nothing is left between them
BLADDER_WALL_MM = 4.0
BLADDER_SHAPE = (1.2, 0.9, 0.8)  # relative semi-axes (x, y, z) of the urine ellipsoid
BLADDER_GAP_MM = 1.5  # between the prostate base and the bladder outer wall (the neck meets the urethra)
RECTUM_LUMEN_RADIUS_MM = 10.0  # holds the transrectal ultrasound probe (about 2 cm across)
SKIN_BELOW_APEX_MM = 45.0
PERINEUM_THICKNESS_MM = 3.0
NVB_RADIUS_MM = 1.5
NVB_GAP_MM = 1.0  # from the capsule
NVB_CLOCK = (5.0, 7.0)  # o'clock, 12 = anterior, 3 = patient left
SV_RADII_MM = (3.5, 5.0, 4.0)
SV_CLEARANCE_MM = 1.5
PUBIC_RADIUS_MM = 7.0
PUBIC_ANTERIOR_GAP_MM = 20.0
SALINE_MAX_HALF_WIDTH_MM = 18.0

#: Target triangles per organ mesh (the whole default anatomy stays under about 60k).
MESH_TRIANGLE_BUDGET: dict[str, int] = {
    "prostate": 12000, "urethra": 4000, "sphincter": 3000, "bladder": 9000, "rectum": 8000,
    "seminal_vesicles": 5000, "neurovascular_bundles": 3000, "perineum": 2000, "pubic_bone": 5000,
    "gel": 2000,
}
#: Marching-cubes grid spacing per organ, mm.
MESH_SPACING_MM: dict[str, float] = {
    "prostate": 0.6, "urethra": 0.5, "sphincter": 0.5, "bladder": 1.3, "rectum": 1.2,
    "seminal_vesicles": 0.6, "neurovascular_bundles": 0.4, "perineum": 0.5, "pubic_bone": 0.9,
    "gel": 1.0,
}


@dataclass(frozen=True, eq=False)
class LabelGrid:
    """Voxel labels on a regular grid.

    Attributes
    ----------
    labels : uint8 array (nx, ny, nz)
        Codes of :data:`LABELS`.
    origin_mm : (3,) float array
        Centre of voxel (0, 0, 0).
    spacing_mm : float
        Voxel size; voxel (i, j, k) has its centre at ``origin_mm + spacing_mm * (i, j, k)``.
    """

    labels: np.ndarray
    origin_mm: np.ndarray
    spacing_mm: float

    @property
    def shape(self) -> tuple[int, int, int]:
        """Grid shape (nx, ny, nz)."""
        return tuple(int(n) for n in self.labels.shape)

    def axes_mm(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Voxel-centre coordinates along x, y and z."""
        return tuple(self.origin_mm[k] + self.spacing_mm * np.arange(self.labels.shape[k]) for k in range(3))

    def volume_ml(self, label: str | int) -> float:
        """Volume of one label, ml."""
        code = LABELS[label] if isinstance(label, str) else int(label)
        return float(np.count_nonzero(self.labels == code)) * self.spacing_mm ** 3 / 1000.0


@dataclass(frozen=True)
class Landmarks:
    """Named positions and sizes of the generated anatomy (mm, patient frame)."""

    apex_z_mm: float
    base_z_mm: float
    skin_z_mm: float
    prostate_volume_ml: float
    prostate_half_width_mm: float
    prostate_half_ap_anterior_mm: float
    prostate_half_ap_posterior_mm: float
    prostate_half_length_mm: float
    urethra_radius_mm: float
    verumontanum_mm: tuple[float, float, float]
    apex_urethra_mm: tuple[float, float, float]
    bladder_neck_mm: tuple[float, float, float]
    bladder_centre_mm: tuple[float, float, float]
    bladder_semi_axes_mm: tuple[float, float, float]
    bladder_wall_mm: float
    rectum_axis_x_mm: float
    rectum_axis_y_mm: float
    rectum_inner_radius_mm: float
    rectum_outer_radius_mm: float
    rectum_wall_mm: float
    rectum_gap_mm: float
    hydrodissection: bool
    sphincter_z_mm: tuple[float, float]
    membranous_bottom_z_mm: float


def _smooth_ramp(z: np.ndarray, k_mm: float = 4.0) -> np.ndarray:
    """Softplus: ~max(z, 0) with a rounded corner of about ``k_mm``."""
    return k_mm * np.logaddexp(0.0, np.asarray(z, dtype=float) / k_mm)


class _Geometry:
    """All implicit shapes of one generated anatomy (cheap: no meshing)."""

    def __init__(self, params: AnatomyParams):
        self.params = params
        v_unit = self._unit_volume_mm3()
        self.scale = (1000.0 * params.effective_volume_ml / v_unit) ** (1.0 / 3.0)
        s = self.scale
        self.a0 = PROSTATE_HALF_WIDTH_MM * s
        self.b_ant = PROSTATE_HALF_AP_ANTERIOR_MM * s
        self.b_post = PROSTATE_HALF_AP_POSTERIOR_MM * s
        self.c = PROSTATE_HALF_LENGTH_MM * s
        self.tan_up = math.tan(math.radians(URETHRA_UPPER_TILT_DEG))
        self.tan_low = math.tan(math.radians(URETHRA_BEND_DEG - URETHRA_UPPER_TILT_DEG))
        self.y_verum = -URETHRA_ANTERIOR_MM * s
        self.apex_z = -self.c
        self.base_z = self.c
        self.skin_z = self.apex_z - SKIN_BELOW_APEX_MM
        self.surface = self._prostate_surface_points()
        self._place_rectum()
        self._place_bladder()
        self._build_urethra()
        self._build_sphincter()
        self._build_bundles()
        self._build_vesicles()
        self._bend_rectum()
        self._build_pubic_bone()
        self._build_perineum()

    # ---- prostate -------------------------------------------------------------------------------------
    @staticmethod
    def _unit_volume_mm3() -> float:
        """Exact volume of the prostate shape at scale 1 (the bend is a shear: it keeps volume)."""
        n, t = PROSTATE_BASE_EXPONENT, PROSTATE_TAPER
        b_mean = 0.5 * (PROSTATE_HALF_AP_ANTERIOR_MM + PROSTATE_HALF_AP_POSTERIOR_MM)
        upper = (1.0 - 1.0 / (n + 1.0)) + t * (0.5 - 1.0 / (n + 2.0))
        lower = 2.0 / 3.0 - t / 4.0
        return math.pi * PROSTATE_HALF_WIDTH_MM * b_mean * PROSTATE_HALF_LENGTH_MM * (upper + lower)

    def shear_y(self, z: np.ndarray) -> np.ndarray:
        """Posterior offset (mm) of the gland's axis at height z: it partly follows the urethral bend."""
        bend = -self.tan_low * _smooth_ramp(-z) - self.tan_up * _smooth_ramp(z)
        bend0 = -(self.tan_low + self.tan_up) * _smooth_ramp(np.zeros(1))[0]
        return PROSTATE_FOLLOWS_URETHRA * (bend - bend0)

    def _half_axes(self, y_local: np.ndarray, z: np.ndarray):
        w = np.clip(z / self.c, -1.0, 1.0)
        a = self.a0 * (1.0 + PROSTATE_TAPER * w)
        b = np.where(y_local < 0.0, self.b_ant, self.b_post)
        zz = np.where(w > 0.0, np.abs(w) ** PROSTATE_BASE_EXPONENT, w * w)
        return a, b, zz

    def prostate_implicit(self, p: np.ndarray) -> np.ndarray:
        """Dimensionless implicit function of the gland (negative inside, zero on the capsule)."""
        p = np.asarray(p, dtype=float)
        z = p[:, 2]
        yl = p[:, 1] - self.shear_y(z)
        a, b, zz = self._half_axes(yl, z)
        zz = np.where(np.abs(z) > self.c, (z / self.c) ** 2, zz)
        return (p[:, 0] / a) ** 2 + (yl / b) ** 2 + zz - 1.0

    def _prostate_surface_points(self, n_z: int = 161, n_theta: int = 181) -> np.ndarray:
        w = np.linspace(-1.0, 1.0, n_z)
        th = np.linspace(0.0, 2.0 * np.pi, n_theta, endpoint=False)
        W, TH = np.meshgrid(w, th, indexing="ij")
        z = (W * self.c).ravel()
        cth, sth = np.cos(TH).ravel(), np.sin(TH).ravel()
        a, b, zz = self._half_axes(sth, z)
        r = np.sqrt(np.maximum(1.0 - zz, 0.0))
        return np.stack([a * r * cth, b * r * sth + self.shear_y(z), z], axis=1)

    def capsule_point(self, direction_xy: np.ndarray, z: float) -> np.ndarray:
        """The capsule point at height ``z`` along a horizontal ray from the gland's axis."""
        d = np.asarray(direction_xy, dtype=float) / np.linalg.norm(direction_xy)
        a, b, zz = self._half_axes(np.array([d[1]]), np.array([z]))
        t = math.sqrt(max(1.0 - float(zz[0]), 0.0)) / math.hypot(d[0] / a[0], d[1] / b[0])
        return np.array([t * d[0], t * d[1] + float(self.shear_y(np.array([z]))[0]), z])

    # ---- rectum -----------------------------------------------------------------------------------------
    def _rectum_nodes(self, y_axis: float, extra_mm: float = 0.0) -> np.ndarray:
        """Rectum axis: straight behind the gland, curving back (as along the sacrum) above the base."""
        bottom = self.skin_z + RECTUM_LUMEN_RADIUS_MM + self.params.rectal_wall_mm + 3.0
        b = self.base_z
        ctrl = np.array([[0.0, y_axis, bottom], [0.0, y_axis, b + 3.0],
                         [0.0, y_axis + 2.0 + 0.3 * extra_mm, b + 15.0],
                         [0.0, y_axis + 8.0 + 0.6 * extra_mm, b + 30.0],
                         [0.0, y_axis + 22.0 + extra_mm, b + 52.0]])
        return S.rounded_polyline(ctrl, 12.0, n_arc=10)

    def _bend_rectum(self) -> None:
        """Curve the rectum back above the base until it clears the bladder and the seminal vesicles."""
        bl = S.ellipsoid_fn(self.bladder_centre, self.bladder_axes)
        for extra in np.arange(0.0, 60.0, 1.0):
            nodes = self._rectum_nodes(self.rectum_y, float(extra))
            axis = S.resample_polyline(nodes, 200)
            axis = axis[axis[:, 2] > self.base_z]
            clear = min(float(bl(axis).min()), float(self.vesicles(axis).min())) - self.r_out
            if clear >= SV_CLEARANCE_MM:
                break
        self.rectum_nodes = nodes
        self.rectum_outer = S.sd_tube(self.rectum_nodes, self.r_out)
        self.rectum_lumen = S.sd_tube(self.rectum_nodes, self.r_in)

    def _place_rectum(self) -> None:
        """Solve the rectum's axis so the smallest capsule-to-rectal-wall distance equals the gap."""
        self.r_in = RECTUM_LUMEN_RADIUS_MM
        self.r_out = RECTUM_LUMEN_RADIUS_MM + self.params.rectal_wall_mm
        gap = self.params.rectum_gap_mm
        pts = self.surface[(self.surface[:, 1] > 0.0) & (np.abs(self.surface[:, 0]) < self.r_out + gap)]
        # closed form for a straight rectum, then exact bisection on the few points that can matter
        need = pts[:, 1] + np.sqrt((self.r_out + gap) ** 2 - pts[:, 0] ** 2)
        y0 = float(need.max())
        pts = pts[need > y0 - 3.0]

        def clearance(y_axis: float) -> float:
            return float(S.polyline_distance(pts, self._rectum_nodes(y_axis)).min()) - self.r_out

        lo, hi = y0 - 1.0, y0 + 1.0
        for _ in range(24):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if clearance(mid) < gap else (lo, mid)
        self.rectum_y = 0.5 * (lo + hi)
        self.rectum_nodes = self._rectum_nodes(self.rectum_y)
        self.rectum_outer = S.sd_tube(self.rectum_nodes, self.r_out)
        self.rectum_lumen = S.sd_tube(self.rectum_nodes, self.r_in)

    # ---- bladder ----------------------------------------------------------------------------------------
    def _place_bladder(self) -> None:
        unit_ml = 4.0 / 3.0 * math.pi * float(np.prod(BLADDER_SHAPE)) / 1000.0
        k = (self.params.bladder_volume_ml / unit_ml) ** (1.0 / 3.0)
        self.urine_axes = k * np.array(BLADDER_SHAPE)
        self.bladder_axes = self.urine_axes + BLADDER_WALL_MM
        z_neck = self.base_z + BLADDER_GAP_MM
        y_b = self.y_verum - self.tan_up * z_neck
        pts = self.surface[self.surface[:, 2] > 0.0]

        def clearance(z_c: float) -> float:
            return float(S.ellipsoid_fn((0.0, y_b, z_c), self.bladder_axes)(pts).min())

        lo, hi = self.base_z, self.base_z + self.bladder_axes[2] + 40.0
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if clearance(mid) < BLADDER_GAP_MM else (lo, mid)
        z_c = 0.5 * (lo + hi)
        # a full bladder over a small gland may bulge into the straight part of the rectum: move it forward
        axis = S.resample_polyline(self.rectum_nodes, 300)
        axis = axis[(axis[:, 2] > self.base_z) & (axis[:, 2] < self.base_z + 20.0)]
        for _ in range(30):
            fn = S.ellipsoid_fn((0.0, y_b, z_c), self.bladder_axes)
            if float(fn(axis).min()) - self.r_out >= SV_CLEARANCE_MM + 2.0 * max(SV_RADII_MM):
                break
            y_b -= 1.0
        self.bladder_centre = np.array([0.0, y_b, z_c])
        self.bladder_neck = self.bladder_centre - np.array([0.0, 0.0, self.bladder_axes[2]])

    def bladder_outer(self, p: np.ndarray) -> np.ndarray:
        return S.ellipsoid_fn(self.bladder_centre, self.bladder_axes)(p)

    def bladder_urine(self, p: np.ndarray) -> np.ndarray:
        return S.ellipsoid_fn(self.bladder_centre, self.urine_axes)(p)

    # ---- urethra, sphincter -----------------------------------------------------------------------------
    def _build_urethra(self) -> None:
        y_apex = self.y_verum - self.tan_low * self.c
        z_top = self.bladder_neck[2] + BLADDER_WALL_MM + 6.0
        self.membranous_bottom_z = self.apex_z - MEMBRANOUS_LENGTH_MM - 4.0
        ctrl = np.array([
            [0.0, y_apex, self.membranous_bottom_z],
            [0.0, y_apex, self.apex_z],
            [0.0, self.y_verum, 0.0],
            [0.0, self.y_verum - self.tan_up * z_top, z_top],
        ])
        self.apex_urethra = ctrl[1]
        self.urethra_nodes = S.rounded_polyline(ctrl, 8.0 * self.scale, n_arc=10)

        self.urethra = S.sd_tube(self.urethra_nodes, URETHRA_RADIUS_MM)

    def _build_sphincter(self) -> None:
        hi = self.apex_z - SPHINCTER_GAP_MM
        self.sphincter_z = (hi - SPHINCTER_LENGTH_MM, hi)
        self.sphincter = S.sd_ring(self.apex_urethra[:2], self.sphincter_z[0], self.sphincter_z[1],
                                   SPHINCTER_INNER_RADIUS_MM, SPHINCTER_OUTER_RADIUS_MM, 1.5)

    # ---- bundles, vesicles, bone, skin ------------------------------------------------------------------
    def _build_bundles(self) -> None:
        prostate_sd = S.normalised(self.prostate_implicit)
        tubes = []
        for clock in NVB_CLOCK:
            ang = math.radians(30.0 * clock)
            d = np.array([math.sin(ang), -math.cos(ang)])  # clockwise from anterior (-y); 3 = +x
            nodes = []
            for z in np.linspace(0.72 * self.base_z, 0.8 * self.apex_z, 14):
                ps = self.capsule_point(d, float(z))
                g = np.array([(self.prostate_implicit((ps + e)[None])[0]
                               - self.prostate_implicit((ps - e)[None])[0]) for e in np.eye(3) * 0.05])
                n = g / np.linalg.norm(g)
                c = ps + n * (NVB_GAP_MM + NVB_RADIUS_MM)
                for _ in range(3):  # push out until the tube clears the capsule
                    short = NVB_GAP_MM + NVB_RADIUS_MM - float(prostate_sd(c[None])[0])
                    if short <= 0.05:
                        break
                    c = c + n * short
                nodes.append(c)
            tubes.append(S.sd_tube(np.array(nodes), NVB_RADIUS_MM))
        self.bundle_tubes = tubes

    def bundles(self, p: np.ndarray) -> np.ndarray:
        return np.minimum(self.bundle_tubes[0](p), self.bundle_tubes[1](p))

    def _build_vesicles(self) -> None:
        b = self.base_z
        y0 = float(self.shear_y(np.array([b]))[0]) + 0.55 * self.b_post
        radii = np.array(SV_RADII_MM) * min(1.0, max(0.8, self.scale))
        pts = self.surface[(self.surface[:, 2] > 0.3 * b) & (self.surface[:, 1] > -2.0)
                           & (np.abs(self.surface[:, 0]) > 2.0)]
        pts = pts[pts[:, 0] > 0.0]  # the left vesicle; the right one is its mirror image
        base = np.array([[8.0, y0 + 2.0, b + 4.0], [17.0, y0 + 5.0, b + 11.0], [28.0, y0 + 4.0, b + 19.0]])
        c, ax = self.bladder_centre, self.bladder_axes
        for node, r in zip(base, radii, strict=True):
            # on the back of the bladder ...
            q = 1.0 - (node[0] / ax[0]) ** 2 - ((node[2] - c[2]) / ax[2]) ** 2
            if q > 0.0:
                node[1] = max(node[1], c[1] + ax[1] * math.sqrt(q) + r + SV_CLEARANCE_MM)
            # ... and beside the straight part of the rectum, not in it
            need = self.r_out + r + SV_CLEARANCE_MM
            if node[2] < b + 3.0 + need and abs(node[1] - self.rectum_y) < need:
                node[0] = max(node[0], math.sqrt(need ** 2 - (node[1] - self.rectum_y) ** 2))
        bl = S.ellipsoid_fn(self.bladder_centre, self.bladder_axes)
        dy = 0.0
        for _ in range(80):
            left = base + np.array([0.0, dy, 0.0])
            dense = S.resample_polyline(left, 60)
            r_dense = np.interp(np.linspace(0, 1, 60), np.linspace(0, 1, len(radii)), radii)
            c_bladder = float((bl(dense) - r_dense).min())
            c_prost = float(S.polyline_distance(pts, left, radii).min())
            if c_bladder >= SV_CLEARANCE_MM and c_prost >= SV_CLEARANCE_MM:
                break
            dy += 0.5
        right = left * [-1.0, 1.0, 1.0]
        self.vesicle_tubes = (S.sd_tube(left, radii), S.sd_tube(right, radii))

    def vesicles(self, p: np.ndarray) -> np.ndarray:
        return np.minimum(self.vesicle_tubes[0](p), self.vesicle_tubes[1](p))

    def _build_pubic_bone(self) -> None:
        y = -(self.b_ant + PUBIC_ANTERIOR_GAP_MM + PUBIC_RADIUS_MM)
        z = 0.15 * self.c
        ctrl = np.array([[-42.0, y + 14.0, z + 12.0], [-14.0, y, z], [14.0, y, z],
                         [42.0, y + 14.0, z + 12.0]])
        self.pubic_nodes = S.rounded_polyline(ctrl, 10.0, n_arc=8)
        self.pubic = S.sd_tube(self.pubic_nodes, PUBIC_RADIUS_MM)

    def _build_perineum(self) -> None:
        t = PERINEUM_THICKNESS_MM
        self.perineum_box = np.array([-38.0, 38.0, -32.0, 17.0, self.skin_z - t, self.skin_z])
        b = self.perineum_box
        self.perineum = S.sd_round_box(0.5 * (b[0::2] + b[1::2]), 0.5 * (b[1::2] - b[0::2]), 0.0)

    # ---- per-organ access ------------------------------------------------------------------------------
    @cached_property
    def prostate_sd(self):
        return S.SurfaceDistance(self.prostate_implicit, self.surface)

    @cached_property
    def bladder_sd(self):
        th = np.linspace(0.0, np.pi, 121)
        ph = np.linspace(0.0, 2.0 * np.pi, 241, endpoint=False)
        T, P = np.meshgrid(th, ph, indexing="ij")
        unit = np.stack([np.sin(T) * np.cos(P), np.sin(T) * np.sin(P), np.cos(T)], axis=-1).reshape(-1, 3)
        pts = self.bladder_centre + unit * self.bladder_axes

        def implicit(p):
            q = (np.asarray(p, dtype=float) - self.bladder_centre) / self.bladder_axes
            return np.einsum("ij,ij->i", q, q) - 1.0

        return S.SurfaceDistance(implicit, pts)

    def implicit(self, organ: str):
        """Approximate signed distance (mm, negative inside) of one organ's outer surface."""
        return {
            "prostate": self.prostate_sd, "urethra": self.urethra, "sphincter": self.sphincter,
            "bladder": self.bladder_sd, "rectum": self.rectum_outer, "seminal_vesicles": self.vesicles,
            "neurovascular_bundles": self.bundles, "perineum": self.perineum, "pubic_bone": self.pubic,
        }[organ]

    def mesh_fn(self, organ: str):
        """A cheap implicit function with the organ's surface as its zero level (for marching cubes)."""
        if organ == "prostate":
            scale = min(self.a0, self.b_post, self.c) / 2.0
            return lambda p: scale * self.prostate_implicit(p)
        if organ == "bladder":
            return self.bladder_outer
        return self.implicit(organ)

    def bounds(self, organ: str) -> np.ndarray:
        """Axis-aligned bounds (xmin, xmax, ymin, ymax, zmin, zmax) of one organ, mm (slightly generous)."""
        def from_pts(pts, pad):
            pts = np.asarray(pts)
            return np.ravel(np.stack([pts.min(axis=0) - pad, pts.max(axis=0) + pad], axis=1))

        if organ == "prostate":
            return from_pts(self.surface, 0.5)
        if organ == "urethra":
            return from_pts(self.urethra_nodes, URETHRA_RADIUS_MM + 0.5)
        if organ == "sphincter":
            ax = self.apex_urethra
            r = SPHINCTER_OUTER_RADIUS_MM + 0.5
            return np.array([ax[0] - r, ax[0] + r, ax[1] - r, ax[1] + r,
                             self.sphincter_z[0] - 0.5, self.sphincter_z[1] + 0.5])
        if organ == "bladder":
            c, a = self.bladder_centre, self.bladder_axes + 0.5
            return np.ravel(np.stack([c - a, c + a], axis=1))
        if organ == "rectum":
            return from_pts(self.rectum_nodes, self.r_out + 0.5)
        if organ == "seminal_vesicles":
            return _union_bounds([t.bounds() for t in self.vesicle_tubes])
        if organ == "neurovascular_bundles":
            return _union_bounds([t.bounds() for t in self.bundle_tubes])
        if organ == "perineum":
            return self.perineum_box + np.array([-0.5, 0.5, -0.5, 0.5, -0.5, 0.5])
        if organ == "pubic_bone":
            return from_pts(self.pubic_nodes, PUBIC_RADIUS_MM + 0.5)
        raise KeyError(organ)


def _union_bounds(boxes) -> np.ndarray:
    b = np.asarray(boxes, dtype=float)
    return np.ravel(np.stack([b[:, 0::2].min(axis=0), b[:, 1::2].max(axis=0)], axis=1))


# ---- meshing -------------------------------------------------------------------------------------------
def _mesh_implicit(fn, bounds_mm: np.ndarray, spacing_mm: float, budget: int):
    """Closed, manifold triangle surface of ``fn < 0`` (marching cubes, Taubin smoothing, decimation)."""
    import pyvista as pv

    b = np.asarray(bounds_mm, dtype=float)
    lo = b[0::2] - 2.0 * spacing_mm
    hi = b[1::2] + 2.0 * spacing_mm
    dims = (np.ceil((hi - lo) / spacing_mm).astype(int) + 1).tolist()
    grid = pv.ImageData(dimensions=dims, spacing=(spacing_mm,) * 3, origin=lo.tolist())
    values = _narrow_band_values(fn, lo, spacing_mm, dims)
    # nothing may touch the grid border, so the surface is closed
    values[[0, -1], :, :] = values[:, [0, -1], :] = np.inf  # type: ignore[index]
    values[:, :, [0, -1]] = np.inf
    values[np.isinf(values)] = 1.0e3
    grid.point_data["sd"] = values.ravel()
    surf = grid.contour([0.0], scalars="sd", method="flying_edges", compute_scalars=False)
    surf = _polys_only(surf.clean())
    surf = surf.smooth_taubin(n_iter=20, pass_band=0.05)
    if surf.n_cells > budget:
        surf = surf.decimate(1.0 - budget / surf.n_cells, volume_preservation=True)
    surf = _polys_only(surf.clean())
    surf.clear_data()
    surf = surf.compute_normals(cell_normals=False, split_vertices=False, auto_orient_normals=True,
                                consistent_normals=True)
    surf.points = surf.points.astype(np.float32)
    return surf


def _narrow_band_values(fn, lo_mm: np.ndarray, spacing_mm: float, dims: list[int],
                        step: int = 4) -> np.ndarray:
    """``fn`` on a grid, (nz, ny, nx) array, evaluated finely only near its zero level.

    ``fn`` is first sampled every ``step`` voxels; a fine voxel is evaluated only if its nearest coarse
    sample lies within a band around zero (``fn`` is about a distance in mm, at most a little steeper);
    elsewhere the coarse value is kept (its sign, all marching cubes needs there, is right).
    """
    axes = [lo_mm[k] + spacing_mm * np.arange(dims[k]) for k in range(3)]
    idx = [np.arange(0, dims[k] + step - 1, step).clip(max=dims[k] - 1) for k in range(3)]
    idx = [np.unique(i) for i in idx]
    cz, cy, cx = np.meshgrid(axes[2][idx[2]], axes[1][idx[1]], axes[0][idx[0]], indexing="ij")
    coarse = np.asarray(fn(np.stack([cx.ravel(), cy.ravel(), cz.ravel()], axis=1)), dtype=float)
    coarse = coarse.reshape(len(idx[2]), len(idx[1]), len(idx[0]))
    near = [np.searchsorted(idx[k], np.arange(dims[k]) - step / 2.0) for k in range(3)]
    near = [np.clip(n, 0, len(idx[k]) - 1) for k, n in enumerate(near)]
    values = coarse[np.ix_(near[2], near[1], near[0])]
    band = 2.0 * step * spacing_mm
    fz, fy, fx = np.nonzero(np.abs(values) < band)
    if len(fz):
        pts = np.stack([axes[0][fx], axes[1][fy], axes[2][fz]], axis=1)
        values[fz, fy, fx] = fn(pts)
    return values


def _box_mesh(bounds_mm: np.ndarray):
    """A closed triangulated box."""
    import pyvista as pv

    surf = pv.Box(bounds=tuple(float(v) for v in bounds_mm), level=4, quads=False).clean()
    surf.clear_data()
    surf = surf.compute_normals(cell_normals=False, split_vertices=False, auto_orient_normals=True,
                                consistent_normals=True)
    surf.points = surf.points.astype(np.float32)
    return surf


def _polys_only(surf):
    """Keep only the triangles (cleaning may turn degenerate ones into lines or vertices)."""
    import pyvista as pv

    surf = surf.triangulate()
    if surf.n_lines or surf.n_verts:
        surf = pv.PolyData(surf.points, faces=surf.faces).clean()
    return surf


def _check_points(points_mm) -> np.ndarray:
    p = np.asarray(points_mm, dtype=float)
    if p.ndim == 1 and p.shape[0] == 3:
        p = p[None, :]
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"points_mm must have shape (n, 3), got {p.shape}")
    return p


# ---- the anatomy ---------------------------------------------------------------------------------------
class Anatomy:
    """One patient's (or phantom's) anatomy: organ shapes, meshes and voxel labels.

    Attributes
    ----------
    params : AnatomyParams or Phantom
    landmarks : Landmarks
    organs : tuple of str
        Organ names present (those of :data:`cryoviz.scene.ORGAN_NAMES`, or ``("gel",)`` for a phantom).
    """

    def __init__(self, params, geometry, landmarks: Landmarks, organs: tuple[str, ...],
                 patient_meshes: dict | None = None):
        self.params = params
        self.landmarks = landmarks
        self.organs = tuple(organs)
        self._geo = geometry
        self._patient = dict(patient_meshes or {})
        self._meshes: dict = {}
        self._distance: dict = {}

    # -- surfaces --
    def mesh(self, organ: str):
        """The organ's closed, manifold surface (``pyvista.PolyData``, mm), built once and cached."""
        if organ not in self.organs:
            raise KeyError(f"no organ {organ!r} in this anatomy (organs: {', '.join(self.organs)})")
        if organ not in self._meshes:
            if organ in self._patient:
                self._meshes[organ] = self._patient[organ]
            elif organ == "perineum":  # a flat slab: a subdivided box is exact (and decimation hates planes)
                self._meshes[organ] = _box_mesh(self._geo.perineum_box)
            else:
                self._meshes[organ] = _mesh_implicit(self._geo.mesh_fn(organ), self._geo.bounds(organ),
                                                     MESH_SPACING_MM[organ], MESH_TRIANGLE_BUDGET[organ])
        return self._meshes[organ]

    def meshes(self) -> dict:
        """Every organ's mesh, in drawing order."""
        return {organ: self.mesh(organ) for organ in self.organs}

    def signed_distance(self, organ: str, points_mm) -> np.ndarray:
        """Signed distance (mm, negative inside) from points ``(n, 3)`` to an organ's outer surface.

        Generated organs use their implicit shape (exact for tubes, rings and boxes, close to exact near the
        surface for the gland and the bladder); a patient's mesh uses the distance to that mesh.
        """
        if organ not in self.organs:
            raise KeyError(f"no organ {organ!r} in this anatomy (organs: {', '.join(self.organs)})")
        p = _check_points(points_mm)
        if organ in self._patient:
            from cryoviz.mesh_io import mesh_signed_distance

            return mesh_signed_distance(self._patient[organ], p)
        return np.asarray(self._geo.implicit(organ)(p), dtype=float)

    def urethra_centreline_mm(self, n: int = 50) -> np.ndarray:
        """``n`` points (n, 3) along the urethra's centre, evenly spaced, from inside the bladder neck down
        through the prostate and the sphincter to the end of the membranous urethra."""
        if "urethra" not in self.organs:
            return np.zeros((0, 3))
        return S.resample_polyline(self._geo.urethra_nodes[::-1], max(int(n), 2))

    # -- labels --
    def default_bounds_mm(self, margin_mm: float = 15.0) -> np.ndarray:
        """Default label-grid bounds: the gland, urethra and sphincter region, the rectal wall and lumen and
        the bladder neck, plus ``margin_mm``."""
        return self._geo.default_bounds(margin_mm)

    def label_grid(self, spacing_mm: float, bounds_mm=None, margin_mm: float = 15.0) -> LabelGrid:
        """Voxel labels (codes of :data:`LABELS`) on a regular grid.

        Parameters
        ----------
        spacing_mm : float
            Voxel size, mm (> 0).
        bounds_mm : sequence of 6 float, optional
            (xmin, xmax, ymin, ymax, zmin, zmax); default :meth:`default_bounds_mm` with ``margin_mm``.
        margin_mm : float
            Margin around the default region, mm.
        """
        sp = float(spacing_mm)
        if not (sp > 0.0 and math.isfinite(sp)):
            raise ValueError(f"spacing_mm must be a positive number, got {spacing_mm!r}")
        b = np.asarray(self.default_bounds_mm(margin_mm) if bounds_mm is None else bounds_mm, dtype=float)
        if b.shape != (6,) or not np.all(b[1::2] > b[0::2]):
            raise ValueError(f"bounds_mm must be (xmin, xmax, ymin, ymax, zmin, zmax), got {bounds_mm!r}")
        origin = b[0::2].copy()
        shape = (np.floor((b[1::2] - origin) / sp + 1e-9).astype(int) + 1)
        labels = np.full(tuple(shape), self._geo.background_label, dtype=np.uint8)
        axes = [origin[k] + sp * np.arange(shape[k]) for k in range(3)]
        for code, fn, box, where in self._fill_order():
            sl = []
            for k in range(3):
                i0 = int(np.searchsorted(axes[k], box[2 * k], side="left"))
                i1 = int(np.searchsorted(axes[k], box[2 * k + 1], side="right"))
                sl.append(slice(i0, i1))
            if any(s.stop <= s.start for s in sl):
                continue
            X, Y, Z = np.meshgrid(axes[0][sl[0]], axes[1][sl[1]], axes[2][sl[2]], indexing="ij")
            pts = np.stack([X.ravel(), Y.ravel(), Z.ravel()], axis=1)
            block = labels[sl[0], sl[1], sl[2]]
            mask = fn(pts).reshape(block.shape)
            if where is not None:
                mask &= block == where
            block[mask] = code
        return LabelGrid(labels=labels, origin_mm=origin, spacing_mm=sp)

    def _inside(self, organ: str, inner_offset_mm: float = 0.0):
        """(mask function, bounds) for points deeper than ``inner_offset_mm`` inside an organ."""
        if organ in self._patient:
            mesh = self._patient[organ]
            box = np.asarray(mesh.bounds, dtype=float) + np.array([-1.0, 1, -1, 1, -1, 1])

            def fn(p, mesh=mesh):
                from cryoviz.mesh_io import mesh_signed_distance

                return mesh_signed_distance(mesh, p) < -inner_offset_mm

            return fn, box
        raw = self._geo.inside_fn(organ, inner_offset_mm)
        return raw, self._geo.bounds(organ)

    def _fill_order(self):
        """(label code, mask function, bounds, only-where-label) in painting order (later wins)."""
        if "gel" in self.organs:
            return []
        g = self._geo
        out = []
        L = LABELS
        out.append((L["pubic_bone"], *self._inside("pubic_bone"), None))
        out.append((L["bladder_wall"], *self._inside("bladder"), None))
        out.append((L["urine"], *self._inside("bladder", g.bladder_wall_mm), None))
        out.append((L["seminal_vesicles"], *self._inside("seminal_vesicles"), None))
        out.append((L["rectum_wall"], *self._inside("rectum"), None))
        out.append((L["rectum_lumen"], *self._inside("rectum", g.params.rectal_wall_mm), None))
        if g.params.hydrodissection:
            out.append((L["saline"], g.saline_fn(self), g.saline_bounds(), L["tissue"]))
        out.append((L["neurovascular_bundles"], *self._inside("neurovascular_bundles"), None))
        out.append((L["prostate"], *self._inside("prostate"), None))
        out.append((L["sphincter"], *self._inside("sphincter"), None))
        out.append((L["urethra"], *self._inside("urethra"), None))
        return out


# ---- geometry helpers used by Anatomy (attached here to keep _Geometry readable) --------------------------
def _inside_fn(self: _Geometry, organ: str, inner_offset_mm: float = 0.0):
    if organ == "prostate" and inner_offset_mm == 0.0:
        return lambda p: self.prostate_implicit(p) < 0.0
    if organ == "bladder":
        if inner_offset_mm > 0.0:
            return lambda p: self.bladder_urine(p) < 0.0
        return lambda p: self.bladder_outer(p) < 0.0
    if organ == "rectum" and inner_offset_mm > 0.0:
        return lambda p: self.rectum_lumen(p) < 0.0
    fn = self.implicit(organ)
    return lambda p: fn(p) < -inner_offset_mm


def _saline_fn(self: _Geometry, anatomy: Anatomy):
    """Saline fills the lens between the capsule and the rectal wall (hydrodissection)."""
    gap = self.params.rectum_gap_mm

    def fn(p):
        dp = anatomy.signed_distance("prostate", p)
        dr = anatomy.signed_distance("rectum", p)
        return (dp > 0.0) & (dr > 0.0) & (dp + dr <= 1.2 * gap + 1.0)

    return fn


def _saline_bounds(self: _Geometry) -> np.ndarray:
    w = min(SALINE_MAX_HALF_WIDTH_MM, self.a0)
    return np.array([-w, w, 0.0, self.rectum_y, self.apex_z, self.base_z])


def _default_bounds(self: _Geometry, margin_mm: float) -> np.ndarray:
    pb = self.bounds("prostate")
    sb = self.bounds("sphincter")
    lo = np.minimum(pb[0::2] - margin_mm, sb[0::2] - 5.0)
    hi = pb[1::2] + margin_mm
    hi[1] = max(hi[1], self.rectum_y + self.r_out + 2.0)  # the whole rectal wall and lumen
    hi[2] = max(hi[2], self.bladder_neck[2] + BLADDER_WALL_MM + 5.0)  # the bladder neck
    return np.ravel(np.stack([lo, hi], axis=1))


_Geometry.inside_fn = _inside_fn
_Geometry.saline_fn = _saline_fn
_Geometry.saline_bounds = _saline_bounds
_Geometry.default_bounds = _default_bounds
_Geometry.background_label = LABELS["tissue"]
_Geometry.bladder_wall_mm = BLADDER_WALL_MM


def _landmarks(g: _Geometry) -> Landmarks:
    s = g.surface
    return Landmarks(
        apex_z_mm=float(g.apex_z), base_z_mm=float(g.base_z), skin_z_mm=float(g.skin_z),
        prostate_volume_ml=float(g.params.effective_volume_ml),
        prostate_half_width_mm=float(np.abs(s[:, 0]).max()),
        prostate_half_ap_anterior_mm=float(-s[:, 1].min()),
        prostate_half_ap_posterior_mm=float(s[:, 1].max()),
        prostate_half_length_mm=float(g.c), urethra_radius_mm=URETHRA_RADIUS_MM,
        verumontanum_mm=(0.0, float(g.y_verum), 0.0),
        apex_urethra_mm=tuple(float(v) for v in g.apex_urethra),
        bladder_neck_mm=tuple(float(v) for v in g.bladder_neck),
        bladder_centre_mm=tuple(float(v) for v in g.bladder_centre),
        bladder_semi_axes_mm=tuple(float(v) for v in g.bladder_axes), bladder_wall_mm=BLADDER_WALL_MM,
        rectum_axis_x_mm=0.0, rectum_axis_y_mm=float(g.rectum_y), rectum_inner_radius_mm=float(g.r_in),
        rectum_outer_radius_mm=float(g.r_out), rectum_wall_mm=float(g.params.rectal_wall_mm),
        rectum_gap_mm=float(g.params.rectum_gap_mm), hydrodissection=bool(g.params.hydrodissection),
        sphincter_z_mm=(float(g.sphincter_z[0]), float(g.sphincter_z[1])),
        membranous_bottom_z_mm=float(g.membranous_bottom_z),
    )


_CACHE: dict = {}
_CACHE_SIZE = 16


def _cache_key(params: AnatomyParams, base_dir) -> tuple:
    meshes = tuple(sorted((str(k), str(v)) for k, v in dict(params.meshes).items()))
    return (float(params.volume_ml), bool(params.post_radiation), float(params.radiation_shrink),
            float(params.rectum_gap_mm), bool(params.hydrodissection), float(params.rectal_wall_mm),
            float(params.bladder_volume_ml), meshes,
            None if base_dir is None else str(Path(base_dir).resolve()))


def build_anatomy(params: AnatomyParams | None = None, base_dir: str | Path | None = None) -> Anatomy:
    """Build (or fetch from the cache) the anatomy for ``params``.

    Parameters
    ----------
    params : AnatomyParams, optional
        Default ``AnatomyParams()``.
    base_dir : path, optional
        Folder that relative patient mesh paths are taken from (the scene file's folder).

    Raises
    ------
    InputError
        A patient mesh is missing, unreadable, open or implausible (key ``anatomy.meshes.<organ>``).
    """
    params = AnatomyParams() if params is None else params
    key = _cache_key(params, base_dir)
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    geo = _Geometry(params)
    patient = {}
    if params.meshes:
        from cryoviz.mesh_io import load_patient_meshes

        patient = load_patient_meshes(params.meshes, geo, base_dir)
    anatomy = Anatomy(params, geo, _landmarks(geo), ORGAN_NAMES, patient)
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = anatomy
    return anatomy


# ---- gel phantom ---------------------------------------------------------------------------------------
class _PhantomGeometry:
    """A gel cube centred on the origin; the probe enters through its bottom face (z = -size / 2)."""

    background_label = LABELS["gel"]

    def __init__(self, phantom: Phantom):
        self.params = phantom
        h = float(phantom.size_mm) / 2.0
        self.half = h
        self.cube = S.sd_round_box((0.0, 0.0, 0.0), (h, h, h), min(2.0, 0.1 * h))

    def implicit(self, organ: str):
        if organ != "gel":
            raise KeyError(organ)
        return self.cube

    def mesh_fn(self, organ: str):
        return self.implicit(organ)

    def bounds(self, organ: str) -> np.ndarray:
        h = self.half + 0.5
        return np.array([-h, h, -h, h, -h, h])

    def default_bounds(self, margin_mm: float) -> np.ndarray:
        h = self.half
        return np.array([-h, h, -h, h, -h, h])


def phantom_anatomy(phantom: Phantom | None = None) -> Anatomy:
    """A gel cube (label ``gel`` everywhere, one organ ``"gel"``) for the single-probe demonstration.

    The cube of side ``phantom.size_mm`` is centred on the origin; the skin (entry face) is its bottom face.
    """
    phantom = Phantom() if phantom is None else phantom
    geo = _PhantomGeometry(phantom)
    h = geo.half
    lm = Landmarks(
        apex_z_mm=-h, base_z_mm=h, skin_z_mm=-h, prostate_volume_ml=0.0, prostate_half_width_mm=h,
        prostate_half_ap_anterior_mm=h, prostate_half_ap_posterior_mm=h, prostate_half_length_mm=h,
        urethra_radius_mm=0.0, verumontanum_mm=(0.0, 0.0, 0.0), apex_urethra_mm=(0.0, 0.0, -h),
        bladder_neck_mm=(0.0, 0.0, h), bladder_centre_mm=(0.0, 0.0, h), bladder_semi_axes_mm=(0.0, 0.0, 0.0),
        bladder_wall_mm=0.0, rectum_axis_x_mm=0.0, rectum_axis_y_mm=h + 20.0, rectum_inner_radius_mm=10.0,
        rectum_outer_radius_mm=10.0, rectum_wall_mm=0.0, rectum_gap_mm=0.0, hydrodissection=False,
        sphincter_z_mm=(-h, -h), membranous_bottom_z_mm=-h,
    )
    return Anatomy(phantom, geo, lm, ("gel",))


def write_default_meshes(out_dir: str | Path) -> list[Path]:
    """Write ``<organ>.vtp`` (binary, zlib) of the default anatomy to ``out_dir``; return the paths."""
    from cryoviz._io import atomic_path

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    anatomy = build_anatomy(AnatomyParams())
    paths = []
    for organ, mesh in anatomy.meshes().items():
        target = out / f"{organ}.vtp"
        with atomic_path(target, suffix=".part.vtp") as tmp:
            mesh.save(tmp, binary=True, recompute_normals=False)
            tmp.chmod(0o644)
        paths.append(target)
    return paths
