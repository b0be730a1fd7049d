"""Numba kernels of the bioheat solver (float32, fused, parallel over x-planes).

State per voxel: volumetric enthalpy ``H`` (J/m³, ``H = 0`` at the solidus) and, derived from it, the
temperature ``T`` (°C) and conductivity ``k`` (W/m·K). Arrays carry a one-voxel ghost shell: the kernels
update interior voxels only and read the shell as boundary values (37 °C far field, or copies of the
interior for an insulated side).

``mat`` packs per voxel the material row (low 5 bits) and two flags: ``FIXED`` (the temperature is
imposed) and ``LINK`` (the voxel touches a probe voxel through a calibrated conductance). The stencil
kernel ignores the flags (a branch-free loop vectorises); the sparse lists of fixed and linked voxels
are corrected after each stage by :func:`sparse_fix`. The flags only mark planes as busy.

Property rows (``PROPS_*`` columns) come from :func:`cryoviz.model.tissue.material_arrays` via
:func:`kernel_props`.
"""

from __future__ import annotations

import os

# Idle OpenMP threads sleep instead of spinning: on a shared 2-core machine spinning threads fight the other
# processes and a 0.7 s run became 7-20 s (measured); on a quiet machine the cost is a few ms per run.
# Must be set before numba starts its OpenMP pool (the first parallel call).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
from numba import njit, prange

__all__ = [
    "FIXED",
    "LINK",
    "MAT_MASK",
    "active_planes",
    "count_at_or_below",
    "enthalpy_from_temp",
    "kernel_props",
    "rkl_stage",
    "sparse_fix",
    "temp_from_enthalpy",
]

FIXED = np.uint8(64)
LINK = np.uint8(128)
MAT_MASK = np.uint8(31)

_ZERO = np.float32(0.0)
_ONE = np.float32(1.0)
_TWO = np.float32(2.0)

# kernel property columns
_TS, _TL, _ICF, _ICM, _ICU, _HL, _KF, _KU, _W, _TA, _ISPAN, _CF, _CM, _CU = range(14)


def kernel_props(rows: np.ndarray) -> np.ndarray:
    """Kernel property table (float32, 14 columns) from :func:`cryoviz.model.tissue.material_arrays` rows."""
    ts, tl, cf, cm, cu, hl, kf, ku, w, ta = (rows[:, c] for c in range(10))
    out = np.stack([ts, tl, 1 / cf, 1 / cm, 1 / cu, hl, kf, ku, w, ta, 1 / (tl - ts), cf, cm, cu], axis=1)
    return np.ascontiguousarray(out, dtype=np.float32)


@njit(inline="always", fastmath=True)
def _t_of_h(h, p, r):
    if h <= _ZERO:
        return p[r, _TS] + h * p[r, _ICF]
    if h < p[r, _HL]:
        return p[r, _TS] + h * p[r, _ICM]
    return p[r, _TL] + (h - p[r, _HL]) * p[r, _ICU]


@njit(inline="always", fastmath=True)
def _k_of_t(t, p, r):
    f = (t - p[r, _TS]) * p[r, _ISPAN]
    f = min(max(f, _ZERO), _ONE)
    return p[r, _KF] + (p[r, _KU] - p[r, _KF]) * f


@njit(inline="always", fastmath=True)
def _h_of_t(t, p, r):
    if t <= p[r, _TS]:
        return (t - p[r, _TS]) * p[r, _CF]
    if t < p[r, _TL]:
        return (t - p[r, _TS]) * p[r, _CM]
    return p[r, _HL] + (t - p[r, _TL]) * p[r, _CU]


@njit(parallel=True, fastmath=True, cache=True)
def temp_from_enthalpy(h, mat, aux_t, props, t_out, k_out):
    """Fill ``t_out`` and ``k_out`` (whole arrays incl. shell) from enthalpy; fixed voxels take ``aux_t``."""
    nx, ny, nz = h.shape
    for i in prange(nx):
        for j in range(ny):
            for k in range(nz):
                m = mat[i, j, k]
                r = m & 31
                t = aux_t[i, j, k] if m & 64 else _t_of_h(h[i, j, k], props, r)
                t_out[i, j, k] = t
                k_out[i, j, k] = _k_of_t(t, props, r)


