"""A TRUS-like (transrectal ultrasound) grayscale picture of the same body the 3D view shows.

The transducer sits in the rectum lumen, on the rectum axis, and looks anteriorly (towards −y in the
patient frame of :mod:`cryoviz.model.anatomy`: x = patient left, y = posterior, z = superior, mm). Two planes:

* ``"sagittal"``: the plane x = const (the rectum axis by default, or a probe column); the fan opens along
  z; the image shows superior (bladder) on the left and inferior (apex, perineum) on the right.
* ``"transverse"``: the plane z = const (mid-gland by default); the fan opens along x; the patient's left is
  on the image right (seen from the feet, as in radiology).

In both the transducer is at the bottom of the image and anterior is up. The image is built in two parts:

1. **Static, once per (grid, plane, position, size, seed)**: echo levels of the tissues (labels), seeded
   speckle, attenuation along each scanline with time-gain compensation, the layered rectal wall and the
   pubic-bone shadow are composed on a polar (scanline × depth) grid, then scan-converted to the pixels of
   the sector. The sampling maps (pixel → scanline, depth, 3-D point) and the trilinear weights used to read
   temperatures are kept in a :class:`UltrasoundView`, cached by :func:`get_view`.
2. **Per frame**: temperatures are read along the scanlines, the first sample at or below 0 °C on each
   scanline places the ice front (a bright line, sub-sample accurate) with the acoustic shadow behind it;
   needles are added as bright lines (only their inserted part); then the overlays (template dots in the
   transverse view, a depth scale in cm, optionally the −40 °C outline).

Numpy and scipy only: no renderer, no imaging library. Same inputs give the same array.
"""

from __future__ import annotations

import hashlib
import math
import weakref
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from cryoviz.core.errors import InputError
from cryoviz.story import us_font as _us_font

__all__ = [
    "ECHO_DB",
    "PLANES",
    "UltrasoundView",
    "default_transducer_mm",
    "get_view",
    "probe_segments_mm",
    "ultrasound_frame",
    "ultrasound_image",
]

PLANES = ("sagittal", "transverse")

#: Mean echo level of each label in dB below white (0 dB = the brightest grey). Codes of ``anatomy.LABELS``.
ECHO_DB = {
    0: -15.0,   # fat / connective tissue: brighter than the gland
    1: -25.0,   # prostate: mid-grey
    2: -5.0,    # urethra with the warming catheter: bright
    3: -30.0,   # external sphincter (muscle): darker
    4: -17.0,   # bladder wall
    5: -80.0,   # urine: anechoic (black)
    6: -20.0,   # rectal wall (its layers are drawn separately)
    7: -80.0,   # rectum lumen = the probe's water balloon: anechoic
    8: -31.0,   # seminal vesicles: hypoechoic
    9: -13.0,   # neurovascular bundles: small bright spots
    10: -3.0,   # pubic bone: bright surface (shadowed behind)
    11: -75.0,  # saline (hydrodissection): anechoic
    12: -34.0,  # gel phantom: fine, dim, uniform
}
#: One-way attenuation at the probe frequency (about 7 MHz), dB per cm, per label.
_ATTEN_DB_PER_CM = {0: 4.0, 1: 3.8, 2: 3.0, 3: 4.0, 4: 4.0, 5: 0.05, 6: 4.0, 7: 0.05, 8: 3.0, 9: 4.0,
                    10: 300.0, 11: 0.05, 12: 1.0}
_N_LABELS = 16
#: Round-trip gain added per cm of depth (time-gain compensation); slightly less than tissue loses.
_TGC_DB_PER_CM = 7.0
#: Displayed dynamic range, dB: 0 dB → 255, −DR → 0.
_DYNAMIC_RANGE_DB = 50.0
#: Rectal wall seen from inside: bright mucosal interface, dark muscle, bright serosa (fraction, dB).
_RECTAL_LAYERS = ((0.33, -8.0), (0.67, -36.0), (1.01, -10.0))
_FRONT_DB = 0.0            # ice front: brightest echo
_FRONT_SIGMA_MM = 0.35     # half-thickness of the bright front line
_SHADOW_DB = -40.0         # loss behind the front
_SHADOW_RAMP_MM = 0.8      # the shadow deepens over this distance behind the front
_NEEDLE_DB = -2.0
_NEEDLE_RADIUS_MM = 0.75   # 17G needle ≈ 1.5 mm across
_ELEVATION_MM = 0.75       # half thickness of the ultrasound slice: nearby needles still show
_DYN_DR_MM = 0.25          # depth step of the per-frame temperature sampling
_CACHE_SIZE = 8


# ------------------------------------------------------------------------------------------- helpers
def _bad(key: str, what: str, allowed: str, got: object) -> InputError:
    return InputError.one("argument", key, what, allowed, got)


_DIGESTS: dict[int, tuple[weakref.ref, str]] = {}


