"""The generated anatomy: implicit organ shapes turned into surface meshes and voxel labels.

Patient frame
-------------
All coordinates are millimetres in one patient frame: **x = patient left, y = posterior, z = superior
(toward the head), origin at the prostate centre**. The patient lies on his back; the probes go in along +z
from the perineal skin (``landmarks.skin_z_mm``).

How it is built
---------------
Each organ is an implicit shape (negative inside; see :mod:`cryoviz.model.shapes`). Sizes follow
``clinical-facts.md`` §3 and scale with the prostate volume. From the same shapes come

* surface meshes (marching cubes on a fine grid, smoothed, cleaned, decimated, closed and manifold), and
* voxel labels (:data:`LABELS`) for the thermal model, filled in an order that makes anatomical sense
  (the urethra wins inside the prostate, saline fills the hydrodissection gap).

A patient's own meshes (``AnatomyParams.meshes``) replace the generated ones (:mod:`cryoviz.model.mesh_io`).
This is a picture for patient education, not a treatment-planning model.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from cryoviz.model import shapes as S
from cryoviz.model.mesh_cache import cached_mesh
from cryoviz.model.mesh_io import box_mesh, mesh_from_implicit
from cryoviz.model.records import LABELS, LabelGrid, Landmarks
from cryoviz.model.scene import ORGAN_NAMES, AnatomyParams, Phantom
from cryoviz.model.shapes import BLADDER_WALL_MM, URETHRA_RADIUS_MM, OrganShapes

__all__ = [
    "LABELS",
    "MESH_TRIANGLE_BUDGET",
    "Anatomy",
    "LabelGrid",
    "Landmarks",
    "build_anatomy",
    "phantom_anatomy",
    "write_default_meshes",
]

#: Target triangles per organ mesh (the whole default anatomy stays under about 60k).
MESH_TRIANGLE_BUDGET: dict[str, int] = {
    "prostate": 12000, "urethra": 4000, "sphincter": 3000, "bladder": 9000, "rectum": 8000,
    "seminal_vesicles": 5000, "neurovascular_bundles": 3000, "perineum": 2000, "pubic_bone": 5000,
    "gel": 2000,
}
#: Marching-cubes grid spacing per organ, mm.
MESH_SPACING_MM: dict[str, float] = {
    "prostate": 0.6, "urethra": 0.5, "sphincter": 0.5, "bladder": 1.3, "rectum": 1.2,
    "seminal_vesicles": 0.6, "neurovascular_bundles": 0.4, "perineum": 0.5, "pubic_bone": 0.9,
    "gel": 1.0,
}


def _check_points(points_mm) -> np.ndarray:
    p = np.asarray(points_mm, dtype=float)
    if p.ndim == 1 and p.shape[0] == 3:
        p = p[None, :]
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"points_mm must have shape (n, 3), got {p.shape}")
    return p


# ---- the anatomy ---------------------------------------------------------------------------------------
class Anatomy:
    """One patient's (or phantom's) anatomy: organ shapes, meshes and voxel labels.

    Attributes
    ----------
    params : AnatomyParams or Phantom
    landmarks : Landmarks
    organs : tuple of str
        Organ names present (those of :data:`cryoviz.model.scene.ORGAN_NAMES`, or ``("gel",)`` for a phantom).
    """

    def __init__(self, params, geometry, landmarks: Landmarks, organs: tuple[str, ...],
                 patient_meshes: dict | None = None):
        self.params = params
        self.landmarks = landmarks
        self.organs = tuple(organs)
        self._geo = geometry
        self._patient = dict(patient_meshes or {})
        self._meshes: dict = {}
        self._distance: dict = {}
        #: Repairs made to the patient's files while reading them (plain sentences).
        self.notes: tuple[str, ...] = ()

    @property
    def patient_organs(self) -> tuple[str, ...]:
        """Organs drawn from the patient's own surfaces (the others are generated around them)."""
        return tuple(self._patient)

    def patient_site_mm(self, site: str) -> tuple[float, float, float] | None:
        """A sensor site measured on the patient's own surfaces, or None (then the generated rule holds)."""
        fn = getattr(self._geo, "site_mm", None)
        return None if fn is None else fn(site, self)

    # -- surfaces --
    def mesh(self, organ: str):
        """The organ's closed, manifold surface (``pyvista.PolyData``, mm), built once and cached."""
        if organ not in self.organs:
            raise KeyError(f"no organ {organ!r} in this anatomy (organs: {', '.join(self.organs)})")
        if organ not in self._meshes:
            if organ in self._patient:
                self._meshes[organ] = self._patient[organ]
            elif organ == "perineum":  # a flat slab: a subdivided box is exact (and decimation hates planes)
                self._meshes[organ] = box_mesh(self._geo.perineum_box)
            else:
                self._meshes[organ] = cached_mesh(self.params, organ, lambda: mesh_from_implicit(
                    self._geo.mesh_fn(organ), self._geo.bounds(organ), MESH_SPACING_MM[organ],
                    MESH_TRIANGLE_BUDGET[organ]), self._fit_digest())
        return self._meshes[organ]

    def _fit_digest(self) -> str:
        """Digest of the patient surfaces the generated organs are fitted around ("" when none)."""
        fitted = getattr(self._geo, "patient", None)
        if not fitted:
            return ""
        import hashlib

        h = hashlib.sha256()
        for organ in sorted(fitted):
            h.update(organ.encode())
            h.update(np.ascontiguousarray(fitted[organ].points, dtype=np.float32).tobytes())
        return h.hexdigest()[:16]

    def meshes(self) -> dict:
        """Every organ's mesh, in drawing order."""
        return {organ: self.mesh(organ) for organ in self.organs}

    def signed_distance(self, organ: str, points_mm) -> np.ndarray:
        """Signed distance (mm, negative inside) from points ``(n, 3)`` to an organ's outer surface.

        Generated organs use their implicit shape (exact for tubes, rings and boxes, close to exact near the
        surface for the gland and the bladder); a patient's mesh uses the distance to that mesh.
        """
        if organ not in self.organs:
            raise KeyError(f"no organ {organ!r} in this anatomy (organs: {', '.join(self.organs)})")
        p = _check_points(points_mm)
        if organ in self._patient:
            from cryoviz.model.mesh_io import mesh_signed_distance

            return mesh_signed_distance(self._patient[organ], p)
        return np.asarray(self._geo.implicit(organ)(p), dtype=float)

    def urethra_centreline_mm(self, n: int = 50) -> np.ndarray:
        """``n`` points (n, 3) along the urethra's centre, evenly spaced, from inside the bladder neck down
        through the prostate and the sphincter to the end of the membranous urethra."""
        if "urethra" not in self.organs:
            return np.zeros((0, 3))
        return S.resample_polyline(self._geo.urethra_nodes[::-1], max(int(n), 2))

    # -- labels --
    def default_bounds_mm(self, margin_mm: float = 15.0) -> np.ndarray:
        """Default label-grid bounds: the gland, urethra and sphincter region, the rectal wall and lumen and
        the bladder neck, plus ``margin_mm``."""
        return self._geo.default_bounds(margin_mm)

    def label_grid(self, spacing_mm: float, bounds_mm=None, margin_mm: float = 15.0) -> LabelGrid:
        """Voxel labels (codes of :data:`LABELS`) on a regular grid.

        Parameters
        ----------
        spacing_mm : float
            Voxel size, mm (> 0).
        bounds_mm : sequence of 6 float, optional
            (xmin, xmax, ymin, ymax, zmin, zmax); default :meth:`default_bounds_mm` with ``margin_mm``.
        margin_mm : float
            Margin around the default region, mm.
        """
        sp = float(spacing_mm)
        if not (sp > 0.0 and math.isfinite(sp)):
            raise ValueError(f"spacing_mm must be a positive number, got {spacing_mm!r}")
        b = np.asarray(self.default_bounds_mm(margin_mm) if bounds_mm is None else bounds_mm, dtype=float)
        if b.shape != (6,) or not np.all(b[1::2] > b[0::2]):
            raise ValueError(f"bounds_mm must be (xmin, xmax, ymin, ymax, zmin, zmax), got {bounds_mm!r}")
        origin = b[0::2].copy()
        shape = (np.floor((b[1::2] - origin) / sp + 1e-9).astype(int) + 1)
        labels = np.full(tuple(shape), self._geo.background_label, dtype=np.uint8)
        axes = [origin[k] + sp * np.arange(shape[k]) for k in range(3)]
        for code, fn, box, where in self._fill_order():
            sl = []
            for k in range(3):
                i0 = int(np.searchsorted(axes[k], box[2 * k], side="left"))
                i1 = int(np.searchsorted(axes[k], box[2 * k + 1], side="right"))
                sl.append(slice(i0, i1))
            if any(s.stop <= s.start for s in sl):
                continue
            X, Y, Z = np.meshgrid(axes[0][sl[0]], axes[1][sl[1]], axes[2][sl[2]], indexing="ij")
            pts = np.stack([X.ravel(), Y.ravel(), Z.ravel()], axis=1)
            block = labels[sl[0], sl[1], sl[2]]
            mask = fn(pts).reshape(block.shape)
            if where is not None:
                mask &= block == where
            block[mask] = code
        return LabelGrid(labels=labels, origin_mm=origin, spacing_mm=sp)

    def _inside(self, organ: str, inner_offset_mm: float = 0.0):
        """(mask function, bounds) for points deeper than ``inner_offset_mm`` inside an organ."""
        if organ in self._patient:
            mesh = self._patient[organ]
            box = np.asarray(mesh.bounds, dtype=float) + np.array([-1.0, 1, -1, 1, -1, 1])

            def fn(p, mesh=mesh):
                from cryoviz.model.mesh_io import mesh_signed_distance

                return mesh_signed_distance(mesh, p) < -inner_offset_mm

            return fn, box
        raw = self._geo.inside_fn(organ, inner_offset_mm)
        return raw, self._geo.bounds(organ)

    def _fill_order(self):
        """(label code, mask function, bounds, only-where-label) in painting order (later wins)."""
        if "gel" in self.organs:
            return []
        g = self._geo
        out = []
        L = LABELS
        out.append((L["pubic_bone"], *self._inside("pubic_bone"), None))
        out.append((L["bladder_wall"], *self._inside("bladder"), None))
        out.append((L["urine"], *self._inside("bladder", g.bladder_wall_mm), None))
        out.append((L["seminal_vesicles"], *self._inside("seminal_vesicles"), None))
        out.append((L["rectum_wall"], *self._inside("rectum"), None))
        out.append((L["rectum_lumen"], *self._inside("rectum", g.params.rectal_wall_mm), None))
        if g.params.hydrodissection:
            out.append((L["saline"], g.saline_fn(self), g.saline_bounds(), L["tissue"]))
        out.append((L["neurovascular_bundles"], *self._inside("neurovascular_bundles"), None))
        out.append((L["prostate"], *self._inside("prostate"), None))
        out.append((L["sphincter"], *self._inside("sphincter"), None))
        out.append((L["urethra"], *self._inside("urethra"), None))
        return out


