"""The ice shells: strided fields equal the full ones strided; the lights sit where VTK puts them."""

from __future__ import annotations

import types

import numpy as np
import pytest

from cryoviz.physics.result import ThermalResult
from cryoviz.view.palette import LIGHTS, light_position
from cryoviz.view.shells import StridedHistory


def _result(seed: int = 3) -> ThermalResult:
    rng = np.random.default_rng(seed)
    nt, shape = 7, (9, 8, 7)
    temps = (37.0 - np.cumsum(rng.uniform(0, 20, (nt, *shape)), axis=0)).astype(np.float16)
    temps[4] += 30.0  # a thaw: the coldest field is not the last one
    grid = types.SimpleNamespace(labels=np.zeros(shape, np.uint8), spacing_mm=1.0, origin_mm=(0.0, 0.0, 0.0))
    return ThermalResult(grid=grid, times_s=np.array([0, 30, 60, 90, 120, 150, 180], float), temps_c=temps,
                         min_temp_c=temps.astype(np.float32).min(axis=0) - 1.5, sensors={},
                         sensor_positions_mm={}, probe_temps_c=np.zeros((nt, 0)), probes=())


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("t_s", [-5.0, 0.0, 17.5, 30.0, 95.0, 121.0, 179.9, 180.0, 400.0])
def test_strided_fields_are_the_full_fields_strided(stride, t_s):
    res = _result()
    h = StridedHistory(res, stride)
    k = stride
    for full, mine in ((res.temp_at(t_s), h.now(t_s)), (res.min_temp_until(t_s), h.coldest(t_s))):
        want = np.asarray(full[::k, ::k, ::k], np.float32)
        assert want.shape == h.shape
        np.testing.assert_array_equal(mine, want.ravel(order="F"))


def test_coldest_going_back_in_time_is_recomputed():
    res = _result()
    h = StridedHistory(res, 2)
    late, early = h.coldest(170.0).copy(), h.coldest(40.0)
    np.testing.assert_array_equal(early, res.min_temp_until(40.0)[::2, ::2, ::2].ravel(order="F"))
    assert (late <= early).all() and (late < early).any()


def test_key_light_sits_where_vtk_light_kit_puts_it():
    pytest.importorskip("vtkmodules.vtkRenderingCore")
    from vtkmodules.vtkRenderingCore import vtkLight, vtkLightKit, vtkRenderer

    ren = vtkRenderer()
    vtkLightKit().AddLightsToRenderer(ren)
    lights = [ren.GetLights().GetItemAsObject(i) for i in range(ren.GetLights().GetNumberOfItems())]
    key = max(lights, key=vtkLight.GetIntensity)
    _name, el, az, _i, _c = LIGHTS[0]
    np.testing.assert_allclose(light_position(el, az), key.GetPosition(), atol=1e-6)
    assert light_position(0.0, 0.0) == pytest.approx((0.0, 0.0, 1.0))


def test_a_pending_result_without_snapshots_draws_no_shells():
    """Before the simulation is ready (cryoviz.story.pending) the result has a grid but no snapshots."""
    import pyvista as pv

    from cryoviz.view.shells import IsothermShells

    res = _result()
    res.temps_c = res.min_temp_c = None
    pl = pv.Plotter(off_screen=True)
    try:
        shells = IsothermShells(pl, res, None)
        assert shells.history.shape == (9, 8, 7)
        assert shells.follow(None, False) and not shells.follow(None, False)
        shells.show({0.0, -20.0, -40.0})
        assert not any(a.visibility for a in shells.actors())
    finally:
        pl.close()
