"""Colours and surface looks of the 3D scene (presentation layer).

The colours were chosen so that every pair of organ and isotherm colours stays at least
:data:`CVD_MIN_DELTA_E` apart in CAM02-UCS (Luo, Cui & Li 2006) for normal vision *and* under full-severity
simulated deuteranomaly, protanomaly and tritanomaly (Machado, Oliveira & Fernandes 2009, as implemented by
``colorspacious``); ``tests/view/test_palette.py`` checks it. Within that constraint each keeps the hue an
anatomy atlas uses: a salmon-tan gland, a pink urethra, a red sphincter muscle, a straw bladder, a dusky
rectum, yellow nerves and ivory bone.

The ice reads as cold, never as heat: frosted near-white at its visible edge (0 °C), sky blue at −20 °C and
deep indigo for the lethal −40 °C zone, so "colder" always means "deeper blue".
"""

from __future__ import annotations

__all__ = [
    "BACKGROUND", "BONE_LOOK", "CALLOUT", "CATHETER", "CVD_MIN_DELTA_E", "FROZEN_TINT", "ICE_LOOK",
    "ISOTHERM_STYLE", "LESION_STYLE", "LIGHTS", "ORGAN_LOOK", "ORGAN_STYLE", "PROBE_ACTIVE", "PROBE_SHAFT",
    "RECEDE", "RECEDE_DARKEN", "TEXT", "frozen_colour", "hex_rgb", "light_position", "lighten", "mix",
    "recede",
]

BACKGROUND = "#141b24"
TEXT = "#f4f4f4"
PROBE_SHAFT = "#b8bec6"
PROBE_ACTIVE = "#e8f6ff"
#: The warming catheter in the urethra (a device, amber so it is not mistaken for the nerves' yellow).
CATHETER = "#e39a1e"
#: Line and text colour of the gap callout.
CALLOUT = "#ffffff"
#: Smallest colour difference (CAM02-UCS ΔE) between any two organ/isotherm colours under every simulated
#: colour-vision deficiency (10 is a clearly visible difference; 2 is about the least one can see).
CVD_MIN_DELTA_E = 9.0

#: threshold °C -> (colour, opacity in the 3D view)
ISOTHERM_STYLE: dict[float, tuple[str, float]] = {
    0.0: ("#dcf5ff", 0.28),
    -20.0: ("#1cace0", 0.32),
    -40.0: ("#2d4edc", 0.88),
}

#: An organ that froze is drawn this much toward the ice colour (the -20 °C shell's), so a frozen nerve
#: bundle no longer looks like one outside the ice ("What was spared" on).
FROZEN_TINT = (ISOTHERM_STYLE[-20.0][0], 0.55)

#: organ -> (colour, default opacity)
ORGAN_STYLE: dict[str, tuple[str, float]] = {
    "prostate": ("#c97f4e", 1.0),
    "urethra": ("#f0a4b1", 1.0),
    "sphincter": ("#af3f33", 1.0),
    "bladder": ("#dabd8e", 1.0),
    "rectum": ("#7e5762", 1.0),
    "seminal_vesicles": ("#63a484", 1.0),
    "neurovascular_bundles": ("#fbe307", 1.0),
    "perineum": ("#433937", 0.25),
    "pubic_bone": ("#f7f0dd", 1.0),
    "gel": ("#5ed8dc", 0.35),
}

#: A known cancer (issue #17): a calm dusty violet, distinct from the organs and from every isotherm colour
#: also under simulated colour-vision deficiencies (not an alarming red), nearly opaque.
LESION_STYLE: tuple[str, float] = ("#9878a0", 1.0)

