"""Thermal model: Pennes bioheat with freezing, on the voxel labels of the anatomy, driven by the probes.

``simulate(scene)`` builds the label grid, places the probes and the warming devices, runs the protocol
(freeze, thaw, freeze, thaw) with :class:`cryoviz.physics.solver.BioheatSolver` and returns a
:class:`ThermalResult`: temperature snapshots every ``SNAPSHOT_S`` seconds, the coldest temperature each voxel
reached, sensor and probe temperature series, and the metrics JSON of the design contract. Results are
cached on disk (:mod:`cryoviz.core.cache`).

Boundary conditions
-------------------
* Probes: the active segment of each probe holds the probe surface temperature of
  :func:`cryoviz.model.probes.probe_temp_c` while gas flows; with the gas off the probe voxels are tissue.
  Thin probes are coupled to the grid as described in :mod:`cryoviz.physics.probe_voxels`.
* Urethral warming catheter (``warmer.urethral``): the voxels labelled ``urethra`` are held at
  ``warmer.urethral_temp_c``; with the warmer off they are ordinary tissue.
* Rectum: the lumen (ultrasound probe) is held at ``warmer.rectal_temp_c`` when rectal warming is on,
  otherwise at body temperature (37 °C).
* Far field: the domain faces are held at 37 °C (a phantom: at its ``temp_c``).

Calibration of the probe (``PROBE_EFFECTIVE_RADIUS_MM``)
--------------------------------------------------------
Target (clinical-facts §4, Urology 2016 PMC4850244; corroborated by Littrup et al. JVIR 2009): a 17G needle
in gel at body temperature gives after 10 minutes a ≤ −40 °C core about 1 cm across (radius ≈ 5 mm),
and temperature rises to 0 °C further out (a 17G iceball is described as about 2 cm across; the same paper
puts the −40 °C isotherm up to 1 cm inside the visible edge, so the 0 °C radius lies between about 10 and
15 mm). With the probe surface at −145 °C on the real 0.75 mm radius the model's −40 °C radius comes out
at about 5.9 mm: too cold a core. The gas side of a real needle cannot hold the whole surface at the
measured tip temperature (finite Joule–Thomson cooling power, wall and contact resistance), so we keep
−145 °C and give the probe a smaller *effective* radius, fitted on the gel scene at 1 and 2 mm:
``r_eff = 2/3`` of the physical radius (0.5 mm for 17G). Result: −40 °C radius ≈ 5 mm, 0 °C radius
≈ 12–13 mm (``tests/test_thermal_calibration.py`` checks both bands). The same ratio is used for the
2.4 mm probe (unverified).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from cryoviz.core import cache as _cache
from cryoviz.model import probes as P
from cryoviz.model.tissue import BODY_TEMP_C, TissueTable, default_table, material_arrays
from cryoviz.physics.kernels import snapshot_f16
from cryoviz.physics.probe_voxels import ProbeVoxels, voxelize_probe
from cryoviz.physics.solver import BioheatSolver

__all__ = [
    "MAX_STEP_S",
    "MODEL_VERSION",
    "PROBE_EFFECTIVE_RADIUS_FRACTION",
    "SNAPSHOT_S",
    "ThermalResult",
    "is_cached",
    "run_thermal",
    "simulate",
]

#: Version of the numerical model; part of the cache key.
MODEL_VERSION = "thermal-1"
#: Seconds between stored temperature snapshots.
SNAPSHOT_S = 10.0
#: Longest RKL2 super step, s (accuracy limit; stability is handled by the stage count).
MAX_STEP_S = 10.0
#: First super step after a probe switches on or off, s, and how fast steps grow with the time since.
EVENT_STEP_S = 1.0
EVENT_STEP_GROWTH = 0.1
#: Super time stepping scheme: "rkl1" (first order, ~1/3 fewer stages than "rkl2" for the same step; on the
#: preset scenes both agree with 1 s RKL2 steps to 0.1 % in coverage, see tests/test_thermal.py).
SCHEME = "rkl1"
#: Effective probe radius as a fraction of the physical radius (calibrated, see the module docstring).
PROBE_EFFECTIVE_RADIUS_FRACTION = 2.0 / 3.0

_LABEL_URETHRA = 2
_LABEL_RECTUM_LUMEN = 7


@dataclass
class ThermalResult:
    """The temperature history of one scene.

    Attributes
    ----------
    grid : cryoviz.model.anatomy.LabelGrid
        Voxel labels, origin and spacing (mm).
    times_s : ndarray (nt,)
        Snapshot times, seconds from the start of the first freeze.
    temps_c : ndarray (nt, nx, ny, nz), float16
        Temperature snapshots, °C (may be memory-mapped from the cache).
    min_temp_c : ndarray (nx, ny, nz), float32
        Coldest temperature each voxel reached over the whole protocol (every time step), °C.
    sensors : dict of str to ndarray (nt,)
        Temperature at each sensor, °C.
    sensor_positions_mm : dict of str to tuple
        Where each sensor is.
    probe_temps_c : ndarray (nt, n_probes)
        Surface temperature of each probe's freezing segment, °C.
    probes : tuple of cryoviz.model.scene.Probe
        The resolved probes, in column order of ``probe_temps_c``.
    metrics : dict
        The metrics JSON of the design contract.
    """

    grid: object
    times_s: np.ndarray
    temps_c: np.ndarray
    min_temp_c: np.ndarray
    sensors: dict
    sensor_positions_mm: dict
    probe_temps_c: np.ndarray
    probes: tuple
    metrics: dict = field(default_factory=dict)

    def _bracket(self, t_s: float) -> tuple[int, int, float]:
        times = self.times_s
        t = float(np.clip(t_s, times[0], times[-1]))
        j = int(np.searchsorted(times, t, side="right"))
        j = min(max(j, 1), len(times) - 1)
        i = j - 1
        span = times[j] - times[i]
        w = 0.0 if span <= 0 else (t - times[i]) / span
        return i, j, w

    def temp_at(self, t_s: float) -> np.ndarray:
        """Temperature field at procedure time ``t_s`` (linear between snapshots, clamped), float32 °C."""
        if len(self.times_s) == 1:
            return np.asarray(self.temps_c[0], np.float32)
        i, j, w = self._bracket(t_s)
        a = np.asarray(self.temps_c[i], np.float32)
        if w == 0.0:
            return a
        b = np.asarray(self.temps_c[j], np.float32)
        return a + np.float32(w) * (b - a)

    def min_temp_until(self, t_s: float) -> np.ndarray:
        """Coldest temperature each voxel reached up to ``t_s`` (from the snapshots), float32 °C.

        At or after the last snapshot this is :attr:`min_temp_c` (every time step, not only snapshots).
        """
        if t_s >= self.times_s[-1]:
            return self.min_temp_c
        n = int(np.searchsorted(self.times_s, float(t_s), side="right"))
        n = max(n, 1)
        cached = getattr(self, "_runmin", None)
        if cached is None or cached[0] > n:
            cached = (1, np.asarray(self.temps_c[0], np.float32).copy())
        upto, acc = cached
        for q in range(upto, n):
            np.minimum(acc, self.temps_c[q], out=acc)
        self._runmin = (n, acc)
        out = acc.copy()
        _i, _j, w = self._bracket(t_s)
        if w > 0.0:
            np.minimum(out, self.temp_at(t_s), out=out)
        return out

    def isotherm(self, threshold_c: float, t_s: float, field: str = "now"):
        """The ``threshold_c`` isotherm surface at ``t_s`` as ``pyvista.PolyData`` (mm; may be empty).

        ``field="now"`` uses the temperature at ``t_s``; ``"coldest"`` the coldest temperature so far.
        """
        import pyvista as pv

        g = self.grid
        temps = self.temp_at(t_s) if field == "now" else self.min_temp_until(t_s)
        img = pv.ImageData(dimensions=temps.shape, spacing=(g.spacing_mm,) * 3,
                           origin=tuple(float(v) for v in g.origin_mm))
        img.point_data["temp_c"] = np.asarray(temps, np.float32).ravel(order="F")
        if not (float(temps.min()) <= threshold_c <= float(temps.max())):
            return pv.PolyData()
        return img.contour([float(threshold_c)], scalars="temp_c")


# ---------------------------------------------------------------------------------------------------------
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


def _centred_bounds(anatomy, grid_mm: float, margin_mm: float) -> np.ndarray:
    """The anatomy's default bounds, widened in x to be symmetric about x = 0 with a voxel layer on it.

    The anatomy is left-right symmetric unless a patient's own mesh makes it otherwise; a grid that is too
    lets :func:`run_thermal` solve half of it (see :func:`_mirror_plan`).
    """
    b = np.asarray(anatomy.default_bounds_mm(margin_mm), float).copy()
    half_width = math.ceil(max(-b[0], b[1]) / grid_mm - 1e-9) * grid_mm
    b[0], b[1] = -half_width, half_width
    return b


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
    return voxelize_probe(g.tip_mm, g.active_length_mm, origin_mm, spacing_mm, shape,
                          g.radius_mm * PROBE_EFFECTIVE_RADIUS_FRACTION)


def _half_voxels(pv: ProbeVoxels, c: int) -> ProbeVoxels:
    """A probe's voxels on the whole grid, restricted to the half from layer ``c`` on (re-indexed)."""
    def cut(idx):
        keep = idx[0] >= c
        return (idx[0][keep] - c, idx[1][keep], idx[2][keep])

    return ProbeVoxels(cut(pv.core), cut(pv.link), pv.link_extra)


