"""ABL ratio on drawn teeth and bone with analytically known d (upper, lower, tilted), and the imputation rules.

Tolerance: the tooth outline is the 0.5 iso-line of the mask and a crest point is a bone pixel centre moved
half a pixel crown-wards, so for shapes whose edges fall on pixel borders (axis-aligned, half-integer
coordinates) the distances are exact; for tilted shapes each end of a distance (outline point, crest point)
is off by at most half a pixel diagonal (0.71 px), so d_c and d_r are within 1.5 px and d within
1.5 / tooth length (+ rounding): we assert 1.5 px and 0.02 for a 100 px tooth.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.draw import polygon

from biomedai.errors import InvalidInputError
from biomedai.methods.dental_perio.abl import FDI_ORDER, abl_vector, imputed_mask, measure_abl
from biomedai.methods.dental_perio.synthetic import synthetic_panoramic

SHAPE = (240, 200)


def _fill(xy: np.ndarray) -> np.ndarray:
    rr, cc = polygon(xy[:, 1], xy[:, 0], SHAPE)
    mask = np.zeros(SHAPE, bool)
    mask[rr, cc] = True
    return mask


def _rect(centre: tuple[float, float], length: float, width: float, angle_deg: float) -> np.ndarray:
    """Corners (x, y) of a rectangle whose long side is vertical when angle is 0, rotated by angle."""
    a = math.radians(angle_deg)
    axis, lat = np.array([math.sin(a), math.cos(a)]), np.array([math.cos(a), -math.sin(a)])
    c = np.asarray(centre, float)
    return np.array([c + s * length / 2 * axis + t * width / 2 * lat for s, t in ((-1, -1), (-1, 1), (1, 1), (1, -1))])


@pytest.mark.parametrize("fdi,crest_row,expected", [
    (16, 40, (70.0, 30.0)),   # upper: rows 9.5..109.5, crown at the bottom, bone edge at 39.5
    (16, 80, (30.0, 70.0)),
    (36, 90, (30.0, 70.0)),   # lower: rows 59.5..159.5, crown at the top, bone edge at 89.5
])
def test_axis_aligned_teeth_exact(fdi: int, crest_row: int, expected: tuple[float, float]) -> None:
    tooth = np.zeros(SHAPE, bool)
    bone = np.zeros(SHAPE, bool)
    if fdi < 30:
        tooth[10:110, 80:110] = True
        bone[:crest_row, :] = True       # continuous bone edge at crest_row - 0.5
    else:
        tooth[60:160, 80:110] = True
        bone[crest_row:, :] = True
    r = measure_abl({fdi: tooth}, bone)[fdi]
    d_c, d_r = expected
    assert r.d_c == pytest.approx(d_c, abs=1e-6) and r.d_r == pytest.approx(d_r, abs=1e-6)
    assert r.d == pytest.approx(d_c / (d_c + d_r), abs=1e-9)
    assert r.upper == (fdi < 30)
    # crown point lies on the crown side: below the line for upper teeth, above for lower teeth
    line_y = r.bone_points[0][1]
    assert (r.crown_point[1] > line_y) == (fdi < 30)
    assert r.bone_crossing[1] == pytest.approx(line_y, abs=1e-6)


@pytest.mark.parametrize("fdi,angle", [(14, 12.0), (14, -20.0), (45, 15.0), (45, -8.0)])
def test_tilted_tooth_horizontal_crest(fdi: int, angle: float) -> None:
    """A tilted rectangle and a horizontal bone edge: distances are vertical offsets of the corners."""
    corners = _rect((100.0, 120.0), 100.0, 30.0, angle)
    tooth = _fill(corners)
    crest = 100.5 if fdi < 30 else 140.5
    yy = np.arange(SHAPE[0])[:, None] * np.ones(SHAPE[1])[None]
    bone = (yy < crest) if fdi < 30 else (yy > crest)
    r = measure_abl({fdi: tooth}, bone)[fdi]
    ys = corners[:, 1]
    crown = ys[ys > crest] - crest if fdi < 30 else crest - ys[ys < crest]
    root = crest - ys[ys < crest] if fdi < 30 else ys[ys > crest] - crest
    d_c, d_r = crown.max(), root.max()
    assert r.d_c == pytest.approx(d_c, abs=1.5) and r.d_r == pytest.approx(d_r, abs=1.5)
    assert r.d == pytest.approx(d_c / (d_c + d_r), abs=0.02)


@pytest.mark.parametrize("fdi,angle,a", [(23, 10.0, 35.0), (23, -15.0, 60.0), (33, 12.0, 45.0), (33, -6.0, 25.0)])
def test_tilted_tooth_crest_perpendicular_to_axis(fdi: int, angle: float, a: float) -> None:
    """The crest perpendicular to the tooth axis at distance a from the crown end: d = a / L exactly."""
    length, width = 100.0, 30.0
    upper = fdi < 30
    theta = math.radians(angle)
    axis = np.array([math.sin(theta), -math.cos(theta) if upper else math.cos(theta)])  # crown tip -> apex
    lat = np.array([-axis[1], axis[0]])
    tip = np.array([100.0, 170.0 if upper else 70.0])
    corners = np.array([tip + s * width / 2 * lat + u * axis for s, u in ((-1, 0), (1, 0), (1, length), (-1, length))])
    tooth = _fill(corners)
    yy, xx = np.mgrid[0:SHAPE[0], 0:SHAPE[1]]
    bone = ((np.c_[xx.ravel(), yy.ravel()] - tip) @ axis > a).reshape(SHAPE)  # beyond the crest, towards the apex
    r = measure_abl({fdi: tooth}, bone)[fdi]
    assert r.d_c == pytest.approx(a, abs=1.5) and r.d_r == pytest.approx(length - a, abs=1.5)
    assert r.d == pytest.approx(a / length, abs=0.02)


@pytest.mark.parametrize("fdi", [12, 42])
def test_random_line_distribution_contains_deterministic(fdi: int) -> None:
    """A wavy bone crest: random lines through two contour points scatter around the deterministic line."""
    upper = fdi < 30
    tooth = np.zeros(SHAPE, bool)
    if upper:
        tooth[20:120, 85:115] = True
    else:
        tooth[120:220, 85:115] = True
    yy, xx = np.mgrid[0:SHAPE[0], 0:SHAPE[1]]
    wave = 6 * np.sin(2 * np.pi * (xx - 100) / 50)
    bone = (yy < 75 + wave) if upper else (yy > 165 + wave)
    det = measure_abl({fdi: tooth}, bone)[fdi]
    rng = np.random.default_rng(0)
    values = np.array([measure_abl({fdi: tooth}, bone, line="random", rng=rng)[fdi].d for _ in range(100)])
    assert values.min() < det.d < values.max()
    assert abs(np.median(values) - det.d) < 0.05
    assert values.std() > 0.005  # the random option really varies
    # the same seed gives the same line
    a = measure_abl({fdi: tooth}, bone, line="random", rng=7)[fdi]
    b = measure_abl({fdi: tooth}, bone, line="random", rng=7)[fdi]
    assert a == b and a.line == "random"


def test_random_line_on_synthetic_film() -> None:
    film = synthetic_panoramic(3, size=(128, 256))
    masks = film.tooth_masks()
    det = measure_abl(masks, film.bone_mask)
    rnd = measure_abl(masks, film.bone_mask, line="random", rng=1)
    assert set(rnd) == set(det)
    assert all(0.0 <= r.d <= 1.0 and r.line == "random" for r in rnd.values())


def test_synthetic_panoramic_ratios_recovered() -> None:
    """Every present tooth of a simulated film: measured d equals the drawn one within 1.5 px / tooth length."""
    film = synthetic_panoramic(1, size=(256, 512))
    result = measure_abl(film.tooth_masks(), film.bone_mask)
    assert set(result) == set(film.true_d)
    err = np.array([abs(result[f].d - film.true_d[f]) for f in film.true_d])
    lengths = np.array([result[f].d_c + result[f].d_r for f in film.true_d])
    assert np.all(err <= 2.0 / lengths + 1e-3), (err.max(), lengths.min())


def test_subsample_half_never_exceeds_full() -> None:
    film = synthetic_panoramic(2, size=(256, 512))
    full = measure_abl(film.tooth_masks(), film.bone_mask)
    half = measure_abl(film.tooth_masks(), film.bone_mask, subsample=0.5, rng=0)
    for f in full:
        assert half[f].d_c <= full[f].d_c + 1e-9 and half[f].d_r <= full[f].d_r + 1e-9
        assert half[f].d == pytest.approx(full[f].d, abs=0.03)


def test_bad_inputs_and_skipped_teeth() -> None:
    tooth = np.zeros(SHAPE, bool)
    tooth[10:110, 80:110] = True
    bone = np.zeros(SHAPE, bool)
    bone[:40] = True
    with pytest.raises(InvalidInputError, match="19"):
        measure_abl({19: tooth}, bone)
    with pytest.raises(InvalidInputError, match="shape"):
        measure_abl({11: tooth[:-1]}, bone)
    with pytest.raises(InvalidInputError, match="line"):
        measure_abl({11: tooth}, bone, line="diagonal")  # type: ignore[arg-type]
    assert measure_abl({11: tooth}, np.zeros(SHAPE, bool)) == {}   # no bone touches it: left out
    assert measure_abl({11: np.zeros(SHAPE, bool)}, bone) == {}     # empty mask


def _at(v: np.ndarray, fdi: int) -> float:
    return float(v[FDI_ORDER.index(fdi)])


def test_abl_vector_order_and_imputation() -> None:
    d = {f: 0.3 for f in FDI_ORDER}
    d.update({11: 0.2, 12: 0.4})
    full = abl_vector(d)
    assert full.shape == (32,) and _at(full, 11) == 0.2 and _at(full, 12) == 0.4
    assert list(np.flatnonzero(full != 0.3)) == [0, 1]          # order 11..18, 21..28, 31..38, 41..48
    # one gap: mean of both neighbours along the arch (13 and 15 for 14; 11 and 22 for 21 across the midline)
    gap = {k: v for k, v in d.items() if k not in (14, 21)}
    gap[13], gap[15], gap[22] = 0.5, 0.1, 0.6
    v, imputed = abl_vector(gap, return_imputed=True)
    assert _at(v, 14) == pytest.approx(0.3) and _at(v, 21) == pytest.approx((0.2 + 0.6) / 2)
    assert set(np.asarray(FDI_ORDER)[imputed]) == {14, 21}
    # neighbours missing too: nearest present tooth on each side (17 missing with 16 and 18 -> 15 and end)
    chain = {k: v for k, v in d.items() if k not in (16, 17, 18)}
    chain[15] = 0.7
    v = abl_vector(chain)
    assert _at(v, 18) == _at(v, 17) == _at(v, 16) == pytest.approx(0.7)  # arch end: the one present neighbour
    # an empty arch takes the image mean
    upper_only = {f: 0.1 * (i % 5) for i, f in enumerate(FDI_ORDER[:16])}
    v = abl_vector(upper_only)
    assert np.allclose(v[16:], np.mean(list(upper_only.values())))
    # NaN is missing; bad numbers and values are errors
    assert imputed_mask({11: float("nan"), 12: 0.2}).sum() == 31
    with pytest.raises(InvalidInputError, match="no tooth"):
        abl_vector({11: float("nan")})
    with pytest.raises(InvalidInputError, match="FDI"):
        abl_vector({51: 0.2})
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
        abl_vector({11: 1.5})
