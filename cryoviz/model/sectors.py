"""PI-RADS v2.1 sectors of the prostate, resolved on the actual gland (generated or a patient's mesh).

The sector map
--------------
PI-RADS v2.1 (ACR 2019; Turkbey et al., Eur Urol 2019) splits the gland into **38 sectors**: three levels
(base, mid, apex) along the gland's long axis, two sides (left/right of a vertical line through the
urethra) and, per level and side, the zones AS (anterior fibromuscular stroma), TZa, TZp (transition zone,
anterior and posterior), PZa, PZpm, PZpl (peripheral zone, anterior, posteromedial, posterolateral) and, at
the base only, CZ (central zone). Version 2 had 36 gland sectors: v2.1 added PZpm at the base (the right and
left base posteromedial peripheral zone beside the central zone; see the v2.1 document's sector map, and
e.g. ctsit/imagemap issue #36). The full map also names the two seminal vesicles and the external urethral
sphincter (41 in all); those are organs of their own in cryoviz (:data:`EXTRA_SECTORS`), not places a gland
lesion is put.

Geometry (how a sector is found on a gland)
-------------------------------------------
The gland is sampled on a 1.5 mm grid with its signed distance. Its z extent (patient frame: z = superior,
the gland's long axis) is cut into equal thirds: apex (lowest), mid, base. In each axial slice the
*slice centre* is the urethra where one exists (else the slice's centroid) for left/right, and the
middle of the slice front to back (a horizontal line through the middle of the gland) for anterior/posterior.
A point is described by its angle ``theta`` around that centre, 0 deg = straight anterior, +90 deg = the
patient's left, 180 deg = straight posterior, and its relative depth ``rho`` = distance from the centre /
distance from the centre to the capsule along the same ray (0 at the centre, 1 on the capsule). Zones are
outer (``rho > ZONE_SPLIT_RHO``: AS, PZa, PZpl, PZpm) or inner (TZa, TZp, CZ), split by angle
(:data:`ZONE_ANGLES_DEG`). These cut-offs are a schematic reading of the PI-RADS drawing (our choice,
unverified against segmented zonal anatomy): the peripheral zone is drawn as the outer ~40 % of the radius.
"""

from __future__ import annotations

import contextlib
import math
import re
from dataclasses import dataclass

import numpy as np

__all__ = [
    "EXTRA_SECTORS",
    "GLAND_SECTORS",
    "LEVELS",
    "SIDES",
    "ZONES",
    "GlandFrame",
    "Sector",
    "gland_frame",
    "parse_sector",
    "sector_centre_mm",
]

LEVELS = ("base", "mid", "apex")
SIDES = ("left", "right")
ZONES = ("AS", "TZa", "TZp", "CZ", "PZa", "PZpm", "PZpl")
#: Named regions of the full v2.1 map that are not gland sectors (own organs in cryoviz).
EXTRA_SECTORS = ("SV left", "SV right", "US")
#: Relative depth (0 centre, 1 capsule) splitting inner zones (TZ, CZ) from outer ones (AS, PZ).
ZONE_SPLIT_RHO = 0.6
#: Outer zones by |theta| (deg from anterior, either side): AS below 30, PZa to 90, PZpl to 145, then PZpm.
#: Inner zones: TZa in front of the horizontal mid-line (|theta| < 90), TZp behind it; at the base the
#: inner posterior part beyond 125 deg is CZ (around the ejaculatory ducts).
ZONE_ANGLES_DEG = {"AS": 30.0, "PZa": 90.0, "PZpl": 145.0, "TZa": 90.0, "CZ": 125.0}
#: Where a sector's centre is put: (|theta| deg, rho).
SECTOR_CENTRE = {
    "AS": (12.0, 0.8), "PZa": (62.0, 0.8), "PZpl": (118.0, 0.8), "PZpm": (163.0, 0.8),
    "TZa": (45.0, 0.35), "TZp": (108.0, 0.35), "CZ": (155.0, 0.35),
}
_ALIASES = {"midgland": "mid", "middle": "mid", "l": "left", "r": "right", "afs": "AS"}
_ZONE_BY_LOWER = {z.lower(): z for z in ZONES}


@dataclass(frozen=True)
class Sector:
    """One gland sector of the PI-RADS v2.1 map."""

    level: str
    side: str
    zone: str

    @property
    def name(self) -> str:
        """Canonical name, e.g. ``"mid left PZpl"``."""
        return f"{self.level} {self.side} {self.zone}"


def _all_sectors() -> tuple[Sector, ...]:
    out = []
    for level in LEVELS:
        for side in SIDES:
            for zone in ZONES:
                if zone == "CZ" and level != "base":
                    continue
                out.append(Sector(level, side, zone))
    return tuple(out)


#: The 38 gland sectors of PI-RADS v2.1.
GLAND_SECTORS: tuple[Sector, ...] = _all_sectors()


