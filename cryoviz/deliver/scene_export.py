"""The story's key moments as plain geometry for the take-home viewer (presentation layer).

:func:`key_moments` picks the story times a patient would want to see again (his anatomy, the probes in,
the end of the first freeze, the end of the last freeze, what was spared, and his lesion when the scene has
one). :func:`export_moments` applies each moment to the project's own :class:`~cryoviz.view.render.
SceneRenderer` and reads back every visible 3D actor: its triangles (in world millimetres, the actor's
transform applied), its colour and opacity. Colours are baked per actor, or per vertex where the actor is
coloured by a scalar (the sensors), because glTF-style exports lose scalar colours and opacity (pyvista
#7310, #7480). Meshes that do not change between moments (organs, probes) are stored once.

The result is plain data (lists, floats, bytes), so the HTML writer only has to encode it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Moment", "SceneData", "export_moments", "key_moments"]

#: Moments in story order: (id, chapter id the moment is taken from).
_MOMENTS = (
    ("anatomy", "anatomy"),
    ("probes", "probes"),
    ("freeze1", "freeze1"),
    ("freeze2", "thaw_refreeze"),
    ("spared", "spared"),
)
#: Actors the section view cuts (devices stay whole so the probes remain visible).
_CUT_PREFIXES = ("organ:", "isotherm:", "lesion")
#: Organ opacity in the lesion moment (at most), so the lesion inside the gland shows; the urethra stays.
_LESION_ORGAN_OPACITY = 0.2


@dataclass
class Moment:
    """One key moment: what the renderer showed at story time ``t_s``."""

    id: str
    chapter_id: str
    t_s: float
    title: str
    captions: list[str]
    clock: str
    legend: list[tuple[float, str]]
    readouts: list[str]
    camera: dict
    actors: list[dict] = field(default_factory=list)


@dataclass
class SceneData:
    """Geometry shared by all moments plus the moments themselves."""

    geometries: list[dict]
    moments: list[Moment]
    organ_names: dict[str, str]
    label_anchors: dict[str, list[float]]
    centre_mm: list[float]
    radius_mm: float


def key_moments(story) -> list[tuple[str, str, float]]:
    """Return ``(moment id, chapter id, story time s)`` for the moments this story has.

    A moment is left out when the scene's story leaves its chapter out. When the scene has lesions, a
    ``lesion`` moment (the anatomy chapter's picture, where the lesion is drawn inside the gland) follows the
    anatomy.
    """
    out = []
    for mid, cid in _MOMENTS:
        t = story.chapter_time(cid)
        if t is None:
            continue
        out.append((mid, cid, float(t)))
        if mid == "anatomy" and getattr(story.scene, "lesions", None):
            out.append(("lesion", cid, float(t)))
    return out


def _triangles(ds) -> tuple[np.ndarray, np.ndarray, str]:
    """Points (n, 3) float32 and triangle indices (m, 3) of a dataset; kind ``"mesh"`` or ``"points"``."""
    import pyvista as pv

    mesh = pv.wrap(ds)
    if not isinstance(mesh, pv.PolyData):
        mesh = mesh.extract_surface(algorithm="dataset_surface")
    if mesh.GetNumberOfPolys() + mesh.GetNumberOfStrips() == 0:
        kind = "lines" if mesh.GetNumberOfLines() else "points"
        return np.asarray(mesh.points, np.float32), np.zeros((0, 3), np.uint32), kind
    tri = mesh.triangulate()
    faces = np.asarray(tri.faces).reshape(-1, 4)[:, 1:] if tri.GetNumberOfPolys() else np.zeros((0, 3), int)
    return np.asarray(tri.points, np.float32), faces.astype(np.uint32), "mesh"


def _vertex_colours(actor, ds) -> np.ndarray | None:
    """RGB (or RGBA, when the lookup table has see-through values) uint8 per point when the actor is
    coloured by a scalar (its own lookup table), else None."""
    from vtkmodules.util.numpy_support import vtk_to_numpy

    mapper = actor.GetMapper()
    if not mapper.GetScalarVisibility():
        return None
    pd = ds.GetPointData()
    if mapper.GetScalarMode() == 3 and mapper.GetArrayName():  # VTK_SCALAR_MODE_USE_POINT_FIELD_DATA
        arr = pd.GetArray(mapper.GetArrayName())  # the section's ice slice, coloured by its "T" array
        rgba = mapper.GetLookupTable().MapScalars(arr, 1, -1) if arr is not None else None
    elif pd.GetScalars() is not None:
        rgba = mapper.MapScalars(ds, 1.0)
    else:
        return None
    if rgba is None or rgba.GetNumberOfTuples() != ds.GetNumberOfPoints():
        return None
    cols = vtk_to_numpy(rgba)
    if cols.shape[1] == 4 and cols[:, 3].min() == 255:
        cols = cols[:, :3]  # opaque: RGB is enough; a lookup table with alpha (the section's ice) keeps it
    return np.ascontiguousarray(cols, np.uint8)


def _label_anchors(anatomy, names) -> dict[str, list[float]]:
    """Where each organ's name is written: the mesh centre (the bundles: their outermost point, since the
    centre falls between the two bundles; the urethra: its part below the apex, where the tube shows)."""
    out = {}
    for name in names:
        mesh = anatomy.mesh(name)
        c = np.asarray(mesh.center, float)
        if name == "neurovascular_bundles":
            pts = np.asarray(mesh.points)
            c = pts[np.argmax(pts[:, 0])]
        elif name == "urethra" and hasattr(anatomy, "urethra_centreline_mm"):
            c = np.asarray(anatomy.urethra_centreline_mm(20)[-3], float)
        out[name] = [round(float(v), 2) for v in c]
    return out


def _lesion_anchors(story) -> dict[str, tuple[str, list[float]]]:
    """Label key -> (the lesion's name, its centre mm) for each lesion of the scene (the renderer draws
    them); none for a scene without lesions or without a gland."""
    if not getattr(story.scene, "lesions", ()) or "prostate" not in story.anatomy.organs:
        return {}
    from cryoviz.model.lesions import resolve_lesions

    return {f"lesion:{i}": (p.name, [round(float(v), 2) for v in p.centre_mm])
            for i, p in enumerate(resolve_lesions(story.scene, story.anatomy))}


def _lesion_camera(camera: dict, lesions: dict) -> dict:
    """The anatomy camera turned to look at the gland from the lesions' side, at the same distance and
    height, so the (first) lesion sits in front of the urethra rather than behind it."""
    if not lesions:
        return camera
    focal = np.asarray(camera["focal"], float)
    centre = np.asarray(next(iter(lesions.values()))[1], float)
    side = centre[:2] - focal[:2]
    if np.linalg.norm(side) < 1e-6:
        return camera
    pos = np.asarray(camera["position"], float)
    dist = float(np.linalg.norm(pos[:2] - focal[:2]))
    xy = focal[:2] + dist * side / np.linalg.norm(side)
    return {**camera, "position": [float(xy[0]), float(xy[1]), float(pos[2])], "up": [0.0, 0.0, 1.0]}


def _geometry(geoms: list[dict], index: dict[str, int], ds, actor) -> int:
    """Index of ``ds``'s geometry in ``geoms``, adding it the first time it is seen."""
    pts, tris, kind = _triangles(ds)
    cols = _vertex_colours(actor, ds)
    digest = hashlib.sha1(pts.tobytes() + tris.tobytes()
                          + (cols.tobytes() if cols is not None else b"")).hexdigest()
    if digest not in index:
        index[digest] = len(geoms)
        geoms.append({"kind": kind, "points": pts, "triangles": tris, "colours": cols})
    return index[digest]


