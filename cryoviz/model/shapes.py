"""The generated anatomy's organ shapes.

:class:`OrganShapes` builds every organ of one generated anatomy from the implicit primitives of
:mod:`cryoviz.model.primitives`, in the patient frame
of :mod:`cryoviz.model.anatomy` (x = patient left, y = posterior, z = superior, origin at the prostate
centre),
with sizes from clinical-facts.md §3 held in the module constants below.
"""


from __future__ import annotations

import math

import numpy as np

from cryoviz.model.pelvis import PubicBone
from cryoviz.model.primitives import (  # re-exported: older code imports them from here
    Implicit,
    SurfaceDistance,
    ellipsoid_fn,
    normalised,
    polyline_distance,
    resample_polyline,
    rounded_polyline,
    sd_ring,
    sd_round_box,
    sd_tube,
)
from cryoviz.model.scene import AnatomyParams
from cryoviz.model.shape_access import OrganAccess

__all__ = [
    "Implicit",
    "OrganShapes",
    "SurfaceDistance",
    "ellipsoid_fn",
    "normalised",
    "polyline_distance",
    "resample_polyline",
    "rounded_polyline",
    "sd_ring",
    "sd_round_box",
    "sd_tube",
]


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
#: A full bladder is moved forward until it clears the rectum this much over this height above the base.
BLADDER_RECTUM_CLEARANCE_MM = 3.0
BLADDER_RECTUM_CHECK_MM = 12.0
BLADDER_GAP_MM = 1.5  # between the prostate base and the bladder outer wall (the neck meets the urethra)
RECTUM_LUMEN_RADIUS_MM = 10.0  # holds the transrectal ultrasound probe (about 2 cm across)
SKIN_BELOW_APEX_MM = 45.0
PERINEUM_THICKNESS_MM = 3.0
NVB_RADIUS_MM = 1.5
NVB_GAP_MM = 1.0  # from the capsule
NVB_CLOCK = (5.0, 7.0)  # o'clock, 12 = anterior, 3 = patient left
SV_RADII_MM = (3.5, 5.0, 4.0)
SV_CLEARANCE_MM = 1.5
PUBIC_RADIUS_MM = 7.0  # half the pubic bodies' front-to-back thickness
PUBIC_ANTERIOR_GAP_MM = 20.0
SALINE_MAX_HALF_WIDTH_MM = 18.0


def _smooth_ramp(z: np.ndarray, k_mm: float = 4.0) -> np.ndarray:
    """Softplus: ~max(z, 0) with a rounded corner of about ``k_mm``."""
    return k_mm * np.logaddexp(0.0, np.asarray(z, dtype=float) / k_mm)


