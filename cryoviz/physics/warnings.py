"""The warnings of the metrics: stable codes, their thresholds with the reasons, and English sentences.

Each :class:`WarningCode` reads one figure of the metrics JSON and fires when it crosses its threshold.
``metrics["warning_codes"]`` lists the ids that fired (in the order of :data:`WARNING_CODES`) and
``metrics["warnings"]`` the English sentence of each, in the same order. The story and the app say each id
in the patient's language (``cryoviz/story/lang/*.toml``); the English sentences here are the reference
meaning and what ``cryoviz simulate`` prints.

"Frozen" means that ice formed: the coldest temperature reached 0 °C or colder (the visible edge of the
iceball on ultrasound is the 0 °C isotherm, clinical-facts §1).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryoviz.core.rounding import shown_pct, shown_temp_c

__all__ = ["WARNING_CODES", "WarningCode", "evaluate_warnings", "figure_at"]


@dataclass(frozen=True)
class WarningCode:
    """One warning: which figure it reads, when it fires, why, and what it says.

    Attributes
    ----------
    id : str
        Stable id (``metrics["warning_codes"]``); never renamed.
    figure : str
        Dotted path of the figure in the metrics JSON.
    threshold : float
        The figure's threshold (unit in ``unit``).
    fires_below : bool
        True: fires when the figure is at or below ``threshold``; False: at or above it.
    unit : str
        ``"°C"`` or ``"fraction"``.
    reason : str
        Why this threshold, with its source.
    sentence : str
        English sentence; ``{value}`` is the figure (°C rounded, or a percentage).
    """

    id: str
    figure: str
    threshold: float
    fires_below: bool
    unit: str
    reason: str
    sentence: str


_CODES = (
    WarningCode(
        "rectal_wall_frozen", "organs.rectum_wall.min_temp_c", 0.0, True, "°C",
        "Ice in the rectal wall can injure it and, rarely, lead to a fistula between rectum and urethra "
        "(0-3 % after salvage cryoablation, AUA 2008); clinicians slow or stop freezing when the rectal-side "
        "sensor nears 0 °C (clinical-facts §1).",
        "The rectal wall reached {value} °C: the ice touched the rectum."),
    WarningCode(
        "rectal_wall_near_ice", "organs.rectum_wall.min_temp_c", 10.0, True, "°C",
        "Ahead of the ice edge tissue warms by about 3-4 °C per mm (0 to 37 °C over about 1 cm in the gel "
        "calibration), so 10 °C is within about 3 mm of the ice, close to the model's own uncertainty of "
        "the wall figure: a wall this cold is close to freezing.",
        "The rectal wall cooled to {value} °C: the ice came close to the rectum."),
    WarningCode(
        "urethral_wall_frozen", "organs.urethra.min_temp_c", 0.0, True, "°C",
        "The warming catheter is there to keep the lining of the urethra from freezing; where the tissue "
        "within 1 mm of it freezes anyway the lining can be injured and shed (urethral sloughing 5-10 % "
        "after salvage cryoablation, AUA 2008). Only with the warming catheter on.",
        "Tissue within 1 mm of the warming catheter reached {value} °C: the lining of the urethra may be "
        "injured."),
    WarningCode(
        "urethra_frozen_warmer_off", "organs.urethra.min_temp_c", 0.0, True, "°C",
        "Without a warming catheter nothing keeps the urethra from freezing (same reason as "
        "urethral_wall_frozen). Only with the warming catheter off.",
        "The urethra reached {value} °C with the warming catheter off: the ice reached the urethra."),
    WarningCode(
        "sphincter_frozen", "organs.sphincter.min_temp_c", 0.0, True, "°C",
        "Ice in the external urinary sphincter makes leaking urine more likely (incontinence after "
        "salvage cryoablation: under 10 %, AUA 2008; 5.5 % focal, COLD registry).",
        "The urinary sphincter muscle reached {value} °C: ice there can make leaking urine more likely."),
    WarningCode(
        "bladder_frozen", "organs.bladder.min_temp_c", 0.0, True, "°C",
        "Ice reaching the bladder wall can injure the bladder (listed among the rare complications, "
        "clinical-facts §2).",
        "The bladder wall reached {value} °C: the ice reached the bladder."),
    WarningCode(
        "nerve_bundles_frozen", "organs.neurovascular_bundles.fraction_below_0", 0.10, False, "fraction",
        "The nerves for erections run in these bundles; whole-gland salvage cryoablation freezes them in "
        "most men (erectile dysfunction > 80 %, AUA 2008). A tenth of the bundle volume in the ice is a "
        "frozen stretch of nerve, not a touch of the ice edge.",
        "{value} % of the nerve bundles next to the prostate froze: erections are likely to be affected."),
    WarningCode(
        "target_undertreated", "target.fraction_below_minus40", 0.70, True, "fraction",
        "-40 °C is the temperature that reliably destroys tissue (clinical-facts §1); good layouts put about "
        "75 % of the gland below the -22 °C planning isotherm (Rabin, bubble packing, PMC2566950). Less "
        "than 70 % of the target at -40 °C leaves more than 3 parts in 10 of it to chance.",
        "Only {value} % of the area to be treated reached -40 °C, the temperature that reliably destroys "
        "tissue."),
)

#: Every warning code by id, in the order warnings are listed.
WARNING_CODES: dict[str, WarningCode] = {c.id: c for c in _CODES}


def figure_at(metrics: dict, path: str):
    """The value at a dotted ``path`` of the metrics dict (``"organs.sphincter.min_temp_c"``), or None."""
    node = metrics
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def evaluate_warnings(metrics: dict, urethral_warmer_on: bool) -> tuple[list[str], list[str]]:
    """``(codes, sentences)`` of the warnings ``metrics`` calls for (parallel lists, stable order).

    Parameters
    ----------
    metrics : dict
        Metrics with at least ``organs`` (and ``target``).
    urethral_warmer_on : bool
        Whether the urethral warming catheter ran (picks between the two urethra codes).
    """
    codes, sentences = [], []
    for c in _CODES:
        if c.id == "urethral_wall_frozen" and not urethral_warmer_on:
            continue
        if c.id == "urethra_frozen_warmer_off" and urethral_warmer_on:
            continue
        if c.id == "rectal_wall_near_ice" and "rectal_wall_frozen" in codes:
            continue
        v = figure_at(metrics, c.figure)
        if v is None:
            continue
        v = float(v)
        if not (v <= c.threshold if c.fires_below else v >= c.threshold):
            continue
        # rounded down, so the sentence never sounds warmer or fuller than the model says
        shown = f"{shown_pct(v):d}" if c.unit == "fraction" else f"{shown_temp_c(v):d}"
        codes.append(c.id)
        sentences.append(c.sentence.format(value=shown))
    return codes, sentences
