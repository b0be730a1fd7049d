"""Picture-in-picture: the ultrasound view drawn in a corner of the 3D window (presentation layer).

One extra VTK renderer with one image actor, created once; each frame only replaces the image's pixel
values in place.
"""

from __future__ import annotations

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkRenderingCore import vtkImageActor, vtkRenderer

__all__ = ["UltrasoundInset", "lesion_mask"]


class UltrasoundInset:
    """The ultrasound inset of a :class:`~cryoviz.view.render.SceneRenderer`.

    Parameters
    ----------
    render_window : vtkRenderWindow
        The window to add the inset's renderer to.
    window_size : tuple of int
        Window (width, height) in pixels.
    size_px : int
        Side of the square ultrasound image in pixels (scaled to the window height).
    """

    def __init__(self, render_window, window_size: tuple[int, int], size_px: int | None = None):
        w, h = window_size
        self.size_px = int(size_px or max(64, round(0.42 * h)))
        n = self.size_px
        self._image = vtkImageData()
        self._image.SetDimensions(n, n, 1)
        self._pixels = np.zeros((n * n, 3), np.uint8)
        self._vtk_pixels = numpy_to_vtk(self._pixels, deep=False)
        self._image.GetPointData().SetScalars(self._vtk_pixels)
        self.actor = vtkImageActor()
        self.actor.GetMapper().SetInputData(self._image)
        self.renderer = vtkRenderer()
        self.renderer.SetLayer(1)
        self.renderer.InteractiveOff()
        self.renderer.SetBackground(0.0, 0.0, 0.0)
        x0, y0 = 14 / w, (h - 125 * h / 720 - n) / h  # left edge, below the legend
        self.renderer.SetViewport(x0, y0, x0 + n / w, y0 + n / h)
        self.renderer.AddViewProp(self.actor)
        render_window.SetNumberOfLayers(max(render_window.GetNumberOfLayers(), 2))
        render_window.AddRenderer(self.renderer)
        cam = self.renderer.GetActiveCamera()
        cam.ParallelProjectionOn()
        self.renderer.ResetCamera()
        cam.SetParallelScale((n - 1) / 2.0)
        self._key: object = None

    def shows(self, key: object) -> bool:
        """True when the picture identified by ``key`` is the one already shown."""
        return key is not None and key == self._key

    def reveal(self) -> None:
        """Draw the inset (with the picture it already holds)."""
        self.renderer.DrawOn()
        self.actor.SetVisibility(True)

    def show(self, image: np.ndarray | None, key: object = None) -> None:
        """Show a grayscale (H, W) uint8 image, or hide the inset when ``image`` is None.

        ``key`` identifies the picture: the same key skips the copy.
        """
        if image is None:
            self.renderer.DrawOff()
            self.actor.SetVisibility(False)
            return
        self.reveal()
        if self.shows(key):
            return
        self._key = key
        n = self.size_px
        img = np.asarray(image, np.uint8)
        if img.shape[:2] != (n, n):
            raise ValueError(f"ultrasound image must be {n}x{n}, got {img.shape[:2]}")
        flipped = img[::-1].reshape(n * n, -1)  # VTK's rows go upward
        self._pixels[:] = flipped if flipped.shape[1] == 3 else np.repeat(flipped, 3, axis=1)
        self._vtk_pixels.Modified()
        self._image.Modified()

    def follow(self, state, story, lesions: tuple | None = None) -> None:
        """Show the sagittal ultrasound picture of ``state`` (its ``ultrasound_s``) once the probe is in,
        else nothing; labels in the story's language; ``lesions`` is :func:`lesion_mask`'s answer."""
        anatomy, result = story.anatomy, story.result
        us_s = getattr(state, "ultrasound_s", None)
        if us_s is None or "rectum" not in anatomy.organs:  # the ultrasound probe is not in: dark
            self.show(None)
            return
        from cryoviz.story.ultrasound import ultrasound_frame

        t = max(float(us_s), 0.0)
        depths = tuple(float(state.probe_depths_mm.get(p.name, 0.0)) for p in result.probes)
        mask, plane_x = lesions if lesions is not None else (None, None)
        key = (round(t, 3), depths, story.lang, mask is not None)  # labels in the story's language
        if self.shows(key):  # same picture: only make sure the inset is drawn
            self.reveal()
            return
        n = self.size_px
        # a lesion shown on ultrasound is looked at in its own sagittal plane (the probe is turned to it)
        img = ultrasound_frame(anatomy, result, t, plane="sagittal", size_px=(n, n), inserted_mm=depths,
                               words=story.text.get("ultrasound"), lesion_mask=mask,
                               position_mm=None if mask is None else plane_x)
        self.show(img, key)


def lesion_mask(story, choice: bool | None, cache: dict) -> tuple:
    """(voxel mask, sagittal x mm) of the lesions the ultrasound shows: those the scene marks visible on
    ultrasound, or all / none when the clinician option ``lesion_on_ultrasound`` (``choice``) says so;
    (None, None) when there are none. ``cache`` keeps the answers for one story."""
    scene = getattr(story, "scene", None)
    if scene is None or not getattr(scene, "lesions", ()) or choice is False:
        return None, None
    key = bool(choice)
    if key not in cache:
        from cryoviz.model.lesions import resolve_lesions
        from cryoviz.physics.lesion_metrics import lesion_masks

        placed = [p for p in resolve_lesions(scene, story.anatomy)
                  if choice or p.lesion.visible_on_ultrasound]
        masks = lesion_masks(story.result.grid, placed) if placed else []
        cache[key] = (np.logical_or.reduce(masks) if masks else None,
                      float(placed[0].centre_mm[0]) if placed else None)
    return cache[key]
