"""A patient's own anatomy from his care team's files (``cryoviz import``).

* :mod:`~cryoviz.model.imports.labelmap`: NIfTI (nibabel) and NRRD / Slicer ``.seg.nrrd`` (pynrrd) label maps.
* :mod:`~cryoviz.model.imports.rtstruct`: DICOM RT structure sets (pydicom), contours rasterised to masks.
* :mod:`~cryoviz.model.imports.meshes`: STL, VTP, OBJ, PLY and legacy VTK surfaces; frames and units.
* :mod:`~cryoviz.model.imports.names`: organs from TG-263 names and synonyms, English and Spanish.
* :mod:`~cryoviz.model.imports.surface`: masks to smooth closed surfaces; stated repairs.
* :mod:`~cryoviz.model.imports.gather`: every source to recognised surfaces (LPS mm).
* :mod:`~cryoviz.model.imports.scene_out`: the scene and surfaces written, checked and summarised.

The generated organs are then fitted around his gland by :mod:`cryoviz.model.fitted`. No patient
identifier leaves the sources: they are named ``source N`` and nothing of DICOM's patient module is read
into what is written or printed.
"""
