"""Camera keyframes of the story: where the viewer stands in each chapter, sized to the gland.

Poses are in the patient frame (x = patient left, y = posterior, z = superior, mm). A pose is a focal point,
a unit direction from the focal point to the eye, a distance and a view-up vector. Between keyframes the
camera moves with an ease-in-out curve, so it never jumps; inside a chapter it drifts slowly from the
chapter's first pose to its last.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

__all__ = ["SECTION_KEYS", "VIEW_ANGLE_DEG", "Camera", "Pose", "chapter_poses", "ease", "interpolate",
           "section_pose"]

#: Vertical view angle of the camera, degrees (VTK's default).
VIEW_ANGLE_DEG = 30.0


class Camera(NamedTuple):
    """What the renderer needs: eye position, focal point and view up (mm), and the view angle."""

    position: tuple[float, float, float]
    focal_point: tuple[float, float, float]
    view_up: tuple[float, float, float]
    view_angle_deg: float = VIEW_ANGLE_DEG


@dataclass(frozen=True)
class Pose:
    """One camera keyframe.

    Attributes
    ----------
    focal_mm : tuple of float
        Point looked at.
    direction : tuple of float
        Unit vector from the focal point to the eye.
    distance_mm : float
        Eye-to-focal distance.
    up : tuple of float
        View-up hint (made perpendicular to the direction when used).
    """

    focal_mm: tuple[float, float, float]
    direction: tuple[float, float, float]
    distance_mm: float
    up: tuple[float, float, float] = (0.0, 0.0, 1.0)

    def camera(self) -> Camera:
        """The renderer's camera for this pose (view up made perpendicular to the line of sight)."""
        f = np.asarray(self.focal_mm, float)
        d = _unit(self.direction)
        up = np.asarray(self.up, float)
        up = up - d * float(up @ d)
        if np.linalg.norm(up) < 1e-6:  # looking straight along the hint: any perpendicular will do
            up = np.array([0.0, -1.0, 0.0]) - d * (-d[1])
        up = _unit(up)
        pos = f + d * self.distance_mm
        return Camera(_t(pos), _t(f), _t(up))


def ease(u: float) -> float:
    """Smooth ease-in-out from 0 to 1 (zero speed at both ends), ``u`` clamped to [0, 1]."""
    u = min(max(float(u), 0.0), 1.0)
    return u * u * (3.0 - 2.0 * u)


def interpolate(a: Pose, b: Pose, u: float) -> Pose:
    """Pose a fraction ``u`` (already eased) of the way from ``a`` to ``b``."""
    u = float(u)
    focal = (1 - u) * np.asarray(a.focal_mm) + u * np.asarray(b.focal_mm)
    da, db = _unit(a.direction), _unit(b.direction)
    d = (1 - u) * da + u * db
    if np.linalg.norm(d) < 1e-6:  # opposite directions: go round over the view-up side
        d = np.asarray(a.up, float)
    dist = math.exp((1 - u) * math.log(a.distance_mm) + u * math.log(b.distance_mm))
    up = (1 - u) * np.asarray(a.up, float) + u * np.asarray(b.up, float)
    return Pose(_t(focal), _t(_unit(d)), float(dist), _t(up))


# direction at the start and end of the chapter, how much of the frame the gland fills, focal shift
# (in gland radii along x, y, z). Directions point from the focal point to the eye. Chapters that are
# mostly talk hold the camera still, so the video can reuse identical frames. The eye stays on the
# patient's right side, within about 20 degrees of a true lateral view: from there the pubic bone lies in
# front of the gland (to the right of the picture) and the rectum behind it (to the left), so neither
# crosses the gland; views from the front put the bone across the gland.
_KEYS = {
    "anatomy": ((-1.0, 0.0, 0.15), (-1.0, 0.2, 0.3), 2.7, (0.0, 0.2, 0.3)),
    "why": ((-1.0, 0.1, 0.25), (-1.0, 0.1, 0.25), 2.4, (0.0, 0.0, 0.1)),
    "preparation": ((-0.95, 0.1, -0.1), (-0.85, 0.35, -0.25), 2.6, (0.0, 0.5, -0.4)),
    "probes": ((-0.75, -0.15, -0.65), (-0.85, 0.1, -0.5), 1.15, None),
    "freeze1": ((-0.75, -0.45, 0.35), (-0.55, -0.7, 0.35), 2.0, (0.0, 0.1, 0.0)),
    "thaw_refreeze": ((-0.55, -0.7, 0.35), (-0.95, 0.15, 0.2), 2.0, (0.0, 0.2, 0.0)),
    "spared": ((-1.0, 0.05, 0.1), (-0.8, 0.45, -0.25), 2.1, (0.0, 0.45, -0.1)),
    "after": ((-1.0, 0.05, 0.2), (-1.0, 0.05, 0.2), 2.7, (0.0, 0.2, 0.2)),
}


