"""Which organ a structure is, from its ROI, segment or file name.

Names follow the AAPM TG-263 standard nomenclature for radiotherapy structures (Mayo et al., "American
Association of Physicists in Medicine Task Group 263: Standardizing Nomenclatures in Radiation Oncology",
Int J Radiat Oncol Biol Phys 2018;100:1057-1066): ``Prostate``, ``Rectum``, ``Bladder``, ``Urethra``,
``SeminalVes``, ``PenileBulb``, ``NVB``, ``GTV``/``CTV`` prefixes, ``_PRV``/``PTV`` for margins and a ``z``
or ``_`` prefix for helper structures. Common synonyms in English and Spanish are accepted, case- and
accent-insensitive. A margin or helper structure (PTV, PRV, rings, "avoid", body outline) is never taken for
an organ.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["IMPORTABLE", "LESION", "NOT_SHOWN", "organ_for_name", "safe_label"]

#: Organs cryoviz draws and simulates (:data:`cryoviz.model.scene.ORGAN_NAMES` minus the perineum).
IMPORTABLE = ("prostate", "urethra", "sphincter", "bladder", "rectum", "seminal_vesicles",
              "neurovascular_bundles", "pubic_bone")
#: A tumour inside the gland (GTV, index lesion).
LESION = "lesion"
#: Recognised, but cryoviz has no such organ: reported, not used.
NOT_SHOWN = ("penile_bulb",)

# Tokens (after folding case and accents, separators turned into "_"); the first rule that matches wins,
# so the lesion rule comes before the gland's ("GTV_Prostate" is a lesion, not the gland).
_SKIP = re.compile(r"(^|_)(ptv\w*|\w*prv\w*|z|opt\w*|ring\w*|avoid\w*|body|external|skin|couch\w*|"
                   r"marker\w*|fiducial\w*|seed\w*|dose\w*|isodose\w*|contorno|piel)(_|$)|^z_?|^_")
_RULES: tuple[tuple[str, re.Pattern], ...] = tuple((organ, re.compile(rx)) for organ, rx in (
    (LESION, r"(^|_)(gtv\w*|lesion\w*|lesiones|tumou?r\w*|dil|index_?lesion|pi_?rads\w*|nodul[oe]s?|"
             r"cancer|ca|foco|focal_?lesion)(_|$)|^gtv"),
    ("seminal_vesicles", r"seminal_?ves\w*|(^|_)sv(s|_l|_r)?(_|$)|vesicula\w*_?seminal\w*|"
                         r"seminal_?vesicle\w*|(^|_)vvss?(_|$)|vesiculas"),
    ("neurovascular_bundles", r"(^|_)nvbs?(_|$)|nvb_?[lr]\b|neuro_?vascular\w*|bandeleta\w*|"
                              r"haz_?neuro\w*|haces_?neuro\w*|(^|_)bnv(_|$)"),
    ("urethra", r"urethra\w*|uretra\w*|(^|_)ureth\w*"),
    ("sphincter", r"sphincter\w*|esfinter\w*"),
    ("penile_bulb", r"penile_?bulb\w*|bulbo_?(del_?)?pene\w*|(^|_)bulb(o)?(_|$)|bulbo_?peneano"),
    ("bladder", r"bladder\w*|vejiga\w*|(^|_)vesical?(_|$)"),
    ("rectum", r"(^|_)rect(um|o|al)\w*|anorect\w*|(^|_)recto\w*"),
    ("pubic_bone", r"pubi(c|s)\w*|symphys\w*|sinfisis\w*|(^|_)pubis(_|$)|hueso_?pubi\w*"),
    ("prostate", r"prostat\w*|(^|_)(ctv|ctvp|ctv_?p|ctv_?1|wg|whole_?gland|gland\w*|glandula)(_|$)|"
                 r"(^|_)prost(_|$)|(^|_)pros(_|$)"),
))


def _fold(name: str) -> str:
    """Lower case without accents, any run of non-letters/digits turned into one ``_``."""
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


def _split_camel(name: str) -> str:
    """``SeminalVes_L`` -> ``Seminal_Ves_L`` so camel-case TG-263 names tokenise like the others."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", str(name))


def organ_for_name(name: str) -> str | None:
    """The organ (of :data:`IMPORTABLE`, :data:`LESION` or :data:`NOT_SHOWN`) a structure name means.

    Parameters
    ----------
    name : str
        An ROI name (DICOM RT structure set), a segment name (Slicer) or a file name without its suffixes.

    Returns
    -------
    str or None
        ``None`` when the name is not recognised, or names a margin or helper structure (PTV, PRV, ring,
        avoidance structure, body outline): those are never organs.

    Examples
    --------
    >>> organ_for_name("Prostate"), organ_for_name("CTV_Prostate"), organ_for_name("GTV_p")
    ('prostate', 'prostate', 'lesion')
    >>> organ_for_name("Vejiga"), organ_for_name("Rectum_PRV05"), organ_for_name("PTV_7800")
    ('bladder', None, None)
    """
    folded = _fold(name)
    camel = _fold(_split_camel(name))
    for text in dict.fromkeys((folded, camel)):
        if not text or _SKIP.search(text):
            return None
    for text in dict.fromkeys((folded, camel)):
        for organ, rx in _RULES:
            if organ == "prostate" and _RULES[0][1].search(text):
                continue
            if rx.search(text):
                return organ
    return None


def names_lesion(name: str) -> bool:
    """True when a name also mentions a lesion (``prostate_with_lesion``): a nested shell is that lesion."""
    text = _fold(name)
    return bool(_RULES[0][1].search(text)) or bool(_RULES[0][1].search(_fold(_split_camel(name))))


def safe_label(name: str, limit: int = 40) -> str:
    """A structure name fit to print: letters, digits and ``_-+/ ().:`` only, at most ``limit`` characters.

    ROI and segment names are organ names; anything else in them (an identifier typed by mistake) is cut.
    """
    text = unicodedata.normalize("NFKC", str(name))
    text = "".join(ch for ch in text if ch.isalnum() or ch in " _-+/().:")
    return (text[:limit] + "…") if len(text) > limit else text
