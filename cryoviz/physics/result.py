"""The temperature history of one scene (:class:`ThermalResult`), as :func:`cryoviz.physics.thermal.simulate`
returns it: snapshots, the coldest temperature of every voxel, sensor and probe series, and the metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["ThermalResult"]


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
