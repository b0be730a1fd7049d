"""How many digits of each headline figure mean something: its change with the grid.

The figures are stated from the grid-convergence test (``tests/physics/test_grid_convergence.py``), which
runs the default scene on 0.75, 1 and 1.5 mm grids and checks that each figure of the 1 mm run stays within
the value stated here of the 0.75 and 1.5 mm runs (so a statement that stops being true fails the test).
They apply to grids of 0.75 to 1.5 mm; for a coarser grid (the 2 mm preview) the figure is scaled with the
voxel size (the errors here are first order in it) and marked as such.
"""

from __future__ import annotations

__all__ = ["STATED", "uncertainty_for"]

#: Figure path -> largest change between the 1 mm grid and a 1.5x finer or coarser one (same unit as the
#: figure; ``isotherms.*.volume_ml`` as a fraction of the volume). Measured on the default scene, see the
#: module docstring.
STATED: dict[str, float] = {}

_RANGE_MM = (0.75, 1.5)


def uncertainty_for(metrics: dict) -> dict:
    """The ``uncertainty`` block of ``metrics``: ``{figure path: {"plus_minus", "unit", "how"}}``."""
    grid = float(metrics.get("grid_mm", 1.0))
    scale = 1.0 if grid <= _RANGE_MM[1] else grid / _RANGE_MM[1]
    how = ("stated from the grid-convergence test (0.75 / 1 / 1.5 mm)" if scale == 1.0 else
           f"stated from the grid-convergence test, scaled by {scale:.2f} for the {grid:g} mm grid")
    out = {}
    for path, value in STATED.items():
        rel = path.startswith("isotherms.")
        out[path] = {"plus_minus": round(value * scale, 4 if rel or "fraction" in path else 1),
                     "unit": "fraction of the value" if rel else ("fraction" if "fraction" in path else "°C"),
                     "how": how}
    return out
