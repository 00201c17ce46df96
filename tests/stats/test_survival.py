"""Survival statistics against lifelines and against values published for R's survival package on the same data."""
from __future__ import annotations

import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.metrics import concordance_index
from biomedai.stats import survival as sv

lifelines = pytest.importorskip("lifelines")


@pytest.fixture(scope="module")
def rossi():
    from lifelines.datasets import load_rossi

    return load_rossi()


ROSSI_COLS = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]
# R: coxph(Surv(week, arrest) ~ fin + age + race + wexp + mar + paro + prio, data = Rossi), printed in
# J. Fox & S. Weisberg, "Cox Proportional-Hazards Regression for Survival Data in R", appendix to
# An R Companion to Applied Regression (3rd ed., 2018): coef and se(coef); likelihood-ratio test 33.27 on 7 df.
R_ROSSI_COEF = [-0.37942, -0.05744, 0.31390, -0.14980, -0.43370, -0.08487, 0.09150]
R_ROSSI_SE = [0.19138, 0.02200, 0.30799, 0.21222, 0.38187, 0.19576, 0.02865]


def test_cox_matches_published_r_and_lifelines_on_rossi(rossi):
    from lifelines import CoxPHFitter

    m = sv.cox_regression(rossi.week, rossi.arrest, {c: rossi[c] for c in ROSSI_COLS})
    np.testing.assert_allclose([r.coef for r in m.rows], R_ROSSI_COEF, atol=6e-5)
    np.testing.assert_allclose([r.se for r in m.rows], R_ROSSI_SE, atol=6e-5)
    assert m.extra["lr_statistic"] == pytest.approx(33.27, abs=0.01)
    ref = CoxPHFitter().fit(rossi, "week", "arrest")
    np.testing.assert_allclose(m.coef, ref.params_[ROSSI_COLS].to_numpy(), rtol=1e-10)
    # Harrell's C of the fitted model: lifelines' value, our metric, and R's printed "Concordance= 0.64"
    lp = m.linear_predictor(rossi[ROSSI_COLS].to_numpy(float))
    c = concordance_index(rossi.week, lp, rossi.arrest, predicted_is_risk=True)
    assert c == pytest.approx(ref.concordance_index_, abs=1e-12) and round(c, 2) == 0.64
    assert m.rows[0].hr == pytest.approx(np.exp(R_ROSSI_COEF[0]), abs=1e-4)
    assert m.rows[0].low < m.rows[0].hr < m.rows[0].high


def test_log_rank_matches_published_r(rossi):
    from lifelines.datasets import load_gbsg2

    # R: survdiff(Surv(week, arrest) ~ fin, data = Rossi): Chisq = 3.8 on 1 df, p = 0.05
    r = sv.log_rank_test(rossi.week, rossi.arrest, rossi.fin)
    assert round(r.statistic, 1) == 3.8 and round(r.p_value, 2) == 0.05 and r.df == 1
    # R: survdiff(Surv(time, cens) ~ horTh, data = GBSG2): Chisq = 8.6 on 1 df, p = 0.00343
    # (Everitt & Hothorn, A Handbook of Statistical Analyses Using R, chapter "Survival Analysis")
    g = load_gbsg2()
    r = sv.log_rank_test(g.time, g.cens, g.horTh)
    assert round(r.statistic, 1) == 8.6 and r.p_value == pytest.approx(0.00343, abs=5e-6)


def test_log_rank_equals_hand_computed_observed_minus_expected():
    rng = np.random.default_rng(3)
    t = np.round(rng.exponential(10, 60), 1)
    e = rng.random(60) < 0.7
    g = np.repeat([0, 1], 30)
    o_minus_e, var = 0.0, 0.0
    for u in np.unique(t[e]):
        at = t >= u
        n, n1 = at.sum(), (at & (g == 1)).sum()
        d, d1 = ((t == u) & e).sum(), ((t == u) & e & (g == 1)).sum()
        o_minus_e += d1 - d * n1 / n
        if n > 1:
            var += d * (n1 / n) * (1 - n1 / n) * (n - d) / (n - 1)
    assert sv.log_rank_test(t, e, g).statistic == pytest.approx(o_minus_e**2 / var, rel=1e-9)


