"""cryoviz: see what salvage cryoablation of the prostate does inside the body.

For patient education, not treatment planning. The compute layer (``scene``, ``anatomy``, ``thermal``,
``metrics``, ``timeline``, ``ultrasound``) never imports a renderer; the presentation layer (``render``,
``video``, ``app``, ``cli``) draws.
"""

__version__ = "0.1.0"
__all__ = ["DISCLAIMER", "__version__"]

#: Shown on every screen and in every video (the per-language text files carry translations).
DISCLAIMER = "For patient education only. Not for treatment planning."
