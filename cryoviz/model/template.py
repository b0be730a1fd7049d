"""The brachytherapy-style template grid that guides probes through the perineum.

Holes are 5 mm apart. Columns are letters ``A``–``K`` from the patient's right to his left, ``F`` on the
midline (x = 0). Rows are numbers ``1``–``9`` from posterior (row 1, just above the rectal ultrasound probe)
to anterior; row 4 passes through the prostate centre (y = 0). Coordinates are in the patient frame of
:mod:`cryoviz.model.anatomy` (x = patient left, y = posterior, z = superior, mm).
"""

from __future__ import annotations

import re

__all__ = ["COLUMNS", "ROWS", "SPACING_MM", "all_holes", "hole_to_xy_mm", "xy_to_hole"]

SPACING_MM = 5.0
COLUMNS = "ABCDEFGHIJK"
ROWS = tuple(range(1, 10))
_CENTRE_COLUMN = COLUMNS.index("F")
_CENTRE_ROW = 4
_HOLE_RE = re.compile(r"^([A-Ka-k])([1-9])$")


def hole_to_xy_mm(hole: str) -> tuple[float, float]:
    """Return the (x, y) position in mm of a template hole such as ``"C4"``.

    Raises
    ------
    ValueError
        If the name is not a hole of the grid.
    """
    m = _HOLE_RE.match(hole.strip()) if isinstance(hole, str) else None
    if m is None:
        raise ValueError(f"not a template hole: {hole!r}")
    col = COLUMNS.index(m.group(1).upper())
    row = int(m.group(2))
    x_mm = (col - _CENTRE_COLUMN) * SPACING_MM
    y_mm = (_CENTRE_ROW - row) * SPACING_MM  # row 1 is posterior (+y)
    return (x_mm, y_mm)


def xy_to_hole(x_mm: float, y_mm: float, tol_mm: float = 0.01) -> str | None:
    """Return the hole at (x, y) mm, or ``None`` if the point is not on a hole."""
    col = round(x_mm / SPACING_MM) + _CENTRE_COLUMN
    row = _CENTRE_ROW - round(y_mm / SPACING_MM)
    if not (0 <= col < len(COLUMNS) and row in ROWS):
        return None
    hx, hy = hole_to_xy_mm(f"{COLUMNS[col]}{row}")
    if abs(hx - x_mm) > tol_mm or abs(hy - y_mm) > tol_mm:
        return None
    return f"{COLUMNS[col]}{row}"


def all_holes() -> list[str]:
    """Every hole name of the grid, row by row from posterior to anterior."""
    return [f"{c}{r}" for r in ROWS for c in COLUMNS]