def _digest(arr: np.ndarray) -> str:
    """Content hash of an array, remembered per array object (arrays are not modified in place here)."""
    hit = _DIGESTS.get(id(arr))
    if hit is not None and hit[0]() is arr:
        return hit[1]
    h = hashlib.blake2b(np.ascontiguousarray(arr).view(np.uint8), digest_size=16)
    h.update(repr((arr.shape, arr.dtype.str)).encode())
    d = h.hexdigest()
    if len(_DIGESTS) > 64:
        for k in [k for k, (r, _) in _DIGESTS.items() if r() is None]:
            del _DIGESTS[k]
    _DIGESTS[id(arr)] = (weakref.ref(arr), d)
    return d


def _trilinear_maps(shape: tuple[int, int, int], origin_mm: np.ndarray, spacing_mm: float,
                    points_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices (N, 8) and weights (N, 8) for trilinear reads at ``points_mm`` (clamped to the grid)."""
    f = (points_mm.reshape(-1, 3) - origin_mm) / spacing_mm
    n = np.asarray(shape)
    f = np.clip(f, 0.0, n - 1)
    i0 = np.minimum(np.floor(f).astype(np.int64), np.maximum(n - 2, 0))
    t = (f - i0).astype(np.float32)
    i1 = np.minimum(i0 + 1, n - 1)
    strides = np.array([shape[1] * shape[2], shape[2], 1], dtype=np.int64)
    idx = np.empty((f.shape[0], 8), dtype=np.int64)
    w = np.empty((f.shape[0], 8), dtype=np.float32)
    for c in range(8):
        bits = ((c >> 2) & 1, (c >> 1) & 1, c & 1)
        ii = [i1[:, a] if bits[a] else i0[:, a] for a in range(3)]
        ww = [t[:, a] if bits[a] else 1.0 - t[:, a] for a in range(3)]
        idx[:, c] = ii[0] * strides[0] + ii[1] * strides[1] + ii[2] * strides[2]
        w[:, c] = ww[0] * ww[1] * ww[2]
    if idx.max(initial=0) < 2**31:
        idx = idx.astype(np.int32)
    return idx, w


def _nearest_index(shape, origin_mm, spacing_mm, points_mm) -> np.ndarray:
    f = np.rint((points_mm.reshape(-1, 3) - origin_mm) / spacing_mm).astype(np.int64)
    f = np.clip(f, 0, np.asarray(shape) - 1)
    return f[:, 0] * (shape[1] * shape[2]) + f[:, 1] * shape[2] + f[:, 2]


def default_transducer_mm(grid) -> tuple[float, float, float]:
    """Where the transducer sits when none is given: on the rectum-lumen centre line of a label grid.

    x and y are the centroid of the rectum-lumen voxels (label 7), z the centroid of the prostate (label 1).
    Without a rectum (a gel phantom) the transducer sits on the posterior face of the grid, centred.
    """
    lab = np.asarray(grid.labels)
    origin = np.asarray(grid.origin_mm, dtype=float)
    sp = float(grid.spacing_mm)
    centre = origin + sp * (np.asarray(lab.shape) - 1) / 2.0
    lumen = np.argwhere(lab == 7)
    if len(lumen):
        xy = origin[:2] + sp * lumen[:, :2].mean(axis=0)
    else:
        xy = np.array([centre[0], origin[1] + sp * (lab.shape[1] - 1)])
    gland = np.argwhere(lab == 1)
    z = origin[2] + sp * gland[:, 2].mean() if len(gland) else centre[2]
    return (float(xy[0]), float(xy[1]), float(z))


# ------------------------------------------------------------------------------------------- the view
@dataclass(frozen=True)
class _Needles:
    pix: np.ndarray     # (M,) index into the sector pixels
    t_mm: np.ndarray    # (M,) distance along the needle from its entry point of the closest point
    gain_db: np.ndarray  # (M,) brightness loss with distance from the needle axis
    probe: np.ndarray   # (M,) which probe


class UltrasoundView:
    """Sampling maps and static picture of one ultrasound plane of one label grid (build once, reuse).

    Use :func:`get_view` (cached) rather than the constructor.

    Attributes
    ----------
    plane : str
        ``"sagittal"`` or ``"transverse"``.
    position_mm : float
        x of the sagittal plane or z of the transverse plane.
    apex_mm : ndarray, shape (3,)
        The virtual apex of the fan (centre of the transducer's curvature) in the patient frame.
    size_px : tuple of int
        (width, height) of the image; the arrays are (height, width).
    mm_per_px : float
        Pixel size.
    depth_mm : float
        Imaged depth beyond the transducer face.
    """

    def __init__(self, grid, plane: str, position_mm: float, transducer_mm, size_px: tuple[int, int],
                 seed: int, depth_mm: float, half_angle_deg: float, probe_radius_mm: float):
        self.plane = plane
        self.position_mm = float(position_mm)
        self.size_px = (int(size_px[0]), int(size_px[1]))
        self.seed = int(seed)
        self.depth_mm = float(depth_mm)
        self.half_angle_rad = math.radians(half_angle_deg)
        self.r0_mm = float(probe_radius_mm)
        self.r_max_mm = self.r0_mm + self.depth_mm
        self._shape = tuple(int(s) for s in np.asarray(grid.labels).shape)
        self._origin = np.asarray(grid.origin_mm, dtype=float)
        self._spacing = float(grid.spacing_mm)
        tx, ty, tz = (float(v) for v in transducer_mm)
        if plane == "sagittal":
            self.apex_mm = np.array([self.position_mm, ty, tz])
            self.lateral_dir = np.array([0.0, 0.0, -1.0])   # image right = inferior
        else:
            self.apex_mm = np.array([tx, ty, self.position_mm])
            self.lateral_dir = np.array([1.0, 0.0, 0.0])    # image right = patient left
        self.depth_dir = np.array([0.0, -1.0, 0.0])          # anterior, image up
        self._layout()
        self._build_pixels()
        self._build_static(np.asarray(grid.labels))
        self._build_dynamic()
        self._build_overlay()
        self._needle_cache: OrderedDict[bytes, _Needles] = OrderedDict()

    # -- geometry ---------------------------------------------------------------------------------
    def _layout(self) -> None:
        w, h = self.size_px
        th = self.half_angle_rad
        self._margin_r = max(24, round(0.085 * w))   # room for the depth scale on the right
        self._margin_l = self._margin_r
        margin_y = max(6, round(0.03 * h))
        width_mm = 2.0 * self.r_max_mm * math.sin(th)
        height_mm = self.r_max_mm - self.r0_mm * math.cos(th)
        self.mm_per_px = max(width_mm / (w - self._margin_l - self._margin_r), height_mm / (h - 2 * margin_y))
        self._cx = (w - 1) / 2.0
        used_h = height_mm / self.mm_per_px
        top = (h - used_h) / 2.0
        self._apex_row = top + self.r_max_mm / self.mm_per_px

    def project_mm(self, points_mm) -> tuple[np.ndarray, np.ndarray]:
        """Project patient-frame points (N, 3) mm onto the image plane; return (row, col) pixel floats."""
        p = np.atleast_2d(np.asarray(points_mm, dtype=float)) - self.apex_mm
        a = p @ self.lateral_dir
        b = p @ self.depth_dir
        return self._apex_row - b / self.mm_per_px, self._cx + a / self.mm_per_px

    def pixel_to_mm(self, row, col) -> np.ndarray:
        """Patient-frame point(s) (…, 3) mm of pixel centre(s) (row, col) in the image plane."""
        a = (np.asarray(col, dtype=float) - self._cx) * self.mm_per_px
        b = (self._apex_row - np.asarray(row, dtype=float)) * self.mm_per_px
        return self.apex_mm + a[..., None] * self.lateral_dir + b[..., None] * self.depth_dir

    def scanline_px(self, angle_deg: float, depth_mm) -> tuple[np.ndarray, np.ndarray]:
        """(row, col) of points on the scanline at ``angle_deg`` (0 = straight up), ``depth_mm`` beyond
        the transducer face."""
        r = self.r0_mm + np.asarray(depth_mm, dtype=float)
        th = math.radians(angle_deg)
        s = self.mm_per_px
        return self._apex_row - r * math.cos(th) / s, self._cx + r * math.sin(th) / s

    def _polar_points(self, thetas: np.ndarray, radii: np.ndarray) -> np.ndarray:
        s, c = np.sin(thetas)[:, None, None], np.cos(thetas)[:, None, None]
        dirs = s * self.lateral_dir + c * self.depth_dir            # (L, 1, 3)
        return self.apex_mm + dirs * radii[None, :, None]           # (L, S, 3)

    def _build_pixels(self) -> None:
        w, h = self.size_px
        rows, cols = np.mgrid[0:h, 0:w]
        a = (cols - self._cx) * self.mm_per_px
        b = (self._apex_row - rows) * self.mm_per_px
        r = np.hypot(a, b)
        th = np.arctan2(a, b)
        inside = (r >= self.r0_mm) & (r <= self.r_max_mm) & (np.abs(th) <= self.half_angle_rad)
        self.sector_mask = inside
        self._pix = np.flatnonzero(inside).astype(np.int32)
        self._r_px = r.ravel()[self._pix].astype(np.float32)
        self._th_px = th.ravel()[self._pix].astype(np.float32)

    # -- static picture --------------------------------------------------------------------------
    def _build_static(self, labels: np.ndarray) -> None:
        th = self.half_angle_rad
        arc_px = 2.0 * th * self.r_max_mm / self.mm_per_px
        n_lines = int(np.clip(math.ceil(arc_px), 64, 2048))
        dr = min(self.mm_per_px / 2.0, 0.2)
        n_samp = math.ceil(self.depth_mm / dr)
        thetas = np.linspace(-th, th, n_lines)
        radii = self.r0_mm + (np.arange(n_samp) + 0.5) * dr
        pts = self._polar_points(thetas, radii)
        flat = labels.reshape(-1)
        lab = flat[_nearest_index(self._shape, self._origin, self._spacing, pts)].reshape(n_lines, n_samp)
        lab = np.minimum(lab, _N_LABELS - 1)
        lut_db = np.full(_N_LABELS, ECHO_DB[0], dtype=np.float32)
        lut_att = np.full(_N_LABELS, _ATTEN_DB_PER_CM[0], dtype=np.float32)
        for k, v in ECHO_DB.items():
            lut_db[k] = v
        for k, v in _ATTEN_DB_PER_CM.items():
            lut_att[k] = v
        # smooth tissue boundaries: trilinear read of the per-voxel echo level
        level_vol = lut_db[np.minimum(flat, _N_LABELS - 1)]
        idx, wts = _trilinear_maps(self._shape, self._origin, self._spacing, pts)
        level = (level_vol[idx] * wts).sum(axis=1).reshape(n_lines, n_samp)
        # the rectal wall seen from the lumen: bright / dark / bright, over its first run on each scanline
        wall = lab == 6
        if wall.any():
            start = wall.argmax(axis=1)
            i = np.arange(n_samp)[None, :]
            after = (~wall) & (i > start[:, None])
            stop = np.where(after.any(axis=1), after.argmax(axis=1), n_samp)
            frac = (i - start[:, None]) / np.maximum(stop - start, 1)[:, None]
            first_run = wall & (i < stop[:, None])
            layer_db = np.full(frac.shape, _RECTAL_LAYERS[-1][1], dtype=np.float32)
            for edge, db in reversed(_RECTAL_LAYERS[:-1]):
                layer_db[frac < edge] = db
            level = np.where(first_run, layer_db, level)
        # attenuation (round trip, up to the previous sample) against time-gain compensation
        att = 2.0 * np.cumsum(lut_att[lab] * (dr / 10.0), axis=1)
        att = np.concatenate([np.zeros((n_lines, 1), np.float32), att[:, :-1]], axis=1)
        tgc = _TGC_DB_PER_CM * (radii - self.r0_mm) / 10.0
        # seeded speckle: a smoothed complex Gaussian field, its magnitude is Rayleigh distributed
        rng = np.random.default_rng(self.seed)
        field = rng.standard_normal((2, n_lines, n_samp)).astype(np.float32)
        lateral_mm = 0.28   # speckle grain across the beam at mid depth (grows with depth, as in a scanner)
        axial_mm = 0.14
        sig_lines = lateral_mm / (0.5 * self.r_max_mm * (2 * th / max(n_lines - 1, 1)))
        sig = (max(sig_lines, 0.5), max(axial_mm / dr, 0.5))
        re = ndimage.gaussian_filter(field[0], sig, mode="wrap")
        im = ndimage.gaussian_filter(field[1], sig, mode="wrap")
        amp = np.hypot(re, im)
        amp /= np.sqrt(np.mean(amp**2))
        speckle_db = 20.0 * np.log10(np.maximum(amp, 1e-3)) + 2.5
        polar_db = (level + speckle_db - att + tgc[None, :]).astype(np.float32)
        # scan conversion of the static picture to the sector pixels (bilinear)
        f_line = (self._th_px + th) / (2 * th) * (n_lines - 1)
        f_samp = (self._r_px - self.r0_mm) / dr - 0.5
        self._base_db = ndimage.map_coordinates(polar_db, [f_line, f_samp], order=1, mode="nearest")
        self._base_db = self._base_db.astype(np.float32)
        self._speckle_px = ndimage.map_coordinates(speckle_db, [f_line, f_samp], order=1,
                                                   mode="nearest").astype(np.float32)

    # -- per-frame sampling maps -------------------------------------------------------------------
    def _build_dynamic(self) -> None:
        th = self.half_angle_rad
        n_lines = int(np.clip(round(2 * th * self.r_max_mm / 0.5), 64, 512))  # ≤ 0.5 mm apart at depth
        n_samp = math.ceil(self.depth_mm / _DYN_DR_MM)
        self._dyn_shape = (n_lines, n_samp)
        self._dyn_thetas = np.linspace(-th, th, n_lines)
        self._dyn_radii = self.r0_mm + (np.arange(n_samp) + 0.5) * _DYN_DR_MM
        pts = self._polar_points(self._dyn_thetas, self._dyn_radii)
        idx, self._t_w = _trilinear_maps(self._shape, self._origin, self._spacing, pts)
        # only a thin box of voxels around the plane is ever read: keep its slices and box-local indices,
        # so a frame converts a few thousand voxels to float32 instead of the whole volume
        ijk = np.unravel_index(idx.ravel(), self._shape)
        lo = [int(a.min()) for a in ijk]
        hi = [int(a.max()) + 1 for a in ijk]
        self._box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        box_shape = tuple(b - a for a, b in zip(lo, hi, strict=True))
        local = np.ravel_multi_index(tuple(a - o for a, o in zip(ijk, lo, strict=True)), box_shape)
        self._t_idx = local.reshape(idx.shape).astype(np.int32)
        self._line_px = np.rint((self._th_px + th) / (2 * th) * (n_lines - 1)).astype(np.int32)
        self._samp_px = np.clip(((self._r_px - self.r0_mm) / _DYN_DR_MM).astype(np.int32), 0, n_samp - 1)

    def sample_temp_c(self, temp_c: np.ndarray) -> np.ndarray:
        """Temperatures (°C) read trilinearly along the per-frame scanlines, shape (lines, samples).

        ``temp_c`` is the whole field on the view's grid (only the box around the plane is read).
        """
        return self._sample_box(np.asarray(temp_c[self._box], dtype=np.float32))

    def _sample_box(self, box_c: np.ndarray) -> np.ndarray:
        vals = box_c.reshape(-1)[self._t_idx]
        return np.einsum("ij,ij->i", vals, self._t_w).reshape(self._dyn_shape)

    def front_depth_mm(self, temp_lines_c: np.ndarray) -> np.ndarray:
        """Distance from the fan apex (mm) of the first 0 °C crossing on each scanline (inf if none)."""
        frozen = temp_lines_c <= 0.0
        has = frozen.any(axis=1)
        i1 = frozen.argmax(axis=1)
        rows = np.arange(len(i1))
        t1 = temp_lines_c[rows, i1]
        t0 = temp_lines_c[rows, np.maximum(i1 - 1, 0)]
        denom = np.where(t0 - t1 > 1e-6, t0 - t1, 1.0)
        frac = np.clip(t0 / denom, 0.0, 1.0)
        r = self._dyn_radii[0] + (i1 - 1 + frac) * _DYN_DR_MM
        r = np.where(i1 == 0, self.r0_mm, r)
        return np.where(has, r, np.inf).astype(np.float32)

    # -- overlays ---------------------------------------------------------------------------------
    def _build_overlay(self) -> None:
        from cryoviz.model import template

        w, h = self.size_px
        over = np.zeros((h, w), dtype=np.int16) - 1
        scale = max(1, round(h / 300))
        # depth scale: a tick each 5 mm, a longer one with the number each cm, "cm" on top
        col = w - self._margin_r + 4 * scale
        for d5 in range(0, int(self.depth_mm // 5) + 1):
            row = round(self._apex_row - (self.r0_mm + 5 * d5) / self.mm_per_px)
            if not 0 <= row < h:
                continue
            length = (6 if d5 % 2 == 0 else 3) * scale
            over[max(row - scale // 2, 0):row + (scale + 1) // 2, col:col + length] = 255
            if d5 % 2 == 0 and d5 > 0:
                th_, _ = _us_font.text_size_px(str(d5 // 2), scale)
                _us_font.draw_text(over, str(d5 // 2), row - th_ // 2, col + length + 2 * scale, 255, scale)
        top = round(self._apex_row - self.r_max_mm / self.mm_per_px)
        _us_font.draw_text(over, "cm", max(top - 10 * scale, 1), col, 255, scale)
        if self.plane == "transverse":
            holes = np.array([template.hole_to_xy_mm(hn) for hn in template.all_holes()])
            pts = np.column_stack([holes, np.full(len(holes), self.position_mm)])
            rr, cc = self.project_mm(pts)
            dot = max(1, scale)
            for r_, c_ in zip(np.rint(rr).astype(int), np.rint(cc).astype(int), strict=True):
                if 0 <= r_ < h and 0 <= c_ < w and self.sector_mask[r_, c_]:
                    over[r_:r_ + dot + 1, c_:c_ + dot + 1] = 200
        m = over >= 0
        self._over_idx = np.flatnonzero(m)
        self._over_val = over.ravel()[self._over_idx].astype(np.uint8)

    # -- needles ----------------------------------------------------------------------------------
    def _needles(self, segments_mm: np.ndarray) -> _Needles:
        key = segments_mm.tobytes()
        hit = self._needle_cache.get(key)
        if hit is not None:
            return hit
        rows, cols = np.divmod(self._pix, self.size_px[0])
        pts = self.pixel_to_mm(rows, cols)
        reach = _NEEDLE_RADIUS_MM + _ELEVATION_MM
        parts = []
        for k, (entry, tip) in enumerate(segments_mm):
            v = tip - entry
            length = float(np.linalg.norm(v))
            if length <= 0:
                continue
            v = v / length
            t = np.clip((pts - entry) @ v, 0.0, length)
            d = np.linalg.norm(pts - (entry + t[:, None] * v), axis=1)
            near = np.flatnonzero(d < reach)
            wgt = np.clip((reach - d[near]) / _ELEVATION_MM, 1e-3, 1.0)
            parts.append((near, t[near], 20.0 * np.log10(wgt), np.full(len(near), k)))
        if parts:
            cat = [np.concatenate(p) for p in zip(*parts, strict=True)]
            res = _Needles(cat[0].astype(np.int64), cat[1].astype(np.float32), cat[2].astype(np.float32),
                           cat[3].astype(np.int32))
        else:
            e = np.zeros(0)
            res = _Needles(e.astype(np.int64), e.astype(np.float32), e.astype(np.float32), e.astype(np.int32))
        self._needle_cache[key] = res
        while len(self._needle_cache) > 4:
            self._needle_cache.popitem(last=False)
        return res

    # -- one picture ------------------------------------------------------------------------------
    def compose(self, temp_lines_c: np.ndarray | None, probes_mm=None, inserted_mm=None,
                show_lethal: bool = False, gain_db: float = 0.0) -> np.ndarray:
        """Compose the image from temperatures already read along the scanlines (see :meth:`sample_temp_c`).

        Parameters
        ----------
        temp_lines_c : ndarray (lines, samples) or None
            Temperatures along the scanlines, °C; None for a warm body (no ice).
        probes_mm : array-like (n, 2, 3), optional
            Each needle as (entry point, tip) in mm; the entry is where it goes in (the skin).
        inserted_mm : array-like (n,), optional
            How far each needle has gone in from its entry, mm; None means fully inserted.
        show_lethal : bool
            Outline the −40 °C zone (dashed).
        gain_db : float
            Overall gain added to every echo, dB.

        Returns
        -------
        ndarray (height, width) uint8
        """
        db = self._base_db + np.float32(gain_db)
        if probes_mm is not None and len(probes_mm):
            segs = np.asarray(probes_mm, dtype=float)
            nd = self._needles(segs)
            if len(nd.pix):
                lengths = np.linalg.norm(segs[:, 1] - segs[:, 0], axis=1)
                ins = lengths if inserted_mm is None else np.clip(np.asarray(inserted_mm, float), 0, lengths)
                vis = nd.t_mm <= ins[nd.probe] + 1e-6
                pix = nd.pix[vis]
                nd_db = _NEEDLE_DB + gain_db + nd.gain_db[vis] + 0.3 * self._speckle_px[pix]
                np.maximum.at(db, pix, nd_db.astype(np.float32))
        if temp_lines_c is not None:
            rf = self.front_depth_mm(temp_lines_c)[self._line_px]
            behind = self._r_px - rf
            shadow = np.where(behind > 0, _SHADOW_DB * np.minimum(behind / _SHADOW_RAMP_MM, 1.0), 0.0)
            db = db + shadow.astype(np.float32)
            z = behind / _FRONT_SIGMA_MM
            front = _FRONT_DB - 4.343 * z * z + 0.15 * self._speckle_px
            db = np.maximum(db, front.astype(np.float32))
        u8 = np.clip((db + _DYNAMIC_RANGE_DB) * (255.0 / _DYNAMIC_RANGE_DB), 0, 255).astype(np.uint8)
        w, h = self.size_px
        img = np.zeros(h * w, dtype=np.uint8)
        img[self._pix] = u8
        if show_lethal and temp_lines_c is not None:
            cold = np.zeros(h * w, dtype=bool)
            cold[self._pix] = temp_lines_c[self._line_px, self._samp_px] <= -40.0
            cold = cold.reshape(h, w)
            edge = cold & ~ndimage.binary_erosion(cold)
            rr, cc = np.nonzero(edge)
            dash = ((rr + cc) // 4) % 2 == 0
            img[rr[dash] * w + cc[dash]] = 170
        img[self._over_idx] = self._over_val
        return img.reshape(h, w)

    def image(self, temp_c: np.ndarray | None = None, probes_mm=None, inserted_mm=None,
              show_lethal: bool = False, gain_db: float = 0.0) -> np.ndarray:
        """The image for a temperature field on the view's grid (°C, shape of the labels) or None."""
        if temp_c is not None:
            temp_c = np.asarray(temp_c)
            if temp_c.shape != self._shape:
                raise _bad("temp_c", "temperature field does not match the label grid",
                           f"shape {self._shape}", f"shape {temp_c.shape}")
        lines = None if temp_c is None else self.sample_temp_c(temp_c)
        return self.compose(lines, probes_mm, inserted_mm, show_lethal, gain_db)

    def image_at(self, result, t_s: float, probes_mm=None, inserted_mm=None, show_lethal: bool = False,
                 gain_db: float = 0.0) -> np.ndarray:
        """The image at procedure time ``t_s`` of a thermal result, reading only the two bracketing
        snapshots along the scanlines (never the whole volume)."""
        times = np.asarray(result.times_s, dtype=float)
        temps = result.temps_c
        if temps.shape[1:] != self._shape:
            raise _bad("result", "thermal result grid does not match the view",
                       f"shape {self._shape}", f"shape {temps.shape[1:]}")
        t = float(np.clip(t_s, times[0], times[-1]))
        k = int(np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 1))
        box = np.asarray(temps[k][self._box], dtype=np.float32)
        if k < len(times) - 1 and times[k + 1] > times[k] and t > times[k]:
            w = np.float32((t - times[k]) / (times[k + 1] - times[k]))
            box = box + w * (np.asarray(temps[k + 1][self._box], dtype=np.float32) - box)
        lines = self._sample_box(box)
        return self.compose(lines, probes_mm, inserted_mm, show_lethal, gain_db)


# ------------------------------------------------------------------------------------------- entry points
_VIEWS: OrderedDict[tuple, UltrasoundView] = OrderedDict()


def _check_view_args(grid, plane, position_mm, size_px, seed, depth_mm, half_angle_deg, probe_radius_mm):
    if plane not in PLANES:
        raise _bad("plane", "unknown ultrasound plane", ", ".join(PLANES), plane)
    try:
        w, h = (int(v) for v in size_px)
        ok = len(tuple(size_px)) == 2 and 64 <= w <= 4096 and 64 <= h <= 4096
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise _bad("size_px", "image size out of range", "(width, height), each 64 to 4096 px", size_px)
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool):
        raise _bad("seed", "seed must be an integer", "an int", seed)
    if not 20.0 <= float(depth_mm) <= 150.0:
        raise _bad("depth_mm", "imaging depth out of range", "20 to 150 mm", depth_mm)
    if not 10.0 <= float(half_angle_deg) <= 80.0:
        raise _bad("half_angle_deg", "sector half angle out of range", "10 to 80 degrees", half_angle_deg)
    if not 2.0 <= float(probe_radius_mm) <= 30.0:
        raise _bad("probe_radius_mm", "probe radius out of range", "2 to 30 mm", probe_radius_mm)
    lab = np.asarray(getattr(grid, "labels", None))
    if lab.ndim != 3 or lab.dtype.kind not in "ui":
        raise _bad("grid", "not a label grid", "LabelGrid with integer labels[nx, ny, nz]",
                   type(grid).__name__)
    if position_mm is not None:
        axis = 0 if plane == "sagittal" else 2
        lo = float(grid.origin_mm[axis])
        hi = lo + float(grid.spacing_mm) * (lab.shape[axis] - 1)
        if not (math.isfinite(float(position_mm)) and lo <= float(position_mm) <= hi):
            raise _bad("position_mm", f"{plane} plane outside the grid",
                       f"{'x' if axis == 0 else 'z'} from {lo:.1f} to {hi:.1f} mm", position_mm)


