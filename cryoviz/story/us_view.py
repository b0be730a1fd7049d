"""One ultrasound plane of one label grid: its geometry, sampling maps and per-frame composition.

See :mod:`cryoviz.story.ultrasound` for the planes and the entry points. The static picture comes from
:mod:`cryoviz.story.us_echo`, the static overlays (depth scale, template dots) and the patient labels from
:mod:`cryoviz.story.us_overlay`. Per frame: temperatures are read along the scanlines, the first sample at
or below 0 °C on each scanline places the ice front (a bright line, sub-sample accurate) with the acoustic
shadow behind it; needles are added as bright lines (only their inserted part).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from cryoviz.story.us_echo import (
    _DYN_DR_MM,
    _DYNAMIC_RANGE_DB,
    _ELEVATION_MM,
    _FRONT_DB,
    _FRONT_SIGMA_MM,
    _NEEDLE_DB,
    _NEEDLE_RADIUS_MM,
    _SHADOW_DB,
    _SHADOW_RAMP_MM,
    _bad,
    _trilinear_maps,
    build_static,
)
from cryoviz.story.us_overlay import draw_labels, label_anchors, static_overlay

__all__ = ["UltrasoundView"]


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
        build_static(self, np.asarray(grid.labels))
        self._build_dynamic()
        self._over_idx, self._over_val = static_overlay(self)
        self._anchors = label_anchors(self, np.asarray(grid.labels))
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
                show_lethal: bool = False, gain_db: float = 0.0, words: dict | None = None) -> np.ndarray:
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
        words : dict, optional
            Labels in the patient's language (``prostate``, ``rectum``, ``ice_edge``); None: no labels.

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
        img = img.reshape(h, w)
        if words:
            draw_labels(img, self, words, self._front_point(temp_lines_c))
        return img

    def _front_point(self, temp_lines_c: np.ndarray | None) -> tuple[int, int] | None:
        """(row, col) of the ice front on the scanline nearest the middle of the fan that meets ice."""
        if temp_lines_c is None:
            return None
        rf = self.front_depth_mm(temp_lines_c)
        ok = np.flatnonzero(np.isfinite(rf) & (rf > self.r0_mm + 1.0) & (rf < self.r_max_mm - 1.0))
        if not len(ok):
            return None
        k = ok[np.argmin(np.abs(self._dyn_thetas[ok]))]
        rr, cc = self.scanline_px(math.degrees(self._dyn_thetas[k]), float(rf[k]) - self.r0_mm)
        return round(float(rr)), round(float(cc))

    def image(self, temp_c: np.ndarray | None = None, probes_mm=None, inserted_mm=None,
              show_lethal: bool = False, gain_db: float = 0.0, words: dict | None = None) -> np.ndarray:
        """The image for a temperature field on the view's grid (°C, shape of the labels) or None."""
        if temp_c is not None:
            temp_c = np.asarray(temp_c)
            if temp_c.shape != self._shape:
                raise _bad("temp_c", "temperature field does not match the label grid",
                           f"shape {self._shape}", f"shape {temp_c.shape}")
        lines = None if temp_c is None else self.sample_temp_c(temp_c)
        return self.compose(lines, probes_mm, inserted_mm, show_lethal, gain_db, words)

    def image_at(self, result, t_s: float, probes_mm=None, inserted_mm=None, show_lethal: bool = False,
                 gain_db: float = 0.0, words: dict | None = None) -> np.ndarray:
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
        return self.compose(lines, probes_mm, inserted_mm, show_lethal, gain_db, words)