def test_kaplan_meier_estimate_ci_and_at_risk(rossi):
    from lifelines import KaplanMeierFitter

    km = sv.kaplan_meier(rossi.week, rossi.arrest)
    ref = KaplanMeierFitter().fit(rossi.week, rossi.arrest)
    for t in (0, 10, 25.5, 52):
        assert km.at(t)[0] == pytest.approx(float(ref.predict(t)), abs=1e-12)
    # log-log band equals lifelines' (exponential Greenwood)
    kl = sv.kaplan_meier(rossi.week, rossi.arrest, ci_type="log-log")
    ci = ref.confidence_interval_
    lo, hi = kl.ci_at(30.0)
    assert lo == pytest.approx(float(ci.loc[:30.0].iloc[-1, 0]), abs=1e-9)
    assert hi == pytest.approx(float(ci.loc[:30.0].iloc[-1, 1]), abs=1e-9)
    # R's default "log" band by hand: S exp(+-1.96 sqrt(sum d / (n (n - d))))
    t, e = rossi.week.to_numpy(float), rossi.arrest.to_numpy(bool)
    var = sum(((t == u) & e).sum() / ((t >= u).sum() * ((t >= u).sum() - ((t == u) & e).sum()))
              for u in np.unique(t[e & (t <= 30)]))
    s = km.at(30.0)[0]
    assert km.ci_at(30.0)[0] == pytest.approx(s * np.exp(-1.959964 * np.sqrt(var)), rel=1e-5)
    assert sv.numbers_at_risk(rossi.week, [0, 52]) == [432, int((rossi.week >= 52).sum())]


def test_cox_table_enters_only_significant_variables(rossi):
    table = sv.cox_table(rossi.week, rossi.arrest, {c: rossi[c] for c in ["fin", "age", "race", "prio"]},
                         multivariable="significant")
    entered = [r["variable"] for r in table if r["multi_hr"] is not None]
    assert entered == [r["variable"] for r in table if r["uni_p"] < 0.05] and "age" in entered
    assert "race" not in entered


def test_time_dependent_roc_without_censoring_is_the_ordinary_roc():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    x = rng.normal(size=300)
    t = rng.exponential(10 * np.exp(-x))
    roc = sv.time_dependent_roc(x, t, np.ones(300), 8.0)
    assert roc.auc == pytest.approx(roc_auc_score(t <= 8, x), abs=1e-9)
    cut, j, tpr, fpr = sv.youden_cutoff(roc)
    pos = t <= 8
    assert tpr == pytest.approx(np.mean(x[pos] > cut)) and fpr == pytest.approx(np.mean(x[~pos] > cut))
    assert j == pytest.approx(max(np.mean(x[pos] > c) - np.mean(x[~pos] > c) for c in x))
    with pytest.raises(InvalidInputError):
        sv.time_dependent_roc(x, t, np.ones(300), 1e6)  # nobody survives the horizon


def test_calibration_of_a_true_model_is_on_the_diagonal():
    rng = np.random.default_rng(2)
    x = rng.normal(size=4000)
    t = rng.exponential(20 * np.exp(-x))
    surv_true = np.exp(-10 / (20 * np.exp(-x)))
    cal = sv.calibration_at(surv_true, t, np.ones(4000), 10.0, group_size=800)
    assert cal.predicted.size == 5
    np.testing.assert_allclose(cal.observed, cal.predicted, atol=0.04)

    def fit_predict(train, evaluate):
        m = sv.cox_regression(t[train], np.ones(train.size), {"x": x[train]})
        return m.survival_at(x[train, None], 10.0), m.survival_at(x[evaluate, None], 10.0)

    boot = sv.bootstrap_calibration(fit_predict, t[:400], np.ones(400), 10.0, n_boot=5, seed=0)
    assert boot.n_boot == 5 and boot.corrected is not None
    np.testing.assert_allclose(boot.corrected, boot.observed, atol=0.1)


def test_breslow_baseline_matches_lifelines(rossi):
    from lifelines import CoxPHFitter

    ref = CoxPHFitter(baseline_estimation_method="breslow").fit(rossi[["week", "arrest", "fin", "prio"]],
                                                                 "week", "arrest")
    lp = rossi[["fin", "prio"]].to_numpy(float) @ ref.params_.to_numpy()
    lp_mean = (ref._norm_mean.to_numpy() @ ref.params_.to_numpy())
    s0_centred = float(ref.baseline_survival_.loc[:30].iloc[-1, 0])
    # our baseline is for lp = 0 (uncentred): S0c ** exp(-beta . mean)
    ours = sv.breslow_survival_at(lp, rossi.week, rossi.arrest, 30.0)
    assert ours == pytest.approx(s0_centred ** np.exp(-lp_mean), rel=1e-3)


def test_bad_survival_input_is_named():
    with pytest.raises(InvalidInputError, match="time of subject 1"):
        sv.check_survival_data([1, -2], [1, 0])
    with pytest.raises(InvalidInputError, match="event of subject 0"):
        sv.check_survival_data([1, 2], [2, 0])