@njit(parallel=True, fastmath=True, cache=True)
def enthalpy_from_temp(t, mat, props, h_out):
    """Fill ``h_out`` with the enthalpy of temperature ``t`` (J/m³)."""
    nx, ny, nz = t.shape
    for i in prange(nx):
        for j in range(ny):
            for k in range(nz):
                h_out[i, j, k] = _h_of_t(t[i, j, k], props, mat[i, j, k] & 31)


def _make_stage(first):
    @njit(parallel=True, fastmath=True, cache=True)
    def stage(y_p, y_p2, y0, l0, t_in, k_in, mat, props, planes, mu, nu, c0, mut_tau, gam_tau,
              half_inv_dx2, y_out, t_out, k_out):
        _nx, ny, nz = t_in.shape
        for q in prange(planes.shape[0]):
            i = planes[q]
            for j in range(1, ny - 1):
                for k in range(1, nz - 1):
                    r = mat[i, j, k] & 31
                    t = t_in[i, j, k]
                    kc = k_in[i, j, k]
                    s = ((kc + k_in[i - 1, j, k]) * (t_in[i - 1, j, k] - t)
                         + (kc + k_in[i + 1, j, k]) * (t_in[i + 1, j, k] - t)
                         + (kc + k_in[i, j - 1, k]) * (t_in[i, j - 1, k] - t)
                         + (kc + k_in[i, j + 1, k]) * (t_in[i, j + 1, k] - t)
                         + (kc + k_in[i, j, k - 1]) * (t_in[i, j, k - 1] - t)
                         + (kc + k_in[i, j, k + 1]) * (t_in[i, j, k + 1] - t))
                    unfrozen = min(max((t - props[r, _TS]) * props[r, _ISPAN], _ZERO), _ONE)
                    lap = half_inv_dx2 * s + props[r, _W] * unfrozen * (props[r, _TA] - t)
                    if first:
                        l0[i, j, k] = lap
                        y = y0[i, j, k] + mut_tau * lap
                    else:
                        y = (mu * y_p[i, j, k] + nu * y_p2[i, j, k] + c0 * y0[i, j, k] + mut_tau * lap
                             + gam_tau * l0[i, j, k])
                    y_out[i, j, k] = y
                    t2 = _t_of_h(y, props, r)
                    t_out[i, j, k] = t2
                    k_out[i, j, k] = _k_of_t(t2, props, r)
    return stage


_stage_first = _make_stage(True)
_stage_next = _make_stage(False)


def _make_stage2(first):
    """Two-class variant: every material is one of two phase-change classes (tissue-like, water-like;
    ``CLASS_B`` bit of ``mat``) and the perfusion comes from a per-voxel array. No table gathers in the
    loop, so it vectorises: about 3x faster than :func:`_make_stage` on these CPUs."""
    @njit(parallel=True, fastmath=True, cache=True)
    def stage(y_p, y_p2, y0, l0, t_in, k_in, mat, cls, perf, balance_c, planes, mu, nu, c0, mut_tau,
              gam_tau, half_inv_dx2, y_out, t_out, k_out):
        _nx, ny, nz = t_in.shape
        ts_a, tl_a, icf_a, icm_a, icu_a, hl_a, kf_a, ku_a = (cls[0, 0], cls[0, 1], cls[0, 2], cls[0, 3],
                                                             cls[0, 4], cls[0, 5], cls[0, 6], cls[0, 7])
        ts_b, tl_b, icf_b, icm_b, icu_b, hl_b, kf_b, ku_b = (cls[1, 0], cls[1, 1], cls[1, 2], cls[1, 3],
                                                             cls[1, 4], cls[1, 5], cls[1, 6], cls[1, 7])
        isp_a = cls[0, 8]
        isp_b = cls[1, 8]
        for q in prange(planes.shape[0]):
            i = planes[q]
            for j in range(1, ny - 1):
                for k in range(1, nz - 1):
                    b = (mat[i, j, k] & 32) != 0
                    ts = ts_b if b else ts_a
                    tl = tl_b if b else tl_a
                    isp = isp_b if b else isp_a
                    t = t_in[i, j, k]
                    kc = k_in[i, j, k]
                    s = ((kc + k_in[i - 1, j, k]) * (t_in[i - 1, j, k] - t)
                         + (kc + k_in[i + 1, j, k]) * (t_in[i + 1, j, k] - t)
                         + (kc + k_in[i, j - 1, k]) * (t_in[i, j - 1, k] - t)
                         + (kc + k_in[i, j + 1, k]) * (t_in[i, j + 1, k] - t)
                         + (kc + k_in[i, j, k - 1]) * (t_in[i, j, k - 1] - t)
                         + (kc + k_in[i, j, k + 1]) * (t_in[i, j, k + 1] - t))
                    unfrozen = min(max((t - ts) * isp, _ZERO), _ONE)
                    lap = half_inv_dx2 * s + perf[i, j, k] * unfrozen * (balance_c - t)
                    if first:
                        l0[i, j, k] = lap
                        y = y0[i, j, k] + mut_tau * lap
                    else:
                        y = (mu * y_p[i, j, k] + nu * y_p2[i, j, k] + c0 * y0[i, j, k] + mut_tau * lap
                             + gam_tau * l0[i, j, k])
                    y_out[i, j, k] = y
                    hl = hl_b if b else hl_a
                    t_frozen = ts + y * (icf_b if b else icf_a)
                    t_mushy = ts + y * (icm_b if b else icm_a)
                    t_liquid = tl + (y - hl) * (icu_b if b else icu_a)
                    t2 = t_frozen if y <= _ZERO else (t_mushy if y < hl else t_liquid)
                    t_out[i, j, k] = t2
                    f = min(max((t2 - ts) * isp, _ZERO), _ONE)
                    kf = kf_b if b else kf_a
                    k_out[i, j, k] = kf + ((ku_b if b else ku_a) - kf) * f
    return stage


