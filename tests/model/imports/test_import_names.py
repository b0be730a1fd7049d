"""Organ recognition from ROI, segment and file names (TG-263 and synonyms, English and Spanish)."""

from __future__ import annotations

import pytest

from cryoviz.model.imports.names import names_lesion, organ_for_name, safe_label


@pytest.mark.parametrize("name, organ", [
    ("Prostate", "prostate"), ("CTV_Prostate", "prostate"), ("CTV/prostate", "prostate"),
    ("Próstata", "prostate"), ("PROSTATA", "prostate"), ("gland_one_triangle_missing", "prostate"),
    ("Rectum", "rectum"), ("Recto", "rectum"), ("Bladder", "bladder"), ("Vejiga", "bladder"),
    ("Urethra", "urethra"), ("Uretra prostática", "urethra"),
    ("SeminalVes", "seminal_vesicles"), ("SeminalVes_L", "seminal_vesicles"),
    ("Vesículas seminales", "seminal_vesicles"),
    ("NVB_L", "neurovascular_bundles"), ("Bandeletas neurovasculares", "neurovascular_bundles"),
    ("PenileBulb", "penile_bulb"), ("Bulbo peneano", "penile_bulb"),
    ("GTV", "lesion"), ("GTV_p", "lesion"), ("Lesión índice", "lesion"), ("Tumour", "lesion"),
    ("Esfínter", "sphincter"), ("Pubic bone", "pubic_bone"),
])
def test_recognised(name, organ):
    assert organ_for_name(name) == organ


@pytest.mark.parametrize("name", ["PTV_7800", "Rectum_PRV05", "z_Rectum_opt", "BODY", "External", "Segment_1",
                                  "PZ", "Couch", "Ring_2cm"])
def test_margins_helpers_and_unknowns_are_not_organs(name):
    assert organ_for_name(name) is None


def test_gland_file_that_names_its_lesion():
    assert names_lesion("prostate_with_lesion") and names_lesion("Prostate+GTV")
    assert not names_lesion("prostate_space_ras")


def test_safe_label_cuts_what_is_not_a_name():
    assert safe_label("Prostate\x00\n<script>") == "Prostatescript"
    assert len(safe_label("x" * 200)) <= 41
