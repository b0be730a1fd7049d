"""One function per ``cryoviz`` subcommand. Each imports what it needs when it runs."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

from cryoviz.core.errors import InputError

__all__ = ["cmd_bench", "cmd_check", "cmd_export", "cmd_import", "cmd_meshes", "cmd_render", "cmd_script",
           "cmd_serve", "cmd_simulate", "cmd_still"]


def _scene_path(path: Path | None) -> Path:
    from cryoviz.model.scene import DEFAULT_SCENE

    return DEFAULT_SCENE if path is None else path


def cmd_check(args: argparse.Namespace) -> int:
    """Validate scene files; print ``PATH: ok`` for each good one."""
    from cryoviz.model.scene_load import load_scene

    problems = []
    for path in args.scenes:
        try:
            scene = load_scene(path, check_geometry=True)
            notes = _mesh_notes(scene, path)
            print(f"{path}: ok")
            for note in notes:
                print(f"  repaired: {note}")
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    return 0


def _mesh_notes(scene, path: Path) -> tuple[str, ...]:
    """Repairs made to a scene's patient meshes (the anatomy is cached: built once by the check)."""
    anatomy = getattr(scene, "anatomy", None)
    if anatomy is None or not getattr(anatomy, "meshes", None):
        return ()
    from cryoviz.model.anatomy import build_anatomy

    return build_anatomy(anatomy, base_dir=Path(path).parent).notes


def cmd_import(args: argparse.Namespace) -> int:
    """Import a patient's own anatomy; write the scene and surfaces; print what was recognised."""
    from cryoviz.core.files import check_writable_target
    from cryoviz.model.imports.gather import ORGAN_CHOICES
    from cryoviz.model.imports.scene_out import import_scene

    overrides = {}
    for item in args.organ:
        name, sep, organ = str(item).rpartition("=")
        if not sep or not name.strip() or organ.strip().lower() not in ORGAN_CHOICES:
            raise InputError.one("argument", "--organ", "not NAME=ORGAN", ", ".join(ORGAN_CHOICES),
                                 str(item))
        overrides[name.strip().lower()] = organ.strip().lower()
    if args.output.suffix.lower() != ".toml":
        raise InputError.one("argument", "-o", "the scene file must end in .toml", "OUT.toml",
                             args.output.suffix or "no suffix")
    if any(Path(s).resolve() == args.output.resolve() for s in args.sources):
        raise InputError.one("argument", "-o", "would overwrite a source", "a new file name", "a source")
    check_writable_target(args.output, "-o")
    summary = import_scene(args.sources, args.output, overrides, args.units, args.frame)
    print(summary.text())
    return 0


