"""Careless or hostile files never destroy an input, hang a command or take the process down.

Each test names the fault it guards against (issue #12, "Data loss" and "Files and resources").
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cryoviz.cli import main

REPO = Path(__file__).resolve().parents[2]
SCENE = REPO / "scenes" / "salvage_whole_gland.toml"
A1 = Path("/work/shared/cases/import/A1_check_ignores_mesh_files/scene.toml")
A1_TEXT = A1.read_text() if A1.exists() else None


def _one_line(capsys, start: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert err[0].startswith(start), err
    return err[0]


def _copy_scene(tmp_path: Path, name: str = "scene.toml") -> tuple[Path, bytes]:
    dst = tmp_path / name
    shutil.copy(SCENE, dst)
    return dst, dst.read_bytes()


# ------------------------------------------------------------------------------------------ data loss
def test_simulate_refuses_to_write_its_metrics_over_the_scene(tmp_path, capsys):
    scene, before = _copy_scene(tmp_path)
    assert main(["simulate", str(scene), "--json", str(scene)]) == 2        # today: exit 0, scene gone
    _one_line(capsys, "argument: --json: would overwrite an input")
    assert scene.read_bytes() == before
    link = tmp_path / "metrics.json"
    link.symlink_to(scene)                                                  # same file under another name
    assert main(["simulate", str(scene), "--json", str(link)]) == 2
    assert scene.read_bytes() == before


def test_still_needs_png_and_never_writes_over_the_scene(tmp_path, capsys):
    scene, before = _copy_scene(tmp_path)
    assert main(["still", str(scene), "--time", "1", "-o", str(scene)]) == 2
    _one_line(capsys, "argument: -o: the still must be a .png file")
    png_name = tmp_path / "scene.png"
    os.link(scene, png_name)                                                # a hard link named .png
    assert main(["still", str(png_name), "--time", "1", "-o", str(png_name)]) == 2
    _one_line(capsys, "argument: -o: would overwrite an input")
    assert scene.read_bytes() == before


def test_render_refuses_when_its_subtitles_would_replace_the_scene(tmp_path, capsys):
    scene, before = _copy_scene(tmp_path, "visit.vtt")                      # a scene file named .vtt
    assert main(["render", str(scene), "-o", str(tmp_path / "visit.mp4")]) == 2
    _one_line(capsys, "argument: -o: would overwrite an input")
    assert scene.read_bytes() == before and not (tmp_path / "visit.mp4").exists()


def test_outputs_get_ordinary_permissions(tmp_path):
    from cryoviz.core.files import atomic_path, atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "m.json", "{}\n")                      # today: 0600
        with atomic_path(tmp_path / "s.png") as tmp:
            tmp.write_bytes(b"png")
        keep = tmp_path / "k.txt"
        keep.write_text("x")
        keep.chmod(0o640)
        atomic_write_text(keep, "y")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "s.png").stat().st_mode) == 0o644
    assert stat.S_IMODE(keep.stat().st_mode) == 0o640                     # a replaced file keeps its mode


def test_meshes_out_that_is_not_a_folder_is_one_contract_line(tmp_path, capsys):
    assert main(["meshes", "--out", "/dev/null"]) == 2                       # today: exit 1
    _one_line(capsys, "argument: --out: not a folder")
    (tmp_path / "file").write_text("x")
    assert main(["meshes", "--out", str(tmp_path / "file" / "sub")]) == 2
    _one_line(capsys, "argument: --out: ")


# ------------------------------------------------------------------------------------ scene files
@pytest.mark.timeout(60, method="thread")
def test_check_on_a_fifo_is_refused_not_waited_for(tmp_path, capsys):
    fifo = tmp_path / "scene.toml"
    os.mkfifo(fifo)                                                          # today: hangs for ever
    assert main(["check", str(fifo)]) == 2
    _one_line(capsys, f"{fifo}: not a regular file")


def test_one_long_dotted_key_is_refused_before_the_toml_parser(tmp_path):
    bad = tmp_path / "dotted.toml"
    bad.write_text("title = 'x'\n" + "a." * 40_000 + "a = 1\n")              # 80 KB; today: >2 GB, 30 s
    proc = subprocess.run([sys.executable, "-m", "cryoviz", "check", str(bad)], capture_output=True,
                          text=True, timeout=60, cwd=REPO,
                          preexec_fn=lambda: __import__("resource").setrlimit(
                              __import__("resource").RLIMIT_AS, (1 << 30, 1 << 30)))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == (f"{bad}:2: key with too many dotted parts "
                                   "(allowed: at most 8 dots in a key)")


# -------------------------------------------------------------------------------------- mesh files
def _mesh_scene(tmp_path: Path, mesh_name: str) -> Path:
    assert A1_TEXT is not None
    scene = tmp_path / "scene.toml"
    scene.write_text(A1_TEXT.replace("no_such_file.stl", mesh_name))
    return scene


@pytest.mark.skipif(A1_TEXT is None, reason="shared case A1 not on this machine")
def test_A1_check_opens_mesh_files_of_layout_scenes(tmp_path, capsys):
    shutil.copy(A1, tmp_path / "scene.toml")
    assert main(["check", str(tmp_path / "scene.toml")]) == 2
    line = _one_line(capsys, "")
    assert line.split(": ", 1)[0].endswith("no_such_file.stl")
    assert ": anatomy.meshes.prostate: mesh file not found" in line


@pytest.mark.timeout(120, method="thread")
@pytest.mark.skipif(A1_TEXT is None, reason="shared case A1 not on this machine")
def test_hostile_mesh_files_are_refused_by_check_and_simulate(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CRYOVIZ_CACHE", str(tmp_path / "cache"))
    os.mkfifo(tmp_path / "fifo.stl")
    (tmp_path / "zero.stl").symlink_to("/dev/zero")
    (tmp_path / "folder.stl").mkdir()
    with open(tmp_path / "huge.stl", "wb") as fh:                            # sparse: costs no disk
        fh.truncate(300 * 2**20)
    cases = {"fifo.stl": "mesh file is not a regular file", "zero.stl": "mesh file is not a regular file",
             "folder.stl": "mesh file is a folder", "huge.stl": "mesh file too large"}
    for name, what in cases.items():
        scene = _mesh_scene(tmp_path, name)
        for cmd in (["check", str(scene)], ["simulate", str(scene), "--grid-mm", "4"]):
            assert main(cmd) == 2, (name, cmd)                               # today: ok / hang / OOM
            line = _one_line(capsys, "")
            assert f": anatomy.meshes.prostate: {what}" in line, line


VTP_5E9 = """<?xml version="1.0"?>
<VTKFile type="PolyData" version="0.1" byte_order="LittleEndian">
  <PolyData>
    <Piece NumberOfPoints="5000000000" NumberOfVerts="0" NumberOfLines="0" NumberOfStrips="0"
           NumberOfPolys="1">
      <Points><DataArray type="Float32" NumberOfComponents="3" format="ascii">0 0 0</DataArray></Points>
      <Polys>
        <DataArray type="Int64" Name="connectivity" format="ascii">0 0 0</DataArray>
        <DataArray type="Int64" Name="offsets" format="ascii">3</DataArray>
      </Polys>
    </Piece>
  </PolyData>
</VTKFile>
"""


@pytest.mark.skipif(A1_TEXT is None, reason="shared case A1 not on this machine")
def test_a_tiny_vtp_declaring_billions_of_points_is_refused_not_aborted(tmp_path):
    (tmp_path / "bomb.vtp").write_text(VTP_5E9)
    scene = _mesh_scene(tmp_path, "bomb.vtp")
    proc = subprocess.run([sys.executable, "-m", "cryoviz", "check", str(scene)], capture_output=True,
                          text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-500:])       # today: SIGABRT (-6)
    assert "anatomy.meshes.prostate: mesh file declares too many points or cells" in proc.stderr


def test_a_binary_stl_whose_count_does_not_match_its_size_is_refused(tmp_path):
    from cryoviz.core.errors import InputError
    from cryoviz.model.mesh_guard import check_mesh_file

    path = tmp_path / "short.stl"
    path.write_bytes(b"\0" * 80 + (10**8).to_bytes(4, "little") + b"\0" * 50)
    with pytest.raises(InputError, match="truncated or its header is wrong"):
        check_mesh_file(path, "short.stl", "anatomy.meshes.prostate")
