"""Thermal properties of the tissues and media in the voxel model.

Every material follows the same piecewise-linear enthalpy model (per unit volume):

* unfrozen above ``liquidus_c``: conductivity ``k_unfrozen``, heat capacity ``c_unfrozen``;
* frozen below ``solidus_c``: ``k_frozen``, ``c_frozen``;
* in the mushy range between them the conductivity is linear in temperature and the latent heat
  ``latent_j_m3`` is released evenly (apparent heat capacity ``(c_u + c_f) / 2 + L / (T_l - T_s)``);
* blood perfusion ``perfusion_w_m3k`` (ω·ρ_b·c_b) and metabolic heat ``metabolic_w_m3`` act only on the
  unfrozen fraction (frozen tissue has no blood flow). The arterial temperature is set so that the tissue
  rests at 37 °C: ``T_a = 37 - q_m / (ω ρ_b c_b)``. Because both terms are switched off by the same
  unfrozen fraction, ``w (1-f) (T_a - T) + (1-f) q_m`` is exactly ``w (1-f) (37 - T)``: the kernels use
  that single term, and the metabolic value matters only through this balance.

Sources (see ``../shared/reference/clinical-facts.md`` §4):

* Soft tissue: k 0.5 → 2.0 W/m·K, C 3.6 → 1.8 MJ/m³·K, latent heat 300 MJ/m³ over −22 to −1 °C,
  perfusion 40 kW/m³·K: Rabin & Shitzer and later cryosurgery papers — **commonly used, unverified**
  (the primary tables were not read). Metabolic heat: values of 0.4–33.8 kW/m³ appear; we use 0.4 kW/m³
  (it hardly matters once the arterial temperature is chosen so the tissue rests at 37 °C).
* Post-radiation prostate: fibrotic, less perfused; we use half the perfusion (``RADIATION_PERFUSION``,
  a modelling assumption, unverified).
* Water-like media (urine, saline spacer, phantom gel): standard water/ice tables, k 0.60 / 2.22 W/m·K,
  ρc 4.18 / 1.92 MJ/m³·K, latent 334 kJ/kg × ~1000 kg/m³, freezing over a narrow −1 to 0 °C range;
  no perfusion (published standard values).
* Fat/connective tissue and pubic bone use the soft-tissue values with lower perfusion (assumption).
* Rectal lumen: the transrectal ultrasound probe inside its water-filled balloon. Neither is perfused or
  heated (the transducer's own heat is negligible), so the lumen is unperfused water (the probe's plastic
  conducts less, about 0.2 W/m·K, so water slightly over-states how much heat the lumen brings to the
  wall). It is held at a temperature only when a rectal warming device is on (``warmer.rectal``).

All values are plain dataclass fields: pass a modified :class:`TissueTable` to change them; the cache key of
:mod:`cryoviz.physics.thermal` includes every value.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np

__all__ = [
    "BODY_TEMP_C",
    "LABEL_MATERIALS",
    "RADIATION_PERFUSION",
    "Material",
    "TissueTable",
    "default_table",
    "material_arrays",
]

#: Core body temperature, °C.
BODY_TEMP_C = 37.0
#: Perfusion of an irradiated prostate relative to a native one (assumption, unverified).
RADIATION_PERFUSION = 0.5


@dataclass(frozen=True)
class Material:
    """Thermal properties of one material (SI units, temperatures in °C).

    Attributes
    ----------
    k_unfrozen, k_frozen : float
        Thermal conductivity, W/m·K.
    c_unfrozen, c_frozen : float
        Volumetric heat capacity, J/m³·K.
    latent_j_m3 : float
        Latent heat of freezing per volume, J/m³.
    solidus_c, liquidus_c : float
        The mushy range: fully frozen below ``solidus_c``, unfrozen above ``liquidus_c``.
    perfusion_w_m3k : float
        ω·ρ_b·c_b, W/m³·K (0 for non-perfused media).
    metabolic_w_m3 : float
        Metabolic heat, W/m³.
    """

    k_unfrozen: float = 0.5
    k_frozen: float = 2.0
    c_unfrozen: float = 3.6e6
    c_frozen: float = 1.8e6
    latent_j_m3: float = 300e6
    solidus_c: float = -22.0
    liquidus_c: float = -1.0
    perfusion_w_m3k: float = 40e3
    metabolic_w_m3: float = 400.0


_SOFT = Material()
_WATER = Material(k_unfrozen=0.60, k_frozen=2.22, c_unfrozen=4.18e6, c_frozen=1.92e6, latent_j_m3=334e6,
                  solidus_c=-1.0, liquidus_c=0.0, perfusion_w_m3k=0.0, metabolic_w_m3=0.0)


@dataclass(frozen=True)
class TissueTable:
    """The materials by name (names are the anatomy's label names).

    Attributes
    ----------
    materials : dict of str to Material
        One entry per label name of :data:`LABEL_MATERIALS`.
    """

    materials: dict[str, Material] = field(default_factory=lambda: {
        "tissue": replace(_SOFT, perfusion_w_m3k=20e3),
        "prostate": _SOFT,
        "prostate_irradiated": replace(_SOFT, perfusion_w_m3k=_SOFT.perfusion_w_m3k * RADIATION_PERFUSION),
        "urethra": _SOFT,
        "sphincter": _SOFT,
        "bladder_wall": _SOFT,
        "urine": _WATER,
        "rectum_wall": _SOFT,
        "rectum_lumen": _WATER,  # ultrasound probe in its water balloon: unperfused (docs/thermal-model.md)
        "seminal_vesicles": _SOFT,
        "neurovascular_bundles": _SOFT,
        "pubic_bone": replace(_SOFT, perfusion_w_m3k=10e3),
        "saline": _WATER,
        "gel": _WATER,
    })

    def as_dict(self) -> dict:
        """Plain nested dict of every value (for cache keys)."""
        return {name: asdict(m) for name, m in sorted(self.materials.items())}


def default_table() -> TissueTable:
    """The default property table."""
    return TissueTable()


#: Material name of each anatomy label code (``anatomy.LABELS``); index = label code.
LABEL_MATERIALS = (
    "tissue", "prostate", "urethra", "sphincter", "bladder_wall", "urine", "rectum_wall", "rectum_lumen",
    "seminal_vesicles", "neurovascular_bundles", "pubic_bone", "saline", "gel",
)

#: Number of property columns in :func:`material_arrays`.
N_PROPS = 10


def material_arrays(table: TissueTable, post_radiation: bool = False,
                    body_temp_c: float = BODY_TEMP_C) -> np.ndarray:
    """Property rows per label code, as the numba kernels read them.

    Parameters
    ----------
    table : TissueTable
    post_radiation : bool
        Use the irradiated-prostate material for label 1.
    body_temp_c : float
        Temperature the perfused tissue rests at, °C.

    Returns
    -------
    ndarray, shape (n_labels, 10), float64
        Columns: ``T_s, T_l, c_f, c_mushy_apparent, c_u, H_l, k_f, k_u, perfusion, balance_temp_c``
        with the enthalpy ``H = 0`` at ``T_s`` (J/m³). Perfusion and metabolic heat together are the
        single term ``w·(1-f)·(balance_temp_c - T)`` (see the module docstring).
    """
    rows = np.zeros((len(LABEL_MATERIALS), N_PROPS))
    for code, name in enumerate(LABEL_MATERIALS):
        key = "prostate_irradiated" if (post_radiation and name == "prostate") else name
        m = table.materials[key]
        span = m.liquidus_c - m.solidus_c
        if span <= 0:
            raise ValueError(f"material {key!r}: liquidus must be above solidus")
        c_mushy = 0.5 * (m.c_unfrozen + m.c_frozen) + m.latent_j_m3 / span
        h_l = c_mushy * span
        w = m.perfusion_w_m3k
        arterial_c = body_temp_c - (m.metabolic_w_m3 / w if w > 0 else 0.0)
        balance_c = arterial_c + (m.metabolic_w_m3 / w if w > 0 else 0.0)  # == body_temp_c
        rows[code] = (m.solidus_c, m.liquidus_c, m.c_frozen, c_mushy, m.c_unfrozen, h_l, m.k_frozen,
                      m.k_unfrozen, w, balance_c)
    return rows