#: Section view -> (direction to the eye, view up, fill, focal shift in gland radii). The sagittal view looks
#: from the patient's right with the head up (front of the body on the right of the picture) and frames the
#: bladder neck, gland, rectum and the apex; the transverse view looks from the feet with the front of the
#: body up, as a CT or transrectal ultrasound is shown, and frames the gland and the rectum behind it.
SECTION_KEYS = {
    "sagittal": ((-1.0, 0.0, 0.0), (0.0, 0.0, 1.0), 1.8, (0.0, 0.3, -0.25)),
    "transverse": ((0.0, 0.0, -1.0), (0.0, -1.0, 0.0), 1.75, (0.0, 0.5, 0.0)),
}


def section_pose(view: str, centre_mm, radius_mm: float) -> Pose:
    """The camera pose of a section view (:data:`SECTION_KEYS`), looking square onto the cut, framing a
    gland of ``radius_mm`` around ``centre_mm``."""
    direction, up, fill, shift = SECTION_KEYS[view]
    r = max(float(radius_mm), 5.0)
    focal = np.asarray(centre_mm, float) + r * np.asarray(shift, float)
    dist = fill * r / math.sin(math.radians(VIEW_ANGLE_DEG / 2.0))
    return Pose(_t(focal), _t(_unit(direction)), dist, _t(up))


def chapter_poses(chapter_id: str, centre_mm, radius_mm: float, skin_z_mm: float | None) -> tuple[Pose, Pose]:
    """First and last camera pose of a chapter, framing a gland of ``radius_mm`` around ``centre_mm``.

    Parameters
    ----------
    chapter_id : str
        One of :data:`cryoviz.story.text.CHAPTER_IDS`.
    centre_mm : array-like (3,)
        Centre of the gland (or phantom target).
    radius_mm : float
        Half the largest extent of the gland; every distance scales with it, so any gland size is framed.
    skin_z_mm : float or None
        Height of the perineal skin; the probe chapter frames the path from the skin to the gland.
    """
    from cryoviz.story.focus import CHAPTER_SECTION

    if chapter_id in CHAPTER_SECTION:  # the story shows this chapter in section: look square onto the cut
        pose = section_pose(CHAPTER_SECTION[chapter_id], centre_mm, radius_mm)
        return pose, pose
    start, end, fill, shift = _KEYS[chapter_id]
    c = np.asarray(centre_mm, float)
    r = max(float(radius_mm), 5.0)
    if shift is None:  # probe chapter: frame skin to base so the whole path of the needles shows
        low = skin_z_mm if skin_z_mm is not None else c[2] - 3.0 * r
        top = c[2] + r
        focal = np.array([c[0], c[1], 0.5 * (low + top)])
        half = 0.5 * (top - low) + 0.3 * r
    else:
        focal = c + r * np.asarray(shift, float)
        half = r
    dist = fill * half / math.sin(math.radians(VIEW_ANGLE_DEG / 2.0))
    return (Pose(_t(focal), _t(_unit(start)), dist), Pose(_t(focal), _t(_unit(end)), dist))


def _unit(v) -> np.ndarray:
    v = np.asarray(v, float)
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def _t(v) -> tuple[float, float, float]:
    return (float(v[0]), float(v[1]), float(v[2]))