def parse_sector(text: str) -> Sector:
    """Read a sector written as level, side and zone in any order (``"mid left PZpl"``, ``"PZpl L mid"``).

    Accepts ``midgland`` for ``mid``, ``L``/``R`` for the sides and ``AFS`` for ``AS``; case-insensitive.

    Raises
    ------
    ValueError
        Not a gland sector of the v2.1 map (the message says which part is missing or wrong).
    """
    tokens = [t for t in re.split(r"[\s,_/-]+", str(text).strip()) if t]
    level = side = zone = None
    for tok in tokens:
        low = _ALIASES.get(tok.lower(), tok.lower())
        if low in LEVELS and level is None:
            level = low
        elif low in SIDES and side is None:
            side = low
        elif low.lower() in _ZONE_BY_LOWER and zone is None:
            zone = _ZONE_BY_LOWER[low.lower()]
        else:
            raise ValueError(f"unknown or repeated word {tok!r}")
    missing = [n for n, v in (("level", level), ("side", side), ("zone", zone)) if v is None]
    if missing:
        raise ValueError("missing the " + " and ".join(missing))
    if zone == "CZ" and level != "base":
        raise ValueError("the central zone (CZ) is a base sector only")
    return Sector(level, side, zone)


@dataclass(frozen=True, eq=False)
class GlandFrame:
    """The gland sampled for sector geometry.

    Attributes
    ----------
    z_lo_mm, z_hi_mm : float
        Lowest (apex) and highest (base) z of the gland, mm.
    centres_mm : callable
        ``centres_mm(z) -> (cx, cy)``: slice centre (urethra or centroid for x, middle for y), mm.
    sd : callable
        Signed distance to the capsule, mm, negative inside (``sd(points (n, 3)) -> (n,)``).
    """

    z_lo_mm: float
    z_hi_mm: float
    _z: np.ndarray
    _cx: np.ndarray
    _cy: np.ndarray
    sd: object

    def centre_mm(self, z_mm: float) -> tuple[float, float]:
        """Slice centre (x, y) at height ``z_mm``, mm."""
        return float(np.interp(z_mm, self._z, self._cx)), float(np.interp(z_mm, self._z, self._cy))

    def level_of(self, z_mm: float) -> str:
        """``"apex"``, ``"mid"`` or ``"base"`` for a height, mm."""
        f = (float(z_mm) - self.z_lo_mm) / (self.z_hi_mm - self.z_lo_mm)
        return "apex" if f < 1.0 / 3.0 else ("mid" if f < 2.0 / 3.0 else "base")

    def level_z_mm(self, level: str) -> float:
        """Middle height of a level (third), mm."""
        k = {"apex": 0, "mid": 1, "base": 2}[level]
        return self.z_lo_mm + (k + 0.5) * (self.z_hi_mm - self.z_lo_mm) / 3.0

    def capsule_radius_mm(self, z_mm: float, theta_deg: float) -> float:
        """Distance from the slice centre to the capsule along the ray at ``theta_deg``, mm."""
        cx, cy = self.centre_mm(z_mm)
        t = math.radians(theta_deg)
        d = np.array([math.sin(t), -math.cos(t)])
        r = np.arange(0.0, 60.0, 0.1)
        pts = np.column_stack([cx + r * d[0], cy + r * d[1], np.full_like(r, z_mm)])
        inside = np.asarray(self.sd(pts)) <= 0.0
        outside = np.flatnonzero(~inside)
        k = int(outside[0]) if len(outside) else len(r)
        return float(r[max(k - 1, 0)])

    def polar(self, point_mm) -> tuple[float, float]:
        """(theta deg, rho) of a point: angle from anterior (+ toward the left) and relative depth."""
        x, y, z = (float(v) for v in point_mm)
        cx, cy = self.centre_mm(z)
        theta = math.degrees(math.atan2(x - cx, -(y - cy)))
        rad = self.capsule_radius_mm(z, theta)
        return theta, (math.hypot(x - cx, y - cy) / rad if rad > 0 else float("inf"))

    def classify(self, point_mm) -> Sector:
        """The gland sector holding a point (assumed inside the gland)."""
        theta, rho = self.polar(point_mm)
        level = self.level_of(point_mm[2])
        side = "left" if theta >= 0.0 else "right"
        a = abs(theta)
        A = ZONE_ANGLES_DEG
        if rho > ZONE_SPLIT_RHO:
            zone = "AS" if a < A["AS"] else "PZa" if a < A["PZa"] else "PZpl" if a < A["PZpl"] else "PZpm"
        elif level == "base" and a >= A["CZ"]:
            zone = "CZ"
        else:
            zone = "TZa" if a < A["TZa"] else "TZp"
        return Sector(level, side, zone)