def get_view(grid, plane: str = "sagittal", position_mm: float | None = None,
             size_px: tuple[int, int] = (512, 512), seed: int = 0, transducer_mm=None, depth_mm: float = 60.0,
             half_angle_deg: float | None = None, probe_radius_mm: float = 10.0) -> UltrasoundView:
    """The (cached) :class:`UltrasoundView` of one plane of a label grid.

    Parameters
    ----------
    grid : LabelGrid
        ``labels`` uint8 (nx, ny, nz), ``origin_mm`` (3,), ``spacing_mm``.
    plane : {"sagittal", "transverse"}
    position_mm : float, optional
        x of the sagittal plane / z of the transverse plane; defaults to the transducer's x / z.
    size_px : (int, int)
        (width, height) of the image, pixels.
    seed : int
        Speckle seed.
    transducer_mm : (float, float, float), optional
        A point on the rectum axis where the transducer sits; see :func:`default_transducer_mm`.
    depth_mm : float
        Imaged depth beyond the transducer face, mm.
    half_angle_deg : float, optional
        Half opening of the fan; default 55° transverse, 45° sagittal.
    probe_radius_mm : float
        Radius of the transducer face (the fan starts this far from its apex).
    """
    if half_angle_deg is None:
        half_angle_deg = 55.0 if plane == "transverse" else 45.0
    _check_view_args(grid, plane, position_mm, size_px, seed, depth_mm, half_angle_deg, probe_radius_mm)
    digest = _digest(np.asarray(grid.labels))
    origin = tuple(float(v) for v in grid.origin_mm)
    key = (digest, origin, float(grid.spacing_mm), plane, None if position_mm is None else float(position_mm),
           tuple(int(v) for v in size_px), int(seed),
           None if transducer_mm is None else tuple(float(v) for v in transducer_mm),
           float(depth_mm), float(half_angle_deg), float(probe_radius_mm))
    view = _VIEWS.get(key)
    if view is not None:
        _VIEWS.move_to_end(key)
        return view
    tr = default_transducer_mm(grid) if transducer_mm is None else tuple(float(v) for v in transducer_mm)
    if position_mm is None:
        position_mm = tr[0] if plane == "sagittal" else tr[2]
    view = UltrasoundView(grid, plane, position_mm, tr, size_px, seed, depth_mm, half_angle_deg,
                          probe_radius_mm)
    _VIEWS[key] = view
    while len(_VIEWS) > _CACHE_SIZE:
        _VIEWS.popitem(last=False)
    return view


