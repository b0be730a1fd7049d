"""The compute layer never loads a renderer, trame or imageio (checked in a fresh interpreter).

Plain ``import pyvista`` (0.49) loads only ``pyvista.core`` and the VTK data-model modules; the plotting
package, OpenGL rendering, trame and imageio come in only when something asks for them. So compute modules
may use pyvista core geometry (``PolyData``, ``ImageData.contour``) but nothing that draws.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

COMPUTE_MODULES = ("scene", "anatomy", "layout", "probes", "thermal", "metrics", "timeline", "text",
                   "ultrasound", "template", "errors")
FORBIDDEN_PREFIXES = ("trame", "imageio", "vtkmodules.vtkRenderingOpenGL2", "pyvista.plotting.plotter",
                      "vtkmodules.vtkRenderingCore", "wslink")


def _loaded_after(code: str) -> set[str]:
    script = textwrap.dedent(code) + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         timeout=300)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def _forbidden(mods: set[str]) -> list[str]:
    return sorted(m for m in mods if m.startswith(FORBIDDEN_PREFIXES))


def test_the_check_sees_a_renderer_when_one_is_loaded():
    mods = _loaded_after("import pyvista as pv\npv.Plotter")
    assert "pyvista.plotting.plotter" in mods and _forbidden(mods)


def test_compute_modules_and_a_tiny_story_load_no_renderer():
    code = f"""
    import importlib
    for name in {COMPUTE_MODULES!r}:
        importlib.import_module("cryoviz." + name)
    import dataclasses
    from cryoviz.anatomy import build_anatomy
    from cryoviz.scene import FreezeCycle, load_scene
    from cryoviz.thermal import simulate
    from cryoviz.timeline import Story

    scene = load_scene("scenes/salvage_whole_gland.toml")
    scene = dataclasses.replace(scene, protocol=dataclasses.replace(
        scene.protocol, cycles=(FreezeCycle(freeze_s=60.0, thaw_s=30.0),)))
    anatomy = build_anatomy(scene.anatomy)
    result = simulate(scene, grid_mm=4.0, use_cache=False, anatomy=anatomy)
    story = Story(scene, anatomy, result)
    for k in range(20):
        story.state_at(story.duration_s * k / 19)
    result.isotherm(0.0, float(result.times_s[-1]))
    """
    mods = _loaded_after(code)
    assert "cryoviz.timeline" in mods and "cryoviz.thermal" in mods
    assert _forbidden(mods) == []
