"""Time stepping of the Pennes bioheat equation with phase change (enthalpy form) on a voxel grid.

Equation, per unit volume (SI units, T in °C)::

    dH/dt = div(k(T) grad T) + w (1 - f(T)) (37 - T)

with ``H(T)`` the piecewise-linear enthalpy of :mod:`cryoviz.model.tissue` (latent heat spread over the mushy
range), ``f`` the frozen fraction and ``w`` the perfusion (metabolic heat folded in, see
:mod:`cryoviz.model.tissue`). Faces use the arithmetic mean of the two voxel conductivities.

Time stepping: second-order Runge–Kutta–Legendre super time stepping (RKL2; Meyer, Balsara & Aslam,
MNRAS 2012/J. Comput. Phys. 2014). One super step of length ``tau`` takes ``s`` explicit stages and is
stable for ``tau <= dt_explicit * (s**2 + s - 2) / 4``: the cost grows like ``sqrt(tau)`` instead of
``tau``. ``tau`` itself is limited by accuracy (``max_step_s``), not by stability.

Probe voxels are Dirichlet voxels (see :class:`cryoviz.physics.thermal` for the probe coupling calibration);
x-planes that never left the resting temperature are skipped (``active planes``): a plane at rest whose
neighbours are at rest has an exactly zero right-hand side.
"""

from __future__ import annotations

import math
import os

import numba
import numpy as np

from cryoviz.physics import kernels as K

#: Grids smaller than this run on one thread (the hand-off between threads costs more than it saves).
PARALLEL_MIN_VOXELS = 150_000

_FAST_LINKS = True

__all__ = ["BioheatSolver", "rkl2_coefficients", "stages_for"]


def rkl1_coefficients(s: int) -> list[tuple[float, float, float, float, float]]:
    """RKL1 (first order) stage coefficients in the same layout as :func:`rkl2_coefficients`."""
    w1 = 2.0 / (s * s + s)
    out = [(0.0, 0.0, 1.0, w1, 0.0)]
    for j in range(2, s + 1):
        mu = (2.0 * j - 1.0) / j
        nu = -(j - 1.0) / j
        out.append((mu, nu, 0.0, mu * w1, 0.0))
    return out


def stages_for(tau_s: float, dt_explicit_s: float, safety: float = 0.9, scheme: str = "rkl2") -> int:
    """Smallest stage count ``s >= 2`` that is stable for a super step ``tau_s``."""
    ratio = tau_s / (safety * dt_explicit_s)
    if scheme == "rkl1":
        s = 2
        while (s * s + s) / 2.0 < ratio:
            s += 1
        return s
    s = max(2, math.ceil(0.5 * (-1.0 + math.sqrt(9.0 + 16.0 * ratio))))
    while (s * s + s - 2) / 4.0 < ratio:
        s += 1
    return s


def rkl2_coefficients(s: int) -> list[tuple[float, float, float, float, float]]:
    """RKL2 stage coefficients ``(mu, nu, c0, mu_tilde, gamma_tilde)`` for stages 1..s.

    ``c0 = 1 - mu - nu`` multiplies the start value; ``mu_tilde`` and ``gamma_tilde`` are in units of the
    super step (multiply by ``tau``).
    """
    w1 = 4.0 / (s * s + s - 2.0)
    b = [1.0 / 3.0] * 3 + [(j * j + j - 2.0) / (2.0 * j * (j + 1.0)) for j in range(3, s + 1)]
    a = [1.0 - bj for bj in b]
    out = [(0.0, 0.0, 1.0, b[1] * w1, 0.0)]
    for j in range(2, s + 1):
        mu = (2.0 * j - 1.0) / j * b[j] / b[j - 1]
        nu = -(j - 1.0) / j * b[j] / b[j - 2]
        mut = mu * w1
        gam = -a[j - 1] * mut
        out.append((mu, nu, 1.0 - mu - nu, mut, gam))
    return out


