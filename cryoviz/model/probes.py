"""Cryoprobe catalogue, probe geometry and the probe surface-temperature history.

A probe enters through the perineal template along +z (toward the head). Only its **active segment**, the
last ``active_length_mm`` before the tip, freezes; the shaft behind it is insulated (vacuum jacket) and is
treated as ordinary tissue.

Temperature history of one probe (``probe_temp_c``), in procedure seconds from the first freeze:

* before its freeze group starts, and during a passive thaw: no gas flows, the probe takes the temperature
  of the tissue around it (``nan``: no boundary condition, the probe voxels are ordinary tissue);
* freeze (argon, Joule–Thomson): the surface cools from body temperature toward ``hold_temp_c`` (−145 °C;
  −140 to −150 °C measured in phantoms, Cryobiology 2025) with time constant ``COOL_TAU_S`` so that it is
  within 5 °C of the hold temperature after about one minute;
* active thaw (helium): the surface warms toward ``ACTIVE_THAW_SETPOINT_C`` (+67 °C, Tanaka et al. 2008)
  with time constant ``WARM_TAU_S``; helium flows for at most ``ACTIVE_THAW_MAX_S`` (a bounded warm phase,
  as a console does once the probe is free), then the thaw continues passively.

Freeze groups: group 1 (anterior) starts with the freeze, group ``g`` starts ``(g - 1) * group_delay_s``
later; all groups stop together at the end of the freeze.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cryoviz.model.scene import PROBE_KINDS, Protocol

__all__ = [
    "ACTIVE_THAW_MAX_S",
    "ACTIVE_THAW_SETPOINT_C",
    "BODY_TEMP_C",
    "COOL_TAU_S",
    "HOLD_TEMP_C",
    "PROBE_CATALOGUE",
    "WARM_TAU_S",
    "ProbeGeometry",
    "ProbeKind",
    "gas_on",
    "probe_temp_c",
    "probe_temps_c",
]

#: Probe surface temperature while freezing, °C (−140 to −150 °C measured in phantoms).
HOLD_TEMP_C = -145.0
#: Time constant of the cool-down, s (within 5 °C of the hold temperature after ~1 min).
COOL_TAU_S = 11.0
#: Helium thaw set point, °C (tip about +67 °C, Tanaka et al. 2008).
ACTIVE_THAW_SETPOINT_C = 67.0
#: Time constant of the helium warm-up, s (assumption).
WARM_TAU_S = 20.0
#: Longest helium flow in one thaw, s; afterwards the thaw is passive (assumption).
ACTIVE_THAW_MAX_S = 120.0
BODY_TEMP_C = 37.0


@dataclass(frozen=True)
class ProbeKind:
    """One kind of cryoprobe.

    Attributes
    ----------
    name : str
        Catalogue key.
    diameter_mm : float
        Outer diameter, mm (17G ≈ 1.5 mm).
    active_length_mm : float
        Length of the freezing segment that ends at the tip, mm.
    hold_temp_c : float
        Surface temperature reached while freezing, °C.
    label : str
        Human name.
    effective_radius_fraction : float
        The thermal model's effective radius as a fraction of the outer radius (calibrated on this kind's
        published single-probe iceball, see :data:`PROBE_CATALOGUE`).
    """

    name: str
    diameter_mm: float
    active_length_mm: float
    hold_temp_c: float = HOLD_TEMP_C
    label: str = ""
    effective_radius_fraction: float = 2.0 / 3.0

    @property
    def radius_mm(self) -> float:
        """Outer radius, mm."""
        return 0.5 * self.diameter_mm

    @property
    def effective_radius_mm(self) -> float:
        """Radius of the cylinder held at the probe temperature in the thermal model, mm."""
        return self.radius_mm * self.effective_radius_fraction


#: The probe catalogue (Rabin planning uses 15 and 25 mm active lengths; 17G ≈ 1.5 mm; 2.4 mm probes).
#:
#: Calibration of the effective radius. The probe surface is held at −145 °C (measured in phantoms); a
#: real probe cannot hold its whole surface there (finite Joule–Thomson cooling power, wall and contact
#: resistance), so each kind gets a smaller *effective* radius, fitted on its own published single-probe
#: figure in gel or agar at body temperature without perfusion (``tests/physics/test_thermal_calibration.py``
#: checks each, grid-independently since the sub-voxel coupling of :mod:`cryoviz.physics.probe_voxels`):
#:
#: * 17G needles: a ≤ −40 °C core about 1 cm across after 10 min, 37 °C gel (Urology 2016, PMC4850244),
#:   giving a −40 °C radius ≈ 5 mm and a 0 °C radius ≈ 12.5–13 mm: fraction 2/3. The paper's "≈ 1 cm
#:   around the cryo-needles" is read as 1 cm *across*: read as a 1 cm *radius* the 0 °C edge would lie
#:   a further 1 cm out, a 4 cm iceball per needle, twice the "about 2 cm" described for 17G needles
#:   (UrologyTimes/SeedNet) and the 10 mm radius of the IceSeed planning ellipsoid (SlicerProstateAblation);
#:   the paper's figure also comes from combinations of 1–4 needles, which make larger cores than one.
#:   Known tension: Littrup et al. (JVIR 2009, PMC2762356) measured a lethal (−30 °C) diameter of about
#:   1.0 cm for a single 1.7 mm probe after 15 min in 39 °C agar (84 % of their 2.4 mm probe's 1.2 cm);
#:   our 17G gives 1.35 cm there, about a third larger. Different makers' probes of similar size differ
#:   significantly (Open Biomed Eng J 2016); fitting the 17G on Littrup instead (fraction 0.22) would take
#:   the default scene's gland coverage at −40 °C from 0.74 to 0.47 (measured, 1 mm grid).
#: * 2.4 mm probes: Littrup 2009, single 2.4 mm probe, 15 min in 39 °C agar: lethal (−30 °C) diameter
#:   1.2 cm. At fraction 2/3 the model gave 1.72 cm (43 % large); fraction 0.22 gives 1.20 cm. The two
#:   kinds come from different devices and papers, so a 2.4 mm probe here freezes a slightly smaller
#:   lethal core than a 17G needle: compare kinds within one source, not across them.
PROBE_CATALOGUE: dict[str, ProbeKind] = {
    "needle17g_15": ProbeKind("needle17g_15", 1.5, 15.0, label="17G needle, 15 mm ice"),
    "needle17g_25": ProbeKind("needle17g_25", 1.5, 25.0, label="17G needle, 25 mm ice"),
    "probe24": ProbeKind("probe24", 2.4, 40.0, label="2.4 mm probe", effective_radius_fraction=0.22),
}
assert tuple(PROBE_CATALOGUE) == PROBE_KINDS


def _phase(t_s: float, protocol: Protocol, group: int) -> tuple[str, float, float]:
    """Return (phase, seconds since the phase started, freeze length of this cycle) at ``t_s``.

    Phases: ``"idle"`` (no gas), ``"freeze"``, ``"helium"``.
    """
    start = 0.0
    for cyc in protocol.cycles:
        on = start + (group - 1) * protocol.group_delay_s
        off = start + cyc.freeze_s
        if start <= t_s < start + cyc.freeze_s + cyc.thaw_s:
            if on <= t_s < off:
                return "freeze", t_s - on, off - on
            if t_s >= off and cyc.thaw == "active" and on < off:
                helium_s = min(cyc.thaw_s, ACTIVE_THAW_MAX_S)
                if t_s < off + helium_s:
                    return "helium", t_s - off, off - on
            return "idle", 0.0, 0.0
        start += cyc.freeze_s + cyc.thaw_s
    return "idle", 0.0, 0.0


def _freeze_curve(elapsed_s: float, hold_temp_c: float) -> float:
    return hold_temp_c + (BODY_TEMP_C - hold_temp_c) * math.exp(-elapsed_s / COOL_TAU_S)


def probe_temp_c(t_s: float, protocol: Protocol, group: int = 1, kind: str = "needle17g_25") -> float:
    """Surface temperature of the active segment of one probe at procedure time ``t_s``.

    Parameters
    ----------
    t_s : float
        Procedure time, seconds from the start of the first freeze.
    protocol : Protocol
        Freeze/thaw cycles and the group delay.
    group : int
        Freeze group of the probe (1 = first).
    kind : str
        Catalogue key.

    Returns
    -------
    float
        Temperature in °C while gas flows (argon or helium); ``nan`` when no gas flows and the probe simply
        takes the tissue temperature.
    """
    phase, elapsed_s, freeze_len_s = _phase(float(t_s), protocol, int(group))
    hold = PROBE_CATALOGUE[kind].hold_temp_c
    if phase == "freeze":
        return _freeze_curve(elapsed_s, hold)
    if phase == "helium":
        end = _freeze_curve(freeze_len_s, hold)
        return ACTIVE_THAW_SETPOINT_C + (end - ACTIVE_THAW_SETPOINT_C) * math.exp(-elapsed_s / WARM_TAU_S)
    return math.nan


def gas_on(t_s: float, protocol: Protocol, group: int = 1) -> bool:
    """True while argon or helium flows in a probe of ``group`` (the probe imposes its temperature)."""
    return _phase(float(t_s), protocol, int(group))[0] != "idle"


def probe_temps_c(t_s: float, protocol: Protocol, groups: np.ndarray, kinds: list[str]) -> np.ndarray:
    """:func:`probe_temp_c` for several probes at once (``nan`` where no gas flows)."""
    return np.array([probe_temp_c(t_s, protocol, g, k) for g, k in zip(groups, kinds, strict=True)])


@dataclass(frozen=True)
class ProbeGeometry:
    """Where one probe's freezing segment lies, in the patient frame (mm).

    Attributes
    ----------
    name : str
    tip_mm : tuple of float
        (x, y, z) of the tip.
    active_length_mm : float
        The segment runs from the tip back (toward −z) over this length.
    radius_mm : float
        Outer radius.
    group : int
        Freeze group.
    kind : str
        Catalogue key.
    """

    name: str
    tip_mm: tuple[float, float, float]
    active_length_mm: float
    radius_mm: float
    group: int = 1
    kind: str = "needle17g_25"

    @classmethod
    def from_probe(cls, probe, skin_z_mm: float) -> ProbeGeometry:
        """Geometry of a :class:`cryoviz.model.scene.Probe`; its depth counts from the skin at
        ``skin_z_mm``."""
        kind = PROBE_CATALOGUE[probe.kind]
        tip = (float(probe.x_mm), float(probe.y_mm), float(skin_z_mm + probe.depth_mm))
        return cls(probe.name, tip, kind.active_length_mm, kind.radius_mm, int(probe.group), probe.kind)