def ultrasound_image(grid, temp_c=None, probes_mm=None, plane: str = "sagittal", position_mm=None,
                     size_px: tuple[int, int] = (512, 512), seed: int = 0, inserted_mm=None,
                     show_lethal: bool = False, gain_db: float = 0.0, **view_kw) -> np.ndarray:
    """A TRUS-like grayscale image of a label grid and a temperature field.

    Parameters
    ----------
    grid : LabelGrid
        Voxel labels (codes of ``anatomy.LABELS``).
    temp_c : ndarray, optional
        Temperature on the same grid, °C; None for a body at rest (no ice).
    probes_mm : array-like (n, 2, 3), optional
        Needles as (entry, tip) points in mm.
    plane, position_mm, size_px, seed
        See :func:`get_view`; ``view_kw`` passes ``transducer_mm``, ``depth_mm``, ``half_angle_deg``,
        ``probe_radius_mm``.
    inserted_mm : array-like (n,), optional
        Current insertion of each needle from its entry, mm (None: fully in).
    show_lethal : bool
        Outline the −40 °C zone.
    gain_db : float
        Overall gain, dB.

    Returns
    -------
    ndarray (height, width) uint8
        Black outside the sector.
    """
    view = get_view(grid, plane, position_mm, size_px, seed, **view_kw)
    probes = _check_probes(probes_mm, inserted_mm)
    return view.image(temp_c, probes, inserted_mm, show_lethal, gain_db)


