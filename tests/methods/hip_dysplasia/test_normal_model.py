"""The data-driven normal model: recovery of a known Gaussian, diagnosis rules, file round trip, bad input."""
from __future__ import annotations

import doctest

import numpy as np
import pytest
from scipy.stats import chi2

from biomedai.errors import InvalidInputError
from biomedai.methods.hip_dysplasia import normal_model
from biomedai.methods.hip_dysplasia.normal_model import (NormalHipModel, diagnose, ellipsoid_axes, fit_normal_model,
                                                         knowledge_class, kosuge_class)
from biomedai.methods.hip_dysplasia.synthetic import NORMAL_MEAN, NORMAL_SD, _cov, simulate_cohort


def test_recovers_the_normal_component_despite_outliers():
    rng = np.random.default_rng(5)
    normal = rng.multivariate_normal(NORMAL_MEAN, _cov(NORMAL_SD), 400)
    outliers = np.c_[rng.uniform(-20, 70, 40), rng.uniform(15, 65, 40), rng.uniform(-25, 40, 40)]
    model = fit_normal_model(np.vstack([normal, outliers]))
    np.testing.assert_allclose(model.mean, NORMAL_MEAN, atol=1.0)
    np.testing.assert_allclose(np.sqrt(np.diag(model.cov)), NORMAL_SD, rtol=0.2)
    assert np.isin(np.arange(400, 440), model.members).mean() < 0.25
    plain = fit_normal_model(np.vstack([normal, outliers]), reweight_quantile=None)
    assert plain.n <= 440


def test_diagnosis_reads_the_model():
    x, truth = simulate_cohort(seed=2)
    model = fit_normal_model(x)
    d = diagnose(model, [model.mean, model.mean + 3 * np.sqrt(np.diag(model.cov)) * [-1, 1, 1]])
    assert d[0]["model_class"] == "normal" and d[0]["d2"] == pytest.approx(0, abs=1e-9)
    assert d[0]["p"] == pytest.approx(1 / ((2 * np.pi) ** 1.5 * np.sqrt(np.linalg.det(model.cov))))
    assert d[1]["model_class"] == "outside" and d[1]["side_of_model"] == "dysplastic"
    assert d[1]["dysplasia_index"] > 1.96 and d[1]["long_axis_class"] == "dysplasia"
    # the model's chi-square classes: about 95 % of the normal group inside
    inside = np.mean([r["model_class"] == "normal" for r, t in zip(diagnose(model, x), truth) if t == 0])
    assert 0.85 < inside <= 1.0
    axes = ellipsoid_axes(model, 0.95)
    np.testing.assert_allclose(np.linalg.norm(axes, axis=0) ** 2, model.eigenvalues * chi2.ppf(0.95, 3))


def test_knowledge_rules():
    assert [knowledge_class(v) for v in (19.9, 20.0, 25.0, 25.1)] == ["dysplasia", "borderline", "borderline", "normal"]
    assert kosuge_class(15, 12) == "dysplasia" and kosuge_class(15, 8) == "normal"


def test_model_file_round_trip(tmp_path):
    x, _ = simulate_cohort(seed=4)
    model = fit_normal_model(x)
    back = NormalHipModel.load(model.save(tmp_path / "m.json"))
    np.testing.assert_allclose(back.cov, model.cov)
    (tmp_path / "bad.json").write_text('{"schema": "other"}')
    with pytest.raises(InvalidInputError, match="not a hip normal-model file"):
        NormalHipModel.load(tmp_path / "bad.json")


@pytest.mark.parametrize("bad, match", [(np.zeros((5, 3)), "at least 10"), (np.zeros((20, 2)), r"\(n, 3\)"),
                                        (np.full((20, 3), np.nan), "NaN")])
def test_bad_input(bad, match):
    with pytest.raises(InvalidInputError, match=match):
        fit_normal_model(bad)


def test_docstring_examples():
    result = doctest.testmod(normal_model, extraglobs={"np": np}, verbose=False)
    assert result.attempted > 0 and result.failed == 0
