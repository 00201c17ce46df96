"""FROC (lesion- and breast-based), FPs at sensitivities, AUFC and the bootstrap AUFC test on hand-made detections."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from biomedai.errors import InvalidInputError
from biomedai.methods.dbt_maskrcnn.froc import (ViewDetections, aufc, bootstrap_aufc_difference, fps_at_sensitivities,
                                                froc, lesion_hits)

LESION = [0, 0, 0, 10, 10, 10]


def _far(k: int) -> list[float]:
    return [50 + 20 * k, 50, 50, 60 + 20 * k, 60, 60]


def _hand_made() -> list[ViewDetections]:
    """Two breasts x two views, one lesion each: the curve is worked out by hand in the tests below."""
    return [
        ViewDetections("b1-CC", "b1", [LESION], [LESION, _far(0)], [0.9, 0.7]),
        ViewDetections("b1-MLO", "b1", [LESION], [[1, 0, 0, 11, 10, 10], _far(0)], [0.4, 0.8]),
        ViewDetections("b2-CC", "b2", [LESION], [_far(0)], [0.6]),
        ViewDetections("b2-MLO", "b2", [LESION], [LESION, [0, 0, 0, 10, 10, 9]], [0.5, 0.3]),  # 0.3: second hit
    ]


def test_lesion_based_froc_known_curve():
    c = froc(_hand_made(), mode="lesion")
    assert c.fps_per_image.tolist() == [0.0, 0.0, 0.25, 0.5, 0.75, 0.75, 0.75]
    assert c.sensitivity.tolist() == [0.0, 0.25, 0.25, 0.25, 0.25, 0.5, 0.75]
    assert np.allclose(fps_at_sensitivities(c, [0.25, 0.6, 0.8]), [0.0, 0.75, np.nan], equal_nan=True)
    assert aufc(c, max_fp=3.0) == pytest.approx((3 * 0.25 * 0.25 + 2.25 * 0.75) / 3)


def test_breast_based_froc_known_curve():
    c = froc(_hand_made(), mode="breast")
    assert c.fps_per_image.tolist() == [0.0, 0.0, 0.5, 1.0, 1.5, 1.5]
    assert c.sensitivity.tolist() == [0.0, 0.5, 0.5, 0.5, 0.5, 1.0]
    assert fps_at_sensitivities(c, [0.5, 0.6, 0.9, 1.0]).tolist() == [0.0, 1.5, 1.5, 1.5]
    assert aufc(c, max_fp=3.0) == pytest.approx(0.75)
    assert aufc(c, max_fp=1.0, normalise=False) == pytest.approx(0.5)


def test_fps_at_sensitivity_interpolates_between_points():
    from biomedai.metrics.detection import FROCCurve
    c = FROCCurve(np.array([0.0, 1.0, 3.0]), np.array([0.0, 0.5, 1.0]), np.array([np.inf, 0.5, 0.1]))
    assert fps_at_sensitivities(c, [0.25, 0.75]).tolist() == [0.5, 2.0]


def test_lesion_hits_iou_and_centre_criteria():
    preds = np.array([LESION, [4, 4, 4, 30, 30, 30], _far(0)], float)
    assert lesion_hits([LESION], preds).tolist() == [0, -1, -1]
    assert lesion_hits([LESION], preds, criterion="centre").tolist() == [0, -1, -1]
    assert lesion_hits([LESION], [[2, 2, 2, 14, 14, 14]], criterion="centre").tolist() == [0]
    with pytest.raises(InvalidInputError):
        lesion_hits([LESION], preds, criterion="dice")


def test_bad_inputs_are_named():
    with pytest.raises(InvalidInputError, match="b1"):
        ViewDetections("b1", "b", [LESION], [LESION], [0.5, 0.4])
    with pytest.raises(InvalidInputError, match="no true lesion"):
        froc([ViewDetections("v", "b", np.zeros((0, 6)), [LESION], [0.5])])


def _system(rng: np.random.Generator, n_breasts: int, hit_mean: float) -> list[ViewDetections]:
    views = []
    for b in range(n_breasts):
        for view in ("CC", "MLO"):
            boxes, scores = [], []
            if rng.uniform() < 0.85:
                boxes.append(LESION)
                scores.append(rng.normal(hit_mean, 1.0))
            for k in range(rng.poisson(1.0)):
                boxes.append(_far(k))
                scores.append(rng.normal(0.0, 1.0))
            views.append(ViewDetections(f"b{b}-{view}", f"b{b}", [LESION], np.array(boxes).reshape(-1, 6), scores))
    return views


def test_bootstrap_detects_a_better_system_and_not_an_identical_one():
    rng = np.random.default_rng(0)
    good, poor = _system(rng, 60, hit_mean=3.0), _system(rng, 60, hit_mean=-0.5)
    cmp = bootstrap_aufc_difference(good, poor, n_resamples=500, seed=1)
    assert cmp.difference > 0 and cmp.p_value < 0.01 and cmp.ci_low > 0
    assert cmp.aufc_a == pytest.approx(aufc(froc(good), 3.0))
    same = bootstrap_aufc_difference(good, good, n_resamples=200)
    assert same.difference == 0 and same.p_value == 1.0


def test_bootstrap_p_values_are_roughly_uniform_under_the_null():
    """Calibration: two independent systems drawn from one distribution (equal expected AUFC)."""
    rng = np.random.default_rng(7)
    p = np.array([bootstrap_aufc_difference(_system(rng, 40, 1.0), _system(rng, 40, 1.0), n_resamples=300,
                                            seed=k).p_value for k in range(120)])
    assert 0.0 <= np.mean(p < 0.05) <= 0.12
    assert 0.3 <= np.mean(p < 0.5) <= 0.7
    assert stats.kstest(p, "uniform").pvalue > 0.001


def test_bootstrap_needs_the_same_breasts():
    rng = np.random.default_rng(3)
    with pytest.raises(InvalidInputError, match="same"):
        bootstrap_aufc_difference(_system(rng, 5, 1.0), _system(rng, 6, 1.0), n_resamples=10)


def test_froc_and_compare_tools(tmp_path, capsys):
    from biomedai.methods.dbt_maskrcnn import DbtMaskRcnnMethod
    truth = tmp_path / "boxes.csv"
    truth.write_text("view_id,breast_id,z0,y0,x0,z1,y1,x1\nb1-CC,b1,0,0,0,10,10,10\nb2-CC,b2,0,0,0,10,10,10\n")
    det = tmp_path / "det.csv"
    det.write_text("view_id,score,z0,y0,x0,z1,y1,x1\nb1-CC,0.9,0,0,0,10,10,10\nb2-CC,0.4,50,50,50,60,60,60\n")
    parser = DbtMaskRcnnMethod.tool_parser("biomedai tool dbt_maskrcnn")
    DbtMaskRcnnMethod().run_tool(parser.parse_args(["froc", str(det), str(truth), "--out", str(tmp_path / "f")]))
    out = capsys.readouterr().out
    assert "breast-based: AUFC(0-3) 0.500" in out and (tmp_path / "f" / "froc_breast.png").is_file()
    DbtMaskRcnnMethod().run_tool(parser.parse_args(["compare", str(det), str(det), str(truth), "--boot", "50"]))
    assert "p = 1.0000" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text("view_id,score,z0,y0,x0,z1,y1,x1\nb9-CC,0.9,0,0,0,10,10,10\n")
    with pytest.raises(InvalidInputError, match="b9-CC"):
        DbtMaskRcnnMethod().run_tool(parser.parse_args(["froc", str(bad), str(truth)]))