_stage2_first = _make_stage2(True)
_stage2_next = _make_stage2(False)

#: ``mat`` bit marking a voxel of the second phase class.
CLASS_B = np.uint8(32)


def two_class_tables(props: np.ndarray, labels_present) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Split the kernel props of the labels present into at most two phase classes.

    Returns ``(class_rows (2, 9) float32, class_of_label (n,) uint8 0/1, balance_c)`` or ``None`` when more
    than two distinct phase models (or balance temperatures) are in use (then the general kernel runs).
    """
    cols = [_TS, _TL, _ICF, _ICM, _ICU, _HL, _KF, _KU, _ISPAN]
    classes: list[tuple] = []
    of_label = np.zeros(props.shape[0], np.uint8)
    balances = {float(props[r, _TA]) for r in labels_present if props[r, _W] > 0}
    if len(balances) > 1:
        return None
    for r in labels_present:
        key = tuple(float(props[r, c]) for c in cols)
        if key not in classes:
            classes.append(key)
        of_label[r] = classes.index(key)
    if len(classes) > 2:
        return None
    while len(classes) < 2:
        classes.append(classes[0])
    table = np.array(classes, np.float32)
    return table, of_label, (balances.pop() if balances else 37.0)


def rkl_stage2(first, y_p, y_p2, y0, l0, t_in, k_in, mat, cls, perf, balance_c, planes, mu, nu, c0,
               mut_tau, gam_tau, half_inv_dx2, y_out, t_out, k_out):
    """:func:`rkl_stage` with the two-class kernel (see :func:`two_class_tables`)."""
    fn = _stage2_first if first else _stage2_next
    fn(y_p, y_p2, y0, l0, t_in, k_in, mat, cls, perf, balance_c, planes, mu, nu, c0, mut_tau, gam_tau,
       half_inv_dx2, y_out, t_out, k_out)


def rkl_stage(first, y_p, y_p2, y0, l0, t_in, k_in, mat, props, planes, mu, nu, c0, mut_tau, gam_tau,
              half_inv_dx2, y_out, t_out, k_out):
    """One stage of the RKL2 super time step on the x-planes listed in ``planes``.

    ``first`` : stage 1, ``y_out = y0 + mut_tau * L(y0)`` and ``l0`` receives ``L(y0)``.
    Otherwise ``y_out = mu*y_p + nu*y_p2 + c0*y0 + mut_tau*L(y_p) + gam_tau*l0``.
    ``L`` is the Pennes right-hand side (conduction + perfusion/metabolism on the unfrozen fraction),
    evaluated from ``t_in``/``k_in`` (the temperature and conductivity of ``y_p``). ``t_out``/``k_out``
    receive the temperature and conductivity of ``y_out``. Fixed and probe-linked voxels are computed as
    ordinary ones here and corrected afterwards by :func:`sparse_fix` (branch-free loop: it vectorises).
    """
    fn = _stage_first if first else _stage_next
    fn(y_p, y_p2, y0, l0, t_in, k_in, mat, props, planes, mu, nu, c0, mut_tau, gam_tau, half_inv_dx2,
       y_out, t_out, k_out)


@njit(fastmath=True, cache=True)
def sparse_fix(first, fix_idx, fix_t, link_idx, link_g, link_t, y0, l0, t_in, k_in, mat, props,
               mut_tau, inv_dx2, y_out, t_out, k_out):
    """Correct a stage on the sparse voxel lists (flat indices into the padded arrays).

    Fixed voxels: ``y_out = y0``, temperature ``fix_t``. Probe-linked voxels: the extra conductance
    ``link_g * k`` toward the probe temperature ``link_t`` adds ``mut_tau * flux`` to ``y_out`` (and the
    flux to ``l0`` in stage 1); their temperature and conductivity are then recomputed.
    """
    yo = y_out.ravel()
    to = t_out.ravel()
    ko = k_out.ravel()
    yz = y0.ravel()
    ti = t_in.ravel()
    ki = k_in.ravel()
    lz = l0.ravel()
    mt = mat.ravel()
    for n in range(link_idx.shape[0]):
        a = link_idx[n]
        r = mt[a] & 31
        extra = link_g[n] * ki[a] * (link_t[n] - ti[a]) * inv_dx2
        if first:
            lz[a] += extra
        y = yo[a] + mut_tau * extra
        yo[a] = y
        t2 = _t_of_h(y, props, r)
        to[a] = t2
        ko[a] = _k_of_t(t2, props, r)
    for n in range(fix_idx.shape[0]):
        a = fix_idx[n]
        r = mt[a] & 31
        yo[a] = yz[a]
        to[a] = fix_t[n]
        ko[a] = _k_of_t(fix_t[n], props, r)


@njit(fastmath=True, cache=True)
def active_planes(t, mat, rest_c, tol, out_flags):
    """Flag x-planes whose interior is not at rest (|T - rest_c| > tol) or holds a fixed/linked voxel.

    A plane at rest with resting neighbours has a zero right-hand side, so it can be skipped.
    """
    nx, ny, nz = t.shape
    for i in range(1, nx - 1):
        busy = False
        for j in range(1, ny - 1):
            for k in range(1, nz - 1):
                m = mat[i, j, k]
                if (m & 192) or abs(t[i, j, k] - rest_c) > tol:
                    busy = True
                    break
            if busy:
                break
        out_flags[i] = 1 if busy else 0


@njit(cache=True)
def snapshot_f16(src_bits, dst_bits):
    """Copy a float32 field (viewed as uint32) into float16 storage (viewed as uint16), round to nearest even.

    Values below the float16 normal range (|T| < 6.1e-5 °C) become ±0 and values beyond it ±inf (the model
    stays within −200…+100 °C). Returns the number of voxels at or below 0 °C (for the largest iceball).
    One thread: 0.3 ms for 0.5 M voxels, 5x faster than numpy's own cast (and no thread hand-off).
    """
    x = src_bits.ravel()
    y = dst_bits.ravel()
    n = x.size
    cold = 0
    for i in range(n):
        b = x[i]
        sign = (b >> 16) & np.uint32(0x8000)
        e = np.int32((b >> 23) & np.uint32(0xFF)) - np.int32(112)
        m = b & np.uint32(0x7FFFFF)
        ec = np.uint32(min(max(e, 0), 31))
        h = sign | (ec << 10) | (m >> 13)
        rest = m & np.uint32(0x1FFF)
        h += np.uint32((rest > 0x1000) | ((rest == 0x1000) & ((h & 1) == 1)))
        h = sign if e <= 0 else (sign | np.uint32(0x7C00) if e >= 31 else h)
        y[i] = np.uint16(h)
        cold += np.int64(sign != 0 or (b & np.uint32(0x7FFFFFFF)) == 0)
    return cold


@njit(cache=True)
def count_at_or_below(field, thresholds, out):
    """``out[n]`` = number of voxels of ``field`` (float32) at or below ``thresholds[n]`` °C, one pass.

    Used once per snapshot for the isotherm volumes over time (about 0.5 ms for 0.5 M voxels, 3 levels).
    """
    x = field.ravel()
    nt = thresholds.size
    for n in range(nt):
        out[n] = 0
    for i in range(x.size):
        v = x[i]
        for n in range(nt):
            if v <= thresholds[n]:
                out[n] += 1
