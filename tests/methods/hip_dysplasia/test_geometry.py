"""Hip geometry on constructed shapes with known angles (to 0.01 degree), mirrored, rotated, anisotropic, degenerate."""
from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

from biomedai.methods.hip_dysplasia import geometry
from biomedai.methods.hip_dysplasia.geometry import (GeometryError, SideShapes, angles_from_landmarks, circle_through,
                                                     fit_circle, measure_hips)


def constructed(ce=30.0, sharp=40.0, tonnis=8.0, *, width=200.0, rotation=0.0, mirror=False, n_head=720):
    """Landmarks placed so that the angles are exactly (ce, sharp, tonnis) on both sides, and head circles."""
    up = np.array([0.0, -1.0])
    marks, shapes = {}, {}
    for side in ("right", "left"):
        on_left = (side == "right") != mirror
        lat = np.array([-1.0, 0.0]) if on_left else np.array([1.0, 0.0])
        t = np.array([250.0, 300.0]) + lat * width / 2
        s_, c_, tn = (math.radians(v) for v in (sharp, ce, tonnis))
        L = t + 120 * (math.cos(s_) * lat + math.sin(s_) * up)
        S = L - 40 * (math.cos(tn) * lat + math.sin(tn) * up)
        H = L - 55 * (math.sin(c_) * lat + math.cos(c_) * up)
        marks[side] = {"H": H, "L": L, "T": t, "S": S}
    rot = math.radians(rotation)
    m = np.array([[math.cos(rot), -math.sin(rot)], [math.sin(rot), math.cos(rot)]])
    centre = np.array([250.0, 250.0])
    marks = {side: {k: (v - centre) @ m.T + centre for k, v in pts.items()} for side, pts in marks.items()}
    for side, p in marks.items():
        ang = np.linspace(0, 2 * np.pi, n_head, endpoint=False)
        head = p["H"] + 50 * np.c_[np.cos(ang), np.sin(ang)]
        acetabulum = np.vstack([p["T"], (p["T"] + p["L"]) / 2 + (p["L"] - p["H"]) * 0.2, p["L"]])
        shapes[side] = SideShapes(acetabulum=acetabulum, femoral_head=head, sourcil_medial=p["S"][None],
                                  lateral_edge=p["L"][None], teardrop=p["T"][None])
    return marks, shapes


@pytest.mark.parametrize("ce, sharp, tonnis", [(30.0, 40.0, 8.0), (12.5, 47.0, 18.0), (-6.0, 52.0, -4.0),
                                               (45.0, 33.0, 0.5)])
def test_known_angles_from_landmarks(ce, sharp, tonnis):
    marks, _ = constructed(ce, sharp, tonnis)
    angles = angles_from_landmarks(marks)
    for side in ("right", "left"):
        assert angles[side]["ce"] == pytest.approx(ce, abs=0.01)
        assert angles[side]["sharp"] == pytest.approx(sharp, abs=0.01)
        assert angles[side]["tonnis"] == pytest.approx(tonnis, abs=0.01)
        assert angles[side]["ce_unsigned"] == pytest.approx(abs(ce), abs=0.01)
        assert angles[side]["tonnis_unsigned"] == pytest.approx(abs(tonnis), abs=0.01)


def test_unsigned_reproduces_arccos():
    marks, _ = constructed(-6.0, 52.0, -4.0)
    angles = angles_from_landmarks(marks, signed=False)
    assert angles["right"]["ce"] == pytest.approx(6.0, abs=0.01)
    assert angles["left"]["tonnis"] == pytest.approx(4.0, abs=0.01)


@pytest.mark.parametrize("rotation, mirror", [(0.0, False), (0.0, True), (15.0, False), (-20.0, True), (8.0, True)])
def test_contours_give_known_angles_on_mirrored_and_rotated_films(rotation, mirror):
    marks, shapes = constructed(28.0, 41.0, 9.0, rotation=rotation, mirror=mirror)
    result = measure_hips(shapes)
    for side in ("right", "left"):
        assert result.angles[side]["ce"] == pytest.approx(28.0, abs=0.01)
        assert result.angles[side]["sharp"] == pytest.approx(41.0, abs=0.01)
        assert result.angles[side]["tonnis"] == pytest.approx(9.0, abs=0.01)
        np.testing.assert_allclose(result.landmarks[side]["H"], marks[side]["H"], atol=0.02)
        np.testing.assert_allclose(result.landmarks[side]["H_least_squares"], marks[side]["H"], atol=1e-6)
        assert result.flags[side] == []


