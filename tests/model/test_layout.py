"""Automatic probe layouts, probe segments and sensor sites."""

from __future__ import annotations

import numpy as np
import pytest

from cryoviz.core.errors import InputError
from cryoviz.model import layout, template
from cryoviz.model.anatomy import build_anatomy, phantom_anatomy
from cryoviz.model.probes import PROBE_CATALOGUE
from cryoviz.model.scene import AnatomyParams, Phantom, Probe, ProbeLayout, Scene, Sensor


def _tips(anatomy, probes) -> np.ndarray:
    return np.array([layout.probe_segment_mm(p, anatomy)[0] for p in probes])


def _distance_to_centreline_mm(anatomy, pts) -> np.ndarray:
    line = anatomy.urethra_centreline_mm(400)
    return np.min(np.linalg.norm(pts[:, None, :] - line[None, :, :], axis=2), axis=1)


def _active_segment_clearance_mm(anatomy, probe) -> float:
    """Smallest xy distance from the probe's active segment to the urethra centreline, mm."""
    tip, _ = layout.probe_segment_mm(probe, anatomy)
    active = PROBE_CATALOGUE[probe.kind].active_length_mm
    line = anatomy.urethra_centreline_mm(400)
    on = (line[:, 2] >= tip[2] - active) & (line[:, 2] <= tip[2])
    return float(np.min(np.hypot(line[on, 0] - tip[0], line[on, 1] - tip[1])))


@pytest.mark.parametrize("volume_ml", [15.0, 30.0, 60.0, 100.0])
@pytest.mark.parametrize("preset", ["whole_gland", "hemi_left", "hemi_right", "focal"])
def test_layout_tips_inside_the_gland_and_clear_of_urethra_rectum_bladder(volume_ml, preset):
    anatomy = build_anatomy(AnatomyParams(volume_ml=volume_ml))
    probes = layout.auto_layout(anatomy, preset, "needle17g_25")
    tips = _tips(anatomy, probes)
    assert np.all(anatomy.signed_distance("prostate", tips) <= -(layout.TIP_INSIDE_MM - 0.05))
    assert np.all(anatomy.signed_distance("rectum", tips) > 0.0)
    assert np.all(anatomy.signed_distance("bladder", tips) >= layout.TIP_BLADDER_CLEARANCE_MM - 0.05)
    assert np.all(anatomy.signed_distance("urethra", tips) > 2.0)
    # the whole freezing segment, not only the tip, keeps off the warming catheter
    keepout = layout.URETHRA_KEEPOUT_MM if volume_ml >= 30 else min(k for k, _ in layout.CONSTRAINT_TIERS_MM)
    assert all(_active_segment_clearance_mm(anatomy, p) >= keepout - 0.5 for p in probes)
    for p in probes:
        assert template.xy_to_hole(p.x_mm, p.y_mm) == p.hole == p.name
        assert p.kind == "needle17g_25"
    assert len({p.hole for p in probes}) == len(probes)
    if preset == "whole_gland":
        assert 6 <= len(probes) <= (9 if volume_ml >= layout.LARGE_GLAND_ML else 8)
        g1 = [p.y_mm for p in probes if p.group == 1]
        g2 = [p.y_mm for p in probes if p.group == 2]
        assert g1 and g2 and max(g1) < min(g2)  # anterior probes freeze first
        xs = np.array([p.x_mm for p in probes])
        assert np.any(xs > 0) and np.any(xs < 0)
        # mirror-symmetric about the midline, like the anatomy
        assert sorted((p.x_mm, p.y_mm) for p in probes) == sorted((-p.x_mm, p.y_mm) for p in probes)
        xy = [(p.x_mm, p.y_mm) for p in probes]
        assert layout.rectal_wall_estimate_c(anatomy, xy) >= layout.RECTAL_WALL_MIN_C
    elif preset in ("hemi_left", "hemi_right"):
        sign = 1.0 if preset == "hemi_left" else -1.0  # x = patient left
        assert 3 <= len(probes) <= 5
        assert all(sign * p.x_mm > 0 for p in probes)
    else:
        assert 3 <= len(probes) <= 5
        assert all(p.x_mm > 0 for p in probes)


def test_default_whole_gland_puts_needles_in_front_of_and_behind_the_urethra():
    anatomy = build_anatomy()
    probes = layout.auto_layout(anatomy, "whole_gland")
    assert 7 <= len(probes) <= 8
    line = anatomy.urethra_centreline_mm(400)
    mid = line[np.argmin(np.abs(line[:, 2]))]
    lm = anatomy.landmarks
    front = [p for p in probes if p.y_mm < mid[1] - lm.urethra_radius_mm]  # in front of it at mid-gland
    assert len(front) >= 2 and all(p.group == 1 for p in front)
    # one needle behind the urethra on the midline, none closer to the rectum than the ring
    behind = [p for p in probes if p.x_mm == 0.0]
    assert len(behind) == 1 and behind[0].y_mm > 0 and behind[0].group == 2
    assert max(p.y_mm for p in probes) <= lm.prostate_half_ap_posterior_mm - 5.0


