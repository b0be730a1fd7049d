"""The thermal run: a label grid, probes and a protocol in, temperature snapshots out.

:func:`run_thermal` is the engine under :func:`cryoviz.physics.thermal.simulate` (also used directly by the
tests). It places the probes and the warming devices as boundary conditions and advances
:class:`cryoviz.physics.solver.BioheatSolver` through the protocol (freeze, thaw, freeze, thaw).

Boundary conditions
-------------------
* Probes: the active segment of each probe holds the probe surface temperature of
  :func:`cryoviz.model.probes.probe_temp_c` while gas flows; with the gas off the probe voxels are tissue.
  Thin probes are coupled to the grid as described in :mod:`cryoviz.physics.probe_voxels`.
* Urethral warming catheter (``warmer.urethral``): the voxels labelled ``urethra`` are held at
  ``warmer.urethral_temp_c``; with the warmer off they are ordinary tissue.
* Rectum: the lumen (ultrasound probe in its water balloon) is held at ``rectal_temp_c`` only when a rectal
  warming device runs; otherwise it is unperfused water with no heat source of its own
  (:mod:`cryoviz.model.tissue`, docs/thermal-model.md).
* Far field: the domain faces are held at the body (phantom) temperature.

Calibration of the probes
-------------------------
Each probe kind holds its surface temperature on an *effective* radius, fitted on that kind's published
single-probe iceball: :data:`cryoviz.model.probes.PROBE_CATALOGUE` gives the figures, sources and choices.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass

import numpy as np

from cryoviz.model import probes as P
from cryoviz.model.tissue import BODY_TEMP_C, TissueTable, default_table, material_arrays
from cryoviz.physics.kernels import count_at_or_below, snapshot_f16
from cryoviz.physics.probe_voxels import ProbeVoxels, voxelize_probe
from cryoviz.physics.solver import BioheatSolver

__all__ = [
    "EVENT_STEP_GROWTH",
    "EVENT_STEP_S",
    "ISOTHERMS_C",
    "MAX_STEP_S",
    "SCHEME",
    "SNAPSHOT_S",
    "run_thermal",
]

#: Seconds between stored temperature snapshots.
SNAPSHOT_S = 10.0
#: Longest RKL2 super step, s (accuracy limit; stability is handled by the stage count).
MAX_STEP_S = 10.0
#: First super step after a probe switches on or off, s, and how fast steps grow with the time since.
EVENT_STEP_S = 1.0
EVENT_STEP_GROWTH = 0.1
#: Super time stepping scheme: "rkl1" (first order, ~1/3 fewer stages than "rkl2" for the same step; on the
#: preset scenes both agree with 1 s RKL2 steps to 0.1 % in coverage, see tests/physics/test_thermal.py).
SCHEME = "rkl1"
#: Isotherms whose volume is counted at every snapshot (°C; the metrics' ``isotherms`` keys).
ISOTHERMS_C = (-40.0, -20.0, 0.0)

_LABEL_URETHRA = 2
_LABEL_RECTUM_LUMEN = 7


@dataclass
class _Run:
    """Raw output of :func:`run_thermal`."""

    times_s: np.ndarray
    temps_c: np.ndarray
    min_temp_c: np.ndarray
    probe_temps_c: np.ndarray
    steps: int
    stages: int
    wall_s: float
    cold_counts: np.ndarray  # voxels at or below 0 °C per snapshot
    iso_counts: np.ndarray  # (nt, len(ISOTHERMS_C)) voxels at or below each isotherm per snapshot


def _shell(mask: np.ndarray) -> np.ndarray:
    """Voxels of ``mask`` that touch a voxel outside it (6-neighbourhood) or the grid border."""
    inner = mask.copy()
    for ax in range(3):
        for sh in (1, -1):
            nb = np.roll(mask, sh, axis=ax)
            sl = [slice(None)] * 3
            sl[ax] = 0 if sh == 1 else -1
            nb[tuple(sl)] = False
            inner &= nb
    return mask & ~inner


def _mirror_plan(labels: np.ndarray, origin_mm, spacing_mm: float, geoms) -> tuple | None:
    """``(c, keep, twin)`` if the run is mirror-symmetric about x = 0, else None.

    ``c`` is the index of the voxel layer on x = 0, ``keep`` the probes solved (x >= 0) and ``twin[n]`` the
    position in ``keep`` of probe ``n`` or of its mirror image.
    """
    nx = labels.shape[0]
    c = (nx - 1) // 2
    if nx % 2 == 0 or abs(float(origin_mm[0]) + c * spacing_mm) > 1e-6 * spacing_mm:
        return None
    if not np.array_equal(labels, labels[::-1]):
        return None

    def sig(g, sign: float) -> tuple:
        x, y, z = (float(v) for v in g.tip_mm)
        return (round(sign * x, 6), round(y, 6), round(z, 6), g.active_length_mm, g.radius_mm, g.group,
                g.kind)

    keep = [n for n, g in enumerate(geoms) if float(g.tip_mm[0]) >= -1e-9]
    kept = {sig(geoms[n], 1.0): i for i, n in enumerate(keep)}
    twin = []
    for g in geoms:
        i = kept.get(sig(g, 1.0 if float(g.tip_mm[0]) >= -1e-9 else -1.0))
        if i is None:
            return None
        twin.append(i)
    if sorted(sig(g, 1.0) for g in geoms) != sorted(sig(g, -1.0) for g in geoms):
        return None
    return c, keep, twin


def _voxelize(g, origin_mm, spacing_mm: float, shape) -> ProbeVoxels:
    frac = P.PROBE_CATALOGUE[g.kind].effective_radius_fraction if g.kind in P.PROBE_CATALOGUE else 2.0 / 3.0
    return voxelize_probe(g.tip_mm, g.active_length_mm, origin_mm, spacing_mm, shape, g.radius_mm * frac)


def _half_voxels(pv: ProbeVoxels, c: int) -> ProbeVoxels:
    """A probe's voxels on the whole grid, restricted to the half from layer ``c`` on (re-indexed)."""
    def cut(idx):
        keep = idx[0] >= c
        return (idx[0][keep] - c, idx[1][keep], idx[2][keep]), keep

    core, _ = cut(pv.core)
    link, keep = cut(pv.link)
    return ProbeVoxels(core, link, pv.link_extra[keep])