class BioheatSolver:
    """Holds the state of one simulation and advances it.

    Parameters
    ----------
    labels : ndarray of uint8, shape (nx, ny, nz)
        Material row per voxel (anatomy label codes).
    spacing_mm : float
        Voxel size, mm.
    props_rows : ndarray
        :func:`cryoviz.model.tissue.material_arrays` rows.
    init_temp_c : float
        Initial (resting) temperature, °C.
    boundary_temp_c : float
        Temperature of the far field at the domain faces, °C.
    insulated_axes : tuple of int
        Axes whose two faces are insulated instead (used by the 1-D analytic check).
    max_step_s : float
        Longest super step (accuracy limit), s.
    max_link_factor : float
        Largest extra probe-link conductance factor that will be used (enters the stability limit).
    """

    def __init__(self, labels: np.ndarray, spacing_mm: float, props_rows: np.ndarray, *,
                 init_temp_c: float = 37.0, boundary_temp_c: float = 37.0,
                 insulated_axes: tuple[int, ...] = (), max_step_s: float = 5.0,
                 max_link_factor: float = 0.0, scheme: str = "rkl2", mirror_low_x: bool = False):
        self.shape = tuple(int(n) for n in labels.shape)
        self.dx_m = spacing_mm * 1e-3
        self.props = K.kernel_props(props_rows)
        self.rest_c = float(init_temp_c)
        self.insulated_axes = tuple(insulated_axes)
        self.mirror_low_x = bool(mirror_low_x)
        self.max_step_s = float(max_step_s)
        self.scheme = scheme
        nx, ny, nz = self.shape
        shp = (nx + 2, ny + 2, nz + 2)
        mat = np.pad(labels.astype(np.uint8), 1, mode="edge")
        present = [int(v) for v in np.unique(mat)]
        split = K.two_class_tables(self.props, present)
        if split is not None:  # fast kernel: two phase classes, perfusion per voxel
            self._cls, of_label, self._balance_c = split
            self._perf = self.props[mat, 8].astype(np.float32)
            mat |= (of_label[mat] * K.CLASS_B).astype(np.uint8)
        else:
            self._cls = None
        self.base_mat = mat.copy()
        self.mat = mat
        self.aux_t = np.zeros(shp, np.float32)
        self._fix_idx = np.zeros(0, np.int64)
        self._fix_t = np.zeros(0, np.float32)
        self._link_idx = np.zeros(0, np.int64)
        self._link_g = np.zeros(0, np.float32)
        self._link_t = np.zeros(0, np.float32)
        self._link_key = None
        self._fixed_changed = True
        self._refresh = True
        if not self.insulated_axes or len(self.insulated_axes) < 3:
            shell = np.ones(shp, bool)
            shell[1:-1, 1:-1, 1:-1] = False
            for ax in self.insulated_axes:  # insulated faces are not fixed
                sl = [slice(1, -1)] * 3
                for end in (0, -1):
                    sl2 = list(sl)
                    sl2[ax] = end
                    shell[tuple(sl2)] = False
            if self.mirror_low_x:  # the low-x face is a mirror plane through the first voxel layer
                shell[0, 1:-1, 1:-1] = False
            self.mat[shell] |= K.FIXED
            self.aux_t[shell] = boundary_temp_c
            self.base_mat[shell] |= K.FIXED
        t = np.full(shp, init_temp_c, np.float32)
        self.y = np.empty(shp, np.float32)
        K.enthalpy_from_temp(t, self.mat, self.props, self.y)
        self.t = np.empty(shp, np.float32)
        self.k = np.empty(shp, np.float32)
        K.temp_from_enthalpy(self.y, self.mat, self.aux_t, self.props, self.t, self.k)
        self._buf_y = [self.y.copy(), self.y.copy()]
        self._buf_t = [self.t.copy(), self.t.copy()]
        self._buf_k = [self.k.copy(), self.k.copy()]
        self.l0 = np.zeros(shp, np.float32)
        self.y0 = self.y.copy()
        self.min_t = self.t[1:-1, 1:-1, 1:-1].copy()
        self.active = np.zeros(nx + 2, np.uint8)
        self._flags = np.zeros(nx + 2, np.uint8)
        # stability: forward-Euler limit of the stiffest voxel (frozen, with a probe link)
        p = self.props
        kmax_over_c = float(np.max(np.maximum(p[:, 6] / p[:, 11], p[:, 7] / p[:, 13])))
        wmax_over_c = float(np.max(p[:, 8] / p[:, 12]))
        self.dt_explicit_s = 1.0 / ((6.0 + max_link_factor) * kmax_over_c / self.dx_m ** 2 + wmax_over_c)
        n_vox = nx * ny * nz
        env_threads = os.environ.get("CRYOVIZ_THREADS", "")
        self.threads = (int(env_threads) if env_threads.isdigit() and int(env_threads) > 0
                        else (1 if n_vox < PARALLEL_MIN_VOXELS else numba.config.NUMBA_NUM_THREADS))
        self.threads = min(self.threads, numba.config.NUMBA_NUM_THREADS)
        self.steps = 0
        self.stages = 0
        self.time_s = 0.0

    # --- boundary conditions -------------------------------------------------------------------------
    def flat(self, idx: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
        """Flat indices into the padded arrays of interior voxels ``idx`` (a tuple of index arrays)."""
        return np.ravel_multi_index(tuple(np.asarray(a) + 1 for a in idx), self.mat.shape).astype(np.int64)

    def set_fixed(self, flat: np.ndarray, temp_c: float | np.ndarray) -> None:
        """Impose temperatures on exactly the voxels ``flat`` (from :meth:`flat`).

        Voxels fixed before and not listed now become ordinary tissue at their last imposed temperature.
        """
        flat = np.asarray(flat, np.int64)
        temp = np.broadcast_to(np.asarray(temp_c, np.float32), flat.shape)
        m = self.mat.reshape(-1)
        if flat.shape == self._fix_idx.shape and np.array_equal(flat, self._fix_idx):
            gone = flat[:0]  # same voxels, new temperatures
        else:
            gone = np.setdiff1d(self._fix_idx, flat, assume_unique=False)
            self._fixed_changed = True
        if gone.size:
            m[gone] = self.base_mat.reshape(-1)[gone] | (m[gone] & K.LINK)
            rows = self.props[m[gone] & K.MAT_MASK]
            self.y.reshape(-1)[gone] = _h_of_t_np(self.aux_t.reshape(-1)[gone], rows)
        m[flat] |= K.FIXED
        self.aux_t.reshape(-1)[flat] = temp
        self.t.reshape(-1)[flat] = temp
        self.k.reshape(-1)[flat] = _k_of_t_np(temp, self.props[m[flat] & K.MAT_MASK])
        self._fix_idx = flat
        self._fix_t = np.ascontiguousarray(temp, dtype=np.float32)

    def set_links(self, flat: np.ndarray, extra: np.ndarray, temp_c: np.ndarray) -> None:
        """Probe links on exactly the voxels ``flat``: extra conductance ``extra * k / dx**2`` toward
        ``temp_c`` (arrays of the same length). Listed voxels that are fixed are skipped; a voxel listed
        twice gets the sum of the conductances toward their weighted mean temperature."""
        flat = np.asarray(flat, np.int64)
        extra = np.broadcast_to(np.asarray(extra, np.float64), flat.shape)
        temp = np.broadcast_to(np.asarray(temp_c, np.float64), flat.shape)
        same = (_FAST_LINKS and not self._fixed_changed and self._link_key is not None
                and flat.shape == self._link_key.shape and np.array_equal(flat, self._link_key)
                and np.array_equal(extra, self._link_src_g))
        if not same:
            m = self.mat.reshape(-1)
            m[self._link_idx] &= np.uint8(~K.LINK & 0xFF)
            keep = (m[flat] & K.FIXED) == 0
            uniq, inv = np.unique(flat[keep], return_inverse=True)
            g = extra[keep]
            g_sum = np.bincount(inv, weights=g, minlength=uniq.size)
            m[uniq] |= K.LINK
            self._link_key, self._link_src_g, self._link_keep = flat.copy(), extra.copy(), keep
            self._link_inv, self._link_graw = inv, g
            self._link_gsum = np.where(g_sum != 0, g_sum, 1.0)
            self._link_idx = uniq.astype(np.int64)
            self._link_g = g_sum.astype(np.float32)
            self._fixed_changed = False
        gt = np.bincount(self._link_inv, weights=self._link_graw * temp[self._link_keep],
                         minlength=self._link_idx.size)
        self._link_t = (gt / self._link_gsum).astype(np.float32)

    # --- stepping ------------------------------------------------------------------------------------
    def _refresh_fixed(self) -> None:
        K.temp_from_enthalpy(self.y, self.mat, self.aux_t, self.props, self.t, self.k)

    def _planes(self) -> np.ndarray:
        K.active_planes(self.t, self.mat, self.rest_c, 1e-4, self._flags)
        busy = self._flags.astype(bool)
        grown = busy.copy()
        grown[1:] |= busy[:-1]
        grown[:-1] |= busy[1:]
        self.active |= grown.astype(np.uint8)
        self.active[0] = self.active[-1] = 0
        return np.flatnonzero(self.active).astype(np.int64)

    def _copy_insulated(self, arrs) -> None:
        for a in arrs:
            if self.mirror_low_x:  # ghost layer = mirror image of the layer beyond the symmetry plane
                a[0] = a[2]
            for ax in self.insulated_axes:
                sl_g0, sl_i0, sl_g1, sl_i1 = ([slice(None)] * 3 for _ in range(4))
                sl_g0[ax], sl_i0[ax], sl_g1[ax], sl_i1[ax] = 0, 1, -1, -2
                a[tuple(sl_g0)] = a[tuple(sl_i0)]
                a[tuple(sl_g1)] = a[tuple(sl_i1)]

    def advance(self, duration_s: float) -> None:
        """Advance by ``duration_s`` in equal super steps no longer than ``max_step_s``."""
        if duration_s <= 0:
            return
        n = max(1, math.ceil(duration_s / self.max_step_s - 1e-9))
        tau = duration_s / n
        s = stages_for(tau, self.dt_explicit_s, scheme=self.scheme)
        coeffs = rkl1_coefficients(s) if self.scheme == "rkl1" else rkl2_coefficients(s)
        if self._refresh:
            self._refresh_fixed()
            self._refresh = False
        before = numba.get_num_threads()
        numba.set_num_threads(self.threads)
        try:
            for _ in range(n):
                self._super_step(tau, coeffs)
        finally:
            numba.set_num_threads(before)
        self.time_s += duration_s

    def _super_step(self, tau: float, coeffs) -> None:
        planes = self._planes()
        if planes.size == 0:
            self.steps += 1
            return
        inv = np.float32(0.5 / self.dx_m ** 2)
        fix_idx, fix_t = self._fix_idx, self._fix_t
        link_idx, link_g, link_t = self._link_idx, self._link_g, self._link_t
        self._copy_insulated((self.t, self.k))
        self.y0[...] = self.y
        y_p2, _t_p2, _k_p2 = self.y0, self.t, self.k
        y_p, t_p, k_p = self.y0, self.t, self.k
        free = [(self._buf_y[0], self._buf_t[0], self._buf_k[0]), (self._buf_y[1], self._buf_t[1],
                                                                    self._buf_k[1])]
        spare = (self.y, self.t, self.k)
        pool = [*free, spare]
        for j, (mu, nu, c0, mut, gam) in enumerate(coeffs, start=1):
            out = next(b for b in pool if b[0] is not y_p and b[0] is not y_p2 and b[0] is not self.y0)
            if self._cls is not None:
                K.rkl_stage2(j == 1, y_p, y_p2, self.y0, self.l0, t_p, k_p, self.mat, self._cls, self._perf,
                             np.float32(self._balance_c), planes, np.float32(mu), np.float32(nu),
                             np.float32(c0), np.float32(mut * tau), np.float32(gam * tau), inv, out[0],
                             out[1], out[2])
            else:
                K.rkl_stage(j == 1, y_p, y_p2, self.y0, self.l0, t_p, k_p, self.mat, self.props, planes,
                            np.float32(mu), np.float32(nu), np.float32(c0), np.float32(mut * tau),
                            np.float32(gam * tau), inv, out[0], out[1], out[2])
            K.sparse_fix(j == 1, fix_idx, fix_t, link_idx, link_g, link_t, self.y0, self.l0, t_p, k_p,
                         self.mat, self.props, np.float32(mut * tau), np.float32(2.0 * inv), out[0],
                         out[1], out[2])
            self._copy_insulated((out[1], out[2]))
            y_p2, _t_p2, _k_p2 = y_p, t_p, k_p
            y_p, t_p, k_p = out
        self.stages += len(coeffs)
        self.steps += 1
        if y_p is not self.y:  # the result becomes the state: swap buffers, no copy
            n = next(i for i in range(2) if self._buf_y[i] is y_p)
            self._buf_y[n], self.y = self.y, self._buf_y[n]
            self._buf_t[n], self.t = self.t, self._buf_t[n]
            self._buf_k[n], self.k = self.k, self._buf_k[n]
        np.minimum(self.min_t, self.t[1:-1, 1:-1, 1:-1], out=self.min_t)

    @property
    def temp_c(self) -> np.ndarray:
        """Interior temperature field, °C (a view: copy it to keep it)."""
        return self.t[1:-1, 1:-1, 1:-1]


def _h_of_t_np(t: np.ndarray, rows: np.ndarray) -> np.ndarray:
    ts, tl, cf, cm, cu, hl = rows[:, 0], rows[:, 1], rows[:, 11], rows[:, 12], rows[:, 13], rows[:, 5]
    return np.where(t <= ts, (t - ts) * cf,
                    np.where(t < tl, (t - ts) * cm, hl + (t - tl) * cu)).astype(np.float32)


def _k_of_t_np(t: np.ndarray, rows: np.ndarray) -> np.ndarray:
    f = np.clip((t - rows[:, 0]) * rows[:, 10], 0.0, 1.0)
    return (rows[:, 6] + (rows[:, 7] - rows[:, 6]) * f).astype(np.float32)
