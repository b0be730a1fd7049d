"""Scene model: what one cryoablation story is made of (anatomy, probes, protocol, sensors, story).

A scene is read from a TOML file by :func:`load_scene` and validated into frozen dataclasses. Units are in
the names: millimetres, seconds, degrees Celsius. Coordinates use the patient frame of
:mod:`cryoviz.model.anatomy` (x = patient left, y = posterior, z = superior, origin at the prostate centre).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "DEFAULT_SCENE",
    "HYDRODISSECTION_GAP_MM",
    "LANGUAGES",
    "LAYOUT_PRESETS",
    "LESION_MARGIN_MM",
    "MAX_SCENE_BYTES",
    "MESH_SUFFIXES",
    "ORGAN_NAMES",
    "PROBE_KINDS",
    "SENSOR_SITES",
    "AnatomyParams",
    "FreezeCycle",
    "Lesion",
    "Phantom",
    "Probe",
    "ProbeLayout",
    "Protocol",
    "Scene",
    "Sensor",
    "Story",
    "ThermalSettings",
    "Warmer",
]

#: The built-in default scene (the whole-gland salvage preset), shown when no scene is given.
DEFAULT_SCENE = Path(__file__).resolve().parents[1] / "data" / "salvage_whole_gland.toml"

MESH_SUFFIXES = (".stl", ".vtp", ".obj", ".ply", ".vtk")
#: Largest scene file read, bytes (real scene files are a few kilobytes).
MAX_SCENE_BYTES = 1_000_000
#: Rectal gap used when ``hydrodissection = true`` and ``rectum_gap_mm`` is not given (Lomas 2019 median).
HYDRODISSECTION_GAP_MM = 11.0

#: Organs cryoviz draws, in drawing order. Names are the public ones (UI toggles, mesh files, metrics).
ORGAN_NAMES = (
    "prostate", "urethra", "sphincter", "bladder", "rectum", "seminal_vesicles",
    "neurovascular_bundles", "perineum", "pubic_bone",
)
#: Probe kinds of the catalogue in :mod:`cryoviz.model.probes`.
PROBE_KINDS = ("needle17g_15", "needle17g_25", "probe24")
#: Named sensor sites placed automatically from the anatomy.
SENSOR_SITES = ("rectal_wall", "apex", "sphincter", "capsule_left", "capsule_right")
LANGUAGES = ("en", "es")
#: Automatic probe layouts (see :mod:`cryoviz.model.layout`).
LAYOUT_PRESETS = ("whole_gland", "hemi_left", "hemi_right", "focal")
#: Default treatment margin beyond a lesion's edge, mm: about 5 mm in the RAND/UCLA focal-therapy
#: consensus (Donaldson et al., Eur Urol 2015, PMC4410301; expert opinion, level 5 evidence).
LESION_MARGIN_MM = 5.0


@dataclass(frozen=True)
class AnatomyParams:
    """Parameters of the generated anatomy.

    Attributes
    ----------
    volume_ml : float
        Prostate volume, 15–100 ml (default 30). With ``post_radiation`` this is the volume before
        radiation and the generated gland is ``volume_ml * (1 - radiation_shrink)``; without it, the gland
        is drawn at exactly this volume.
    post_radiation : bool
        The gland was irradiated: it is shrunk by ``radiation_shrink`` and firmer (less perfused).
    radiation_shrink : float
        Fraction of volume lost after radiation, 0–0.5 (default 0.3; 20–40 % is typical, unverified).
    rectum_gap_mm : float
        Smallest distance from the prostate capsule to the rectal wall, 3–15 mm (default 6).
        With ``hydrodissection`` the default becomes 11 mm and the gap is filled with saline.
    hydrodissection : bool
        Saline injected between prostate and rectum.
    rectal_wall_mm : float
        Rectal wall thickness, 2–4 mm (default 3).
    bladder_volume_ml : float
        Bladder filling, 50–400 ml (default 150).
    meshes : dict of str to Path
        A patient's own organ surfaces (STL/VTP/OBJ/PLY, mm, patient frame) replacing generated ones.
    """

    volume_ml: float = 30.0
    post_radiation: bool = False
    radiation_shrink: float = 0.3
    rectum_gap_mm: float = 6.0
    hydrodissection: bool = False
    rectal_wall_mm: float = 3.0
    bladder_volume_ml: float = 150.0
    meshes: dict[str, Path] = field(default_factory=dict)

    @property
    def effective_volume_ml(self) -> float:
        """Prostate volume after radiation shrinkage, in ml."""
        return self.volume_ml * (1.0 - self.radiation_shrink) if self.post_radiation else self.volume_ml


@dataclass(frozen=True)
class Probe:
    """One cryoprobe.

    Attributes
    ----------
    name : str
        Unique name (defaults to the hole, e.g. ``"C4"``).
    x_mm, y_mm : float
        Position in the template plane (from ``hole`` or given explicitly).
    depth_mm : float
        Insertion depth of the tip beyond the perineal skin along +z, in mm.
    kind : str
        One of :data:`PROBE_KINDS`.
    group : int
        Freeze group, 1 first (anterior probes), then 2, ...
    hole : str or None
        Template hole name if placed through the grid.
    """

    name: str
    x_mm: float
    y_mm: float
    depth_mm: float
    kind: str = "needle17g_25"
    group: int = 1
    hole: str | None = None


@dataclass(frozen=True)
class ProbeLayout:
    """An automatic layout sized to the gland (used when a scene lists no probes)."""

    preset: str = "whole_gland"
    kind: str = "needle17g_25"


@dataclass(frozen=True)
class FreezeCycle:
    """One freeze followed by one thaw.

    Attributes
    ----------
    freeze_s : float
        Freezing time, seconds (> 0).
    thaw_s : float
        Thawing time, seconds (>= 0).
    thaw : str
        ``"passive"`` (gas off) or ``"active"`` (helium warms the probe tip).
    """

    freeze_s: float = 600.0
    thaw_s: float = 300.0
    thaw: str = "passive"


@dataclass(frozen=True)
class Protocol:
    """Freeze/thaw protocol.

    Attributes
    ----------
    cycles : tuple of FreezeCycle
        Usually two (double freeze–thaw).
    group_delay_s : float
        Delay between the start of one freeze group and the next, seconds (anterior first).
    """

    cycles: tuple[FreezeCycle, ...] = (FreezeCycle(), FreezeCycle(thaw="active"))
    group_delay_s: float = 60.0

    @property
    def duration_s(self) -> float:
        """Total protocol length, seconds."""
        return float(sum(c.freeze_s + c.thaw_s for c in self.cycles))


@dataclass(frozen=True)
class Warmer:
    """Warming devices.

    Attributes
    ----------
    urethral : bool
        Urethral warming catheter on.
    urethral_temp_c : float
        Catheter saline temperature, 30–45 °C (default 42; set-point 38–44 °C, unverified).
    rectal : bool
        Optional rectal warming (warm water through the ultrasound probe balloon).
    rectal_temp_c : float
        Rectal warmer temperature, 30–45 °C (default 40).
    """

    urethral: bool = True
    urethral_temp_c: float = 42.0
    rectal: bool = False
    rectal_temp_c: float = 40.0


@dataclass(frozen=True)
class Sensor:
    """A temperature sensor (thermocouple).

    Attributes
    ----------
    name : str
        Unique name.
    site : str or None
        One of :data:`SENSOR_SITES`, placed from the anatomy; or ``None`` with ``position_mm``.
    position_mm : tuple of float or None
        Explicit (x, y, z) position, mm.
    """

    name: str
    site: str | None = None
    position_mm: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class Lesion:
    """A known cancer (MRI-visible, biopsy-proven recurrence) inside the gland.

    Exactly one of ``sector``, ``position_mm`` or ``mesh`` says where it is; a sector or a position comes
    with ``diameter_mm`` (the lesion is then drawn and measured as a ball of that diameter).

    Attributes
    ----------
    name : str
        Label shown to the clinician and in the story (default ``"lesion 1"``, ...).
    sector : str or None
        A PI-RADS v2.1 gland sector, canonical form ``"mid left PZpl"`` (level, side, zone), resolved on
        the actual gland by :mod:`cryoviz.model.sectors`.
    position_mm : tuple of float or None
        Centre (x, y, z) in the patient frame, mm.
    diameter_mm : float or None
        Largest diameter, 3–40 mm (with ``sector`` or ``position_mm``).
    mesh : Path or None
        The lesion's own closed surface (STL/VTP/OBJ/PLY, mm, patient frame), e.g. a GTV.
    pirads : int or None
        PI-RADS assessment category 1–5, shown to the clinician only.
    margin_mm : float
        Safety margin the plan aims for beyond the lesion's edge, 0–15 mm (default
        :data:`LESION_MARGIN_MM`).
    visible_on_ultrasound : bool
        Whether the lesion shows on the ultrasound picture (as a darker area). Many recurrences after
        radiation do not, so the default is ``False``.
    """

    name: str
    sector: str | None = None
    position_mm: tuple[float, float, float] | None = None
    diameter_mm: float | None = None
    mesh: Path | None = None
    pirads: int | None = None
    margin_mm: float = LESION_MARGIN_MM
    visible_on_ultrasound: bool = False


@dataclass(frozen=True)
class Story:
    """How the story is told.

    Attributes
    ----------
    language : str
        One of :data:`LANGUAGES`.
    chapters : tuple of int
        Which chapters (1–8) to include.
    freeze_speedup : float
        How many procedure seconds pass per story second during freezing (default 30).
    """

    language: str = "en"
    chapters: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8)
    freeze_speedup: float = 30.0


@dataclass(frozen=True)
class Phantom:
    """A gel phantom instead of a patient (single-probe demonstration)."""

    medium: str = "gel"
    temp_c: float = 37.0
    size_mm: float = 60.0


@dataclass(frozen=True)
class ThermalSettings:
    """Numerical settings of the thermal model."""

    grid_mm: float = 1.0
    margin_mm: float = 15.0


@dataclass(frozen=True)
class Scene:
    """A whole validated scene.

    Attributes
    ----------
    path : str
        The file it came from (for messages and caching).
    title : str
        Human title.
    anatomy : AnatomyParams
    probes : tuple of Probe
        Explicit probes; empty when ``layout`` is used.
    layout : ProbeLayout or None
        Automatic layout sized to the gland.
    protocol : Protocol
    warmer : Warmer
    sensors : tuple of Sensor
    story : Story
    phantom : Phantom or None
        When set, the scene is a gel phantom (no anatomy).
    thermal : ThermalSettings
    lesions : tuple of Lesion
        Known cancers (0–5), in the order of the file.
    """

    path: str = "<default>"
    title: str = "Salvage cryoablation"
    anatomy: AnatomyParams = field(default_factory=AnatomyParams)
    probes: tuple[Probe, ...] = ()
    layout: ProbeLayout | None = None
    protocol: Protocol = field(default_factory=Protocol)
    warmer: Warmer = field(default_factory=Warmer)
    sensors: tuple[Sensor, ...] = ()
    story: Story = field(default_factory=Story)
    phantom: Phantom | None = None
    thermal: ThermalSettings = field(default_factory=ThermalSettings)
    lesions: tuple[Lesion, ...] = ()
