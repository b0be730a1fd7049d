"""The patient and the plan: scene files, the template grid, anatomy shapes and meshes, probe layout,
probe catalogue and tissue properties. Geometry only (numpy, scipy, pyvista core); never draws.

The names below are this package's public face; they are loaded on first use (``lazy_loader``), so
importing one module of the package does not import the others.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "scene": ["DEFAULT_SCENE", "ORGAN_NAMES", "Scene"],
        "scene_load": ["load_scene", "parse_scene", "check_scene_geometry"],
        "anatomy": ["Anatomy", "build_anatomy", "phantom_anatomy"],
        "layout": ["resolve_probes", "resolve_sensors"],
    },
)
