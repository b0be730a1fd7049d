"""What a frame points at: the section view of a chapter, the organ a caption names, and the measured gap
between the lethal ice and the rectal wall (compute layer: numpy and scipy only).

The renderer draws these; the story decides them, so the video, the stills and the app agree.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np

__all__ = ["CHAPTER_SECTION", "SECTION_VIEWS", "Gap", "focus_organ", "lethal_gap"]

#: Section views the renderer can draw ("story" follows the story's choice, below).
SECTION_VIEWS = ("story", "sagittal", "transverse")
#: Chapter id -> section the story shows in it: the mid-sagittal cut shows the bladder, gland, urethra,
#: rectum and perineum in one plane (where the gap to the rectum is); the transverse cut shows the ring of
#: ice around the warmed urethra with the rectum behind it.
CHAPTER_SECTION = {"freeze1": "sagittal", "thaw_refreeze": "transverse", "spared": "sagittal"}
#: Isotherm whose distance to the rectal wall the callout measures, °C (the metric
#: ``organs.rectum_wall.min_distance_to_minus40_mm``).
LETHAL_C = -40.0
_RECTAL_WALL_LABEL = 6  # cryoviz.physics.metrics.ORGAN_LABELS["rectum_wall"]


class Gap(NamedTuple):
    """The shortest line from the lethal ice to the rectal wall.

    Attributes
    ----------
    ice_mm, wall_mm : tuple of float
        Voxel centres (x, y, z) mm at either end: the lethal ice voxel and the rectal-wall voxel.
    distance_mm : float
        Their distance, mm (the same Euclidean distance transform as the metric).
    """

    ice_mm: tuple[float, float, float]
    wall_mm: tuple[float, float, float]
    distance_mm: float


def lethal_gap(result) -> Gap | None:
    """Closest pair of lethal-ice and rectal-wall voxels over the whole protocol, or None.

    Uses :func:`scipy.ndimage.distance_transform_edt` on the coldest temperatures, exactly as
    :mod:`cryoviz.physics.metrics` does for ``min_distance_to_minus40_mm``, so the drawn line has the
    length the caption quotes.

    Parameters
    ----------
    result : cryoviz.physics.thermal.ThermalResult
    """
    from scipy.ndimage import distance_transform_edt

    g = result.grid
    wall = np.asarray(g.labels) == _RECTAL_WALL_LABEL
    lethal = np.asarray(result.min_temp_c) <= LETHAL_C
    if not wall.any() or not lethal.any():
        return None
    sp = float(g.spacing_mm)
    dist, idx = distance_transform_edt(~lethal, sampling=sp, return_indices=True)
    d_wall = np.where(wall, dist, np.inf)
    w = np.unravel_index(int(np.argmin(d_wall)), wall.shape)
    ice = tuple(int(idx[a][w]) for a in range(3))
    origin = np.asarray(g.origin_mm, float)
    p_wall = origin + sp * np.asarray(w, float)
    p_ice = origin + sp * np.asarray(ice, float)
    return Gap(_t(p_ice), _t(p_wall), float(dist[w]))


def focus_organ(caption: str | None, words: dict[str, str], organs) -> str | None:
    """The organ a caption is about, or None: the first organ it names, the prostate only when it names no
    other (captions describe the other organs by where they lie against the gland: "Below the prostate, a
    ring of muscle ... the sphincter" is about the sphincter).

    Parameters
    ----------
    caption : str or None
        Subtitle text.
    words : dict
        Organ name -> ``|``-separated word stems in the caption's language (the ``[focus]`` table of the
        language file); a stem matches at the start of a word ("rect" matches "rectal" and "recto").
    organs : iterable of str
        Organs present in the scene; others are never focused.
    """
    if not caption:
        return None
    text = caption.lower()
    best: tuple[bool, int, str] | None = None
    present = set(organs)
    for organ, stems in words.items():
        if organ not in present:
            continue
        for stem in filter(None, (s.strip().lower() for s in stems.split("|"))):
            m = re.search(r"(?<!\w)" + re.escape(stem), text)
            key = (organ == "prostate", m.start(), organ) if m else None
            if key is not None and (best is None or key < best):
                best = key
    return None if best is None else best[2]


def _t(v) -> tuple[float, float, float]:
    return (float(v[0]), float(v[1]), float(v[2]))
