"""Lesions placed in the body: a scene's ``[[lesions]]`` resolved on the actual gland.

A lesion given by ``sector`` or ``position_mm`` is a ball of ``diameter_mm`` (the report gives one size);
one given by ``mesh`` is that closed surface. Each must lie inside the gland (up to
:data:`OUTSIDE_TOLERANCE_MM` beyond the capsule, for a contour drawn on the capsule line), else the scene is
refused with one contract line naming the key. Coordinates: the patient frame of
:mod:`cryoviz.model.anatomy` (mm).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cryoviz.core.errors import InputError, Problem
from cryoviz.model import sectors as S

__all__ = ["OUTSIDE_TOLERANCE_MM", "PlacedLesion", "check_lesions", "resolve_lesions"]

#: How far a lesion may reach beyond the capsule and still count as inside the gland, mm.
OUTSIDE_TOLERANCE_MM = 1.0


@dataclass(frozen=True, eq=False)
class PlacedLesion:
    """One lesion in the body.

    Attributes
    ----------
    lesion : cryoviz.model.scene.Lesion
        What the scene said.
    centre_mm : (3,) ndarray
        Centre (ball) or centroid (mesh), mm.
    radius_mm : float
        Ball radius, mm; for a mesh, the radius of the ball of the same volume.
    sector : str
        The PI-RADS v2.1 sector holding the centre (the scene's own sector when it gave one).
    mesh : pyvista.PolyData or None
        The patient's lesion surface, when given as a mesh.
    """

    lesion: object
    centre_mm: np.ndarray
    radius_mm: float
    sector: str
    mesh: object = None

    @property
    def name(self) -> str:
        """The lesion's label."""
        return self.lesion.name

    @property
    def margin_mm(self) -> float:
        """The margin the plan aims for beyond the lesion's edge, mm."""
        return float(self.lesion.margin_mm)

    def signed_distance(self, points_mm) -> np.ndarray:
        """Signed distance (mm, negative inside) from points ``(n, 3)`` to the lesion's surface."""
        p = np.asarray(points_mm, dtype=float).reshape(-1, 3)
        if self.mesh is not None:
            from cryoviz.model.mesh_io import mesh_signed_distance

            return mesh_signed_distance(self.mesh, p)
        return np.linalg.norm(p - self.centre_mm, axis=1) - self.radius_mm

    def surface_points_mm(self, n: int = 400) -> np.ndarray:
        """Points on the lesion's surface (the mesh's vertices, or a Fibonacci sphere of ``n`` points)."""
        if self.mesh is not None:
            return np.asarray(self.mesh.points, dtype=float)
        k = np.arange(n) + 0.5
        phi = np.arccos(1.0 - 2.0 * k / n)
        theta = np.pi * (1.0 + 5.0 ** 0.5) * k
        u = np.column_stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)])
        return self.centre_mm + self.radius_mm * u

    def surface(self):
        """The lesion's surface as ``pyvista.PolyData`` (for drawing)."""
        import pyvista as pv

        if self.mesh is not None:
            return self.mesh
        return pv.Sphere(radius=self.radius_mm, center=tuple(self.centre_mm), theta_resolution=40,
                         phi_resolution=24)


def _load_mesh(path: Path, shown: str, key: str, scene_path: str):
    from cryoviz.model.mesh_io import check_mesh

    try:
        return check_mesh("lesion", Path(path), shown)
    except InputError as exc:
        raise InputError([Problem(scene_path, key, p.what, p.allowed, p.got) for p in exc.problems]) from None


def resolve_lesions(scene, anatomy) -> tuple[PlacedLesion, ...]:
    """Place every lesion of ``scene`` on ``anatomy`` and check that each lies inside the gland.

    Raises
    ------
    InputError
        One problem per lesion that does not fit (key ``lesions[i].sector``, ``.position_mm``,
        ``.diameter_mm`` or ``.mesh``).
    """
    if not scene.lesions:
        return ()
    problems: list[Problem] = []
    if "prostate" not in anatomy.organs:
        raise InputError(Problem(scene.path, "lesions", "a lesion needs a prostate to sit in",
                                 "no [[lesions]] with a phantom", "a phantom"))
    frame = S.gland_frame(anatomy)
    out = []
    for i, les in enumerate(scene.lesions, start=1):
        key = f"lesions[{i}]"
        mesh = None
        try:
            if les.mesh is not None:
                mesh = _load_mesh(les.mesh, str(les.mesh), f"{key}.mesh", scene.path)
                centre = np.asarray(mesh.center_of_mass(), dtype=float)
                radius = float((3.0 * abs(mesh.volume) / (4.0 * np.pi)) ** (1.0 / 3.0))
                pts, where, shown = np.asarray(mesh.points, float), f"{key}.mesh", str(les.mesh)
            elif les.sector is not None:
                radius = 0.5 * float(les.diameter_mm)
                try:
                    centre = S.sector_centre_mm(anatomy, les.sector, radius)
                except ValueError as exc:
                    problems.append(Problem(scene.path, f"{key}.diameter_mm", str(exc),
                                            "a lesion that fits inside the gland", f"{les.diameter_mm:g}"))
                    continue
                pts, where, shown = None, f"{key}.sector", les.sector
            else:
                radius = 0.5 * float(les.diameter_mm)
                centre = np.asarray(les.position_mm, dtype=float)
                pts, where = None, f"{key}.position_mm"
                xyz = ", ".join(f"{v:g}" for v in les.position_mm)
                shown = f"[{xyz}], diameter {les.diameter_mm:g} mm"
        except InputError as exc:
            problems.extend(exc.problems)
            continue
        placed = PlacedLesion(les, centre, radius, les.sector or "", mesh)
        if pts is None:
            pts = placed.surface_points_mm(200)
        outside = float(np.max(anatomy.signed_distance("prostate", pts)))
        if outside > OUTSIDE_TOLERANCE_MM:
            what = f"the lesion reaches {outside:.1f} mm outside the gland"
            problems.append(Problem(scene.path, where, what,
                                    f"a lesion inside the prostate (up to {OUTSIDE_TOLERANCE_MM:g} mm beyond "
                                    "the capsule)", shown))
            continue
        if not placed.sector:
            placed = PlacedLesion(les, centre, radius, frame.classify(centre).name, mesh)
        out.append(placed)
    if problems:
        raise InputError(problems)
    return tuple(out)


def check_lesions(scene, anatomy) -> None:
    """Raise :class:`InputError` when a lesion of ``scene`` does not fit inside the gland of ``anatomy``."""
    resolve_lesions(scene, anatomy)