def export_moments(story, *, shell_mm: float | None = 1.0) -> SceneData:
    """Apply every key moment to a :class:`~cryoviz.view.render.SceneRenderer` and read its 3D actors.

    Parameters
    ----------
    story : cryoviz.story.timeline.Story
        The story, in the language of the export.
    shell_mm : float or None
        Voxel size the isotherm shells are contoured at (None: the thermal grid). 1 mm keeps the shells
        as smooth as a still's at about 4x the triangles of the video's 2 mm.

    Returns
    -------
    SceneData
    """
    from vtkmodules.vtkRenderingCore import vtkActor

    from cryoviz.view.render import SceneRenderer

    renderer = SceneRenderer(story, (320, 240), captions=False, shell_mm=shell_mm)
    geoms: list[dict] = []
    index: dict[str, int] = {}
    moments: list[Moment] = []
    lesions = _lesion_anchors(story)
    try:
        for mid, cid, t in key_moments(story):
            state = story.state_at(t)
            renderer.apply(state)
            chapter = state.chapter
            caps = [c.text for c in story.cues if chapter.start_s <= c.start_s < chapter.end_s]
            cam = state.camera
            moment = Moment(
                id=mid, chapter_id=cid, t_s=round(t, 3), title=chapter.title, captions=caps,
                clock=state.clock_text, legend=[(float(a), b) for a, b in state.legend],
                readouts=list(state.sensor_readouts) if state.show_sensors else [],
                camera={"position": [float(v) for v in cam.position],
                        "focal": [float(v) for v in cam.focal_point],
                        "up": [float(v) for v in cam.view_up], "angle": float(cam.view_angle_deg)})
            for name, actor in renderer.plotter.renderer.actors.items():
                if not isinstance(actor, vtkActor) or not actor.GetVisibility():
                    continue
                ds = actor.GetMapper().GetInput() if actor.GetMapper() is not None else None
                if ds is None or ds.GetNumberOfPoints() == 0:
                    continue
                if ds.GetNumberOfPolys() + ds.GetNumberOfStrips() == 0 and ds.GetNumberOfLines():
                    continue  # outlines (of the section views): the viewer draws no lines; the caps show
                prop = actor.GetProperty()
                matrix = np.array([[actor.GetMatrix().GetElement(i, j) for j in range(4)]
                                   for i in range(4)], float)
                moment.actors.append({
                    "name": name, "geometry": _geometry(geoms, index, ds, actor),
                    "colour": [round(float(c), 4) for c in prop.GetColor()],
                    "opacity": round(float(prop.GetOpacity()), 4),
                    "matrix": [round(float(v), 4) for v in matrix.T.ravel()],  # column-major (three.js)
                    "cut": name.startswith(_CUT_PREFIXES),
                    "point_size": float(prop.GetPointSize()),
                })
            if mid == "lesion":
                moment.camera = _lesion_camera(moment.camera, lesions)
                for a in moment.actors:
                    if a["name"] in ("organ:pubic_bone", "organ:bladder"):  # in front from this camera
                        a["opacity"] = min(a["opacity"], 0.06)
                    elif a["name"].startswith("organ:") and a["name"] != "organ:urethra":
                        a["opacity"] = min(a["opacity"], _LESION_ORGAN_OPACITY)
            moments.append(moment)
    finally:
        renderer.close()
    names = {n: story.text["organs"].get(n, n) for n in story.anatomy.organs}
    labelled = [n for n in names if n not in ("perineum",)]
    anchors = _label_anchors(story.anatomy, labelled)
    for key, (lname, centre) in lesions.items():
        names[key] = lname
        anchors[key] = centre
    if "prostate" in story.anatomy.organs:
        b = np.asarray(story.anatomy.mesh("prostate").bounds, float)
    else:  # phantom: the moments' own geometry
        pts = np.vstack([g["points"] for g in geoms]) if geoms else np.zeros((1, 3))
        b = np.ravel(np.column_stack([pts.min(axis=0), pts.max(axis=0)]))
    lo, hi = b[0::2], b[1::2]
    return SceneData(geometries=geoms, moments=moments, organ_names=names,
                     label_anchors=anchors,
                     centre_mm=[round(float(v), 2) for v in 0.5 * (lo + hi)],
                     radius_mm=round(float(0.5 * np.max(hi - lo)), 2))