#: Surface look of soft organs: ambient, diffuse, specular, specular power (VTK's Phong model). A little
#: specular shows the shape of a curved surface without looking wet.
ORGAN_LOOK = {"ambient": 0.18, "diffuse": 0.85, "specular": 0.22, "specular_power": 18.0}
#: Bone: matte and bright, no sheen (compact bone is dry and chalky).
BONE_LOOK = {"ambient": 0.28, "diffuse": 0.8, "specular": 0.05, "specular_power": 5.0}
#: Ice: glossy, so the light catches it like frost on glass.
ICE_LOOK = {"ambient": 0.3, "diffuse": 0.7, "specular": 0.6, "specular_power": 40.0}
#: The lights, all fixed to the camera: (name, elevation deg, azimuth deg, intensity, colour). A key light
#: from above and a little to the side shows the organs' shape; a head light fills from the viewer so
#: nothing faces the camera in the dark. Two lights, not VTK's five-light kit (key, fill, head and two back
#: lights): on a CPU (Mesa llvmpipe) every light is paid per pixel, and the kit's fill and back lights
#: cost about 30 % of a picture while adding a faint rim the patient does not need (measured with
#: ``LP_NUM_THREADS=1``, 1280x720: 79 -> 61 ms a picture in "Your anatomy", 125 -> 93 ms in a section).
#: The key light keeps the kit's place and warm tint (``vtkLightKit``: elevation 50°, azimuth 10°); the
#: intensities keep the kit's brightness on a surface facing the viewer (0.3 + 0.8 x 0.63 = 0.81; kit 0.79).
LIGHTS: tuple[tuple[str, float, float, float, str], ...] = (
    ("key", 50.0, 10.0, 0.8, "#fff8e6"),
    ("head", 0.0, 0.0, 0.3, "#ffffff"),
)


def light_position(elevation_deg: float, azimuth_deg: float) -> tuple[float, float, float]:
    """Unit position of a camera light in camera coordinates, as ``vtkLightKit`` places its lights.

    Parameters
    ----------
    elevation_deg, azimuth_deg : float
        Angles above and to the right of the view direction, degrees.

    Returns
    -------
    tuple of float
        (x, y, z); the camera looks down −z, so (0, 0, 1) is a head light.
    """
    import math

    el, az = math.radians(elevation_deg), math.radians(azimuth_deg)
    return (math.sin(az) * math.cos(el), math.sin(el), math.cos(az) * math.cos(el))


#: How far organs the caption does not name lose their colour (0 = not at all, 1 = grey), and how much
#: darker they get: they recede without turning into a muddy version of another organ's colour.
RECEDE = 0.65
RECEDE_DARKEN = 0.78


def hex_rgb(colour: str) -> tuple[float, float, float]:
    """``"#rrggbb"`` as an (r, g, b) tuple of floats in [0, 1]."""
    c = colour.lstrip("#")
    return (int(c[0:2], 16) / 255.0, int(c[2:4], 16) / 255.0, int(c[4:6], 16) / 255.0)


def recede(colour: str) -> tuple[float, float, float]:
    """``colour`` faded for an organ the caption does not name: mostly grey, a little darker."""
    r, g, b = hex_rgb(colour)
    grey = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return tuple(RECEDE_DARKEN * ((1 - RECEDE) * c + RECEDE * grey) for c in (r, g, b))  # type: ignore


def lighten(colour: str, u: float) -> tuple[float, float, float]:
    """``colour`` a fraction ``u`` of the way to white."""
    return tuple((1 - u) * c + u for c in hex_rgb(colour))  # type: ignore[return-value]


def mix(a: str, b: str, u: float) -> tuple[float, float, float]:
    """Colour a fraction ``u`` of the way from ``a`` to ``b`` (both ``"#rrggbb"``), as floats."""
    ra, rb = hex_rgb(a), hex_rgb(b)
    return tuple((1.0 - u) * x + u * y for x, y in zip(ra, rb, strict=True))  # type: ignore[return-value]


def frozen_colour(colour: str) -> str:
    """``colour`` (``"#rrggbb"``) mixed toward the ice colour by :data:`FROZEN_TINT`, as ``"#rrggbb"``."""
    ice, share = FROZEN_TINT
    return "#" + "".join(f"{round(255 * c):02x}" for c in mix(colour, ice, share))