def _landmarks(g: OrganShapes) -> Landmarks:
    s = g.surface
    return Landmarks(
        apex_z_mm=float(g.apex_z), base_z_mm=float(g.base_z), skin_z_mm=float(g.skin_z),
        prostate_volume_ml=float(g.volume_ml),
        prostate_half_width_mm=float(np.abs(s[:, 0]).max()),
        prostate_half_ap_anterior_mm=float(-s[:, 1].min()),
        prostate_half_ap_posterior_mm=float(s[:, 1].max()),
        prostate_half_length_mm=float(g.c), urethra_radius_mm=URETHRA_RADIUS_MM,
        verumontanum_mm=(0.0, float(g.y_verum), 0.0),
        apex_urethra_mm=tuple(float(v) for v in g.apex_urethra),
        bladder_neck_mm=tuple(float(v) for v in g.bladder_neck),
        bladder_centre_mm=tuple(float(v) for v in g.bladder_centre),
        bladder_semi_axes_mm=tuple(float(v) for v in g.bladder_axes), bladder_wall_mm=BLADDER_WALL_MM,
        rectum_axis_x_mm=float(getattr(g, "rectum_x", 0.0)), rectum_axis_y_mm=float(g.rectum_y),
        rectum_inner_radius_mm=float(g.r_in),
        rectum_outer_radius_mm=float(g.r_out), rectum_wall_mm=float(g.params.rectal_wall_mm),
        rectum_gap_mm=float(g.rectum_gap_mm), hydrodissection=bool(g.params.hydrodissection),
        sphincter_z_mm=(float(g.sphincter_z[0]), float(g.sphincter_z[1])),
        membranous_bottom_z_mm=float(g.membranous_bottom_z),
        apex_mm=(0.0, float(g.shear_y(np.array([g.apex_z]))[0]), float(g.apex_z)),
        rectum_axis_mm=tuple(tuple(float(v) for v in node) for node in g.rectum_nodes),
    )