def cmd_meshes(args: argparse.Namespace) -> int:
    """Write the default anatomy meshes (``.vtp``) to ``--out``."""
    from cryoviz.model.anatomy import write_default_meshes

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError.one("argument", "--out", "not a folder", "a folder (made if missing)", str(out))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError.one("argument", "--out", "cannot make the folder", "a writable folder",
                             f"{out} ({exc.strerror or type(exc).__name__})") from None
    if not os.access(out, os.W_OK):
        raise InputError.one("argument", "--out", "the folder is not writable", "a writable folder", str(out))
    for p in write_default_meshes(out):
        print(p)
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """Run the thermal model, print a summary and optionally write the metrics JSON."""
    from cryoviz.core.files import atomic_write_text, check_writable_target
    from cryoviz.model.scene_load import load_scene
    from cryoviz.physics.thermal import simulate

    if args.grid_mm is not None and not (0.25 <= args.grid_mm <= 4.0):
        raise InputError.one("argument", "--grid-mm", "grid spacing out of range", "0.25 to 4.0 mm",
                             str(args.grid_mm))
    if args.json is not None:
        check_writable_target(args.json, "--json", inputs=(args.scene,))
    scene = load_scene(args.scene, check_geometry=True)
    if args.json is not None:
        check_writable_target(args.json, "--json", inputs=_scene_inputs(scene))
    with _sigterm_as_interrupt():      # like render: a killed run unwinds, its temporary files go
        result = simulate(scene, grid_mm=args.grid_mm, use_cache=not args.no_cache)
    m = result.metrics
    pr = m["organs"].get("prostate", {})
    print(f"{scene.path}: grid {m['grid_mm']} mm {tuple(m['grid_shape'])}, {m['steps']} steps, "
          f"{m['simulated_s']:.0f} s simulated in {m['wall_s']:.2f} s")
    if pr:
        f40, f0 = 100 * pr["fraction_below_minus40"], 100 * pr["fraction_below_0"]
        print(f"  prostate {pr['volume_ml']:.1f} ml: {f40:.0f}% reached -40 C, {f0:.0f}% reached 0 C")
    for name, organ in m["organs"].items():
        if name != "prostate":
            print(f"  {name}: coldest {organ['min_temp_c']:.1f} C")
    for les in m.get("lesions", []):  # issue #17
        margin = "none" if les["margin_mm"] is None else f"{les['margin_mm']:.1f} mm"
        print(f"  lesion {les['name']} ({les['sector']}): {100 * les['fraction_below_minus40']:.0f}% reached "
              f"-40 C, margin {margin} (planned {les['margin_target_mm']:g} mm): "
              f"{'covered' if les['covered'] else 'NOT covered'}")
    for w in m["warnings"]:
        print(f"  warning: {w}")
    if args.json is not None:
        atomic_write_text(args.json, json.dumps(m, indent=2) + "\n")
    return 0


def _scene_inputs(scene) -> tuple[Path, ...]:
    """The files a loaded scene reads: the scene file and its patient meshes."""
    paths = [] if str(scene.path).startswith("<") else [Path(scene.path)]
    return (*paths, *(Path(p) for p in dict(getattr(scene.anatomy, "meshes", {}) or {}).values()))


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM raises KeyboardInterrupt in the main thread while the block runs (exit 130, cleaned up)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_script(args: argparse.Namespace) -> int:
    """Print the story's captions (txt, WebVTT or JSON) to stdout; renders nothing and writes no file.

    The thermal result comes from the cache when it is there (it is computed, and cached, otherwise).
    """
    from cryoviz.story.session import load_story

    story = load_story(args.scene, lang=args.lang)
    if args.format == "vtt":
        from cryoviz.deliver.vtt import vtt_text

        out = vtt_text(((c.start_s, c.end_s, c.text) for c in story.cues),  # as the video writes them
                       story.text["common"]["disclaimer"], story.duration_s)
    elif args.format == "json":
        from cryoviz.story.script import script_json

        out = script_json(story)
    else:
        from cryoviz.story.script import script_text

        out = script_text(story)
    sys.stdout.write(out)
    sys.stdout.flush()
    return 0


def cmd_still(args: argparse.Namespace) -> int:
    """Write one frame of the story as PNG."""
    from cryoviz.view.still import write_still

    write_still(args.scene, args.output, time_s=args.time, chapter=args.chapter, size=args.size,
                lang=args.lang, view=args.view)
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    """Write the education video and its WebVTT subtitles."""
    from cryoviz.deliver.video import render_video

    render_video(args.scene, args.output, size=args.size, fps=args.fps, lang=args.lang, jobs=args.jobs,
                 captions=not args.no_captions, ultrasound=args.ultrasound, duration_s=args.duration)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Start the consultation app."""
    from cryoviz.deliver.app import read_auth_key, serve

    serve(_scene_path(args.scene), host=args.host, port=args.port,
          auth_key=read_auth_key(args.auth_key, args.auth_key_file),
          open_browser=not args.no_browser)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the benchmarks beside the naive peers."""
    from cryoviz.bench import run_bench

    run_bench(args.what, quick=args.quick, out=sys.stdout)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write the take-home visit page (.html) or printable summary (.pdf)."""
    from cryoviz.deliver.export import export_file

    out = export_file(args.scene, args.output, lang=args.lang)
    print(f"{out}: {out.stat().st_size / 1e6:.2f} MB")
    return 0