def test_rectal_wall_estimate_falls_as_needles_approach_the_rectum():
    anatomy = build_anatomy()
    lm = anatomy.landmarks
    wall_y = lm.rectum_axis_y_mm - lm.rectum_outer_radius_mm
    assert layout.rectal_wall_estimate_c(anatomy, np.zeros((0, 2))) == 37.0
    temps = [layout.rectal_wall_estimate_c(anatomy, [(0.0, wall_y - d)]) for d in (25.0, 17.0, 14.0, 10.0)]
    assert temps == sorted(temps, reverse=True) and temps[0] > 35.0 and temps[-1] < 0.0
    one = layout.rectal_wall_estimate_c(anatomy, [(5.0, 5.0)])
    pair = layout.rectal_wall_estimate_c(anatomy, [(5.0, 5.0), (-5.0, 5.0)])
    assert pair < one < 37.0
    # hydrodissection moves the rectum back: the same needles cool its wall less
    wide = build_anatomy(AnatomyParams(rectum_gap_mm=11.0, hydrodissection=True))
    assert layout.rectal_wall_estimate_c(wide, [(5.0, 5.0), (-5.0, 5.0)]) > pair + 10.0


def test_whole_gland_ring_sits_inside_the_capsule_and_grows_with_the_gland():
    small = build_anatomy(AnatomyParams(volume_ml=30.0))
    big = build_anatomy(AnatomyParams(volume_ml=100.0))
    ps = layout.auto_layout(small, "whole_gland")
    pb = layout.auto_layout(big, "whole_gland")
    assert len(pb) >= len(ps)
    spread = [np.ptp([p.x_mm for p in probes]) for probes in (ps, pb)]
    assert spread[1] > spread[0]
    # at mid-gland the needles are a few mm inside the capsule, not at its edge
    mid = np.array([[p.x_mm, p.y_mm, 0.0] for p in pb])
    depth = -big.signed_distance("prostate", mid)
    assert np.all(depth >= layout.POSTERIOR_MARGIN_MM - 0.5)
    assert np.median(depth) <= layout.WHOLE_GLAND_INSET_MM + layout.RING_BAND_MM
    # tips toward the base: within the upper part of the gland
    lm = big.landmarks
    tips = _tips(big, pb)
    assert np.all(tips[:, 2] > lm.apex_z_mm + 0.5 * (lm.base_z_mm - lm.apex_z_mm))


def test_probe_segment_runs_along_z_from_the_skin():
    anatomy = build_anatomy()
    probe = Probe(name="C4", x_mm=-15.0, y_mm=0.0, depth_mm=80.0)
    tip, entry = layout.probe_segment_mm(probe, anatomy)
    skin = anatomy.landmarks.skin_z_mm
    assert np.allclose(entry, [-15.0, 0.0, skin])
    assert np.allclose(tip, [-15.0, 0.0, skin + 80.0])
    assert anatomy.landmarks.apex_z_mm - skin == pytest.approx(45.0, abs=0.1)


def test_resolve_probes_prefers_explicit_then_layout_then_whole_gland():
    anatomy = build_anatomy()
    explicit = (Probe(name="D4", x_mm=-10.0, y_mm=0.0, depth_mm=75.0, hole="D4"),)
    assert layout.resolve_probes(Scene(probes=explicit), anatomy) == explicit
    hemi = layout.resolve_probes(Scene(layout=ProbeLayout(preset="hemi_right", kind="needle17g_15")), anatomy)
    assert all(p.x_mm < 0 and p.kind == "needle17g_15" for p in hemi)
    assert layout.resolve_probes(Scene(), anatomy) == layout.auto_layout(anatomy, "whole_gland")


def test_sensor_sites_sit_where_they_are_named():
    anatomy = build_anatomy()
    lm = anatomy.landmarks
    sites = layout.resolve_sensors(Scene(), anatomy)
    assert list(sites) == list(layout.DEFAULT_SENSOR_SITES)
    rw = np.array([sites["rectal_wall"]])
    assert abs(anatomy.signed_distance("rectum", rw)[0]) < 0.3  # on the rectal wall's surface ...
    assert rw[0, 1] > lm.prostate_half_ap_posterior_mm  # ... facing the gland, behind it
    assert anatomy.signed_distance("prostate", rw)[0] == pytest.approx(lm.rectum_gap_mm, abs=1.5)
    apex = np.array([sites["apex"]])
    assert anatomy.signed_distance("prostate", apex)[0] < 0.0
    assert apex[0, 2] < lm.apex_z_mm + 6.0
    assert anatomy.signed_distance("sphincter", np.array([sites["sphincter"]]))[0] < 0.0
    both = layout.resolve_sensors(Scene(sensors=(Sensor("L", site="capsule_left"),
                                                 Sensor("R", site="capsule_right"),
                                                 Sensor("probe", position_mm=(1.0, 2.0, 3.0)))), anatomy)
    assert both["L"][0] > 10.0 and both["R"][0] < -10.0
    assert abs(anatomy.signed_distance("prostate", np.array([both["L"]]))[0]) < 0.5
    assert both["probe"] == (1.0, 2.0, 3.0)


def test_bad_layout_requests_give_contract_lines():
    anatomy = build_anatomy()
    with pytest.raises(InputError) as exc:
        layout.auto_layout(anatomy, "everywhere")
    assert "unknown probe layout" in str(exc.value) and "allowed: whole_gland" in str(exc.value)
    with pytest.raises(InputError) as exc:
        layout.auto_layout(anatomy, "whole_gland", "ice_cube")
    assert "layout.kind" in str(exc.value) and "needle17g_25" in str(exc.value)
    gel = phantom_anatomy(Phantom())
    with pytest.raises(InputError):
        layout.auto_layout(gel, "whole_gland")
    with pytest.raises(InputError) as exc:
        layout.resolve_sensors(Scene(sensors=(Sensor("a", site="apex"),), phantom=Phantom()), gel)
    assert "sensors[1].site" in str(exc.value)
    assert layout.resolve_sensors(Scene(phantom=Phantom()), gel) == {}
