"""Is the lethal ice in sight? A check of a drawn frame: how much of the lethal ice the viewer sees.

The story plans its camera so that nothing crosses in front of the ice at the key moments (the freeze and
"what was spared" chapters). :func:`lethal_ice_visibility` measures it with the one renderer, on the frame
the renderer is showing (after :meth:`~cryoviz.view.render.SceneRenderer.apply`):

1. the lethal ice *as this view draws it* — in a section view its cut face (the thermal field's slice at or
   below the level), in the whole 3D scene its isotherm shell — is painted one flat marker colour, and
   the warmer ice (translucent, so it hides nothing) is left out;
2. the frame is drawn with everything else as the viewer sees it (opaque organs, bone, instruments, the
   labels, caption, legend, callout and ultrasound inset) and the marker's pixels are counted;
3. the frame is drawn with the marker alone and its pixels are counted again.

The ratio is the fraction of the lethal ice the viewer can see. Context volumes drawn see-through (the
perineum at most 25 % opaque) tint the marker but do not hide it: a pixel counts while it stays within
:data:`MARKER_TOLERANCE` of the marker colour. Everything the function changes is put back, so the next
picture is unchanged.
"""

from __future__ import annotations

import numpy as np
import pyvista as pv

__all__ = ["MARKER", "MARKER_TOLERANCE", "lethal_ice_visibility"]

#: The marker colour (pure magenta: no organ, ice or text colour is near it).
MARKER = (1.0, 0.0, 1.0)
#: Largest per-channel difference (0-255) for a pixel to count as the marker: a 25 %-opaque context
#: volume in front moves a channel by at most 0.25 x 255 = 64.
MARKER_TOLERANCE = 70


def _count(img: np.ndarray) -> np.ndarray:
    diff = np.abs(img[..., :3].astype(int) - (255 * np.asarray(MARKER)).astype(int))
    return diff.max(axis=-1) <= MARKER_TOLERANCE


def lethal_ice_visibility(renderer, level_c: float = -40.0) -> tuple[int, int]:
    """Pixels of the lethal ice the viewer sees, and pixels it covers when drawn alone.

    Parameters
    ----------
    renderer : cryoviz.view.render.SceneRenderer
        Already moved to a state by ``apply``.
    level_c : float
        The lethal isotherm, °C (the story's −40 °C shell).

    Returns
    -------
    (visible, alone) : tuple of int
        Marker pixels in the full picture and in the picture of the ice alone; ``alone`` is 0 when no
        lethal ice is drawn.
    """
    pl = renderer.plotter
    ren = pl.renderer
    view = renderer._view
    shell_mesh, shell_actor = _shells(renderer)[level_c]
    saved_shells = {lv: a.visibility for lv, (_m, a) in _shells(renderer).items()}
    saved_slice = renderer._ice_actor.visibility
    marker = None
    if view:  # a section: the lethal ice is the slice's part at or below the level
        if saved_slice and renderer._ice_mesh.n_points:
            part = renderer._ice_mesh.clip_scalar(scalars="T", value=level_c, invert=True)
            if part.n_points:
                marker = pl.add_mesh(part, color=MARKER, lighting=False, name="occlusion:marker",
                                     pickable=False)
        for _m, a in _shells(renderer).values():
            a.visibility = False
        renderer._ice_actor.visibility = False
    elif saved_shells[level_c] and shell_mesh.n_points:
        marker = pl.add_mesh(shell_mesh.copy(), color=MARKER, lighting=False, name="occlusion:marker",
                             pickable=False)
        for plane in _planes(shell_actor.mapper):
            marker.mapper.AddClippingPlane(plane)
        for _m, a in _shells(renderer).values():
            a.visibility = False
    if marker is None:
        _restore(renderer, saved_shells, saved_slice)
        return 0, 0
    try:
        pl.render()
        full = _count(np.asarray(pl.screenshot(return_img=True, transparent_background=False)))
        hidden = []
        for prop in _props(ren):
            if prop is not marker and prop.GetVisibility():
                prop.SetVisibility(False)
                hidden.append(prop)
        layers = [r for r in _renderers(pl) if r is not ren and r.GetDraw()]
        for r in layers:
            r.SetDraw(False)
        pl.render()
        alone = _count(np.asarray(pl.screenshot(return_img=True, transparent_background=False)))
        for prop in hidden:
            prop.SetVisibility(True)
        for r in layers:
            r.SetDraw(True)
    finally:
        pl.remove_actor(marker)
        _restore(renderer, saved_shells, saved_slice)
    return int(np.count_nonzero(full & alone)), int(np.count_nonzero(alone))


def _shells(renderer) -> dict:
    """Level -> (mesh, actor) of the renderer's shells (:class:`cryoviz.view.shells.IsothermShells`)."""
    return renderer.shells.shells


def _restore(renderer, shells: dict, slice_on: bool) -> None:
    for lv, (_m, a) in _shells(renderer).items():
        a.visibility = shells[lv]
    renderer._ice_actor.visibility = slice_on


def _planes(mapper) -> list:
    planes = mapper.GetClippingPlanes()
    if planes is None:
        return []
    return [planes.GetItem(i) for i in range(planes.GetNumberOfItems())]


def _props(ren) -> list:
    """Every 3D and 2D prop of a renderer."""
    out = []
    props = ren.GetViewProps()
    props.InitTraversal()
    for _ in range(props.GetNumberOfItems()):
        out.append(props.GetNextProp())
    return out


def _renderers(pl: pv.Plotter) -> list:
    rens = pl.ren_win.GetRenderers()
    rens.InitTraversal()
    return [rens.GetNextItem() for _ in range(rens.GetNumberOfItems())]
