"""A TRUS-like (transrectal ultrasound) grayscale picture of the same body the 3D view shows.

The transducer sits in the rectum lumen, on the rectum axis, and looks anteriorly (towards −y in the
patient frame of :mod:`cryoviz.model.anatomy`: x = patient left, y = posterior, z = superior, mm). Two planes:

* ``"sagittal"``: the plane x = const (the rectum axis by default, or a probe column); the fan opens along
  z; the image shows superior (bladder) on the left and inferior (apex, perineum) on the right.
* ``"transverse"``: the plane z = const (mid-gland by default); the fan opens along x; the patient's left is
  on the image right (seen from the feet, as in radiology).

In both the transducer is at the bottom of the image and anterior is up. The image is built in two parts:

1. **Static, once per (grid, plane, position, size, seed)**: echo levels of the tissues (labels), seeded
   speckle, attenuation along each scanline with time-gain compensation, the layered rectal wall and the
   pubic-bone shadow are composed on a polar (scanline × depth) grid, then scan-converted to the pixels of
   the sector. The sampling maps (pixel → scanline, depth, 3-D point) and the trilinear weights used to read
   temperatures are kept in a :class:`UltrasoundView`, cached by :func:`get_view`.
2. **Per frame**: temperatures are read along the scanlines, the first sample at or below 0 °C on each
   scanline places the ice front (a bright line, sub-sample accurate) with the acoustic shadow behind it;
   needles are added as bright lines (only their inserted part); then the overlays (template dots in the
   transverse view, a depth scale in cm, optionally the −40 °C outline) and, when asked, the patient's
   labels (prostate, rectum, ice edge) in his language.

Modules: :mod:`~cryoviz.story.us_echo` (echo model), :mod:`~cryoviz.story.us_view` (one plane),
:mod:`~cryoviz.story.us_overlay` and :mod:`~cryoviz.story.us_font` (text, with Pillow); this module holds
the entry points. No renderer; same inputs give the same array.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np

from cryoviz.story.us_echo import ECHO_DB, LESION_LABEL, PLANES, _bad, _digest, default_transducer_mm
from cryoviz.story.us_view import UltrasoundView

__all__ = [
    "ECHO_DB",
    "PLANES",
    "UltrasoundView",
    "default_transducer_mm",
    "get_view",
    "probe_segments_mm",
    "ultrasound_frame",
    "ultrasound_image",
]

_CACHE_SIZE = 8

# ------------------------------------------------------------------------------------------- entry points
_VIEWS: OrderedDict[tuple, UltrasoundView] = OrderedDict()


def _check_view_args(grid, plane, position_mm, size_px, seed, depth_mm, half_angle_deg, probe_radius_mm):
    if plane not in PLANES:
        raise _bad("plane", "unknown ultrasound plane", ", ".join(PLANES), plane)
    try:
        w, h = (int(v) for v in size_px)
        ok = len(tuple(size_px)) == 2 and 64 <= w <= 4096 and 64 <= h <= 4096
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise _bad("size_px", "image size out of range", "(width, height), each 64 to 4096 px", size_px)
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool):
        raise _bad("seed", "seed must be an integer", "an int", seed)
    if not 20.0 <= float(depth_mm) <= 150.0:
        raise _bad("depth_mm", "imaging depth out of range", "20 to 150 mm", depth_mm)
    if not 10.0 <= float(half_angle_deg) <= 80.0:
        raise _bad("half_angle_deg", "sector half angle out of range", "10 to 80 degrees", half_angle_deg)
    if not 2.0 <= float(probe_radius_mm) <= 30.0:
        raise _bad("probe_radius_mm", "probe radius out of range", "2 to 30 mm", probe_radius_mm)
    lab = np.asarray(getattr(grid, "labels", None))
    if lab.ndim != 3 or lab.dtype.kind not in "ui":
        raise _bad("grid", "not a label grid", "LabelGrid with integer labels[nx, ny, nz]",
                   type(grid).__name__)
    if position_mm is not None:
        axis = 0 if plane == "sagittal" else 2
        lo = float(grid.origin_mm[axis])
        hi = lo + float(grid.spacing_mm) * (lab.shape[axis] - 1)
        if not (math.isfinite(float(position_mm)) and lo <= float(position_mm) <= hi):
            raise _bad("position_mm", f"{plane} plane outside the grid",
                       f"{'x' if axis == 0 else 'z'} from {lo:.1f} to {hi:.1f} mm", position_mm)


def get_view(grid, plane: str = "sagittal", position_mm: float | None = None,
             size_px: tuple[int, int] = (512, 512), seed: int = 0, transducer_mm=None, depth_mm: float = 60.0,
             half_angle_deg: float | None = None, probe_radius_mm: float = 10.0) -> UltrasoundView:
    """The (cached) :class:`UltrasoundView` of one plane of a label grid.

    Parameters
    ----------
    grid : LabelGrid
        ``labels`` uint8 (nx, ny, nz), ``origin_mm`` (3,), ``spacing_mm``.
    plane : {"sagittal", "transverse"}
    position_mm : float, optional
        x of the sagittal plane / z of the transverse plane; defaults to the transducer's x / z.
    size_px : (int, int)
        (width, height) of the image, pixels.
    seed : int
        Speckle seed.
    transducer_mm : (float, float, float), optional
        A point on the rectum axis where the transducer sits; see :func:`default_transducer_mm`.
    depth_mm : float
        Imaged depth beyond the transducer face, mm.
    half_angle_deg : float, optional
        Half opening of the fan; default 55° transverse, 45° sagittal.
    probe_radius_mm : float
        Radius of the transducer face (the fan starts this far from its apex).
    """
    if half_angle_deg is None:
        half_angle_deg = 55.0 if plane == "transverse" else 45.0
    _check_view_args(grid, plane, position_mm, size_px, seed, depth_mm, half_angle_deg, probe_radius_mm)
    digest = _digest(np.asarray(grid.labels))
    origin = tuple(float(v) for v in grid.origin_mm)
    key = (digest, origin, float(grid.spacing_mm), plane, None if position_mm is None else float(position_mm),
           tuple(int(v) for v in size_px), int(seed),
           None if transducer_mm is None else tuple(float(v) for v in transducer_mm),
           float(depth_mm), float(half_angle_deg), float(probe_radius_mm))
    view = _VIEWS.get(key)
    if view is not None:
        _VIEWS.move_to_end(key)
        return view
    tr = default_transducer_mm(grid) if transducer_mm is None else tuple(float(v) for v in transducer_mm)
    if position_mm is None:
        position_mm = tr[0] if plane == "sagittal" else tr[2]
    view = UltrasoundView(grid, plane, position_mm, tr, size_px, seed, depth_mm, half_angle_deg,
                          probe_radius_mm)
    _VIEWS[key] = view
    while len(_VIEWS) > _CACHE_SIZE:
        _VIEWS.popitem(last=False)
    return view


def ultrasound_image(grid, temp_c=None, probes_mm=None, plane: str = "sagittal", position_mm=None,
                     size_px: tuple[int, int] = (512, 512), seed: int = 0, inserted_mm=None,
                     show_lethal: bool = False, gain_db: float = 0.0, words: dict | None = None,
                     **view_kw) -> np.ndarray:
    """A TRUS-like grayscale image of a label grid and a temperature field.

    Parameters
    ----------
    grid : LabelGrid
        Voxel labels (codes of ``anatomy.LABELS``).
    temp_c : ndarray, optional
        Temperature on the same grid, °C; None for a body at rest (no ice).
    probes_mm : array-like (n, 2, 3), optional
        Needles as (entry, tip) points in mm.
    plane, position_mm, size_px, seed
        See :func:`get_view`; ``view_kw`` passes ``transducer_mm``, ``depth_mm``, ``half_angle_deg``,
        ``probe_radius_mm``.
    inserted_mm : array-like (n,), optional
        Current insertion of each needle from its entry, mm (None: fully in).
    show_lethal : bool
        Outline the −40 °C zone.
    gain_db : float
        Overall gain, dB.
    words : dict, optional
        Labels in the patient's language: ``prostate``, ``rectum``, ``ice_edge`` (the ``[ultrasound]``
        table of the language file); None draws none.

    Returns
    -------
    ndarray (height, width) uint8
        Black outside the sector.
    """
    view = get_view(grid, plane, position_mm, size_px, seed, **view_kw)
    probes = _check_probes(probes_mm, inserted_mm)
    return view.image(temp_c, probes, inserted_mm, show_lethal, gain_db, words)


def _check_probes(probes_mm, inserted_mm):
    if probes_mm is None:
        if inserted_mm is not None:
            raise _bad("inserted_mm", "insertion given without needles", "None", "a value")
        return None
    p = np.asarray(probes_mm, dtype=float)
    if p.size == 0:
        return p.reshape(0, 2, 3)
    if p.ndim != 3 or p.shape[1:] != (2, 3) or not np.isfinite(p).all():
        raise _bad("probes_mm", "needles must be finite (entry, tip) points", "array (n, 2, 3) mm",
                   f"shape {p.shape}")
    if inserted_mm is not None:
        ins = np.asarray(inserted_mm, dtype=float)
        if ins.shape != (len(p),) or not np.isfinite(ins).all():
            raise _bad("inserted_mm", "one finite insertion per needle", f"array ({len(p)},) mm",
                       f"shape {ins.shape}")
    return p


def probe_segments_mm(probes, skin_z_mm: float) -> np.ndarray:
    """(n, 2, 3) entry (on the skin) and tip points, mm, of probes going in along +z.

    Parameters
    ----------
    probes : sequence
        :class:`cryoviz.model.scene.Probe` (``x_mm``, ``y_mm``, ``depth_mm`` beyond the skin) or objects
        with a
        ``tip_mm`` (x, y, z) such as :class:`cryoviz.model.probes.ProbeGeometry`.
    skin_z_mm : float
        z of the perineal skin where the needles enter.
    """
    segs = []
    for p in probes:
        if hasattr(p, "tip_mm"):
            tip = np.asarray(p.tip_mm, dtype=float)
        else:
            tip = np.array([p.x_mm, p.y_mm, skin_z_mm + p.depth_mm], dtype=float)
        segs.append([[tip[0], tip[1], skin_z_mm], tip])
    return np.asarray(segs, dtype=float).reshape(-1, 2, 3)


def ultrasound_frame(anatomy, result, t_s: float, plane: str = "sagittal", position_mm=None,
                     size_px: tuple[int, int] = (512, 512), seed: int = 0, inserted_mm=None,
                     show_lethal: bool = False, gain_db: float = 0.0, with_probes: bool = True,
                     words: dict | None = None, lesion_mask=None, **view_kw) -> np.ndarray:
    """The ultrasound image of a simulated procedure at procedure time ``t_s`` (s).

    Uses the thermal result's own label grid, the transducer on the anatomy's rectum axis
    (``landmarks.rectum_axis_y_mm``) and the needles of ``result.probes`` entering at
    ``landmarks.skin_z_mm``; ``inserted_mm`` is each needle's current depth beyond the skin (the story's
    ``FrameState.probe_depths_mm``), None for fully in; ``words`` labels the picture in the patient's
    language. ``lesion_mask`` (bool, the grid's shape): voxels of lesions that show on ultrasound, drawn as
    a darker area (``us_echo.LESION_LABEL``) where they lie in the gland or the tissue around it. Other
    parameters as in :func:`ultrasound_image`.
    """
    if "transducer_mm" not in view_kw:
        view_kw["transducer_mm"] = _transducer_from_anatomy(anatomy, result.grid)
    grid = result.grid
    if lesion_mask is not None and np.any(lesion_mask):
        from cryoviz.model.anatomy import LabelGrid

        labels = np.array(grid.labels, copy=True)
        labels[np.asarray(lesion_mask, bool) & ((labels == 1) | (labels == 0))] = LESION_LABEL
        grid = LabelGrid(labels=labels, origin_mm=grid.origin_mm, spacing_mm=grid.spacing_mm)
    view = get_view(grid, plane, position_mm, size_px, seed, **view_kw)
    skin_z = getattr(getattr(anatomy, "landmarks", None), "skin_z_mm", None)
    probes = None
    if with_probes and skin_z is not None and len(result.probes):
        probes = probe_segments_mm(result.probes, float(skin_z))
    probes = _check_probes(probes, inserted_mm if probes is not None else None)
    return view.image_at(result, t_s, probes, inserted_mm, show_lethal, gain_db, words)


def _transducer_from_anatomy(anatomy, grid) -> tuple[float, float, float]:
    """A point of the rectum axis at the prostate centre height (z = 0), from the anatomy landmarks."""
    lm = getattr(anatomy, "landmarks", None)
    y = getattr(lm, "rectum_axis_y_mm", None)
    if y is None:
        return default_transducer_mm(grid)
    return (float(getattr(lm, "rectum_axis_x_mm", 0.0)), float(y), 0.0)
