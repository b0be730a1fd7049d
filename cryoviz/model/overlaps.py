"""Where a generated organ would overlap one of the patient's own: measured, so it is reported, not hidden.

The body generated around an imported gland keeps clear of it by construction (:mod:`cryoviz.model.fitted`);
this module measures the result on a voxel grid, so an overlap (an unusual gland shape, a rectum given
without its gap) is stated in the import summary and the tests, never silently drawn.
"""

from __future__ import annotations

import numpy as np

__all__ = ["INTENDED", "overlaps_ml"]

#: Pairs that overlap on purpose: the urethra runs through the gland, the sphincter ring wraps the urethra,
#: the urethra opens into the bladder neck.
INTENDED = frozenset({frozenset(p) for p in (("prostate", "urethra"), ("sphincter", "urethra"),
                                              ("bladder", "urethra"))})


def overlaps_ml(anatomy, spacing_mm: float = 1.0, min_ml: float = 0.01) -> dict[tuple[str, str], float]:
    """Volume shared by each imported organ and each generated organ, ml (pairs above ``min_ml`` only).

    Parameters
    ----------
    anatomy : Anatomy
        Built with patient meshes (``anatomy.patient_organs``).
    spacing_mm : float
        Voxel size of the measuring grid, mm (1 mm: a shared volume is good to about 0.01-0.05 ml).
    min_ml : float
        Smaller shared volumes (a voxel or two on a touching boundary) are not listed.

    Returns
    -------
    dict
        ``(imported organ, generated organ) -> ml``.
    """
    imported = tuple(o for o in anatomy.organs if o in anatomy.patient_organs)
    generated = tuple(o for o in anatomy.organs if o not in anatomy.patient_organs and o != "perineum")
    out: dict[tuple[str, str], float] = {}
    voxel_ml = spacing_mm ** 3 / 1000.0
    for i in imported:
        fi, bi = anatomy._inside(i)
        for g in generated:
            if frozenset((i, g)) in INTENDED:
                continue
            fg, bg = anatomy._inside(g)
            lo = np.maximum(np.asarray(bi)[0::2], np.asarray(bg)[0::2])
            hi = np.minimum(np.asarray(bi)[1::2], np.asarray(bg)[1::2])
            if np.any(hi <= lo):
                continue
            axes = [np.arange(lo[k], hi[k] + 1e-9, spacing_mm) for k in range(3)]
            X, Y, Z = np.meshgrid(*axes, indexing="ij")
            pts = np.column_stack([X.ravel(), Y.ravel(), Z.ravel()])
            in_g = np.asarray(fg(pts), dtype=bool)
            if not in_g.any():
                continue
            both = np.count_nonzero(np.asarray(fi(pts[in_g]), dtype=bool))
            ml = both * voxel_ml
            if ml >= min_ml:
                out[(i, g)] = round(ml, 3)
    return out
