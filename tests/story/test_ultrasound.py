"""The ultrasound view: echo levels, ice front and shadow, needles, overlays, determinism, bad input."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from cryoviz.core.errors import InputError
from cryoviz.story import ultrasound
from cryoviz.story import us_font as _us_font
from cryoviz.story.ultrasound import get_view, ultrasound_image

SIZE = (256, 256)
RECTUM_Y_MM = 34.0


@dataclass
class Grid:
    labels: np.ndarray
    origin_mm: np.ndarray
    spacing_mm: float


@pytest.fixture(scope="module")
def body():
    """A small synthetic pelvis on a 1 mm grid: gland, catheter, bladder with urine, layered rectum."""
    sp = 1.0
    x = np.arange(-40, 40.01, sp)
    y = np.arange(-45, 50.01, sp)
    z = np.arange(-40, 60.01, sp)
    X, Y, Z = np.meshgrid(x, y, z, indexing="ij")
    lab = np.zeros(X.shape, np.uint8)
    bl = X**2 + Y**2 + (Z - 45) ** 2
    lab[bl < 27**2] = 4
    lab[bl < 23**2] = 5
    lab[(X / 20) ** 2 + (Y / 15) ** 2 + (Z / 20) ** 2 < 1] = 1
    lab[(X**2 + (Y + 3) ** 2 < 3**2) & (Z > -30) & (Z < 25)] = 2
    r = np.hypot(X, Y - RECTUM_Y_MM)
    lab[r < 13] = 6
    lab[r < 10] = 7
    return Grid(lab, np.array([x[0], y[0], z[0]]), sp), (X, Y, Z)


def ice_field(xyz, centre_mm, zero_radius_mm):
    """Temperature of a spherical iceball: −120 °C at the centre, 0 °C at ``zero_radius_mm``, 37 °C cap."""
    X, Y, Z = xyz
    d = np.sqrt((X - centre_mm[0]) ** 2 + (Y - centre_mm[1]) ** 2 + (Z - centre_mm[2]) ** 2)
    return np.minimum(37.0, -120.0 + 120.0 / zero_radius_mm * d).astype(np.float32)


def label_image(view, grid):
    """Label of the voxel under each pixel (nearest)."""
    h, w = view.sector_mask.shape
    rows, cols = np.mgrid[0:h, 0:w]
    f = np.rint((view.pixel_to_mm(rows, cols) - grid.origin_mm) / grid.spacing_mm).astype(int)
    f = np.clip(f, 0, np.array(grid.labels.shape) - 1)
    return grid.labels[f[..., 0], f[..., 1], f[..., 2]]


def ray_profile(img, view, angle_deg, depths_mm):
    rr, cc = view.scanline_px(angle_deg, depths_mm)
    return img[np.rint(rr).astype(int), np.rint(cc).astype(int)].astype(float)


@pytest.mark.parametrize("plane", ["sagittal", "transverse"])
def test_echo_levels_urine_black_gland_grey_fat_brighter_catheter_bright(body, plane):
    grid, _ = body
    view = get_view(grid, plane, size_px=SIZE)
    img = view.image(None)
    lab = label_image(view, grid)
    inside = view.sector_mask

    def mean(code):
        m = inside & (lab == code)
        assert m.sum() > 20, f"label {code} not in the {plane} picture"
        return img[m].mean()

    gland, fat, catheter = mean(1), mean(0), mean(2)
    assert 80 <= gland <= 170          # mid-grey
    assert fat > gland + 15
    assert catheter > fat
    if plane == "sagittal":            # the bladder is above the gland: only in the sagittal fan
        assert mean(5) < 15 and mean(5) < gland - 80


def test_rectal_wall_is_bright_dark_bright(body):
    grid, _ = body
    view = get_view(grid, "sagittal", size_px=(512, 512))
    img = view.image(None)
    # the wall spans 0..3 mm beyond the transducer face (lumen radius 10 mm = face radius)
    depths = np.linspace(0.1, 2.9, 30)
    prof = np.mean([ray_profile(img, view, a, depths) for a in (-10, -5, 0, 5, 10)], axis=0)
    inner, middle, outer = prof[:9].mean(), prof[11:19].mean(), prof[21:].mean()
    assert middle < inner - 40
    assert middle < outer - 40


@pytest.mark.parametrize("plane,angles", [("sagittal", (-16, -8, 0, 6, 16)), ("transverse", (-15, 0, 11))])
def test_bright_front_lies_on_the_zero_degree_isotherm(body, plane, angles):
    grid, xyz = body
    centre, r_zero = np.array([0.0, 0.0, 0.0]), 12.0
    temp = ice_field(xyz, centre, r_zero)
    view = get_view(grid, plane, size_px=SIZE)
    img = view.image(temp)
    depths = np.arange(4.0, 55.0, 0.1)
    for a in angles:
        prof = ray_profile(img, view, a, depths)
        # where the ray from the fan apex first meets the 0 °C sphere
        th = np.radians(a)
        d = np.sin(th) * view.lateral_dir + np.cos(th) * view.depth_dir
        rel = view.apex_mm - centre
        b = rel @ d
        r_hit = -b - np.sqrt(b * b - (rel @ rel - r_zero**2))
        expected_depth = r_hit - view.r0_mm
        k = int(np.argmax(prof))
        assert prof[k] >= 235, (a, prof[k])
        assert abs(depths[k] - expected_depth) <= 1.0, (a, depths[k], expected_depth)
        # the shadow: far darker than the same pixels without ice
        warm = ray_profile(view.image(None), view, a, depths)
        behind = depths > expected_depth + 2.0
        assert prof[behind].mean() < 0.25 * warm[behind].mean()


def test_shadow_darker_than_unfrozen_gland(body):
    grid, xyz = body
    view = get_view(grid, "transverse", size_px=SIZE)
    lab = label_image(view, grid)
    img = view.image(ice_field(xyz, (8.0, 5.0, 0.0), 7.0))   # small ball on the patient's left
    rr, cc = view.project_mm([[8.0, -9.0, 0.0], [-8.0, -9.0, 0.0]])
    shadow = img[int(rr[0]) - 3:int(rr[0]) + 4, int(cc[0]) - 3:int(cc[0]) + 4]   # gland behind the ice
    open_gland = img[int(rr[1]) - 3:int(rr[1]) + 4, int(cc[1]) - 3:int(cc[1]) + 4]  # mirror side, warm
    assert lab[int(rr[0]), int(cc[0])] == 1 and lab[int(rr[1]), int(cc[1])] == 1
    assert shadow.mean() < 40
    assert open_gland.mean() > shadow.mean() + 50


def test_needles_only_where_inserted(body):
    grid, _ = body
    view = get_view(grid, "sagittal", size_px=SIZE)
    entry, tip = np.array([0.0, 5.0, -60.0]), np.array([0.0, 5.0, 10.0])
    probes = np.array([[entry, tip]])
    length = 70.0
    none = view.image(None)
    out = view.image(None, probes, inserted_mm=[0.0])
    assert np.array_equal(none, out)          # not in yet: nothing drawn
    half = view.image(None, probes, inserted_mm=[50.0])    # tip now at z = -10
    full = view.image(None, probes, inserted_mm=[length])
    zs_in = np.arange(-28.0, -12.0, 1.0)      # inside the fan, before the half-way tip
    zs_later = np.arange(-6.0, 8.0, 1.0)      # reached only when fully in
    rr, cc = view.project_mm(np.column_stack([np.zeros_like(zs_in), np.full_like(zs_in, 5.0), zs_in]))
    line_half = half[np.rint(rr).astype(int), np.rint(cc).astype(int)]
    assert np.median(line_half) >= 200
    assert np.median(line_half) > np.median(none[np.rint(rr).astype(int), np.rint(cc).astype(int)]) + 60
    later = np.column_stack([np.zeros_like(zs_later), np.full_like(zs_later, 5.0), zs_later])
    rr, cc = view.project_mm(later)
    ri, ci = np.rint(rr).astype(int), np.rint(cc).astype(int)
    assert np.median(full[ri, ci]) >= 200
    assert np.array_equal(half[ri, ci], none[ri, ci])
    # a needle 6 mm beside the plane does not show in it
    aside = view.image(None, probes + np.array([6.0, 0.0, 0.0]), inserted_mm=[length])
    assert np.array_equal(aside, none)


def test_needle_crossing_the_transverse_plane_is_a_bright_dot(body):
    grid, _ = body
    view = get_view(grid, "transverse", position_mm=0.0, size_px=SIZE)
    probes = np.array([[[-12.0, -7.0, -60.0], [-12.0, -7.0, 10.0]]])   # between template dots
    (r,), (c,) = view.project_mm([[-12.0, -7.0, 0.0]])
    r, c = round(r), round(c)
    short = view.image(None, probes, inserted_mm=[55.0])   # tip at z = -5: not yet in the plane
    deep = view.image(None, probes, inserted_mm=[65.0])
    assert deep[r - 1:r + 2, c - 1:c + 2].min() >= 200
    assert short[r - 1:r + 2, c - 1:c + 2].mean() < 180


def test_same_inputs_same_image_and_seed_changes_speckle(body):
    grid, xyz = body
    temp = ice_field(xyz, (0.0, 0.0, 0.0), 9.0)
    a = ultrasound_image(grid, temp, plane="sagittal", size_px=SIZE, seed=3)
    ultrasound._VIEWS.clear()                 # rebuilt from scratch: still the same picture
    b = ultrasound_image(grid, temp.copy(), plane="sagittal", size_px=SIZE, seed=3)
    c = ultrasound_image(grid, temp, plane="sagittal", size_px=SIZE, seed=4)
    assert a.dtype == np.uint8 and a.shape == (SIZE[1], SIZE[0])
    assert np.array_equal(a, b)
    sector = get_view(grid, "sagittal", size_px=SIZE, seed=4).sector_mask
    assert ((a != c) & sector).sum() > 0.5 * sector.sum()


def test_black_outside_the_sector_except_overlays(body):
    grid, _ = body
    view = get_view(grid, "sagittal", size_px=SIZE)
    img = view.image(None)
    overlay = np.zeros(img.size, bool)
    overlay[view._over_idx] = True
    outside = ~view.sector_mask & ~overlay.reshape(img.shape)
    assert outside.sum() > 0.2 * img.size
    assert img[outside].max() == 0


def test_depth_scale_digits_at_each_centimetre(body):
    from cryoviz.story.us_overlay import font_px, scale_px

    grid, _ = body
    view = get_view(grid, "sagittal", size_px=SIZE)
    img = view.image(None)
    scale = scale_px(view)
    size = max(9, round(font_px(view) * 0.8))
    col = SIZE[0] - view._margin_r + 4 * scale
    patches = []
    for cm in range(1, 7):
        row = round(view._apex_row - (view.r0_mm + 10 * cm) / view.mm_per_px)
        assert (img[row, col:col + 6 * scale] == 255).all(), cm
        ink, _ = _us_font.text_mask(str(cm), size)   # the digit, drawn by Pillow, left-middle at the tick
        h, w = ink.shape
        assert h >= 7 and w >= 4  # real text, bigger than the old 3x5 bitmap
        c0 = col + 6 * scale + 2 * scale
        patch = img[row - h // 2:row - h // 2 + h, c0:c0 + w]
        assert np.array_equal(patch, ink), cm
        patches.append(patch)
    assert len({p.tobytes() for p in patches}) == 6


def test_the_font_is_dejavu_and_draws_accented_words():
    from pathlib import Path

    assert Path(_us_font.font_path()).name == "DejaVuSans.ttf"
    a, _ = _us_font.text_mask("Próstata", 14)
    b, _ = _us_font.text_mask("Prostata", 14)
    assert a.shape[1] > 40 and (a > 128).sum() > 60
    assert a.shape[0] > b.shape[0]  # the accent stands above the letters
    img = np.zeros((30, 120), np.uint8)
    top, left, bottom, right = _us_font.draw_text(img, "Recto", 15, 60, 255, 14, stroke_px=1, anchor="mm")
    assert (bottom - top, right - left) == _us_font.text_mask("Recto", 14, 1)[0].shape
    assert img.max() == 255 and img[:, :left].max() == 0 and img[:, right:].max() == 0


def test_patient_labels_in_his_language(body):
    from cryoviz.story.text import load_text

    grid, xyz = body
    view = get_view(grid, "transverse", size_px=SIZE)
    plain = view.image(None)
    en, es = (load_text(lang)["ultrasound"] for lang in ("en", "es"))
    with_en = view.image(None, words=en)
    with_es = view.image(None, words=es)
    changed = with_en != plain
    assert changed.sum() > 80 and (with_en != with_es).sum() > 20
    r, c = view._anchors["prostate"]   # "Prostate" over the gland's middle
    assert changed[r - 4:r + 5, c - 20:c + 21].sum() > 20
    assert label_image(view, grid)[r, c] == 1
    # "Ice edge" only when there is ice: a ball of ice above the transducer
    temp = ice_field(xyz, (0.0, 12.0, 0.0), 9.0)
    iced = view.image(temp)
    iced_en = view.image(temp, words=en)
    extra = (iced_en != iced).sum() - changed.sum()
    assert extra > 30
    assert view._front_point(view.sample_temp_c(temp)) is not None
    assert view._front_point(None) is None


def test_hydrodissection_fluid_is_a_soft_dark_pocket():
    sp = 1.0
    x = np.arange(-30, 30.01, sp)
    y = np.arange(-30, 45.01, sp)
    z = np.arange(-30, 30.01, sp)
    X, Y, Z = np.meshgrid(x, y, z, indexing="ij")
    lab = np.zeros(X.shape, np.uint8)
    lab[(X / 20) ** 2 + (Y / 14) ** 2 + (Z / 20) ** 2 < 1] = 1
    lab[(np.abs(X) <= 8) & (Y >= 15) & (Y <= 21) & (np.abs(Z) <= 15)] = 11   # a box of saline
    r = np.hypot(X, Y - RECTUM_Y_MM)
    lab[r < 13] = 6
    lab[r < 10] = 7
    grid = Grid(lab, np.array([x[0], y[0], z[0]]), sp)
    view = get_view(grid, "transverse", size_px=SIZE, position_mm=0.0)
    img = view.image(None).astype(float)
    labs = label_image(view, grid)
    inner = (labs == 11) & view.sector_mask
    assert inner.sum() > 100
    centre = np.argwhere(inner).mean(axis=0).astype(int)
    core = img[centre[0] - 2:centre[0] + 3, centre[1] - 4:centre[1] + 5]
    assert core.mean() < 40 and core.max() > 0     # dark fluid, not a flat black hole
    # the box's corners are rounded off: the corner voxels of the saline are lighter than its middle
    from scipy import ndimage

    smooth = ndimage.uniform_filter(img, 7)   # local mean grey over about 4 mm
    rows, cols = np.nonzero(inner)
    tissue = smooth[rows.min() - 12, (cols.min() + cols.max()) // 2]
    for r in (rows.min(), rows.max()):
        for c in (cols.min(), cols.max()):
            assert core.mean() + 30 < smooth[r, c] < tissue - 30, (r, c)  # a soft, rounded rim


def test_template_dots_in_the_transverse_view(body):
    grid, _ = body
    view = get_view(grid, "transverse", size_px=SIZE)
    img = view.image(None)
    from cryoviz.model.template import all_holes, hole_to_xy_mm

    pts = np.array([[*hole_to_xy_mm(h), view.position_mm] for h in all_holes()])
    rr, cc = view.project_mm(pts)
    ri, ci = np.rint(rr).astype(int), np.rint(cc).astype(int)
    seen = view.sector_mask[ri, ci]
    assert seen.sum() >= 40
    assert (img[ri[seen], ci[seen]] == 200).all()
    sag = get_view(grid, "sagittal", size_px=SIZE).image(None)
    assert (sag == 200).sum() < (img == 200).sum() / 4   # the grid is a transverse overlay


def test_lethal_outline_follows_minus_forty(body):
    grid, xyz = body
    temp = ice_field(xyz, (0.0, 0.0, 0.0), 12.0)    # −40 °C at 8 mm
    view = get_view(grid, "transverse", size_px=SIZE)
    plain = view.image(temp)
    outlined = view.image(temp, show_lethal=True)
    rr, cc = np.nonzero((outlined == 170) & (plain != 170))
    assert len(rr) > 30
    pts = view.pixel_to_mm(rr, cc)
    dist = np.linalg.norm(pts, axis=1)
    assert np.all(np.abs(dist - 8.0) < 1.5)


def test_image_at_interpolates_between_snapshots(body):
    grid, xyz = body

    @dataclass
    class Result:
        times_s: np.ndarray
        temps_c: np.ndarray

    t0 = ice_field(xyz, (0.0, 0.0, 0.0), 6.0)
    t1 = ice_field(xyz, (0.0, 0.0, 0.0), 14.0)
    res = Result(np.array([0.0, 100.0]), np.stack([t0, t1]).astype(np.float16))
    view = get_view(grid, "sagittal", size_px=SIZE)
    mid_lines = 0.5 * (view.sample_temp_c(res.temps_c[0]) + view.sample_temp_c(res.temps_c[1]))
    mid = view.image_at(res, 50.0)
    assert (mid != view.compose(mid_lines)).mean() < 1e-3     # same up to float rounding
    assert not np.array_equal(mid, view.image_at(res, 0.0))
    assert np.array_equal(view.image_at(res, 0.0), view.image(res.temps_c[0]))
    assert np.array_equal(view.image_at(res, 500.0), view.image(res.temps_c[1]))   # clamped to the end
    # the front moves towards the transducer as the ball grows
    f0 = view.front_depth_mm(view.sample_temp_c(res.temps_c[0]))
    f1 = view.front_depth_mm(view.sample_temp_c(res.temps_c[1]))
    centre = len(f0) // 2
    assert f1[centre] < f0[centre] - 6.0


@pytest.mark.parametrize("kwargs,key", [
    ({"plane": "coronal"}, "plane"),
    ({"size_px": (10, 10)}, "size_px"),
    ({"size_px": "big"}, "size_px"),
    ({"position_mm": 500.0}, "position_mm"),
    ({"seed": 1.5}, "seed"),
    ({"depth_mm": 5.0}, "depth_mm"),
    ({"probes_mm": np.zeros((2, 3))}, "probes_mm"),
    ({"probes_mm": np.zeros((1, 2, 3)), "inserted_mm": [1.0, 2.0]}, "inserted_mm"),
    ({"temp_c": np.zeros((3, 3, 3))}, "temp_c"),
])
def test_bad_arguments_raise_contract_errors(body, kwargs, key):
    grid, _ = body
    with pytest.raises(InputError) as exc:
        ultrasound_image(grid, **{"size_px": SIZE, **kwargs})
    line = str(exc.value)
    assert line.startswith(f"argument: {key}: ")
    assert "allowed: " in line and "got: " in line


# ----------------------------------------------------------------------------- with the real modules
@pytest.fixture(scope="module")
def default_anatomy():
    from cryoviz.model.anatomy import build_anatomy
    from cryoviz.model.scene import AnatomyParams

    return build_anatomy(AnatomyParams())


def _zero_crossing_mm(temp, grid, view, angle_deg, depths_mm):
    """First depth where the trilinear temperature along the scanline reaches 0 °C (independent of the view's
    own sampling maps: scipy's map_coordinates on the voxel field)."""
    from scipy import ndimage

    th = np.radians(angle_deg)
    d = np.sin(th) * view.lateral_dir + np.cos(th) * view.depth_dir
    pts = view.apex_mm + (view.r0_mm + depths_mm)[:, None] * d
    f = ((pts - grid.origin_mm) / grid.spacing_mm).T
    t = ndimage.map_coordinates(np.asarray(temp, dtype=float), f, order=1, mode="nearest")
    k = int(np.argmax(t <= 0.0))
    assert t[k] <= 0.0 < t[0]
    return depths_mm[k - 1] + (depths_mm[k] - depths_mm[k - 1]) * t[k - 1] / (t[k - 1] - t[k])


def test_default_anatomy_echo_and_front_on_a_2mm_grid(default_anatomy):
    lm = default_anatomy.landmarks
    grid = default_anatomy.label_grid(2.0)
    tr = (lm.rectum_axis_x_mm, lm.rectum_axis_y_mm, 0.0)
    view = get_view(grid, "sagittal", size_px=SIZE, transducer_mm=tr)
    img = view.image(None)
    lab = label_image(view, grid)
    gland = img[view.sector_mask & (lab == 1)]
    urine = img[view.sector_mask & (lab == 5)]
    assert len(gland) > 500 and len(urine) > 100
    assert urine.mean() < gland.mean() - 60
    # an iceball around a probe 8 mm behind the urethra; its front seen from the rectum
    X, Y, Z = np.meshgrid(*grid.axes_mm(), indexing="ij")
    d = np.hypot(X, Y - 8.0) + np.maximum(np.abs(Z) - 10.0, 0.0)
    temp = np.minimum(37.0, -130.0 + 13.0 * d).astype(np.float32)     # 0 °C at 10 mm from the needle
    img = view.image(temp)
    depths = np.arange(2.0, 50.0, 0.1)
    for a in (-12.0, 0.0, 9.0):
        expected = _zero_crossing_mm(temp, grid, view, a, depths)
        prof = ray_profile(img, view, a, depths)
        k = int(np.argmax(prof))
        assert prof[k] >= 235
        assert abs(depths[k] - expected) <= 1.0, (a, depths[k], expected)


@pytest.fixture(scope="module")
def simulated():
    """The default scene simulated on the 2 mm grid (the thermal cache is shared with other tests)."""
    from pathlib import Path

    from cryoviz.model.anatomy import build_anatomy
    from cryoviz.model.scene_load import load_scene
    from cryoviz.physics.thermal import simulate

    scene = load_scene(Path(__file__).resolve().parents[2] / "scenes" / "salvage_whole_gland.toml")
    anatomy = build_anatomy(scene.anatomy)
    return scene, anatomy, simulate(scene, grid_mm=2.0, anatomy=anatomy)


def test_simulated_freeze_front_shadow_and_needles(simulated):
    from cryoviz.story.ultrasound import probe_segments_mm, ultrasound_frame

    scene, anatomy, result = simulated
    probe = result.probes[0]
    kw = {"plane": "sagittal", "position_mm": probe.x_mm, "size_px": SIZE}
    n = len(result.probes)
    view = get_view(result.grid, transducer_mm=(anatomy.landmarks.rectum_axis_x_mm,
                                                anatomy.landmarks.rectum_axis_y_mm, 0.0), **kw)
    segs = probe_segments_mm(result.probes, anatomy.landmarks.skin_z_mm)
    # before the first freeze: no ice, the picture is the warm one with its needles
    warm = ultrasound_frame(anatomy, result, 0.0, **kw)
    assert np.array_equal(warm, view.image(None, segs))
    # the probe's needle shows on its line, and only once it is in
    zs = np.linspace(anatomy.landmarks.apex_z_mm, anatomy.landmarks.skin_z_mm + probe.depth_mm - 3.0, 12)
    line = np.column_stack([np.full_like(zs, probe.x_mm), np.full_like(zs, probe.y_mm), zs])
    rr, cc = view.project_mm(line)
    on = view.sector_mask[np.rint(rr).astype(int), np.rint(cc).astype(int)]
    ri, ci = np.rint(rr[on]).astype(int), np.rint(cc[on]).astype(int)
    assert on.sum() >= 6
    out = ultrasound_frame(anatomy, result, 0.0, inserted_mm=np.zeros(n), **kw)
    assert np.median(warm[ri, ci]) >= 200 and np.median(out[ri, ci]) < 170
    # during the freeze: the bright front on the 0 °C crossing of the simulated field, shadow behind it
    t_s = 0.5 * scene.protocol.cycles[0].freeze_s
    img = ultrasound_frame(anatomy, result, t_s, **kw)
    assert np.array_equal(img, ultrasound_frame(anatomy, result, t_s, **kw))
    temp = result.temp_at(t_s)
    depths = np.arange(1.0, 55.0, 0.1)
    checked = 0
    for a in np.arange(-30.0, 31.0, 6.0):
        try:
            expected = _zero_crossing_mm(temp, result.grid, view, a, depths)
        except AssertionError:   # this scanline meets no ice
            continue
        prof = ray_profile(img, view, a, depths)
        k = int(np.argmax(prof))
        assert prof[k] >= 235
        assert abs(depths[k] - expected) <= 1.0, (a, depths[k], expected)
        behind = (depths > expected + 2.0) & (depths < expected + 12.0)
        assert prof[behind].mean() < 0.3 * ray_profile(warm, view, a, depths)[behind].mean()
        checked += 1
    assert checked >= 4


def test_the_ultrasound_shows_each_needle_as_the_story_inserts_it(simulated):
    from cryoviz.story.timeline import Story
    from cryoviz.story.ultrasound import ultrasound_frame

    scene, anatomy, result = simulated
    story = Story(scene, anatomy, result, lang="en")
    ch = next(c for c in story.chapters if c.id == "probes")
    kw = {"plane": "transverse", "size_px": (320, 240), "position_mm": 0.0}
    view = get_view(result.grid, transducer_mm=(anatomy.landmarks.rectum_axis_x_mm,
                                                anatomy.landmarks.rectum_axis_y_mm, 0.0), **kw)
    tips = np.array([[p.x_mm, p.y_mm, 0.0] for p in result.probes])
    rr, cc = view.project_mm(tips)
    ri, ci = np.rint(rr).astype(int), np.rint(cc).astype(int)
    seen = []
    for t in np.linspace(ch.start_s, ch.end_s - 1e-3, 40):
        s = story.state_at(t)
        assert s.ultrasound_s == 0.0   # the ultrasound probe is in; no ice yet
        depths = [s.probe_depths_mm[p.name] for p in result.probes]
        img = ultrasound_frame(anatomy, result, s.ultrasound_s, inserted_mm=depths, **kw)
        bright = [img[r - 1:r + 2, c - 1:c + 2].max() >= 230 for r, c in zip(ri, ci, strict=True)]
        seen.append(sum(bright))
    # none at the start of the chapter, then more and more, every needle by its end
    assert seen[0] == 0 and seen[-1] == len(result.probes)
    assert seen == sorted(seen)
    assert len(set(seen)) >= 4
