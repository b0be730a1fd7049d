"""The README's opening says what the default scene's simulation computes, not what one would hope for.

It used to say the -40 °C zone "fills the gland while the urethra (kept warm by a catheter) and the rectum
stay unfrozen"; the model gives about three quarters of the gland at -40 °C and a frozen urethral wall.
If the model changes, this test says the README must change with it.
"""

from __future__ import annotations

import re
from pathlib import Path

from cryoviz.model.scene_load import load_scene
from cryoviz.physics.thermal import simulate

REPO = Path(__file__).resolve().parents[2]


def test_the_readme_opening_is_true_of_the_default_scene():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    opening = re.sub(r"\s+", " ", readme.split("It is used two ways")[0])
    assert "fills the gland" not in opening and "stay unfrozen" not in opening   # today: both
    m = simulate(load_scene(REPO / "scenes" / "salvage_whole_gland.toml")).metrics   # the scene's own grid
    organs = m["organs"]
    claims = {
        "about three quarters of the gland reaches −40 °C":
            0.70 <= m["target"]["fraction_below_minus40"] < 0.80,
        "the rectal wall stays unfrozen": organs["rectum_wall"]["min_temp_c"] > 0.0,
        "the urethral wall freezes despite the warm catheter":
            organs["urethra"]["min_temp_c"] <= 0.0 and organs["urethra"]["catheter_temp_c"] is not None,
    }
    for claim, true in claims.items():
        assert claim in opening, claim
        assert true, (claim, m["target"], organs["rectum_wall"], organs["urethra"])
