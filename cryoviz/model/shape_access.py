"""Per-organ access to the shapes of :class:`cryoviz.model.shapes.OrganShapes`: signed distances, meshing
functions, bounds and voxel masks, in mm in the patient frame of :mod:`cryoviz.model.anatomy`."""

from __future__ import annotations

from functools import cached_property

import numpy as np

from cryoviz.model.primitives import SurfaceDistance

__all__ = ["OrganAccess"]


class OrganAccess:
    """Mixin of :class:`~cryoviz.model.shapes.OrganShapes`: how the rest of the model reads each organ."""

    @cached_property
    def prostate_sd(self):
        return SurfaceDistance(self.prostate_implicit, self.surface)

    @cached_property
    def bladder_sd(self):
        th = np.linspace(0.0, np.pi, 121)
        ph = np.linspace(0.0, 2.0 * np.pi, 241, endpoint=False)
        T, P = np.meshgrid(th, ph, indexing="ij")
        unit = np.stack([np.sin(T) * np.cos(P), np.sin(T) * np.sin(P), np.cos(T)], axis=-1).reshape(-1, 3)
        pts = self.bladder_centre + unit * self.bladder_axes

        def implicit(p):
            q = (np.asarray(p, dtype=float) - self.bladder_centre) / self.bladder_axes
            return np.einsum("ij,ij->i", q, q) - 1.0

        return SurfaceDistance(implicit, pts)

    def implicit(self, organ: str):
        """Approximate signed distance (mm, negative inside) of one organ's outer surface."""
        return {
            "prostate": self.prostate_sd, "urethra": self.urethra, "sphincter": self.sphincter,
            "bladder": self.bladder_sd, "rectum": self.rectum_outer, "seminal_vesicles": self.vesicles,
            "neurovascular_bundles": self.bundles, "perineum": self.perineum, "pubic_bone": self.pubic,
        }[organ]

    def mesh_fn(self, organ: str):
        """A cheap implicit function with the organ's surface as its zero level (for marching cubes)."""
        if organ == "prostate":
            scale = min(self.a0, self.b_post, self.c) / 2.0
            return lambda p: scale * self.prostate_implicit(p)
        if organ == "bladder":
            return self.bladder_outer
        return self.implicit(organ)

    def bounds(self, organ: str) -> np.ndarray:
        """Axis-aligned bounds (xmin, xmax, ymin, ymax, zmin, zmax) of one organ, mm (slightly generous)."""
        from cryoviz.model import shapes as _S  # the sizes (a top-level import would be circular)

        def from_pts(pts, pad):
            pts = np.asarray(pts)
            return np.ravel(np.stack([pts.min(axis=0) - pad, pts.max(axis=0) + pad], axis=1))

        if organ == "prostate":
            return from_pts(self.surface, 0.5)
        if organ == "urethra":
            return from_pts(self.urethra_nodes, _S.URETHRA_RADIUS_MM + 0.5)
        if organ == "sphincter":
            ax = self.apex_urethra
            r = _S.SPHINCTER_OUTER_RADIUS_MM + 0.5
            return np.array([ax[0] - r, ax[0] + r, ax[1] - r, ax[1] + r,
                             self.sphincter_z[0] - 0.5, self.sphincter_z[1] + 0.5])
        if organ == "bladder":
            c, a = self.bladder_centre, self.bladder_axes + 0.5
            return np.ravel(np.stack([c - a, c + a], axis=1))
        if organ == "rectum":
            return from_pts(self.rectum_nodes, self.r_out + 0.5)
        if organ == "seminal_vesicles":
            return _union_bounds([t.bounds() for t in self.vesicle_tubes])
        if organ == "neurovascular_bundles":
            return _union_bounds([t.bounds() for t in self.bundle_tubes])
        if organ == "perineum":
            return self.perineum_box + np.array([-0.5, 0.5, -0.5, 0.5, -0.5, 0.5])
        if organ == "pubic_bone":
            return self.pubic.bounds()
        raise KeyError(organ)

    def inside_fn(self, organ: str, inner_offset_mm: float = 0.0):
        """Mask function: points deeper than ``inner_offset_mm`` inside an organ (the bladder and rectum
        offsets give urine and lumen)."""
        if organ == "prostate" and inner_offset_mm == 0.0:
            return lambda p: self.prostate_implicit(p) < 0.0
        if organ == "bladder":
            if inner_offset_mm > 0.0:
                return lambda p: self.bladder_urine(p) < 0.0
            return lambda p: self.bladder_outer(p) < 0.0
        if organ == "rectum" and inner_offset_mm > 0.0:
            return lambda p: self.rectum_lumen(p) < 0.0
        fn = self.implicit(organ)
        return lambda p: fn(p) < -inner_offset_mm

    def saline_fn(self, anatomy):
        """Saline fills the lens between the capsule and the rectal wall (hydrodissection)."""
        gap = self.rectum_gap_mm

        def fn(p):
            dp = anatomy.signed_distance("prostate", p)
            dr = anatomy.signed_distance("rectum", p)
            return (dp > 0.0) & (dr > 0.0) & (dp + dr <= 1.2 * gap + 1.0)

        return fn

    def saline_bounds(self) -> np.ndarray:
        """Where saline may be painted (behind the gland, in front of the rectum), mm."""
        from cryoviz.model import shapes as _S

        w = min(_S.SALINE_MAX_HALF_WIDTH_MM, self.a0)
        return np.array([-w, w, 0.0, self.rectum_y, self.apex_z, self.base_z])

    def default_bounds(self, margin_mm: float) -> np.ndarray:
        """Gland, urethra and sphincter, rectal wall and lumen, bladder neck, plus a margin, mm."""
        from cryoviz.model import shapes as _S

        pb = self.bounds("prostate")
        sb = self.bounds("sphincter")
        lo = np.minimum(pb[0::2] - margin_mm, sb[0::2] - 5.0)
        hi = pb[1::2] + margin_mm
        hi[1] = max(hi[1], self.rectum_y + self.r_out + 2.0)  # the whole rectal wall and lumen
        hi[2] = max(hi[2], self.bladder_neck[2] + _S.BLADDER_WALL_MM + 5.0)  # the bladder neck
        return np.ravel(np.stack([lo, hi], axis=1))


def _union_bounds(boxes) -> np.ndarray:
    b = np.asarray(boxes, dtype=float)
    return np.ravel(np.stack([b[:, 0::2].min(axis=0), b[:, 1::2].max(axis=0)], axis=1))
