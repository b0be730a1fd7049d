"""The server owns its state: which keys a browser may write, and what values it may write into them.

Every tab of a consultation writes into one shared trame state. A client message is untrusted input (it may
come from a bug, a stale tab or a hostile page), so the server accepts a client's change only through
:data:`CLIENT_KEYS`:

* **One table, key -> validator.** ``validator(value, app) -> clean value`` returns the value to store (it
  may clamp, e.g. the timeline to the story) or raises :class:`Rejected` (``TypeError``/``ValueError``/
  ``OverflowError`` count as rejections too). Numbers must be real, finite numbers (not bools, not
  strings); switches must be real bools; choices must be one of the offered values.
* **Revert to the last valid value.** A rejected change never reaches the server state, so the state keeps
  its last valid value; the network layer (:mod:`cryoviz.deliver.app_security`) pushes that value back to
  the clients, whose widgets then show the truth again.
* **Server-only keys are not client-writable.** A key not in the table (captions, numbers, ``sim_busy``,
  ``disclaimer``, ``duration_s``, ...) is rejected whatever its value.

Adding a control: add its key with a validator here (:func:`register_client_key` from another module, or
an entry in :data:`CLIENT_KEYS`), and keep its ``@change`` handler tolerant anyway (server code may set
it too). :func:`screen` is the single entry point; ``ConsultationApp.client_update`` applies its result.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from cryoviz.deliver.app_state import LIMITS, OWN_PLAN, SPEEDS
from cryoviz.model.scene import LANGUAGES, LAYOUT_PRESETS

__all__ = ["CLIENT_KEYS", "Rejected", "boolean", "choice", "finite", "in_range", "register_client_key",
           "screen"]


class Rejected(ValueError):
    """A client value the server does not accept (the state keeps its last valid value)."""


Validator = Callable[[Any, Any], Any]


# ------------------------------------------------------------------------------------------- validators
def finite(value: Any) -> float:
    """A real, finite number as float (bools and strings are rejected: the page sends numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Rejected(f"not a number: {type(value).__name__}")
    out = float(value)
    if not math.isfinite(out):
        raise Rejected("not a finite number")
    return out


def in_range(lo: float, hi: float) -> Validator:
    """Validator: a finite number within ``[lo, hi]`` (rejected outside, not clamped)."""
    def check(value: Any, _app: Any = None) -> float:
        v = finite(value)
        if not lo <= v <= hi:
            raise Rejected(f"out of range {lo:g}..{hi:g}")
        return v
    return check


def boolean(value: Any, _app: Any = None) -> bool:
    """Validator: a real bool (``"false"`` or ``0`` are rejected rather than guessed)."""
    if not isinstance(value, bool):
        raise Rejected(f"not a bool: {type(value).__name__}")
    return value


def choice(options: tuple) -> Validator:
    """Validator: one of ``options``."""
    def check(value: Any, _app: Any = None) -> Any:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)) or value not in options:
            raise Rejected("not an offered choice")
        return value
    return check


def _timeline(value: Any, app: Any) -> float:
    """Story time, s: a finite number, clamped to the story ``[0, duration_s]`` (a slider may overshoot)."""
    v = finite(value)
    duration = finite(app.state.duration_s)
    return min(max(v, 0.0), duration)


def _speed(value: Any, _app: Any = None) -> float:
    v = finite(value)
    if v not in SPEEDS:
        raise Rejected("not an offered speed")
    return v


def _organs_visible(value: Any, app: Any) -> dict[str, bool]:
    """Organ visibility: a dict of known organ names to bools; organs it leaves out keep their setting."""
    if not isinstance(value, Mapping):
        raise Rejected("not a mapping")
    current = app.state.organs_visible
    current = dict(current) if isinstance(current, Mapping) else {}
    out = dict(current)
    for key, visible in value.items():
        if not isinstance(key, str) or key not in current:
            raise Rejected("unknown organ")
        out[key] = boolean(visible)
    return out


#: Every key a client may write, with its validator ``validator(value, app) -> clean value``.
CLIENT_KEYS: dict[str, Validator] = {
    "t_s": _timeline,
    "playing": boolean,
    "speed": _speed,
    "lang": choice(tuple(LANGUAGES)),
    "organs_visible": _organs_visible,
    "cutaway": boolean,
    "section_view": choice(("story", "sagittal", "transverse")),
    "iso_0": boolean,
    "iso_m20": boolean,
    "iso_m40": boolean,
    "clinician": boolean,
    "volume_ml": in_range(*LIMITS["volume_ml"]),
    "rectum_gap_mm": in_range(*LIMITS["rectum_gap_mm"]),
    "hydrodissection": boolean,
    "preset": choice((OWN_PLAN, *LAYOUT_PRESETS)),  # OWN_PLAN: the probes the scene file places
    "lesion_us": boolean,          # the clinician's "lesion on ultrasound" switch (issue #17)
}


def register_client_key(key: str, validator: Validator) -> None:
    """Let clients write ``key`` through ``validator`` (for controls added by other modules)."""
    if not callable(validator):
        raise TypeError("validator must be callable")
    CLIENT_KEYS[key] = validator


def screen(app: Any, changes: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Split a client's changes into accepted (clean values) and rejected keys.

    Parameters
    ----------
    app : ConsultationApp
        The consultation (validators read its current state, e.g. the story length).
    changes : mapping
        Key -> value as sent by the client.

    Returns
    -------
    accepted : dict
        Key -> clean value, to be written to the state.
    rejected : list of str
        Keys refused (unknown, server-only or invalid); their last valid value stays.
    """
    accepted: dict[str, Any] = {}
    rejected: list[str] = []
    if not isinstance(changes, Mapping):
        return accepted, rejected
    if not getattr(app, "started", True):   # no story shown yet (a background start): nothing to act on
        return accepted, [str(k)[:80] for k in changes]
    for key, value in changes.items():
        check = CLIENT_KEYS.get(key) if isinstance(key, str) else None
        if check is None:
            rejected.append(str(key)[:80])
            continue
        try:
            accepted[key] = check(value, app)
        except (Rejected, TypeError, ValueError, OverflowError, KeyError, AttributeError):
            rejected.append(key)
    return accepted, rejected