def _cat_idx(parts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return tuple(np.concatenate([p[a] for p in parts]) for a in range(3))


def _half_plan_voxels(geoms, keep, twin, origin_mm, spacing_mm: float, shape, c: int) -> list[ProbeVoxels]:
    """Voxels of each solved probe on the half grid: its own and its mirror twin's links that fall on the
    half (a probe near the plane links columns on both sides; the twin's reach this side)."""
    halves = [_half_voxels(_voxelize(g, origin_mm, spacing_mm, shape), c) for g in geoms]
    out = []
    for i, n_keep in enumerate(keep):
        parts = [halves[n_keep]] + [halves[n] for n in range(len(geoms)) if twin[n] == i and n != n_keep]
        out.append(ProbeVoxels(_cat_idx([h.core for h in parts]), _cat_idx([h.link for h in parts]),
                               np.concatenate([h.link_extra for h in parts])))
    return out


def _unfold(half: _Run, keep: list[int], twin: list[int], t_wall: float, temps: np.ndarray) -> _Run:
    """The whole-grid run from the solved half (x >= 0) of a mirror-symmetric one; ``temps`` is the whole
    grid's snapshots, which the half run filled (both halves, see ``_mirror_into``)."""
    min_t = np.concatenate([half.min_temp_c[:0:-1], half.min_temp_c], axis=0)
    probe = half.probe_temps_c[:, twin]
    plane_cold = (half.temps_c[:, 0] <= 0).reshape(len(half.times_s), -1).sum(axis=1)
    cold = 2 * half.cold_counts - plane_cold
    return _Run(half.times_s, temps, min_t, probe, half.steps, half.stages,
                time.perf_counter() - t_wall, cold, half.iso_counts)


def _snapshot_times(protocol, snapshot_s: float) -> np.ndarray:
    duration = float(protocol.duration_s)
    n_snap = max(1, math.ceil(duration / snapshot_s - 1e-9))
    return np.array([min(i * snapshot_s, duration) for i in range(n_snap + 1)])


def _snapshot_array(snapshots, protocol, snapshot_s: float, grid_shape) -> np.ndarray:
    """The float16 array of every snapshot: from ``snapshots(shape, dtype)`` (see :func:`run_thermal`)."""
    shape = (len(_snapshot_times(protocol, snapshot_s)), *grid_shape)
    out = None if snapshots is None else snapshots(shape, np.float16)
    if out is None:
        return np.empty(shape, np.float16)
    if out.shape != shape or out.dtype != np.float16 or not out.flags.c_contiguous:
        raise ValueError(f"snapshot array must be float16, C-contiguous, shape {shape}; got {out.dtype} "
                         f"{out.shape}")
    return out


def _max_link(pvs: list[ProbeVoxels], shape) -> float:
    """Largest total link factor of any voxel (probes may share voxels): enters the stability limit."""
    if not any(pv.link[0].size for pv in pvs):
        return 0.0
    flat = np.concatenate([np.ravel_multi_index(pv.link, shape) for pv in pvs])
    extra = np.concatenate([pv.link_extra for pv in pvs])
    return float(np.bincount(flat, weights=extra).max())


def _event_times(protocol) -> list[float]:
    groups = range(1, 10)
    out = {0.0, protocol.duration_s}
    start = 0.0
    for cyc in protocol.cycles:
        for g in groups:
            on = start + (g - 1) * protocol.group_delay_s
            if on < start + cyc.freeze_s:
                out.add(on)
        off = start + cyc.freeze_s
        out.add(off)
        if cyc.thaw == "active":
            out.add(off + min(cyc.thaw_s, P.ACTIVE_THAW_MAX_S))
        start += cyc.freeze_s + cyc.thaw_s
    return sorted(t for t in out if 0.0 <= t <= protocol.duration_s)


def run_thermal(labels: np.ndarray, origin_mm, spacing_mm: float, geoms: list[P.ProbeGeometry], protocol,
                *, urethral_temp_c: float | None = None, rectal_temp_c: float | None = None,
                table: TissueTable | None = None, post_radiation: bool = False,
                body_temp_c: float = BODY_TEMP_C, snapshot_s: float = SNAPSHOT_S,
                max_step_s: float = MAX_STEP_S, scheme: str = SCHEME, mirror: bool = True,
                _mirror_low_x: bool = False, _static_labels: np.ndarray | None = None,
                _probe_voxels: list[ProbeVoxels] | None = None, progress=None, snapshots=None,
                _mirror_into: np.ndarray | None = None) -> _Run:
    """Run the protocol on a label grid (the engine under :func:`simulate`; also used by the tests).

    When the grid, its labels and the probes are mirror-symmetric about the plane x = 0 through a voxel
    layer (the usual whole-gland case), only the half x >= 0 is solved, with a mirror boundary on that
    plane, and the other half is its mirror image: the same numbers for half the work (``mirror=False``
    solves the whole grid).

    Parameters
    ----------
    labels : uint8 ndarray (nx, ny, nz)
        Anatomy label codes.
    origin_mm : sequence of 3 float
        Centre of voxel (0, 0, 0), mm.
    spacing_mm : float
        Voxel size, mm.
    geoms : list of ProbeGeometry
        The probes.
    protocol : cryoviz.model.scene.Protocol
    urethral_temp_c : float or None
        Urethral catheter temperature; ``None`` = warmer off.
    rectal_temp_c : float or None
        Temperature held in the rectal lumen; ``None`` = lumen is ordinary tissue.
    table : TissueTable, optional
    post_radiation : bool
    body_temp_c : float
        Initial and far-field temperature, °C.
    snapshot_s, max_step_s : float
        Snapshot interval and longest super step, s.
    progress : callable, optional
        ``progress(t_s, duration_s)`` after each stored snapshot (the app's terminal reports it); it
        changes nothing in the run.
    snapshots : callable, optional
        ``snapshots(shape, dtype)`` returns the array the temperature snapshots are written into (e.g. a
        cache file mapped in memory, :func:`cryoviz.core.cache.open_temps`); a new array by default. It
        changes nothing in the numbers.
    """
    t_wall = time.perf_counter()
    plan = _mirror_plan(labels, origin_mm, spacing_mm, geoms) if mirror else None
    if plan is not None:
        c, keep, twin = plan
        whole = _snapshot_array(snapshots, protocol, snapshot_s, labels.shape)
        half_origin = (float(origin_mm[0]) + c * spacing_mm, float(origin_mm[1]), float(origin_mm[2]))
        half = run_thermal(labels[c:], half_origin, spacing_mm, [geoms[i] for i in keep], protocol,
                           urethral_temp_c=urethral_temp_c, rectal_temp_c=rectal_temp_c, table=table,
                           post_radiation=post_radiation, body_temp_c=body_temp_c, snapshot_s=snapshot_s,
                           max_step_s=max_step_s, scheme=scheme, mirror=False, _mirror_low_x=True,
                           _static_labels=labels,
                           _probe_voxels=_half_plan_voxels(geoms, keep, twin, origin_mm, spacing_mm,
                                                           labels.shape, c), progress=progress,
                           _mirror_into=whole)
        return _unfold(half, keep, twin, t_wall, whole)
    table = default_table() if table is None else table
    rows = material_arrays(table, post_radiation=post_radiation, body_temp_c=body_temp_c)
    shape = labels.shape
    pvs: list[ProbeVoxels] = (_probe_voxels if _probe_voxels is not None else
                              [_voxelize(g, origin_mm, spacing_mm, shape) for g in geoms])
    max_link = _max_link(pvs, shape)
    solver = BioheatSolver(labels, spacing_mm, rows, init_temp_c=body_temp_c, boundary_temp_c=body_temp_c,
                           max_step_s=max_step_s, max_link_factor=max_link, scheme=scheme,
                           mirror_low_x=_mirror_low_x)
    # masks of fixed voxels come from the whole grid (a half grid would see its cut face as a border)
    full = labels if _static_labels is None else _static_labels
    cut = full.shape[0] - labels.shape[0]   # 0 unless this is the solved half
    static_idx, static_t = [], []
    if urethral_temp_c is not None:
        m = labels == _LABEL_URETHRA  # every catheter voxel: they are the lining the metrics report
        static_idx.append(solver.flat(np.nonzero(m)))
        static_t.append(np.full(int(m.sum()), urethral_temp_c, np.float32))
    if rectal_temp_c is not None:
        m = _shell(full == _LABEL_RECTUM_LUMEN)[cut:]
        static_idx.append(solver.flat(np.nonzero(m)))
        static_t.append(np.full(int(m.sum()), rectal_temp_c, np.float32))
    core_flat = [solver.flat(pv.core) for pv in pvs]
    link_flat = [solver.flat(pv.link) for pv in pvs]
    groups = [g.group for g in geoms]
    kinds = [g.kind for g in geoms]

    def apply_bcs(t_mid: float) -> np.ndarray:
        temps = P.probe_temps_c(t_mid, protocol, groups, kinds)
        fi, ft, li, lg, lt = list(static_idx), list(static_t), [], [], []
        for n, tp in enumerate(temps):
            if math.isnan(tp) or core_flat[n].size + link_flat[n].size == 0:
                continue
            fi.append(core_flat[n])
            ft.append(np.full(core_flat[n].size, tp, np.float32))
            if link_flat[n].size:
                li.append(link_flat[n])
                lg.append(pvs[n].link_extra.astype(np.float32))
                lt.append(np.full(link_flat[n].size, tp, np.float32))
        def cat(xs, dt):
            return (np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt))
        solver.set_fixed(cat(fi, np.int64), cat(ft, np.float32))
        solver.set_links(cat(li, np.int64), cat(lg, np.float32), cat(lt, np.float32))
        return temps

    duration = float(protocol.duration_s)
    snap_times = _snapshot_times(protocol, snapshot_s)
    bounds = sorted(set(np.round(snap_times, 9)) | set(np.round(_event_times(protocol), 9)))
    if _mirror_into is None:
        temps_out = _snapshot_array(snapshots, protocol, snapshot_s, shape)
    else:   # the solved half of a mirror-symmetric run: its snapshots go straight into the whole grid's
        mirror_c = _mirror_into.shape[1] - shape[0]
        temps_out = _mirror_into[:, mirror_c:]
    probe_out = np.full((len(snap_times), len(geoms)), body_temp_c, np.float32)

    cold_counts = np.zeros(len(snap_times), np.int64)
    iso_counts = np.zeros((len(snap_times), len(ISOTHERMS_C)), np.int64)
    iso_levels = np.asarray(ISOTHERMS_C, np.float32)
    plane_counts = np.zeros(len(ISOTHERMS_C), np.int64)
    interior = np.empty(shape, np.float32)

    def record(q: int, t: float) -> None:
        interior[...] = solver.temp_c
        field_c = interior
        cold_counts[q] = snapshot_f16(interior.view(np.uint32), temps_out[q].view(np.uint16))
        if _mirror_into is not None:   # the other half is its mirror image (x -> -x), copied while hot
            _mirror_into[q, :mirror_c] = _mirror_into[q, :mirror_c:-1]
        count_at_or_below(interior, iso_levels, iso_counts[q])
        if _mirror_low_x:  # counts of the whole grid: twice the half, the mirror plane once
            count_at_or_below(np.ascontiguousarray(interior[0]), iso_levels, plane_counts)
            iso_counts[q] = 2 * iso_counts[q] - plane_counts
        now = P.probe_temps_c(t, protocol, groups, kinds) if geoms else np.zeros(0)
        for n, pv in enumerate(pvs):
            if not math.isnan(now[n]):
                probe_out[q, n] = now[n]
            elif pv.core[0].size:
                probe_out[q, n] = float(field_c[pv.core].mean())
            elif pv.link[0].size:  # no voxel inside the probe: the columns nearest its axis
                near = pv.link_extra >= pv.link_extra.max() - 1e-6
                probe_out[q, n] = float(field_c[tuple(a[near] for a in pv.link)].mean())

    record(0, 0.0)
    q = 1
    events = _event_times(protocol)
    for a, b in itertools.pairwise(bounds):
        t = a
        while t < b - 1e-9:
            # after a probe switches on or off the field changes fast: steps start at EVENT_STEP_S and
            # grow with the time since the event up to max_step_s
            since = t - max(e for e in events if e <= t + 1e-9)
            tau = min(max_step_s, max(EVENT_STEP_S, EVENT_STEP_GROWTH * since), b - t)
            if b - (t + tau) < 0.25 * tau:
                tau = b - t
            apply_bcs(t + 0.5 * tau)
            solver.advance(tau)
            t += tau
        while q < len(snap_times) and snap_times[q] <= b + 1e-9:
            record(q, float(snap_times[q]))
            if progress is not None:
                progress(float(snap_times[q]), duration)
            q += 1
    return _Run(snap_times, temps_out, solver.min_t.copy(), probe_out, solver.steps, solver.stages,
                time.perf_counter() - t_wall, cold_counts, iso_counts)
