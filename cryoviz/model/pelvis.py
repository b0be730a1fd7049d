"""The pubic bone of the generated anatomy: symphysis, pubic bodies, rami stubs and the pubic arch.

The shape is what a patient recognises from an anatomy atlas' front view of the pelvis: the two pubic
bodies meeting at the symphysis (a tall, tilted oval in a mid-sagittal cut, as on MRI), the superior rami
leaving up, out and back toward the hips, and the inferior (ischiopubic) rami leaving down, out and back,
so that together they frame the **pubic arch** under which the urethra and the perineal probes pass. The
rami stop before they reach the side of the gland, so a view from the patient's side still sees the gland
(a full hip bone would hide it: atlases cut it away for the same reason).

Frame and sizes
---------------
Patient frame of :mod:`cryoviz.model.anatomy` (mm; x = patient left, y = posterior, z = superior). The
bone is placed exactly where the earlier bar-shaped pubic bone was: its reference point ``(0, y0, z0)``
lies ``gap + half-thickness`` in front of the gland's anterior surface at 0.15 of the gland's half-length
above its centre, so the retropubic gap in front of the gland at that height is unchanged; only a full
bladder that would reach into it moves it forward (:meth:`PubicBone.clear_of`). Sizes are
typical adult male values, rounded (an education picture, not a measurement; no patient's bone):

* symphysis height about 45 mm including the bodies' rounded ends, pubic bodies 14 mm thick (front to
  back), each body about 20 mm wide beside the joint (Gray's Anatomy, 42nd ed., ch. "Pelvic girdle");
* the symphysis' long axis tilted 20° from the body's long axis, its upper end forward (the bladder rests
  on the bodies' back-upper face), as on a mid-sagittal pelvic MRI;
* subpubic angle between the inferior rami about 70° in men (60-75° reported; Gray's, ibid.).
"""

from __future__ import annotations

import math

import numpy as np

from cryoviz.model.primitives import sd_tube

__all__ = ["PUBIC_TILT_DEG", "SUBPUBIC_ANGLE_DEG", "PubicBone"]

#: Tilt of the symphysis' long axis from the z axis, degrees (its upper end forward).
PUBIC_TILT_DEG = 20.0
#: Angle between the two inferior rami seen from the front, degrees (men: 60-75°).
SUBPUBIC_ANGLE_DEG = 70.0
#: Smoothing radius where the parts meet, mm (bone has no sharp creases where rami leave the body).
_BLEND_MM = 5.0

# Centre lines of the left half, in the bone's own frame (mm: x lateral, y posterior, z along the
# symphysis, origin at the middle of the joint's back-to-front centre); radii at each node (mm).
_BODY = (np.array([[4.0, 0.0, -17.0], [4.0, 0.0, 16.0]]), 7.0)
_BODY_SIDE = (np.array([[11.0, 1.0, -6.0], [12.0, 1.0, 12.0]]), (5.5, 6.0))
#: The joint's line on the bodies' front and back faces (a shallow groove: two bones meeting).
_JOINT_GROOVE_MM = 1.2


def _superior_ramus() -> tuple[np.ndarray, np.ndarray]:
    nodes = np.array([[12.0, 1.0, 12.0], [22.0, 6.0, 16.0], [31.0, 13.0, 17.0]])
    return nodes, np.array([6.5, 6.0, 5.5])


def _inferior_ramus() -> tuple[np.ndarray, np.ndarray]:
    half = math.radians(0.5 * SUBPUBIC_ANGLE_DEG)
    start = np.array([8.0, 1.0, -14.0])
    length = 38.0
    end = start + length * np.array([math.sin(half), 0.0, -math.cos(half)]) + np.array([0.0, 14.0, 0.0])
    mid = 0.5 * (start + end) + np.array([0.0, -1.5, 0.0])
    return np.array([start, mid, end]), np.array([6.0, 5.5, 5.0])


def _smooth_min(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum (a fillet of about ``k`` mm where two distance fields meet)."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b * (1.0 - h) + a * h - k * h * (1.0 - h)


class PubicBone:
    """Signed distance (mm, negative inside) of the pubic bone, placed around ``(0, y0, z0)``.

    Parameters
    ----------
    y0_mm, z0_mm : float
        Where the symphysis' centre goes (see the module docstring).
    """

    def __init__(self, y0_mm: float, z0_mm: float):
        t = math.radians(PUBIC_TILT_DEG)
        # bone frame -> patient frame: the symphysis axis (bone z) leans forward (toward -y) going up
        self._rot = np.array([[1.0, 0.0, 0.0],
                              [0.0, math.cos(t), -math.sin(t)],
                              [0.0, math.sin(t), math.cos(t)]])
        self._origin = np.array([0.0, float(y0_mm), float(z0_mm)])
        parts = [_BODY, _BODY_SIDE, _superior_ramus(), _inferior_ramus()]
        self.tubes: list[sd_tube] = []
        for nodes, radii in parts:
            for side in (1.0, -1.0):
                world = self._to_patient(nodes * np.array([side, 1.0, 1.0]))
                self.tubes.append(sd_tube(world, radii))
        #: Every centre-line node, patient frame (for bounds and label anchors).
        self.nodes = np.concatenate([t.nodes for t in self.tubes])
        joint = np.array([[0.0, 0.0, -20.0], [0.0, 0.0, 20.0]])
        self._grooves = [sd_tube(self._to_patient(joint + np.array([0.0, y, 0.0])), _JOINT_GROOVE_MM)
                         for y in (-7.0, 7.0)]

    @classmethod
    def clear_of(cls, y0_mm: float, z0_mm: float, organ, clearance_mm: float = 1.5,
                 step_mm: float = 0.5) -> PubicBone:
        """The bone at ``(y0, z0)``, moved forward (toward -y) only as far as needed to keep
        ``clearance_mm`` from ``organ`` (an implicit shape, mm): a full bladder over a small gland rises
        in front of where the bone would be (in a body the bladder rises above the pubis instead)."""
        y = float(y0_mm)
        for _ in range(200):
            bone = cls(y, z0_mm)
            if min(float((organ(t._dense) - t._dense_r).min()) for t in bone.tubes) >= clearance_mm:
                return bone
            y -= step_mm
        return bone

    def _to_patient(self, local: np.ndarray) -> np.ndarray:
        return self._origin + np.asarray(local, dtype=float) @ self._rot.T

    def __call__(self, points_mm: np.ndarray) -> np.ndarray:
        p = np.asarray(points_mm, dtype=float)
        out = self.tubes[0](p)
        for tube in self.tubes[1:]:
            out = _smooth_min(out, tube(p), _BLEND_MM)
        for groove in self._grooves:
            out = np.maximum(out, -groove(p))
        return out

    def bounds(self, pad_mm: float = 0.5) -> np.ndarray:
        """(xmin, xmax, ymin, ymax, zmin, zmax) of the bone plus ``pad_mm``, mm."""
        boxes = np.array([t.bounds(pad_mm) for t in self.tubes])
        return np.ravel(np.stack([boxes[:, 0::2].min(axis=0), boxes[:, 1::2].max(axis=0)], axis=1))
