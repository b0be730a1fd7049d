"""Generated organ meshes cached on disk, and the default meshes written out for ``cryoviz meshes``."""

from __future__ import annotations

from pathlib import Path

from cryoviz.model.scene import AnatomyParams

__all__ = ["cached_mesh", "write_default_meshes"]


def write_default_meshes(out_dir: str | Path) -> list[Path]:
    """Write ``<organ>.vtp`` (binary, zlib) of the default anatomy to ``out_dir``; return the paths."""
    from cryoviz.core.files import atomic_path

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    from cryoviz.model.anatomy import build_anatomy

    anatomy = build_anatomy(AnatomyParams())
    paths = []
    for organ, mesh in anatomy.meshes().items():
        target = out / f"{organ}.vtp"
        with atomic_path(target, suffix=".part.vtp") as tmp:
            mesh.save(tmp, binary=True, recompute_normals=False)
            tmp.chmod(0o644)
        paths.append(target)
    return paths


def cached_mesh(params: AnatomyParams, organ: str, build, fitted_to: str = ""):
    """A generated organ mesh from the on-disk cache (``$CRYOVIZ_CACHE/meshes``), built and stored on a miss.

    The key covers the parameters, the organ, the meshing settings, the shape code and ``fitted_to`` (a
    digest of the patient surfaces the body is fitted around), so a change in any of them builds anew.
    Meshing every organ costs about 1.4 s; reading them back about 0.05 s (app start-up).
    A cache that cannot be read or written is skipped.
    """
    from dataclasses import asdict

    import pyvista as pv

    from cryoviz.core.cache import cache_dir, hash_key, source_digest
    from cryoviz.core.files import atomic_path

    parts = {"params": {k: v for k, v in asdict(params).items() if k != "meshes"}, "organ": organ,
             "spacing": _anatomy().MESH_SPACING_MM[organ], "budget": _anatomy().MESH_TRIANGLE_BUDGET[organ],
             "code": source_digest(("model",)), "fitted_to": fitted_to}
    path = cache_dir() / "meshes" / f"{organ}-{hash_key(parts)}.vtp"
    try:
        if path.is_file():
            mesh = pv.read(path)
            if mesh.n_cells > 0:
                return mesh
    except Exception:  # a damaged entry is rebuilt below
        pass
    mesh = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, suffix=".vtp") as tmp:
            mesh.save(tmp)
    except OSError:
        pass
    return mesh


def _anatomy():
    from cryoviz.model import anatomy

    return anatomy
