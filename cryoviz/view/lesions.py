"""Known cancers (issue #17) in the 3D scene: one calm violet shape each, with a faint copy drawn over the
scene so a lesion deep in the gland or inside the ice still shows where it is (presentation layer)."""

from __future__ import annotations

import pyvista as pv

from cryoviz.view.palette import LESION_STYLE

__all__ = ["LESION_GHOST_OPACITY", "Lesions"]

#: Opacity of the lesion's copy drawn over the scene (seen through the gland and the ice).
LESION_GHOST_OPACITY = 0.45


class Lesions:
    """The scene's lesions, toggled as the organ ``"lesion"``.

    Parameters
    ----------
    plotter : pyvista.Plotter
    story : cryoviz.story.timeline.Story
    """

    def __init__(self, plotter, story):
        from cryoviz.model.lesions import resolve_lesions

        self.actors: list = []
        self.ghosts: list = []
        scene = getattr(story, "scene", None)
        anatomy = story.anatomy
        if scene is None or not getattr(scene, "lesions", ()) or "prostate" not in anatomy.organs:
            return
        colour, opacity = LESION_STYLE
        # a faint copy in a layer drawn over the scene (same camera), so a lesion deep in the gland or inside
        # the ice still shows where it is; the solid one in the scene gives it depth where it is in view
        from vtkmodules.vtkRenderingCore import vtkRenderer

        ghost = vtkRenderer()
        ghost.SetLayer(1)
        ghost.InteractiveOff()
        ghost.SetActiveCamera(plotter.renderer.GetActiveCamera())
        rw = plotter.ren_win
        rw.SetNumberOfLayers(max(rw.GetNumberOfLayers(), 2))
        rw.AddRenderer(ghost)
        self.ghost = ghost
        for i, les in enumerate(resolve_lesions(scene, anatomy)):
            surf = les.surface()
            self.actors.append(plotter.add_mesh(
                surf, color=colour, opacity=opacity, smooth_shading=True, name=f"lesion:{i}",
                specular=0.15, specular_power=10, ambient=0.35))
            faint = pv.Actor(mapper=pv.DataSetMapper(surf))
            faint.prop.color = colour
            faint.prop.opacity = LESION_GHOST_OPACITY
            faint.prop.ambient = 0.6
            ghost.AddActor(faint)
            self.ghosts.append(faint)

    def apply(self, visible: bool, section: bool = False) -> None:
        """Show or hide every lesion; in a section view, without the faint copy drawn over the scene.

        A section shows the temperature in its cut plane. A lesion away from the plane, drawn over the cut
        by its faint copy, would seem to sit in whatever isotherm band the plane shows there (a lesion that
        reached -100 °C drawn over the plane's -20 °C band), so the copy is hidden in section views.
        """
        for actor in self.actors:
            actor.visibility = bool(visible)
        for actor in self.ghosts:
            actor.visibility = bool(visible) and not section
