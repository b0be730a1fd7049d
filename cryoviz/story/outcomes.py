"""What the simulation did to each structure the story names: structure -> outcome -> figures.

The story never decides what to say from the plan; it reads the simulated result. :func:`findings` turns the
metrics JSON (``ThermalResult.metrics``, the design contract) into one :class:`Finding` per structure:

* the **target** (what the plan meant to treat: the prostate, the half being treated, or the focal area):
  ``"treated"`` or ``"undertreated"`` (the metrics' ``target_undertreated`` warning), with the share of the
  target that reached -40 °C (the lethal temperature, clinical-facts §1) and -20 °C;
* every protected structure (rectal wall, urethral wall, sphincter, nerve bundles, bladder): ``"frozen"``
  (its coldest point reached 0 °C, the visible ice edge, clinical-facts §1; or the metrics flag it),
  ``"cooled"`` (colder than :data:`SPARED_C` but not frozen) or ``"spared"``.

A new kind of structure (a lesion, say) is one more entry: a function from the metrics to findings, and its
sentences under ``[outcomes.<structure>]`` in every language file (see :mod:`cryoviz.story.script_text`).
Pure: numbers in, data out; nothing here formats text.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryoviz.core.rounding import shown_pct

__all__ = [
    "FROZEN_C", "SPARED_C", "STRUCTURES", "Finding", "ProtectedStructure", "findings", "frozen_organs",
    "target_kind",
]

#: A structure whose coldest point reached this is called frozen: 0 °C is the edge of the ice the
#: ultrasound shows (clinical-facts §1).
FROZEN_C = 0.0
#: Coldest point at or above this: the cold "barely reached" the structure. A story choice (body
#: temperature is 37 °C; tissue cooled to 30 °C is unharmed), not a clinical threshold.
SPARED_C = 30.0
#: Without a ``target_undertreated`` code (older metrics), a target is called undertreated below this share
#: at -40 °C: the same threshold the metrics' English warning uses.
UNDERTREATED_FRACTION = 0.5


@dataclass(frozen=True)
class Finding:
    """The result for one structure.

    Attributes
    ----------
    structure : str
        ``"target"``, ``"rectal_wall"``, ``"urethral_wall"``, ``"sphincter"``, ``"nerve_bundles"``,
        ``"bladder"`` (the ``[outcomes.<structure>]`` table of the language files).
    outcome : str
        ``"treated"`` / ``"undertreated"`` (target); ``"spared"`` / ``"cooled"`` / ``"frozen"`` (others).
    values : tuple of (str, float)
        Raw figures for the sentences: ``min_c`` (coldest °C), ``frozen_pct`` (% of its volume at 0 °C or
        colder), ``gap_mm`` (rectal wall: distance to the -40 °C ice), ``pct40``/``pct20``/``rest_pct``
        (target: % of it at -40 / -20 °C, % not at -40 °C), ``warmed`` (1 when the warm catheter ran
        beside it: the urethral wall's metrics have a ``catheter_temp_c``).
    codes : tuple of str
        Warning codes this finding explains (their sentences follow the finding's).
    """

    structure: str
    outcome: str
    values: tuple[tuple[str, float], ...]
    codes: tuple[str, ...] = ()

    def value(self, key: str) -> float | None:
        """One raw figure, or None."""
        return dict(self.values).get(key)


@dataclass(frozen=True)
class ProtectedStructure:
    """A structure the freeze should spare.

    Attributes
    ----------
    id : str
        Story name (``[outcomes.<id>]``, ``[structures] <id>`` in the language files).
    organ : str
        Its key under ``organs`` in the metrics.
    codes : tuple of str
        Warning codes of :data:`cryoviz.physics.warnings.WARNING_CODES` about it; the first is the one
        for ice in it (used with older metrics that list no codes). A code with "frozen" in its id means
        ice formed there.
    """

    id: str
    organ: str
    codes: tuple[str, ...]
    drawn: str = ""

    @property
    def mesh(self) -> str:
        """The organ of the 3D scene that shows it (``cryoviz.model.scene.ORGAN_NAMES``)."""
        return self.drawn or self.organ


#: Protected structures, in the order the story tells them.
STRUCTURES: tuple[ProtectedStructure, ...] = (
    ProtectedStructure("rectal_wall", "rectum_wall", ("rectal_wall_frozen", "rectal_wall_near_ice"),
                       drawn="rectum"),
    ProtectedStructure("urethral_wall", "urethra", ("urethral_wall_frozen", "urethra_frozen_warmer_off")),
    ProtectedStructure("sphincter", "sphincter", ("sphincter_frozen",)),
    ProtectedStructure("nerve_bundles", "neurovascular_bundles", ("nerve_bundles_frozen",)),
    ProtectedStructure("bladder", "bladder", ("bladder_frozen",)),
)


def _num(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def target_kind(scene, metrics: dict | None = None) -> str:
    """What the plan treats: ``"whole_gland"``, ``"half"`` or ``"focal"``.

    Read from the metrics' ``target.name`` (``"whole gland"``, ``"left half"``, ``"right half"``, or a
    lesion's name: focal) when there is one, else from the scene's layout preset.
    """
    name = str(((metrics or {}).get("target") or {}).get("name") or "")
    if name:
        if name == "whole gland":
            return "whole_gland"
        return "half" if name.endswith("half") else "focal"
    preset = getattr(getattr(scene, "layout", None), "preset", None) or "whole_gland"
    if getattr(scene, "probes", ()):
        preset = "whole_gland"
    if preset.startswith("hemi"):
        return "half"
    return "focal" if preset == "focal" else "whole_gland"


def _target(metrics: dict, codes: set[str]) -> list[Finding]:
    target = metrics.get("target") or {}
    organ = metrics.get("organs", {}).get("prostate", {})
    f40 = _num(target.get("fraction_below_minus40"))
    f20 = _num(target.get("fraction_below_minus20"))
    if f40 is None:  # metrics without a target block: the whole prostate is the target
        f40, f20 = _num(organ.get("fraction_below_minus40")), _num(organ.get("fraction_below_minus20"))
    if f40 is None:
        return []
    pct40 = shown_pct(f40)
    values = [("pct40", float(pct40)), ("rest_pct", float(100 - pct40))]
    if f20 is not None:
        values.append(("pct20", float(shown_pct(f20))))
    flagged = "target_undertreated" in codes if "warning_codes" in metrics else f40 < UNDERTREATED_FRACTION
    return [Finding("target", "undertreated" if flagged else "treated", tuple(values),
                    ("target_undertreated",) if flagged else ())]


def _protected(s: ProtectedStructure, metrics: dict, codes: set[str]) -> list[Finding]:
    organ = metrics.get("organs", {}).get(s.organ)
    min_c = _num((organ or {}).get("min_temp_c"))
    if min_c is None:
        return []
    mine = tuple(c for c in s.codes if c in codes)
    if min_c <= FROZEN_C or any("frozen" in c for c in mine):
        outcome = "frozen"
        if "warning_codes" not in metrics:  # older metrics: the ice code is implied
            mine = s.codes[:1]
    elif min_c < SPARED_C:
        outcome = "cooled"
    else:
        outcome = "spared"
    values = [("min_c", min_c)]
    f0 = _num(organ.get("fraction_below_0"))
    if f0 is not None:
        values.append(("frozen_pct", 100.0 * f0))
    gap = _num(organ.get("min_distance_to_minus40_mm"))
    if gap is not None and gap > 0:
        values.append(("gap_mm", gap))
    if _num(organ.get("catheter_temp_c")) is not None:  # the warm catheter ran beside it
        values.append(("warmed", 1.0))
    return [Finding(s.id, outcome, tuple(values), mine)]


def _lesions(metrics: dict, codes: set[str]) -> list[Finding]:
    """Each known cancer: covered with its margin, or not (:mod:`cryoviz.story.lesion_story`, issue #17)."""
    from cryoviz.story.lesion_story import lesion_findings

    return lesion_findings(metrics, codes)


#: Finders in story order: each takes (metrics, warning codes) and returns findings. Extend, never reorder.
FINDERS: list[Callable[[dict, set[str]], list[Finding]]] = [_target, _lesions] + [
    (lambda m, c, _s=s: _protected(_s, m, c)) for s in STRUCTURES
]


def findings(metrics: dict | None) -> tuple[Finding, ...]:
    """The outcome of every structure the metrics report, in story order.

    Parameters
    ----------
    metrics : dict
        The metrics JSON of a thermal result (``organs``, optionally ``target`` and ``warning_codes``).

    Returns
    -------
    tuple of Finding
        Structures the metrics do not report (a gel phantom has no rectum) are left out.
    """
    metrics = metrics if isinstance(metrics, dict) else {}
    codes = {str(c) for c in metrics.get("warning_codes", ()) or ()}
    out: list[Finding] = []
    for finder in FINDERS:
        out.extend(finder(metrics, codes))
    return tuple(out)


def unexplained_codes(metrics: dict | None, found: tuple[Finding, ...]) -> tuple[str, ...]:
    """Warning codes of the metrics that no finding explains (told on their own, after the findings)."""
    metrics = metrics if isinstance(metrics, dict) else {}
    told = {c for f in found for c in f.codes}
    return tuple(str(c) for c in metrics.get("warning_codes", ()) or () if str(c) not in told)


def frozen_organs(found: tuple[Finding, ...]) -> tuple[str, ...]:
    """The 3D scene's organs whose structure froze (the picture tints them like ice once this is told)."""
    mesh = {s.id: s.mesh for s in STRUCTURES}
    return tuple(mesh[f.structure] for f in found if f.outcome == "frozen" and f.structure in mesh)
