"""The tree's architecture: layers import downward only (import-linter), no import circles (every module
imports alone in a fresh interpreter), and the compute layer never loads a renderer, trame or imageio.

Plain ``import pyvista`` (0.49) loads only ``pyvista.core`` and the VTK data-model modules; the plotting
package, OpenGL rendering, trame and imageio come in only when something asks for them. So compute modules
may use pyvista core geometry (``PolyData``, ``ImageData.contour``) but nothing that draws.
"""

from __future__ import annotations

import json
import pkgutil
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cryoviz

ROOT = Path(__file__).resolve().parents[1]
COMPUTE_PACKAGES = ("core", "model", "physics", "story")
ALL_MODULES = sorted(m.name for m in pkgutil.walk_packages(cryoviz.__path__, "cryoviz.")
                     if m.name != "cryoviz.__main__")
COMPUTE_MODULES = tuple(m.removeprefix("cryoviz.") for m in ALL_MODULES
                        if m.split(".")[1] in COMPUTE_PACKAGES)
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
    from cryoviz.model.anatomy import build_anatomy
    from cryoviz.model.scene import FreezeCycle
    from cryoviz.model.scene_load import load_scene
    from cryoviz.physics.thermal import simulate
    from cryoviz.story.timeline import Story

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
    assert "cryoviz.story.timeline" in mods and "cryoviz.physics.thermal" in mods
    assert _forbidden(mods) == []


def _import_alone(module: str) -> tuple[str, str]:
    r = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True,
                       timeout=300)
    return module, (r.stderr.strip().splitlines() or ["?"])[-1] if r.returncode else ""


def test_every_module_imports_alone_in_a_fresh_interpreter():
    """An import circle shows up as a module that cannot be imported first."""
    assert len(ALL_MODULES) > 40 and "cryoviz.model.scene_load" in ALL_MODULES
    with ThreadPoolExecutor(2) as pool:
        failed = {m: err for m, err in pool.map(_import_alone, ALL_MODULES) if err}
    assert failed == {}


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("lint-imports")
    assert exe, "import-linter is a test dependency (pip install -e .[test])"
    return subprocess.run([exe, "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"})


def test_import_linter_contracts_hold_and_catch_a_planted_violation(tmp_path):
    ok = _lint_imports(ROOT)
    assert ok.returncode == 0, ok.stdout[-2000:]
    assert "2 kept, 0 broken" in ok.stdout
    # The same tree with one compute module importing the renderer must fail.
    shutil.copytree(ROOT / "cryoviz", tmp_path / "cryoviz", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    planted = tmp_path / "cryoviz" / "physics" / "metrics.py"
    planted.write_text(planted.read_text()
                       + "\n\ndef _planted():\n    from cryoviz.view import render  # noqa\n")
    bad = _lint_imports(tmp_path)
    assert bad.returncode != 0
    assert "BROKEN" in bad.stdout and "cryoviz.physics.metrics -> cryoviz.view.render" in bad.stdout


MAX_MODULE_LINES = 400  # the project's "a few hundred lines a module" rule (issue #13)


def test_no_module_is_over_400_lines():
    sizes = {p.relative_to(ROOT).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
             for p in (ROOT / "cryoviz").rglob("*.py")}
    assert len(sizes) > 40
    assert {k: n for k, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_the_architecture_page_names_every_module():
    """docs/architecture.md is redrawn from the tree: a module missing from it is a page out of date."""
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = []
    for name in ALL_MODULES:
        parts = name.split(".")
        if len(parts) < 3:
            continue
        leaf = ".".join(parts[2:])
        if f"### `cryoviz.{parts[1]}`" not in doc or f"| `{leaf}` |" not in doc:
            missing.append(name)
    assert missing == []
