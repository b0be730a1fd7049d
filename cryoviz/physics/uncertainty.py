"""How many digits of each headline figure mean something: its change with the grid.

The figures are stated from the grid-convergence test (``tests/physics/test_grid_convergence.py``), which
runs the default scene on 0.75, 1 and 1.5 mm grids and checks that each figure of the 1 mm run stays within
the value stated here of the 0.75 and 1.5 mm runs (so a statement that stops being true fails the test).
They apply to grids of 0.75 to 1.5 mm; for another grid (the 2 mm preview) nothing is claimed.
"""

from __future__ import annotations

from cryoviz.physics.warnings import figure_at

__all__ = ["STATED", "uncertainty_for"]

#: Figure path -> largest change between the 1 mm grid and a 1.5x finer or coarser one (same unit as the
#: figure; ``isotherms.*.volume_ml`` as a fraction of the volume), rounded up from what the default scene
#: measured (0.75 / 1 / 1.5 mm, 2026-11-30, sub-voxel probe coupling, unperfused rectal lumen): gland at
#: −40 °C 0.7359 / 0.7445 / 0.7401, at −20 °C 0.8999 / 0.9029 / 0.8980; rectal wall 4.66 / 3.81 / 4.33 °C;
#: urethral wall −51.2 / −54.1 / −55.5 °C; sphincter 30.2 / 30.0 / 31.2 °C; rectal sensor 4.89 / 3.89 /
#: 4.69 °C; −40 °C volume 24.91 / 25.18 / 25.04 ml; 0 °C volume 67.0 / 67.5 / 66.7 ml. ``sensors.*``
#: applies to every sensor.
STATED: dict[str, float] = {
    "target.fraction_below_minus40": 0.02,
    "target.fraction_below_minus20": 0.01,
    "organs.prostate.fraction_below_minus40": 0.02,
    "organs.rectum_wall.min_temp_c": 1.5,
    "organs.urethra.min_temp_c": 3.5,
    "organs.sphincter.min_temp_c": 2.0,
    "sensors.*.min_temp_c": 1.5,
    "isotherms.-40.volume_ml": 0.02,
    "isotherms.0.volume_ml": 0.03,
}

_RANGE_MM = (0.75, 1.5)


def uncertainty_for(metrics: dict) -> dict:
    """The ``uncertainty`` block of ``metrics``: ``{figure path: {"plus_minus", "unit", "how"}}``.

    Only figures the metrics hold are listed. Outside the tested grids (0.75 to 1.5 mm) ``plus_minus`` is
    ``null``: a 2 mm preview moved the rectal-wall figure by several °C, more than any scaling would say.
    """
    grid = float(metrics.get("grid_mm", 1.0))
    tested = _RANGE_MM[0] - 1e-9 <= grid <= _RANGE_MM[1] + 1e-9
    how = ("stated from the grid-convergence test (0.75 / 1 / 1.5 mm)" if tested else
           f"not measured for a {grid:g} mm grid (the convergence test covers 0.75 to 1.5 mm)")
    out = {}
    for pattern, value in STATED.items():
        paths = ([pattern.replace("*", name) for name in metrics.get("sensors", {})] if "*" in pattern
                 else [pattern])
        for path in paths:
            if figure_at(metrics, path) is None:
                continue
            rel = path.startswith("isotherms.")
            unit = "fraction of the value" if rel else ("fraction" if "fraction" in path else "°C")
            out[path] = {"plus_minus": value if tested else None, "unit": unit, "how": how}
    return out