_CACHE: dict = {}
_CACHE_SIZE = 16


def _cache_key(params: AnatomyParams, base_dir) -> tuple:
    """Everything the anatomy depends on, including when each patient mesh file last changed."""
    meshes = []
    for organ, given in sorted(dict(params.meshes).items()):
        path = Path(given)
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            stamp = None
        meshes.append((str(organ), str(path), stamp))
    return (float(params.volume_ml), bool(params.post_radiation), float(params.radiation_shrink),
            float(params.rectum_gap_mm), bool(params.hydrodissection), float(params.rectal_wall_mm),
            float(params.bladder_volume_ml), tuple(meshes))


def build_anatomy(params: AnatomyParams | None = None, base_dir: str | Path | None = None) -> Anatomy:
    """Build (or fetch from the cache) the anatomy for ``params``.

    Parameters
    ----------
    params : AnatomyParams, optional
        Default ``AnatomyParams()``.
    base_dir : path, optional
        Folder that relative patient mesh paths are taken from (the scene file's folder).

    Raises
    ------
    InputError
        A patient mesh is missing, unreadable, open or implausible (key ``anatomy.meshes.<organ>``).
    """
    params = AnatomyParams() if params is None else params
    key = _cache_key(params, base_dir)
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    geo = OrganShapes(params)
    patient: dict = {}
    notes: list[str] = []
    if params.meshes:
        geo, patient = _fit_to_patient(params, geo, base_dir, notes)
    anatomy = Anatomy(params, geo, _landmarks(geo), ORGAN_NAMES, patient)
    anatomy.notes = tuple(notes)
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = anatomy
    return anatomy