def gland_frame(anatomy, spacing_mm: float = 1.5) -> GlandFrame:
    """Sample the prostate of ``anatomy`` (generated or a patient's mesh) into a :class:`GlandFrame`.

    Cached on the anatomy object (the sampling costs a fraction of a second).
    """
    cached = getattr(anatomy, "_gland_frame", None)
    if cached is not None:
        return cached

    def sd(p):
        return anatomy.signed_distance("prostate", p)

    lm = anatomy.landmarks
    # coarse box from the landmarks, generous enough for a patient gland up to 25 mm off (mesh_io check)
    half = max(lm.prostate_half_width_mm, lm.prostate_half_ap_posterior_mm, lm.prostate_half_length_mm) + 30.0
    coarse = np.arange(-half, half + 1e-9, 3.0)
    X, Y, Z = np.meshgrid(coarse, coarse, coarse, indexing="ij")
    pts = np.column_stack([X.ravel(), Y.ravel(), Z.ravel()])
    ins = pts[np.asarray(sd(pts)) <= 0.0]
    if len(ins) == 0:
        raise ValueError("the prostate holds no points on the sampling grid")
    lo, hi = ins.min(axis=0) - 4.0, ins.max(axis=0) + 4.0
    axes = [np.arange(lo[k], hi[k] + 1e-9, spacing_mm) for k in range(3)]
    X, Y, Z = np.meshgrid(*axes, indexing="ij")
    inside = (np.asarray(sd(np.column_stack([X.ravel(), Y.ravel(), Z.ravel()]))) <= 0.0).reshape(X.shape)
    kz = np.flatnonzero(inside.any(axis=(0, 1)))
    z_lo, z_hi = float(axes[2][kz[0]]), float(axes[2][kz[-1]])
    line = anatomy.urethra_centreline_mm(200) if "urethra" in anatomy.organs else np.zeros((0, 3))
    zs, cxs, cys = [], [], []
    for k in kz:
        m = inside[:, :, k]
        ii, jj = np.nonzero(m)
        x_c = float(axes[0][ii].mean())
        if len(line):
            order = np.argsort(line[:, 2])
            ux = float(np.interp(axes[2][k], line[order, 2], line[order, 0]))
            if axes[0][ii].min() < ux < axes[0][ii].max():
                x_c = ux
        y_c = 0.5 * float(axes[1][jj].min() + axes[1][jj].max())
        zs.append(float(axes[2][k]))
        cxs.append(x_c)
        cys.append(y_c)
    frame = GlandFrame(z_lo, z_hi, np.array(zs), np.array(cxs), np.array(cys), sd)
    with contextlib.suppress(AttributeError):  # an anatomy with __slots__ just is not cached
        anatomy._gland_frame = frame
    return frame


def sector_centre_mm(anatomy, sector: Sector | str, radius_mm: float = 0.0) -> np.ndarray:
    """Centre (x, y, z), mm, of a ball of ``radius_mm`` placed in ``sector`` on this gland.

    The centre sits at the sector's angle in the middle of its third, at the sector's relative depth, moved
    along the same ray (inward first), then along rays turned up to 24 deg, when needed so that the ball
    stays ``radius_mm + 1`` mm inside the capsule and does not overlap the urethra.

    Raises
    ------
    ValueError
        The ball cannot fit inside the gland along that ray (the message gives the largest diameter).
    """
    sec = parse_sector(sector) if isinstance(sector, str) else sector
    frame = gland_frame(anatomy)
    theta_abs, rho = SECTOR_CENTRE[sec.zone]
    sign = 1.0 if sec.side == "left" else -1.0
    z = frame.level_z_mm(sec.level)
    cx, cy = frame.centre_mm(z)
    has_urethra = "urethra" in anatomy.organs
    # the sector's own ray first, then rays turned a little either way (staying on the sector's side)
    for turn in (0.0, 8.0, -8.0, 16.0, -16.0, 24.0, -24.0):
        theta = sign * min(max(theta_abs + turn, 1.0), 179.0)
        t = math.radians(theta)
        d = np.array([math.sin(t), -math.cos(t)])
        rad = frame.capsule_radius_mm(z, theta)
        # inward from the sector's depth first, then outward: the ball stays 1 mm inside the capsule and
        # off the urethra (the catheter lies in it)
        for r in (*np.arange(rho * rad, -1e-9, -0.25), *np.arange(rho * rad, rad, 0.25)):
            p = np.array([cx + r * d[0], cy + r * d[1], z])
            if float(frame.sd(p[None, :])[0]) > -(radius_mm + 1.0):
                continue
            if has_urethra and float(anatomy.signed_distance("urethra", p[None, :])[0]) < radius_mm + 0.5:
                continue
            return p
    raise ValueError(f"a lesion of {2 * radius_mm:g} mm does not fit in {sec.name} of this gland, between "
                     "the capsule and the urethra")
