"""The echo model of the ultrasound picture: how bright each tissue is, how sound fades with depth, and the
seeded speckle (the static part of :class:`cryoviz.story.us_view.UltrasoundView`).

Echo levels are dB below white (0 dB = the brightest grey), per voxel label of ``anatomy.LABELS``. Fluid
(urine, the probe's water balloon, hydrodissection saline) is anechoic with soft edges and the brighter
tissue behind it that sound which crossed fluid shows ("posterior enhancement": fluid barely attenuates,
time-gain compensation assumes tissue). Numpy and scipy only; same inputs give the same array.
"""

from __future__ import annotations

import hashlib
import math
import weakref

import numpy as np
from scipy import ndimage

from cryoviz.core.errors import InputError

__all__ = ["ECHO_DB", "LESION_LABEL", "PLANES", "build_static", "default_transducer_mm"]

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
    13: -36.0,  # a lesion that shows on ultrasound: a darker (hypoechoic) area in the gland (issue #17)
}
#: Label the picture gives a visible lesion's voxels (not a code of ``anatomy.LABELS``: picture only).
LESION_LABEL = 13
#: One-way attenuation at the probe frequency (about 7 MHz), dB per cm, per label.
_ATTEN_DB_PER_CM = {0: 4.0, 1: 3.8, 2: 3.0, 3: 4.0, 4: 4.0, 5: 0.05, 6: 4.0, 7: 0.05, 8: 3.0, 9: 4.0,
                    10: 300.0, 11: 0.05, 12: 1.0, 13: 3.8}
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
#: Hydrodissection saline (label 11) is a pocket of fluid, not a box: its voxel outline is blurred over this
#: distance (mm, across and along the beam) so its edges are soft and its corners round, and it is drawn as
#: near-black fluid with faint specks (a few particles float in it).
_FLUID_EDGE_MM = (6.0, 2.5)
_FLUID_DB = -47.0
_SALINE = 11


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


def build_static(view, labels: np.ndarray) -> None:
    """Compose the static picture of ``view`` (echo levels, attenuation against gain, speckle) on a polar
    grid and scan-convert it to the sector pixels: sets ``view._base_db`` and ``view._speckle_px``."""
    th = view.half_angle_rad
    arc_px = 2.0 * th * view.r_max_mm / view.mm_per_px
    n_lines = int(np.clip(math.ceil(arc_px), 64, 2048))
    dr = min(view.mm_per_px / 2.0, 0.2)
    n_samp = math.ceil(view.depth_mm / dr)
    thetas = np.linspace(-th, th, n_lines)
    radii = view.r0_mm + (np.arange(n_samp) + 0.5) * dr
    pts = view._polar_points(thetas, radii)
    flat = labels.reshape(-1)
    lab = flat[_nearest_index(view._shape, view._origin, view._spacing, pts)].reshape(n_lines, n_samp)
    lab = np.minimum(lab, _N_LABELS - 1)
    lut_db = np.full(_N_LABELS, ECHO_DB[0], dtype=np.float32)
    lut_att = np.full(_N_LABELS, _ATTEN_DB_PER_CM[0], dtype=np.float32)
    for k, v in ECHO_DB.items():
        lut_db[k] = v
    for k, v in _ATTEN_DB_PER_CM.items():
        lut_att[k] = v
    # smooth tissue boundaries: trilinear read of the per-voxel echo level
    level_vol = lut_db[np.minimum(flat, _N_LABELS - 1)]
    idx, wts = _trilinear_maps(view._shape, view._origin, view._spacing, pts)
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
    fluid = (flat == _SALINE).astype(np.float32)
    if fluid.any():
        f = (fluid[idx] * wts).sum(axis=1).reshape(n_lines, n_samp)
        per_line_mm = 0.5 * view.r_max_mm * (2 * th / max(n_lines - 1, 1))
        f = ndimage.gaussian_filter(f, (_FLUID_EDGE_MM[0] / per_line_mm, _FLUID_EDGE_MM[1] / dr))
        f = np.clip((f - 0.1) / 0.4, 0.0, 1.0)
        f = f * f * (3.0 - 2.0 * f)  # smoothstep: a soft rim, a dark inside
        level = level * (1.0 - f) + _FLUID_DB * f
    # attenuation (round trip, up to the previous sample) against time-gain compensation
    att = 2.0 * np.cumsum(lut_att[lab] * (dr / 10.0), axis=1)
    att = np.concatenate([np.zeros((n_lines, 1), np.float32), att[:, :-1]], axis=1)
    tgc = _TGC_DB_PER_CM * (radii - view.r0_mm) / 10.0
    # seeded speckle: a smoothed complex Gaussian field, its magnitude is Rayleigh distributed
    rng = np.random.default_rng(view.seed)
    field = rng.standard_normal((2, n_lines, n_samp)).astype(np.float32)
    lateral_mm = 0.28   # speckle grain across the beam at mid depth (grows with depth, as in a scanner)
    axial_mm = 0.14
    sig_lines = lateral_mm / (0.5 * view.r_max_mm * (2 * th / max(n_lines - 1, 1)))
    sig = (max(sig_lines, 0.5), max(axial_mm / dr, 0.5))
    re = ndimage.gaussian_filter(field[0], sig, mode="wrap")
    im = ndimage.gaussian_filter(field[1], sig, mode="wrap")
    amp = np.hypot(re, im)
    amp /= np.sqrt(np.mean(amp**2))
    speckle_db = 20.0 * np.log10(np.maximum(amp, 1e-3)) + 2.5
    polar_db = (level + speckle_db - att + tgc[None, :]).astype(np.float32)
    # scan conversion of the static picture to the sector pixels (bilinear)
    f_line = (view._th_px + th) / (2 * th) * (n_lines - 1)
    f_samp = (view._r_px - view.r0_mm) / dr - 0.5
    view._base_db = ndimage.map_coordinates(polar_db, [f_line, f_samp], order=1, mode="nearest")
    view._base_db = view._base_db.astype(np.float32)
    view._speckle_px = ndimage.map_coordinates(speckle_db, [f_line, f_samp], order=1,
                                               mode="nearest").astype(np.float32)
