"""What the patient is told and when: the timeline (chapters, captions, camera, state at each time),
the patient text in its language files, the ultrasound image synthesis. Never draws in 3D.

The names below are this package's public face; they are loaded on first use (``lazy_loader``), so
importing one module of the package does not import the others.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "timeline": ["Story", "FrameState"],
        "session": ["build_story", "load_story"],
        "text": ["load_text"],
        "ultrasound": ["ultrasound_frame"],
    },
)
