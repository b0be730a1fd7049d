"""What reaches the patient: the education video (frames, encoding, WebVTT subtitles) and the trame
consultation app.

The names below are this package's public face; they are loaded on first use (``lazy_loader``), so
importing one module of the package does not import the others.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "video": ["render_video"],
        "app": ["serve"],
    },
)
