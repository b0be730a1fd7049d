"""The one renderer: a PyVista scene built once and updated in place from a story state, with its
overlay, palette and ultrasound inset. Stills come from here.

The names below are this package's public face; they are loaded on first use (``lazy_loader``), so
importing one module of the package does not import the others.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "render": ["SceneRenderer"],
        "still": ["write_still"],
    },
)
