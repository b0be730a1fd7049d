"""Thin probes on a voxel grid, with a coupling calibrated so that the iceball does not depend on the grid.

A 17G needle (radius 0.75 mm) is thinner than a 1–2 mm voxel. The probe temperature is imposed on the column
of voxels its active segment passes through. A single line of fixed voxels in a 7-point finite-difference
grid behaves, at distances of a few voxels, like a cylinder of radius ``r_eq = dx * exp(-pi / 2)``
(≈ 0.21 dx; Peaceman, SPE J. 1978, the "well index" of reservoir simulation). That would make the iceball
grow with the voxel size. We therefore strengthen (or weaken) the four radial links between the probe column
and its neighbours by a factor ``beta`` so that the column behaves like a cylinder of the chosen effective
radius ``r_eff``::

    beta = pi / (2 * ln(dx / r_eff))          (dx > 1.1 r_eff)

The neighbours get an extra conductance ``(beta - 1) * k / dx**2`` toward the probe temperature. On grids
finer than ``1.1 r_eff`` all voxels whose centre lies within ``r_eff`` of the axis are fixed instead
(``beta = 1``). How ``r_eff`` was chosen is written at
:data:`cryoviz.physics.thermal.PROBE_EFFECTIVE_RADIUS_MM`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["ProbeVoxels", "link_factor", "voxelize_probe"]


def link_factor(spacing_mm: float, r_eff_mm: float) -> float:
    """Radial link multiplier ``beta`` for a single probe column (1.0 on fine grids)."""
    if spacing_mm <= 1.1 * r_eff_mm:
        return 1.0
    return math.pi / (2.0 * math.log(spacing_mm / r_eff_mm))


@dataclass(frozen=True)
class ProbeVoxels:
    """Voxels of one probe's active segment.

    Attributes
    ----------
    core : tuple of ndarray
        (i, j, k) index arrays of the voxels held at the probe temperature.
    link : tuple of ndarray
        (i, j, k) of the neighbours that get an extra conductance toward the probe.
    link_extra : float
        The extra conductance factor ``beta - 1`` (may be negative on very coarse grids).
    """

    core: tuple[np.ndarray, np.ndarray, np.ndarray]
    link: tuple[np.ndarray, np.ndarray, np.ndarray]
    link_extra: float


def _nearest(u: float, n: int) -> int:
    """Nearest index to the fractional position ``u``; exact ties go toward the grid centre (so a mirrored
    probe on a mirrored grid lands on the mirrored voxel)."""
    lo = math.floor(u)
    frac = u - lo
    if abs(frac - 0.5) < 1e-6:
        return lo if lo >= (n - 1) / 2.0 else lo + 1
    return math.floor(u + 0.5)


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
        return ProbeVoxels(empty, empty, 0.0)
    beta = link_factor(dx, r_eff_mm)
    ci, cj = _nearest((x - ox) / dx, nx), _nearest((y - oy) / dx, ny)
    if beta == 1.0:
        reach = math.ceil(r_eff_mm / dx) + 1
        cols = [(i, j) for i in range(ci - reach, ci + reach + 1) for j in range(cj - reach, cj + reach + 1)
                if math.hypot(ox + i * dx - x, oy + j * dx - y) <= r_eff_mm or (i, j) == (ci, cj)]
    else:
        cols = [(ci, cj)]
    cols = [(i, j) for i, j in cols if 0 <= i < nx and 0 <= j < ny]
    if not cols:
        return ProbeVoxels(empty, empty, 0.0)
    core = _columns(cols, ks)
    if beta == 1.0:
        return ProbeVoxels(core, empty, 0.0)
    ring = [(ci + di, cj + dj) for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1))
            if 0 <= ci + di < nx and 0 <= cj + dj < ny]
    return ProbeVoxels(core, _columns(ring, ks), beta - 1.0)


def _columns(cols, ks) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ii = np.repeat(np.array([c[0] for c in cols], np.int64), ks.size)
    jj = np.repeat(np.array([c[1] for c in cols], np.int64), ks.size)
    kk = np.tile(ks.astype(np.int64), len(cols))
    return ii, jj, kk
