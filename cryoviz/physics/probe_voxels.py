"""Thin probes on a voxel grid: a sub-voxel line source whose strength does not depend on the grid.

A 17G needle (radius 0.75 mm, effective radius 0.5 mm) is thinner than a 1–2 mm voxel, and its axis falls
anywhere inside a voxel. Holding the nearest voxel column at the probe temperature (the earlier coupling)
made the iceball depend on both: a column behaves like a cylinder of radius ``0.21 dx`` (Peaceman, SPE J.
1978), and on fine grids the set of voxel centres within the probe radius jumps with the axis position
(moving a gel needle 0.2 mm off a voxel centre cut its −40 °C volume by 21 % at 0.5 mm).

Here a probe couples to the voxel columns around its **true axis** through a conductance toward the probe
temperature, weighted by each column centre's distance ``d`` from the axis::

    w(d) = 1 for d <= r + dx/4, falling linearly to 0 at d = r + 5 dx/4      (r = effective radius)
    extra conductance of a column voxel = G * w(d) * k / dx**2

No column is simply held at the probe temperature: a held column would switch on and off as the axis
moves, which is the jump this coupling removes. The one free number ``G`` is fitted per probe so that, in
the steady two-dimensional field around the axis, the coupled columns draw exactly the heat a cylinder of
radius ``r`` draws (``2 pi k`` per unit length per unit of ``ln(r_far / r)``, the far field imposed as the
analytic cylinder solution on a circle about the axis). Far from the probe (the −40 °C and 0 °C isotherms
lie 5–15 mm out) the field is then that of the calibrated cylinder whatever the grid and wherever the axis
lies; only the first voxel or so around the axis carries the discretisation. The fitted ``G`` stays between
about 1.3 and 2.3 for every radius and offset tried, so the links hardly tighten the solver's stability
limit. How ``r`` was chosen is written at :data:`cryoviz.model.probes.PROBE_CATALOGUE`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

__all__ = ["ProbeVoxels", "coupling_strength", "voxelize_probe"]

#: Link weights: full out to ``r + FULL_DX * dx`` from the axis, zero from ``r + ZERO_DX * dx``.
FULL_DX, ZERO_DX = 0.25, 1.25
#: Half-width of the 2-D calibration patch and radius of its far-field circle, in voxels.
_PATCH, _FAR = 9, 7.0


@dataclass(frozen=True)
class ProbeVoxels:
    """Voxels of one probe's active segment.

    Attributes
    ----------
    core : tuple of ndarray
        (i, j, k) index arrays of voxels held at the probe temperature (none with the current coupling; the
        solver supports them).
    link : tuple of ndarray
        (i, j, k) of the voxels coupled to the probe temperature.
    link_extra : ndarray of float
        Extra conductance factor of each link voxel (times ``k / dx**2``).
    """

    core: tuple[np.ndarray, np.ndarray, np.ndarray]
    link: tuple[np.ndarray, np.ndarray, np.ndarray]
    link_extra: np.ndarray


def _nearest(u: float, n: int) -> int:
    """Nearest index to the fractional position ``u``; exact ties go toward the grid centre (so a mirrored
    probe on a mirrored grid lands on the mirrored voxel)."""
    lo = math.floor(u)
    frac = u - lo
    if abs(frac - 0.5) < 1e-6:
        return lo if lo >= (n - 1) / 2.0 else lo + 1
    return math.floor(u + 0.5)


def _patch(fx: float, fy: float, rel_r: float):
    """Column offsets, distances (in voxels) from an axis at (fx, fy), core mask and link weights."""
    n = _PATCH
    ii, jj = np.meshgrid(np.arange(-n, n + 1), np.arange(-n, n + 1), indexing="ij")
    d = np.hypot(ii - fx, jj - fy)
    core = np.zeros(d.shape, bool)  # every column is linked (a held column would jump in and out)
    w = np.where(core, 0.0, np.clip((rel_r + ZERO_DX - d) / (ZERO_DX - FULL_DX), 0.0, 1.0))
    return ii, jj, d, core, w


def _drawn_heat(g: float, d, core, w, rel_r: float) -> float:
    """Heat drawn per unit length (units of k) by the coupled columns in the steady 2-D field whose far
    field is the cylinder ``ln(d / rel_r)``; the cylinder itself draws ``2 pi``."""
    import scipy.sparse as sps
    from scipy.sparse.linalg import spsolve

    shape = d.shape
    far = d > _FAR
    fixed = far | core
    t_fixed = np.where(core, 0.0, np.log(np.maximum(d, 1e-9) / rel_r))
    idx = np.arange(d.size).reshape(shape)
    e = g * w
    diag = e.astype(float).copy()
    rhs = np.zeros(shape)
    rows, cols = [], []
    for ax in (0, 1):
        for step in (1, -1):
            nb = np.roll(idx, -step, axis=ax)
            valid = np.ones(shape, bool)
            sl = [slice(None)] * 2
            sl[ax] = -1 if step == 1 else 0
            valid[tuple(sl)] = False
            m = valid & ~fixed
            diag[m] += 1.0
            nbf = fixed.reshape(-1)[nb[m]]
            rows.append(idx[m][~nbf])
            cols.append(nb[m][~nbf])
            np.add.at(rhs.reshape(-1), idx[m][nbf], t_fixed.reshape(-1)[nb[m][nbf]])
    free = np.flatnonzero(~fixed.reshape(-1))
    pos = -np.ones(d.size, np.int64)
    pos[free] = np.arange(free.size)
    r_all, c_all = np.concatenate(rows), np.concatenate(cols)
    a = sps.csr_matrix((np.concatenate([-np.ones(r_all.size), diag.reshape(-1)[free]]),
                        (np.concatenate([pos[r_all], np.arange(free.size)]),
                         np.concatenate([pos[c_all], np.arange(free.size)]))), shape=(free.size,) * 2)
    t = t_fixed.reshape(-1).copy()
    t[free] = spsolve(a.tocsc(), rhs.reshape(-1)[free])
    t = t.reshape(shape)
    drawn = float((e * t).sum())
    for ax in (0, 1):  # heat into held columns from their free neighbours
        for step in (1, -1):
            nb_t, nb_core = np.roll(t, step, axis=ax), np.roll(core, step, axis=ax)
            drawn += float(nb_t[core & ~nb_core].sum())
    return drawn


@functools.lru_cache(maxsize=4096)
def coupling_strength(fx: float, fy: float, rel_r: float) -> float:
    """The fitted ``G`` for an axis at sub-voxel offset (fx, fy) and radius ``rel_r`` (both in voxels).

    Offsets are folded by the patch's symmetry (mirror images share one value, so a mirror-symmetric
    scene stays exactly symmetric).
    """
    from scipy.optimize import brentq

    fx, fy = sorted((abs(fx), abs(fy)), reverse=True)
    _ii, _jj, d, core, w = _patch(fx, fy, rel_r)
    if not w.any():
        return 0.0
    target = 2.0 * math.pi
    f = lambda lg: _drawn_heat(math.exp(lg), d, core, w, rel_r) - target  # noqa: E731
    lo, hi = -8.0, 10.0
    if f(lo) >= 0.0:  # the held core alone already draws enough (a probe many voxels wide)
        return 0.0
    if f(hi) <= 0.0:
        raise ValueError(f"probe radius {rel_r:.3f} voxels cannot be coupled (offset {fx:.3f}, {fy:.3f})")
    return math.exp(brentq(f, lo, hi, xtol=1e-6))


def voxelize_probe(tip_mm, active_length_mm: float, origin_mm, spacing_mm: float, shape,
                   r_eff_mm: float) -> ProbeVoxels:
    """Voxels of a probe whose active segment runs from ``tip_mm`` back along −z over ``active_length_mm``.

    Parameters
    ----------
    tip_mm : sequence of 3 float
        Tip position, mm.
    active_length_mm : float
        Length of the freezing segment, mm.
    origin_mm : sequence of 3 float
        Centre of voxel (0, 0, 0), mm.
    spacing_mm : float
        Voxel size, mm.
    shape : tuple of 3 int
        Grid shape.
    r_eff_mm : float
        Effective (calibrated) probe radius, mm.

    Returns
    -------
    ProbeVoxels
        Empty index arrays when the segment lies outside the grid.
    """
    dx = float(spacing_mm)
    nx, ny, nz = (int(n) for n in shape)
    ox, oy, oz = (float(v) for v in origin_mm)
    x, y, z_tip = (float(v) for v in tip_mm)
    z_lo = z_tip - active_length_mm
    k0 = math.ceil((z_lo - oz) / dx - 1e-9)
    k1 = math.floor((z_tip - oz) / dx + 1e-9)
    if k1 < k0:  # segment shorter than a voxel: the voxel nearest its middle
        k0 = k1 = _nearest((0.5 * (z_lo + z_tip) - oz) / dx, nz)
    ks = np.arange(max(k0, 0), min(k1, nz - 1) + 1)
    empty = (np.zeros(0, np.int64),) * 3
    if ks.size == 0:
        return ProbeVoxels(empty, empty, np.zeros(0))
    ux, uy = (x - ox) / dx, (y - oy) / dx
    ci, cj = _nearest(ux, nx), _nearest(uy, ny)
    fx, fy = ux - ci, uy - cj
    rel_r = r_eff_mm / dx
    ii, jj, _d, core, w = _patch(fx, fy, rel_r)
    g = coupling_strength(round(fx, 6), round(fy, 6), round(rel_r, 6))
    ii, jj = ii + ci, jj + cj
    inside = (ii >= 0) & (ii < nx) & (jj >= 0) & (jj < ny)
    core_cols = [(int(i), int(j)) for i, j in zip(ii[core & inside], jj[core & inside], strict=True)]
    lm = (w > 0) & inside
    link_cols = [(int(i), int(j)) for i, j in zip(ii[lm], jj[lm], strict=True)]
    extra = np.repeat(g * w[lm], ks.size)
    return ProbeVoxels(_columns(core_cols, ks), _columns(link_cols, ks), extra)


def _columns(cols, ks) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not cols:
        return (np.zeros(0, np.int64),) * 3
    ii = np.repeat(np.array([c[0] for c in cols], np.int64), ks.size)
    jj = np.repeat(np.array([c[1] for c in cols], np.int64), ks.size)
    kk = np.tile(ks.astype(np.int64), len(cols))
    return ii, jj, kk