def _check_probes(probes_mm, inserted_mm):
    if probes_mm is None:
        if inserted_mm is not None:
            raise _bad("inserted_mm", "insertion given without needles", "None", "a value")
        return None
    p = np.asarray(probes_mm, dtype=float)
    if p.size == 0:
        return p.reshape(0, 2, 3)
    if p.ndim != 3 or p.shape[1:] != (2, 3) or not np.isfinite(p).all():
        raise _bad("probes_mm", "needles must be finite (entry, tip) points", "array (n, 2, 3) mm",
                   f"shape {p.shape}")
    if inserted_mm is not None:
        ins = np.asarray(inserted_mm, dtype=float)
        if ins.shape != (len(p),) or not np.isfinite(ins).all():
            raise _bad("inserted_mm", "one finite insertion per needle", f"array ({len(p)},) mm",
                       f"shape {ins.shape}")
    return p


def probe_segments_mm(probes, skin_z_mm: float) -> np.ndarray:
    """(n, 2, 3) entry (on the skin) and tip points, mm, of probes going in along +z.

    Parameters
    ----------
    probes : sequence
        :class:`cryoviz.model.scene.Probe` (``x_mm``, ``y_mm``, ``depth_mm`` beyond the skin) or objects
        with a
        ``tip_mm`` (x, y, z) such as :class:`cryoviz.model.probes.ProbeGeometry`.
    skin_z_mm : float
        z of the perineal skin where the needles enter.
    """
    segs = []
    for p in probes:
        if hasattr(p, "tip_mm"):
            tip = np.asarray(p.tip_mm, dtype=float)
        else:
            tip = np.array([p.x_mm, p.y_mm, skin_z_mm + p.depth_mm], dtype=float)
        segs.append([[tip[0], tip[1], skin_z_mm], tip])
    return np.asarray(segs, dtype=float).reshape(-1, 2, 3)