def _unfold(half: _Run, keep: list[int], twin: list[int], t_wall: float) -> _Run:
    """The whole-grid run from the solved half (x >= 0) of a mirror-symmetric one."""
    temps = np.concatenate([half.temps_c[:, :0:-1], half.temps_c], axis=1)
    min_t = np.concatenate([half.min_temp_c[:0:-1], half.min_temp_c], axis=0)
    probe = half.probe_temps_c[:, twin]
    plane_cold = (half.temps_c[:, 0] <= 0).reshape(len(half.times_s), -1).sum(axis=1)
    cold = 2 * half.cold_counts - plane_cold
    return _Run(half.times_s, temps, min_t, probe, half.steps, half.stages,
                time.perf_counter() - t_wall, cold)


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
                *, urethral_temp_c: float | None = None, rectal_temp_c: float | None = BODY_TEMP_C,
                table: TissueTable | None = None, post_radiation: bool = False,
                body_temp_c: float = BODY_TEMP_C, snapshot_s: float = SNAPSHOT_S,
                max_step_s: float = MAX_STEP_S, scheme: str = SCHEME, mirror: bool = True,
                _mirror_low_x: bool = False, _static_labels: np.ndarray | None = None,
                _probe_voxels: list[ProbeVoxels] | None = None) -> _Run:
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
    """
    t_wall = time.perf_counter()
    plan = _mirror_plan(labels, origin_mm, spacing_mm, geoms) if mirror else None
    if plan is not None:
        c, keep, twin = plan
        half_origin = (float(origin_mm[0]) + c * spacing_mm, float(origin_mm[1]), float(origin_mm[2]))
        half = run_thermal(labels[c:], half_origin, spacing_mm, [geoms[i] for i in keep], protocol,
                           urethral_temp_c=urethral_temp_c, rectal_temp_c=rectal_temp_c, table=table,
                           post_radiation=post_radiation, body_temp_c=body_temp_c, snapshot_s=snapshot_s,
                           max_step_s=max_step_s, scheme=scheme, mirror=False, _mirror_low_x=True,
                           _static_labels=labels,
                           _probe_voxels=[_half_voxels(_voxelize(geoms[i], origin_mm, spacing_mm,
                                                                 labels.shape), c) for i in keep])
        return _unfold(half, keep, twin, t_wall)
    table = default_table() if table is None else table
    rows = material_arrays(table, post_radiation=post_radiation, body_temp_c=body_temp_c)
    shape = labels.shape
    pvs: list[ProbeVoxels] = (_probe_voxels if _probe_voxels is not None else
                              [_voxelize(g, origin_mm, spacing_mm, shape) for g in geoms])
    max_link = max([max(pv.link_extra, 0.0) for pv in pvs], default=0.0)
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
            if math.isnan(tp) or core_flat[n].size == 0:
                continue
            fi.append(core_flat[n])
            ft.append(np.full(core_flat[n].size, tp, np.float32))
            if link_flat[n].size and pvs[n].link_extra != 0.0:
                li.append(link_flat[n])
                lg.append(np.full(link_flat[n].size, pvs[n].link_extra, np.float32))
                lt.append(np.full(link_flat[n].size, tp, np.float32))
        def cat(xs, dt):
            return (np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt))
        solver.set_fixed(cat(fi, np.int64), cat(ft, np.float32))
        solver.set_links(cat(li, np.int64), cat(lg, np.float32), cat(lt, np.float32))
        return temps

    duration = float(protocol.duration_s)
    n_snap = max(1, math.ceil(duration / snapshot_s - 1e-9))
    snap_times = np.array([min(i * snapshot_s, duration) for i in range(n_snap + 1)])
    bounds = sorted(set(np.round(snap_times, 9)) | set(np.round(_event_times(protocol), 9)))
    temps_out = np.empty((len(snap_times), *shape), np.float16)
    probe_out = np.full((len(snap_times), len(geoms)), body_temp_c, np.float32)

    cold_counts = np.zeros(len(snap_times), np.int64)
    interior = np.empty(shape, np.float32)

    def record(q: int, t: float) -> None:
        interior[...] = solver.temp_c
        field_c = interior
        cold_counts[q] = snapshot_f16(interior.view(np.uint32), temps_out[q].view(np.uint16))
        now = P.probe_temps_c(t, protocol, groups, kinds) if geoms else np.zeros(0)
        for n, pv in enumerate(pvs):
            if not math.isnan(now[n]):
                probe_out[q, n] = now[n]
            elif pv.core[0].size:
                probe_out[q, n] = float(field_c[pv.core].mean())

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
            q += 1
    return _Run(snap_times, temps_out, solver.min_t.copy(), probe_out, solver.steps, solver.stages,
                time.perf_counter() - t_wall, cold_counts)


# ---------------------------------------------------------------------------------------------------------
def _source_digest() -> str:
    return _cache.source_digest(("model", "physics"))


def _cache_parts(scene, grid_mm: float, table: TissueTable) -> dict:
    scene_d = asdict(scene)
    for k in ("path", "title", "story"):
        scene_d.pop(k, None)
    meshes = {}
    base = Path(scene.path).parent
    for organ, path in sorted(dict(scene.anatomy.meshes).items()):
        p = Path(path)
        p = p if p.is_absolute() else base / p
        try:
            meshes[organ] = hashlib.sha256(p.read_bytes()).hexdigest()
        except OSError:
            meshes[organ] = f"missing:{p}"
    return {"model": MODEL_VERSION, "code": _source_digest(), "scene": scene_d, "meshes": meshes,
            "grid_mm": float(grid_mm), "table": table.as_dict(), "snapshot_s": SNAPSHOT_S,
            "max_step_s": MAX_STEP_S, "scheme": SCHEME,
            "event_step": [EVENT_STEP_S, EVENT_STEP_GROWTH],
            "probe_r_fraction": PROBE_EFFECTIVE_RADIUS_FRACTION,
            "catalogue": {k: asdict(v) for k, v in P.PROBE_CATALOGUE.items()}}


def _probe_to_dict(p) -> dict:
    return asdict(p)


def is_cached(scene, grid_mm: float | None = None, cache_dir: str | Path | None = None) -> bool:
    """Whether :func:`simulate` would load ``scene`` at ``grid_mm`` from the on-disk cache (no solve).

    Only the cache entry's presence is checked (cheap); an entry found unreadable later is recomputed.
    """
    grid_mm = float(scene.thermal.grid_mm if grid_mm is None else grid_mm)
    return _cache.is_stored(_cache.cache_dir(cache_dir), _cache.hash_key(_cache_parts(scene, grid_mm,
                                                                                      default_table())))


def simulate(scene, grid_mm: float | None = None, use_cache: bool = True, anatomy=None,
             cache_dir: str | Path | None = None, table: TissueTable | None = None) -> ThermalResult:
    """Run (or load from the cache) the thermal model of a scene.

    Parameters
    ----------
    scene : cryoviz.model.scene.Scene
        A validated scene.
    grid_mm : float, optional
        Voxel size, mm; default ``scene.thermal.grid_mm``.
    use_cache : bool
        Read and write the on-disk cache.
    anatomy : cryoviz.model.anatomy.Anatomy, optional
        The scene's anatomy if already built.
    cache_dir : path, optional
        Cache folder (default ``$CRYOVIZ_CACHE`` or ``~/.cache/cryoviz``).
    table : TissueTable, optional
        Tissue properties (default :func:`cryoviz.model.tissue.default_table`).

    Returns
    -------
    ThermalResult
    """
    from cryoviz.model.anatomy import LabelGrid, build_anatomy, phantom_anatomy
    from cryoviz.model.layout import resolve_probes, resolve_sensors
    from cryoviz.model.scene import Probe
    from cryoviz.physics.metrics import compute_metrics

    t0 = time.perf_counter()
    grid_mm = float(scene.thermal.grid_mm if grid_mm is None else grid_mm)
    table = default_table() if table is None else table
    folder = _cache.cache_dir(cache_dir)
    key = _cache.hash_key(_cache_parts(scene, grid_mm, table)) if use_cache else ""
    if use_cache:
        hit = _cache.load(folder, key)
        if hit is not None:
            meta, arr = hit["meta"], hit["arrays"]
            grid = LabelGrid(labels=arr["labels"], origin_mm=arr["origin_mm"], spacing_mm=meta["spacing_mm"])
            sensors = {n: arr[f"sensor_{i}"] for i, n in enumerate(meta["sensor_names"])}
            return ThermalResult(
                grid=grid, times_s=arr["times_s"], temps_c=hit["temps"], min_temp_c=arr["min_temp_c"],
                sensors=sensors, sensor_positions_mm={n: tuple(p) for n, p in meta["sensor_positions"]},
                probe_temps_c=arr["probe_temps_c"], probes=tuple(Probe(**p) for p in meta["probes"]),
                metrics=meta["metrics"])

    if anatomy is None:
        anatomy = (phantom_anatomy(scene.phantom) if scene.phantom is not None
                   else build_anatomy(scene.anatomy, base_dir=Path(scene.path).parent))
    grid = anatomy.label_grid(grid_mm, bounds_mm=_centred_bounds(anatomy, grid_mm, scene.thermal.margin_mm))
    probes = resolve_probes(scene, anatomy)
    sensor_pos = resolve_sensors(scene, anatomy)
    skin_z = float(anatomy.landmarks.skin_z_mm)
    geoms = [P.ProbeGeometry.from_probe(p, skin_z) for p in probes]
    body_c = float(scene.phantom.temp_c) if scene.phantom is not None else BODY_TEMP_C
    w = scene.warmer
    is_body = scene.phantom is None
    run = run_thermal(
        grid.labels, grid.origin_mm, grid.spacing_mm, geoms, scene.protocol,
        urethral_temp_c=w.urethral_temp_c if (w.urethral and is_body) else None,
        rectal_temp_c=(w.rectal_temp_c if w.rectal else BODY_TEMP_C) if is_body else None,
        table=table, post_radiation=scene.anatomy.post_radiation and is_body, body_temp_c=body_c)
    sensors = {name: sample_series(run.temps_c, grid, pos) for name, pos in sensor_pos.items()}
    result = ThermalResult(grid=grid, times_s=run.times_s, temps_c=run.temps_c, min_temp_c=run.min_temp_c,
                           sensors=sensors, sensor_positions_mm=dict(sensor_pos),
                           probe_temps_c=run.probe_temps_c, probes=tuple(probes))
    wall = time.perf_counter() - t0
    result.metrics = compute_metrics(result, scene, anatomy, steps=run.steps, wall_s=wall,
                                     iceball_index=int(np.argmax(run.cold_counts)))
    if use_cache:
        meta = {"spacing_mm": float(grid.spacing_mm), "sensor_names": list(sensors),
                "sensor_positions": [[n, list(p)] for n, p in sensor_pos.items()],
                "probes": [_probe_to_dict(p) for p in probes], "metrics": result.metrics}
        arrays = {"times_s": run.times_s, "min_temp_c": run.min_temp_c, "labels": grid.labels,
                  "origin_mm": np.asarray(grid.origin_mm, float), "probe_temps_c": run.probe_temps_c,
                  **{f"sensor_{i}": s for i, s in enumerate(sensors.values())}}
        _cache.store(folder, key, meta, arrays, run.temps_c)
    return result


def sample_series(temps_c: np.ndarray, grid, pos_mm) -> np.ndarray:
    """Temperature history (nt,) at a point, trilinear inside the grid (nearest voxel at the border)."""
    from scipy.ndimage import map_coordinates

    u = (np.asarray(pos_mm, float) - np.asarray(grid.origin_mm, float)) / grid.spacing_mm
    u = np.clip(u, 0, np.array(grid.labels.shape) - 1)
    i0 = np.floor(u).astype(int)
    i0 = np.minimum(i0, np.array(grid.labels.shape) - 2).clip(0)
    block = np.asarray(temps_c[:, i0[0]:i0[0] + 2, i0[1]:i0[1] + 2, i0[2]:i0[2] + 2], np.float32)
    frac = u - i0
    out = np.empty(block.shape[0], np.float32)
    for q in range(block.shape[0]):
        out[q] = map_coordinates(block[q], frac.reshape(3, 1), order=1, mode="nearest")[0]
    return out