class OrganShapes(OrganAccess):
    """All implicit organ shapes of one generated anatomy (cheap: no meshing)."""

    background_label = 0  # anatomy.LABELS['tissue']
    bladder_wall_mm = BLADDER_WALL_MM

    def __init__(self, params: AnatomyParams):
        self.params = params
        self.rectum_gap_mm = float(params.rectum_gap_mm)
        self._size_gland()
        self.tan_up = math.tan(math.radians(URETHRA_UPPER_TILT_DEG))
        self.tan_low = math.tan(math.radians(URETHRA_BEND_DEG - URETHRA_UPPER_TILT_DEG))
        self.y_verum = -URETHRA_ANTERIOR_MM * self.scale
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
    def _size_gland(self) -> None:
        """Volume, scale, half-axes, apex and base of the gland (a patient's gland overrides this)."""
        self.volume_ml = float(self.params.effective_volume_ml)
        s = self.scale = (1000.0 * self.volume_ml / self._unit_volume_mm3()) ** (1.0 / 3.0)
        self.a0 = PROSTATE_HALF_WIDTH_MM * s
        self.b_ant = PROSTATE_HALF_AP_ANTERIOR_MM * s
        self.b_post = PROSTATE_HALF_AP_POSTERIOR_MM * s
        self.c = PROSTATE_HALF_LENGTH_MM * s
        self.apex_z = -self.c
        self.base_z = self.c

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
        return rounded_polyline(ctrl, 12.0, n_arc=10)

    def _bend_rectum(self) -> None:
        """Curve the rectum back above the base until it clears the bladder and the seminal vesicles."""
        bl = ellipsoid_fn(self.bladder_centre, self.bladder_axes)
        for extra in np.arange(0.0, 60.0, 1.0):
            nodes = self._rectum_nodes(self.rectum_y, float(extra))
            axis = resample_polyline(nodes, 200)
            axis = axis[axis[:, 2] > self.base_z]
            clear = min(float(bl(axis).min()), float(self.vesicles(axis).min())) - self.r_out
            if clear >= SV_CLEARANCE_MM:
                break
        self.rectum_nodes = nodes
        self.rectum_outer = sd_tube(self.rectum_nodes, self.r_out)
        self.rectum_lumen = sd_tube(self.rectum_nodes, self.r_in)

    def _place_rectum(self) -> None:
        """Solve the rectum's axis so the smallest capsule-to-rectal-wall distance equals the gap."""
        self.r_in = RECTUM_LUMEN_RADIUS_MM
        self.r_out = RECTUM_LUMEN_RADIUS_MM + self.params.rectal_wall_mm
        gap = self.rectum_gap_mm
        pts = self.surface[(self.surface[:, 1] > 0.0) & (np.abs(self.surface[:, 0]) < self.r_out + gap)]
        # closed form for a straight rectum, then exact bisection on the few points that can matter
        need = pts[:, 1] + np.sqrt((self.r_out + gap) ** 2 - pts[:, 0] ** 2)
        y0 = float(need.max())
        pts = pts[need > y0 - 3.0]

        def clearance(y_axis: float) -> float:
            return float(polyline_distance(pts, self._rectum_nodes(y_axis)).min()) - self.r_out

        lo, hi = y0 - 1.0, y0 + 1.0
        for _ in range(24):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if clearance(mid) < gap else (lo, mid)
        self.rectum_y = 0.5 * (lo + hi)
        self.rectum_nodes = self._rectum_nodes(self.rectum_y)
        self.rectum_outer = sd_tube(self.rectum_nodes, self.r_out)
        self.rectum_lumen = sd_tube(self.rectum_nodes, self.r_in)

    # ---- bladder ----------------------------------------------------------------------------------------
    def _place_bladder(self) -> None:
        unit_ml = 4.0 / 3.0 * math.pi * float(np.prod(BLADDER_SHAPE)) / 1000.0
        k = (self.params.bladder_volume_ml / unit_ml) ** (1.0 / 3.0)
        self.urine_axes = k * np.array(BLADDER_SHAPE)
        self.bladder_axes = self.urine_axes + BLADDER_WALL_MM
        z_neck = self.base_z + BLADDER_GAP_MM
        y_b = self._neck_y(z_neck)
        pts = self.surface[self.surface[:, 2] > 0.0]

        def clearance(z_c: float) -> float:
            return float(ellipsoid_fn((0.0, y_b, z_c), self.bladder_axes)(pts).min())

        lo, hi = self.base_z, self.base_z + self.bladder_axes[2] + 40.0
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if clearance(mid) < BLADDER_GAP_MM else (lo, mid)
        z_c = 0.5 * (lo + hi)
        # a full bladder over a small gland may bulge into the straight part of the rectum: move it forward
        axis = resample_polyline(self.rectum_nodes, 300)
        axis = axis[(axis[:, 2] > self.base_z) & (axis[:, 2] < self.base_z + BLADDER_RECTUM_CHECK_MM)]
        for _ in range(30):
            fn = ellipsoid_fn((0.0, y_b, z_c), self.bladder_axes)
            if float(fn(axis).min()) - self.r_out >= BLADDER_RECTUM_CLEARANCE_MM:
                break
            y_b -= 1.0
        self.bladder_centre = np.array([0.0, y_b, z_c])
        self.bladder_neck = self.bladder_centre - np.array([0.0, 0.0, self.bladder_axes[2]])

    def _neck_y(self, z_neck: float) -> float:
        """Front-back position of the bladder neck: where the bent urethra reaches height ``z_neck``."""
        return self.y_verum - self.tan_up * z_neck

    def bladder_outer(self, p: np.ndarray) -> np.ndarray:
        return ellipsoid_fn(self.bladder_centre, self.bladder_axes)(p)

    def bladder_urine(self, p: np.ndarray) -> np.ndarray:
        return ellipsoid_fn(self.bladder_centre, self.urine_axes)(p)

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
        self.urethra_nodes = rounded_polyline(ctrl, 8.0 * self.scale, n_arc=10)

        self.urethra = sd_tube(self.urethra_nodes, URETHRA_RADIUS_MM)

    def _build_sphincter(self) -> None:
        hi = self.apex_z - SPHINCTER_GAP_MM
        self.sphincter_z = (hi - SPHINCTER_LENGTH_MM, hi)
        self.sphincter = sd_ring(self.apex_urethra[:2], self.sphincter_z[0], self.sphincter_z[1],
                                   SPHINCTER_INNER_RADIUS_MM, SPHINCTER_OUTER_RADIUS_MM, 1.5)

    # ---- bundles, vesicles, bone, skin ------------------------------------------------------------------
    def _build_bundles(self) -> None:
        prostate_sd = normalised(self.prostate_implicit)
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
            tubes.append(sd_tube(np.array(nodes), NVB_RADIUS_MM))
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
        bl = ellipsoid_fn(self.bladder_centre, self.bladder_axes)
        dy = 0.0
        for _ in range(80):
            left = base + np.array([0.0, dy, 0.0])
            dense = resample_polyline(left, 60)
            r_dense = np.interp(np.linspace(0, 1, 60), np.linspace(0, 1, len(radii)), radii)
            c_bladder = float((bl(dense) - r_dense).min())
            c_prost = float(polyline_distance(pts, left, radii).min())
            if c_bladder >= SV_CLEARANCE_MM and c_prost >= SV_CLEARANCE_MM:
                break
            dy += 0.5
        right = left * [-1.0, 1.0, 1.0]
        self.vesicle_tubes = (sd_tube(left, radii), sd_tube(right, radii))

    def vesicles(self, p: np.ndarray) -> np.ndarray:
        return np.minimum(self.vesicle_tubes[0](p), self.vesicle_tubes[1](p))

    def _build_pubic_bone(self) -> None:
        y = -(self.b_ant + PUBIC_ANTERIOR_GAP_MM + PUBIC_RADIUS_MM)
        z = 0.15 * self.c
        # symphysis, bodies, rami stubs and the pubic arch, clear of a full bladder
        self.pubic = PubicBone.clear_of(y, z, self.bladder_outer)
        self.pubic_nodes = self.pubic.nodes

    def _build_perineum(self) -> None:
        t = PERINEUM_THICKNESS_MM
        self.perineum_box = np.array([-38.0, 38.0, -32.0, 17.0, self.skin_z - t, self.skin_z])
        b = self.perineum_box
        self.perineum = sd_round_box(0.5 * (b[0::2] + b[1::2]), 0.5 * (b[1::2] - b[0::2]), 0.0)