def ultrasound_frame(anatomy, result, t_s: float, plane: str = "sagittal", position_mm=None,
                     size_px: tuple[int, int] = (512, 512), seed: int = 0, inserted_mm=None,
                     show_lethal: bool = False, gain_db: float = 0.0, with_probes: bool = True,
                     **view_kw) -> np.ndarray:
    """The ultrasound image of a simulated procedure at procedure time ``t_s`` (s).

    Uses the thermal result's own label grid, the transducer on the anatomy's rectum axis
    (``landmarks.rectum_axis_y_mm``) and the needles of ``result.probes`` entering at
    ``landmarks.skin_z_mm``; ``inserted_mm`` is each needle's current depth beyond the skin (the story's
    ``FrameState.probe_depths_mm``), None for fully in. Other parameters as in :func:`ultrasound_image`.
    """
    if "transducer_mm" not in view_kw:
        view_kw["transducer_mm"] = _transducer_from_anatomy(anatomy, result.grid)
    view = get_view(result.grid, plane, position_mm, size_px, seed, **view_kw)
    skin_z = getattr(getattr(anatomy, "landmarks", None), "skin_z_mm", None)
    probes = None
    if with_probes and skin_z is not None and len(result.probes):
        probes = probe_segments_mm(result.probes, float(skin_z))
    probes = _check_probes(probes, inserted_mm if probes is not None else None)
    return view.image_at(result, t_s, probes, inserted_mm, show_lethal, gain_db)


def _transducer_from_anatomy(anatomy, grid) -> tuple[float, float, float]:
    """A point of the rectum axis at the prostate centre height (z = 0), from the anatomy landmarks."""
    lm = getattr(anatomy, "landmarks", None)
    y = getattr(lm, "rectum_axis_y_mm", None)
    if y is None:
        return default_transducer_mm(grid)
    return (float(getattr(lm, "rectum_axis_x_mm", 0.0)), float(y), 0.0)
