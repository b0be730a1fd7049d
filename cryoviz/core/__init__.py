"""Shared ground for every layer: contract errors, atomic file writes, the on-disk result cache.

The names below are this package's public face; they are loaded on first use (``lazy_loader``), so
importing one module of the package does not import the others.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "errors": ["InputError", "Problem"],
        "files": ["atomic_path", "atomic_write_text", "check_writable_target"],
        "cache": ["cache_dir"],
    },
)