def test_least_squares_head_centre_switch():
    _, shapes = constructed(25.0, 38.0, 6.0)
    a = measure_hips(shapes, head_centre="three_point").angles
    b = measure_hips(shapes, head_centre="least_squares").angles
    assert a["left"]["ce"] == pytest.approx(b["left"]["ce"], abs=0.01)


def test_anisotropic_spacing_is_honoured():
    # physical film with known angles, stored with 0.1 mm rows and 0.2 mm columns
    marks, shapes = constructed(30.0, 40.0, 8.0)
    sy, sx = 0.1, 0.2
    px_marks = {s: {k: v / np.array([sx, sy]) for k, v in p.items()} for s, p in marks.items()}
    angles = angles_from_landmarks(px_marks, spacing=(sy, sx))
    assert angles["right"]["ce"] == pytest.approx(30.0, abs=0.01)
    assert angles["right"]["sharp"] == pytest.approx(40.0, abs=0.01)
    naive = angles_from_landmarks(px_marks)
    assert abs(naive["right"]["sharp"] - 40.0) > 5  # square pixels would be wrong here
    px_shapes = {s: SideShapes(**{k: None if v is None else v / np.array([sx, sy]) for k, v in vars(sh).items()})
                 for s, sh in shapes.items()}
    measured = measure_hips(px_shapes, spacing=(sy, sx)).angles
    assert measured["left"]["tonnis"] == pytest.approx(8.0, abs=0.01)
    assert measured["left"]["ce"] == pytest.approx(30.0, abs=0.02)


def test_derived_landmarks_D_E_F_on_a_level_film():
    marks, shapes = constructed(30.0, 40.0, 8.0)
    result = measure_hips(shapes)
    h = marks["right"]["H"]
    np.testing.assert_allclose(result.landmarks["right"]["D"], h + [0, -50], atol=1e-6)  # uppermost
    np.testing.assert_allclose(result.landmarks["right"]["E"], h + [-50, 0], atol=1e-6)  # most lateral (image left)
    f = np.asarray(result.landmarks["right"]["F"])
    assert abs(np.hypot(*(f - h)) - 50) < 0.01  # on the head circle
    assert f[0] > h[0]  # the second crossing is on the medial side


def test_circle_helpers_and_collinear():
    assert circle_through((0, 0), (1, 1), (2, 2)) is None
    c, r = fit_circle(np.c_[3 + 4 * np.cos(np.linspace(0, 1, 9)), 4 * np.sin(np.linspace(0, 1, 9))])
    np.testing.assert_allclose(c, [3, 0], atol=1e-9)
    with pytest.raises(GeometryError):
        fit_circle([(0, 0), (1, 1), (2, 2)])


def test_no_second_crossing_and_implausible_angles_are_flagged():
    marks, shapes = constructed(30.0, 40.0, 8.0)
    for side in ("right", "left"):  # a teardrop inside the head: the line E->T never leaves the head again
        shapes[side].teardrop = marks[side]["H"][None] + 0.0
    result = measure_hips(shapes)
    assert "no_second_crossing" in result.flags["right"]
    marks, shapes = constructed(-35.0, 62.0, 40.0)
    flags = measure_hips(shapes).flags["left"]
    assert {"implausible_sharp", "implausible_ce"} <= set(flags)


def test_collinear_D_E_F_is_flagged_and_falls_back_to_least_squares(monkeypatch):
    marks, shapes = constructed(30.0, 40.0, 8.0)
    monkeypatch.setattr(geometry, "circle_through", lambda *a, **k: None)
    result = measure_hips(shapes)
    assert {"collinear_points", "head_centre_from_least_squares"} <= set(result.flags["right"])
    assert result.angles["right"]["ce"] == pytest.approx(30.0, abs=0.01)


def test_degenerate_head_contour_raises_naming_side_and_structure():
    marks, shapes = constructed(30.0, 40.0, 8.0)
    shapes["left"].femoral_head = np.c_[np.linspace(0, 50, 10), np.linspace(0, 20, 10)] + marks["left"]["H"]
    with pytest.raises(GeometryError, match="left hip: the femoral_head contour is degenerate"):
        measure_hips(shapes)


def test_coincident_teardrops_raise():
    marks, _ = constructed()
    marks["left"]["T"] = marks["right"]["T"]
    with pytest.raises(GeometryError, match="inter-teardrop"):
        angles_from_landmarks(marks)


def test_docstring_examples():
    result = doctest.testmod(geometry, extraglobs={"np": np}, verbose=False)
    assert result.attempted > 0 and result.failed == 0
