"""Implicit shape math for the generated anatomy: vectorised numpy functions, negative inside, in mm.

Every function takes ``points_mm`` of shape (n, 3) and returns (n,) values. Functions named ``sd_*`` are
exact (or very nearly exact) signed distances; :func:`normalised` turns a smooth implicit function into an
approximate signed distance (value divided by gradient length), good near the surface.

:class:`OrganShapes` builds every organ of one generated anatomy from these primitives, in the patient frame
of :mod:`cryoviz.model.anatomy` (x = patient left, y = posterior, z = superior, origin at the prostate
centre),
with sizes from clinical-facts.md §3 held in the module constants below.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cached_property

import numpy as np

from cryoviz.model.scene import AnatomyParams

__all__ = [
    "Implicit",
    "OrganShapes",
    "ellipsoid_fn",
    "normalised",
    "polyline_distance",
    "resample_polyline",
    "rounded_polyline",
    "sd_ring",
    "sd_round_box",
    "sd_tube",
]

Implicit = Callable[[np.ndarray], np.ndarray]


def polyline_distance(points_mm: np.ndarray, nodes_mm: np.ndarray,
                      radii_mm: np.ndarray | None = None) -> np.ndarray:
    """Distance from each point to a polyline, minus a radius interpolated along each segment.

    Parameters
    ----------
    points_mm : (n, 3) array
    nodes_mm : (m, 3) array
        Polyline vertices, m >= 2.
    radii_mm : (m,) array, optional
        Tube radius at each vertex (linear in between); zero when omitted.
    """
    p = np.asarray(points_mm, dtype=float)
    nodes = np.asarray(nodes_mm, dtype=float)
    r = np.zeros(len(nodes)) if radii_mm is None else np.asarray(radii_mm, dtype=float)
    best = np.full(len(p), np.inf)
    for a, b, ra, rb in zip(nodes[:-1], nodes[1:], r[:-1], r[1:], strict=True):
        ab = b - a
        denom = float(ab @ ab)
        t = np.clip(((p - a) @ ab) / denom, 0.0, 1.0) if denom > 0 else np.zeros(len(p))
        d = np.linalg.norm(p - (a + t[:, None] * ab), axis=1) - (ra + (rb - ra) * t)
        np.minimum(best, d, out=best)
    return best


class sd_tube:
    """A tube of (possibly varying) radius around a polyline, with rounded ends; call it on points.

    Distances come from a k-d tree of the centreline resampled every ``step_mm`` (error below 0.01 mm at
    the surface of a tube of radius 1 mm or more), which is much faster than segment-by-segment distances.
    """

    def __init__(self, nodes_mm: np.ndarray, radius_mm: float | np.ndarray, step_mm: float = 0.2):
        from scipy.spatial import cKDTree

        self.nodes = np.asarray(nodes_mm, dtype=float)
        self.radii = np.broadcast_to(np.asarray(radius_mm, dtype=float), (len(self.nodes),)).copy()
        seg = np.linalg.norm(np.diff(self.nodes, axis=0), axis=1)
        s = np.concatenate([[0.0], np.cumsum(seg)])
        t = np.linspace(0.0, s[-1], max(int(np.ceil(s[-1] / step_mm)) + 1, 2))
        self._dense = np.stack([np.interp(t, s, self.nodes[:, k]) for k in range(3)], axis=1)
        self._dense_r = np.interp(t, s, self.radii)
        self._tree = cKDTree(self._dense)

    def __call__(self, points_mm: np.ndarray) -> np.ndarray:
        d, i = self._tree.query(np.asarray(points_mm, dtype=float))
        return d - self._dense_r[i]

    def bounds(self, pad_mm: float = 0.5) -> np.ndarray:
        """(xmin, xmax, ymin, ymax, zmin, zmax) of the tube plus ``pad_mm``."""
        r = float(self.radii.max()) + pad_mm
        return np.ravel(np.stack([self.nodes.min(axis=0) - r, self.nodes.max(axis=0) + r], axis=1))


def sd_round_box(centre_mm, half_mm, round_mm: float) -> Implicit:
    """An axis-aligned box with rounded edges (exact signed distance)."""
    c = np.asarray(centre_mm, dtype=float)
    h = np.asarray(half_mm, dtype=float) - round_mm

    def fn(p: np.ndarray) -> np.ndarray:
        q = np.abs(np.asarray(p, dtype=float) - c) - h
        outside = np.linalg.norm(np.maximum(q, 0.0), axis=1)
        inside = np.minimum(q.max(axis=1), 0.0)
        return outside + inside - round_mm

    return fn


def sd_ring(axis_xy_mm, z_lo_mm: float, z_hi_mm: float, r_in_mm: float, r_out_mm: float,
            round_mm: float) -> Implicit:
    """A thick ring (annulus swept along z) around a vertical axis, edges rounded; exact signed distance."""
    ax = np.asarray(axis_xy_mm, dtype=float)
    rc, hr = 0.5 * (r_in_mm + r_out_mm), 0.5 * (r_out_mm - r_in_mm) - round_mm
    zc, hz = 0.5 * (z_lo_mm + z_hi_mm), 0.5 * (z_hi_mm - z_lo_mm) - round_mm

    def fn(p: np.ndarray) -> np.ndarray:
        p = np.asarray(p, dtype=float)
        r = np.hypot(p[:, 0] - ax[0], p[:, 1] - ax[1])
        q = np.stack([np.abs(r - rc) - hr, np.abs(p[:, 2] - zc) - hz], axis=1)
        return (np.linalg.norm(np.maximum(q, 0.0), axis=1) + np.minimum(q.max(axis=1), 0.0)
                - round_mm)

    return fn


def ellipsoid_fn(centre_mm, semi_axes_mm) -> Implicit:
    """An axis-aligned ellipsoid as an approximate signed distance (scaled algebraic distance)."""
    c = np.asarray(centre_mm, dtype=float)
    s = np.asarray(semi_axes_mm, dtype=float)

    def fn(p: np.ndarray) -> np.ndarray:
        q = (np.asarray(p, dtype=float) - c) / s
        k0 = np.linalg.norm(q, axis=1)
        k1 = np.linalg.norm(q / s, axis=1)
        # Inigo Quilez' bound: k0 (k0 - 1) / k1, exact on the surface, good nearby
        return np.where(k1 > 1e-12, k0 * (k0 - 1.0) / np.maximum(k1, 1e-12), -s.min())

    return fn


def normalised(fn: Implicit, h_mm: float = 0.05) -> Implicit:
    """Approximate signed distance ``f / |grad f|`` of a smooth implicit function (central differences)."""

    def out(p: np.ndarray) -> np.ndarray:
        p = np.asarray(p, dtype=float)
        f = fn(p)
        g2 = np.zeros(len(p))
        for axis in range(3):
            d = np.zeros(3)
            d[axis] = h_mm
            g2 += ((fn(p + d) - fn(p - d)) / (2.0 * h_mm)) ** 2
        return f / np.maximum(np.sqrt(g2), 1e-9)

    return out


class SurfaceDistance:
    """Signed distance to a closed implicit surface from a dense sample of its points.

    Within ``near_mm`` of the surface the normalised implicit value is used (accurate there and smooth);
    further away the distance to the nearest surface sample, signed by the implicit function (accurate
    deep inside, where ``f / |grad f|`` is not).
    """

    def __init__(self, fn: Implicit, surface_mm: np.ndarray, near_mm: float = 1.0):
        from scipy.spatial import cKDTree

        self.fn = fn
        self.near = normalised(fn)
        self.tree = cKDTree(np.asarray(surface_mm, dtype=float))
        self.near_mm = near_mm

    def __call__(self, points_mm: np.ndarray) -> np.ndarray:
        p = np.asarray(points_mm, dtype=float)
        f = self.fn(p)
        d, _ = self.tree.query(p)
        out = np.where(f < 0.0, -d, d)
        close = np.abs(out) < self.near_mm + 0.5
        if close.any():
            approx = self.near(p[close])
            out[close] = np.where(np.abs(approx) < self.near_mm, approx, out[close])
        return out


def rounded_polyline(control_mm: np.ndarray, fillet_mm: float, n_arc: int = 8) -> np.ndarray:
    """Replace each interior corner of a polyline by a quadratic Bézier arc ``fillet_mm`` along each side."""
    c = np.asarray(control_mm, dtype=float)
    out = [c[0]]
    for i in range(1, len(c) - 1):
        a, b, d = c[i - 1], c[i], c[i + 1]
        la, ld = np.linalg.norm(a - b), np.linalg.norm(d - b)
        f = min(fillet_mm, 0.45 * la, 0.45 * ld)
        p0 = b + (a - b) * f / la
        p2 = b + (d - b) * f / ld
        for t in np.linspace(0.0, 1.0, n_arc):
            out.append((1 - t) ** 2 * p0 + 2 * (1 - t) * t * b + t ** 2 * p2)
    out.append(c[-1])
    return np.array(out)


def resample_polyline(nodes_mm: np.ndarray, n: int) -> np.ndarray:
    """``n`` points evenly spaced by arc length along a polyline (first and last nodes kept)."""
    nodes = np.asarray(nodes_mm, dtype=float)
    seg = np.linalg.norm(np.diff(nodes, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    t = np.linspace(0.0, s[-1], int(n))
    return np.stack([np.interp(t, s, nodes[:, k]) for k in range(3)], axis=1)


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
PUBIC_RADIUS_MM = 7.0
PUBIC_ANTERIOR_GAP_MM = 20.0
SALINE_MAX_HALF_WIDTH_MM = 18.0


def _smooth_ramp(z: np.ndarray, k_mm: float = 4.0) -> np.ndarray:
    """Softplus: ~max(z, 0) with a rounded corner of about ``k_mm``."""
    return k_mm * np.logaddexp(0.0, np.asarray(z, dtype=float) / k_mm)


class OrganShapes:
    """All implicit organ shapes of one generated anatomy (cheap: no meshing)."""

    background_label = 0  # anatomy.LABELS['tissue']
    bladder_wall_mm = BLADDER_WALL_MM

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
        gap = self.params.rectum_gap_mm
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
        y_b = self.y_verum - self.tan_up * z_neck
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
        ctrl = np.array([[-42.0, y + 14.0, z + 12.0], [-14.0, y, z], [14.0, y, z],
                         [42.0, y + 14.0, z + 12.0]])
        self.pubic_nodes = rounded_polyline(ctrl, 10.0, n_arc=8)
        self.pubic = sd_tube(self.pubic_nodes, PUBIC_RADIUS_MM)

    def _build_perineum(self) -> None:
        t = PERINEUM_THICKNESS_MM
        self.perineum_box = np.array([-38.0, 38.0, -32.0, 17.0, self.skin_z - t, self.skin_z])
        b = self.perineum_box
        self.perineum = sd_round_box(0.5 * (b[0::2] + b[1::2]), 0.5 * (b[1::2] - b[0::2]), 0.0)

    # ---- per-organ access ------------------------------------------------------------------------------
    @cached_property
    def prostate_sd(self):
        return SurfaceDistance(self.prostate_implicit, self.surface)

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

        return SurfaceDistance(implicit, pts)

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

    def inside_fn(self, organ: str, inner_offset_mm: float = 0.0):
        """Mask function: points deeper than ``inner_offset_mm`` inside an organ (the bladder and rectum
        offsets give urine and lumen)."""
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

    def saline_fn(self, anatomy):
        """Saline fills the lens between the capsule and the rectal wall (hydrodissection)."""
        gap = self.params.rectum_gap_mm

        def fn(p):
            dp = anatomy.signed_distance("prostate", p)
            dr = anatomy.signed_distance("rectum", p)
            return (dp > 0.0) & (dr > 0.0) & (dp + dr <= 1.2 * gap + 1.0)

        return fn

    def saline_bounds(self) -> np.ndarray:
        """Where saline may be painted (behind the gland, in front of the rectum), mm."""
        w = min(SALINE_MAX_HALF_WIDTH_MM, self.a0)
        return np.array([-w, w, 0.0, self.rectum_y, self.apex_z, self.base_z])

    def default_bounds(self, margin_mm: float) -> np.ndarray:
        """Gland, urethra and sphincter, rectal wall and lumen, bladder neck, plus a margin, mm."""
        pb = self.bounds("prostate")
        sb = self.bounds("sphincter")
        lo = np.minimum(pb[0::2] - margin_mm, sb[0::2] - 5.0)
        hi = pb[1::2] + margin_mm
        hi[1] = max(hi[1], self.rectum_y + self.r_out + 2.0)  # the whole rectal wall and lumen
        hi[2] = max(hi[2], self.bladder_neck[2] + BLADDER_WALL_MM + 5.0)  # the bladder neck
        return np.ravel(np.stack([lo, hi], axis=1))


def _union_bounds(boxes) -> np.ndarray:
    b = np.asarray(boxes, dtype=float)
    return np.ravel(np.stack([b[:, 0::2].min(axis=0), b[:, 1::2].max(axis=0)], axis=1))