def _fit_to_patient(params: AnatomyParams, geo: OrganShapes, base_dir, notes: list):
    """His prostate first (checked against the generated one), then the body fitted around it
    (:class:`cryoviz.model.fitted.FittedShapes`), then his other organs checked against that body."""
    from cryoviz.model.fitted import FittedShapes
    from cryoviz.model.mesh_io import load_patient_meshes

    meshes = dict(params.meshes)
    if "prostate" not in meshes:
        return geo, load_patient_meshes(meshes, geo, base_dir, notes)
    patient = load_patient_meshes({"prostate": meshes.pop("prostate")}, geo, base_dir, notes)
    geo = FittedShapes(params, patient)
    if meshes:
        patient.update(load_patient_meshes(meshes, geo, base_dir, notes))
        if "rectum" in patient:
            geo = FittedShapes(params, patient)
    return geo, patient


def phantom_anatomy(phantom: Phantom | None = None) -> Anatomy:
    """A gel cube for the single-probe demonstration (see :func:`cryoviz.model.phantom.phantom_anatomy`)."""
    from cryoviz.model.phantom import phantom_anatomy as build

    return build(phantom)


def write_default_meshes(out_dir: str | Path) -> list[Path]:
    """Write ``<organ>.vtp`` of the default anatomy (see :mod:`cryoviz.model.mesh_cache`)."""
    from cryoviz.model.mesh_cache import write_default_meshes as write

    return write(out_dir)
