"""The bioheat model: Pennes solver with phase change, probe coupling, the thermal run and its cache,
and the metrics computed from its temperature history. Never draws.

The names below are this package's public face; they are loaded on first use (``lazy_loader``), so
importing one module of the package does not import the others.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "thermal": ["ThermalResult", "simulate", "is_cached"],
        "metrics": ["compute_metrics"],
    },
)
