"""Survival analysis: Kaplan-Meier, log-rank, Cox tables, time-dependent ROC and calibration.

Kaplan-Meier with confidence bands and numbers at risk, the log-rank test, Cox tables,
time-dependent ROC (Heagerty's KM estimator, as R ``survivalROC``) with a Youden cut-off, and calibration of a
survival model at a time horizon (grouped KM, bootstrap optimism correction as R ``rms::calibrate``).

Estimation is delegated to ``lifelines`` (MIT) wherever it does the job: Kaplan-Meier, the log-rank test and
Cox regression (Efron ties, as R ``survival::coxph``). Written here: the tables, the time-dependent ROC and the
calibration, which lifelines does not provide. ``lifelines`` and ``pandas`` are imported inside the functions.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError

__all__ = [
    "check_survival_data", "KaplanMeier", "kaplan_meier", "numbers_at_risk", "LogRankResult", "log_rank_test",
    "CoxRow", "cox_regression", "cox_table", "TimeDependentROC", "time_dependent_roc", "youden_cutoff",
    "CalibrationCurve", "calibration_at", "bootstrap_calibration", "breslow_survival_at",
]


def check_survival_data(time: Any, event: Any, where: str = "survival data") -> tuple[np.ndarray, np.ndarray]:
    """``(time, event)`` as float and bool arrays; raises ``InvalidInputError`` naming the first bad entry.

    >>> check_survival_data([3, 5], [1, 0])[1].tolist()
    [True, False]
    """
    t = np.asarray(time, dtype=float).ravel()
    e_raw = np.asarray(event).ravel()
    if t.size != e_raw.size:
        raise InvalidInputError(f"time has {t.size} values but event has {e_raw.size}", where)
    if t.size == 0:
        raise InvalidInputError("no subjects", where)
    bad = np.flatnonzero(~np.isfinite(t) | (t < 0))
    if bad.size:
        raise InvalidInputError(f"time of subject {bad[0]} is {t[bad[0]]!r}; times must be finite and >= 0", where)
    try:
        e_num = e_raw.astype(float)
    except (TypeError, ValueError):
        raise InvalidInputError("event must be 0/1", where) from None
    bad = np.flatnonzero(~np.isin(e_num, (0.0, 1.0)))
    if bad.size:
        raise InvalidInputError(f"event of subject {bad[0]} is {e_raw[bad[0]]!r}; events must be 0 or 1", where)
    return t, e_num.astype(bool)


# ------------------------------------------------------------------------------------------- Kaplan-Meier
@dataclass
class KaplanMeier:
    """A Kaplan-Meier curve: ``survival[i]`` holds on ``[times[i], times[i+1])``; ``times[0] == 0``."""

    times: np.ndarray
    survival: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n_at_risk: np.ndarray
    n_events: np.ndarray
    confidence: float
    ci_type: str

    def at(self, t: float | Sequence[float]) -> np.ndarray:
        """Survival (step function, right-continuous) at time(s) ``t``."""
        idx = np.searchsorted(self.times, np.atleast_1d(np.asarray(t, float)), side="right") - 1
        return self.survival[np.clip(idx, 0, None)]

    def ci_at(self, t: float) -> tuple[float, float]:
        """The confidence interval of survival at time ``t``."""
        idx = max(int(np.searchsorted(self.times, t, side="right")) - 1, 0)
        return float(self.low[idx]), float(self.high[idx])

    def median(self) -> float:
        """Median survival time (``inf`` when the curve never reaches 0.5)."""
        below = np.flatnonzero(self.survival <= 0.5)
        return float(self.times[below[0]]) if below.size else math.inf


def kaplan_meier(time: Any, event: Any, *, confidence: float = 0.95, ci_type: str = "log") -> KaplanMeier:
    """Kaplan-Meier estimate with a pointwise CI from Greenwood's variance.

    ``ci_type="log"`` is R ``survfit``'s default (``S exp(+-z se(log S))``); ``"log-log"`` is lifelines'
    (exponential Greenwood). The estimate itself comes from ``lifelines.KaplanMeierFitter``.

    >>> km = kaplan_meier([1, 2, 3, 4], [1, 1, 0, 1])
    >>> km.at([0, 1.5, 2.5, 4]).round(3).tolist()
    [1.0, 0.75, 0.5, 0.0]
    """
    from lifelines import KaplanMeierFitter
    from scipy.stats import norm

    t, e = check_survival_data(time, event, "kaplan_meier")
    if ci_type not in ("log", "log-log"):
        raise InvalidInputError(f"ci_type must be 'log' or 'log-log', got {ci_type!r}")
    kmf = KaplanMeierFitter(alpha=1 - confidence).fit(t, e)
    table = kmf.event_table
    times = table.index.to_numpy(float)
    surv = kmf.survival_function_.iloc[:, 0].to_numpy(float)
    at_risk = table["at_risk"].to_numpy(int)
    d = table["observed"].to_numpy(int)
    if times[0] != 0.0:  # lifelines starts at 0 unless a subject has time 0
        times, surv = np.r_[0.0, times], np.r_[1.0, surv]
        at_risk, d = np.r_[t.size, at_risk], np.r_[0, d]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(at_risk > d, d / (at_risk * (at_risk - d)), np.inf)
    var_log = np.cumsum(np.where(d > 0, terms, 0.0))  # Greenwood: var(log S)
    z = norm.ppf(0.5 + confidence / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        if ci_type == "log":
            se = np.sqrt(var_log)
            low, high = surv * np.exp(-z * se), np.minimum(surv * np.exp(z * se), 1.0)
        else:
            se = np.sqrt(var_log) / np.abs(np.log(surv))
            low, high = surv ** np.exp(z * se), surv ** np.exp(-z * se)
    low = np.where(surv > 0, np.nan_to_num(low, nan=0.0), 0.0)
    high = np.where(np.isfinite(high), high, np.where(surv > 0, 1.0, 0.0))
    if surv[0] == 1.0:  # before the first event the band is the point
        low[0] = high[0] = 1.0
    return KaplanMeier(times, surv, low, high, at_risk, d, confidence, ci_type)


def numbers_at_risk(time: Any, at: Sequence[float]) -> list[int]:
    """How many subjects are still at risk (time >= t) at each of the times ``at``.

    >>> numbers_at_risk([1, 2, 3, 4], [0, 2, 5])
    [4, 3, 0]
    """
    t = np.asarray(time, float)
    return [int(np.count_nonzero(t >= a)) for a in at]


# ------------------------------------------------------------------------------------------- log-rank
@dataclass
class LogRankResult:
    """Test statistic, degrees of freedom and P-value of a log-rank test."""

    statistic: float
    p_value: float
    df: int
    groups: list[Any]


def log_rank_test(time: Any, event: Any, groups: Any) -> LogRankResult:
    """The log-rank (Mantel-Cox) test of equal survival across groups: R ``survdiff(rho = 0)``.

    >>> r = log_rank_test([1, 2, 3, 4, 5, 6], [1, 1, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1])
    >>> r.df, round(r.p_value, 3)
    (1, 0.025)
    """
    from lifelines.statistics import multivariate_logrank_test

    t, e = check_survival_data(time, event, "log_rank_test")
    g = np.asarray(groups).ravel()
    if g.size != t.size:
        raise InvalidInputError(f"groups has {g.size} values but time has {t.size}")
    levels = sorted(set(g.tolist()), key=str)
    if len(levels) < 2:
        raise InvalidInputError(f"log_rank_test needs at least two groups, got {levels}")
    res = multivariate_logrank_test(t, g, e)
    return LogRankResult(float(res.test_statistic), float(res.p_value), int(res.degrees_of_freedom), levels)


# ------------------------------------------------------------------------------------------- Cox tables
@dataclass
class CoxRow:
    """One covariate of a Cox model: hazard ratio with its CI, Wald P, coefficient and SE."""

    variable: str
    hr: float
    low: float
    high: float
    p: float
    coef: float
    se: float
    n: int
    n_events: int

    def formatted(self) -> str:
        """``5.65 (2.26-14.13)`` as in a paper's table."""
        return f"{self.hr:.2f} ({self.low:.2f}-{self.high:.2f})"


@dataclass
class CoxModel:
    """A fitted Cox model: rows, C-index, partial log-likelihood, and what is needed to predict survival."""

    rows: list[CoxRow]
    covariates: list[str]
    coef: np.ndarray
    means: np.ndarray
    baseline_times: np.ndarray
    baseline_survival: np.ndarray  # at the covariate means
    concordance: float
    log_likelihood: float
    n: int
    n_events: int
    extra: dict[str, Any] = field(default_factory=dict)

    def linear_predictor(self, X: Any) -> np.ndarray:
        """``(X - means) @ coef`` for an ``(n, p)`` array in the order of ``covariates``."""
        return (np.asarray(X, float) - self.means) @ self.coef

    def survival_at(self, X: Any, t: float) -> np.ndarray:
        """Predicted survival at time ``t`` (Breslow baseline, as lifelines)."""
        idx = max(int(np.searchsorted(self.baseline_times, t, side="right")) - 1, 0)
        s0 = self.baseline_survival[idx] if self.baseline_times[0] <= t else 1.0
        return s0 ** np.exp(self.linear_predictor(X))


def _frame(columns: dict[str, Any]) -> Any:
    import pandas as pd

    return pd.DataFrame({k: np.asarray(v, float) for k, v in columns.items()})


def cox_regression(time: Any, event: Any, covariates: dict[str, Any], *, penalizer: float = 0.0,
                   confidence: float = 0.95) -> CoxModel:
    """Fit a Cox proportional-hazards model (lifelines ``CoxPHFitter``, Efron ties like R ``coxph``).

    ``covariates`` maps a name to a numeric column; rows with a missing value in any column are dropped
    (complete-case) and the numbers used are recorded in every row.

    >>> rng = np.random.default_rng(0); x = rng.normal(size=200)
    >>> t = rng.exponential(np.exp(-x)); m = cox_regression(t, np.ones(200), {"x": x})
    >>> 0.7 < m.rows[0].coef < 1.3
    True
    """
    from lifelines import CoxPHFitter

    t, e = check_survival_data(time, event, "cox_regression")
    if not covariates:
        raise InvalidInputError("cox_regression needs at least one covariate")
    cols = {name: np.asarray(v, float).ravel() for name, v in covariates.items()}
    for name, v in cols.items():
        if v.size != t.size:
            raise InvalidInputError(f"covariate {name!r} has {v.size} values but time has {t.size}")
    keep = np.all([np.isfinite(v) for v in cols.values()], axis=0)
    if keep.sum() < 3 or not e[keep].any():
        raise InvalidInputError(f"cox_regression: only {int(keep.sum())} complete subjects / no event")
    df = _frame({**{k: v[keep] for k, v in cols.items()}, "_T": t[keep], "_E": e[keep]})
    cph = CoxPHFitter(penalizer=penalizer, alpha=1 - confidence)
    cph.fit(df, duration_col="_T", event_col="_E")
    s = cph.summary
    lo_col = [c for c in s.columns if c.startswith("exp(coef) lower")][0]
    hi_col = [c for c in s.columns if c.startswith("exp(coef) upper")][0]
    n, n_ev = int(keep.sum()), int(e[keep].sum())
    rows = [CoxRow(str(name), float(s.loc[name, "exp(coef)"]), float(s.loc[name, lo_col]),
                   float(s.loc[name, hi_col]), float(s.loc[name, "p"]), float(s.loc[name, "coef"]),
                   float(s.loc[name, "se(coef)"]), n, n_ev) for name in cols]
    base = cph.baseline_survival_
    lr = cph.log_likelihood_ratio_test()
    return CoxModel(rows, list(cols), s.loc[list(cols), "coef"].to_numpy(float),
                    np.asarray(cph._norm_mean.loc[list(cols)], float), base.index.to_numpy(float),
                    base.iloc[:, 0].to_numpy(float), float(cph.concordance_index_), float(cph.log_likelihood_),
                    n, n_ev, {"lr_statistic": float(lr.test_statistic), "lr_p": float(lr.p_value)})


def breslow_survival_at(linear_predictor: Any, time: Any, event: Any, horizon: float) -> float:
    """Breslow's baseline survival at a time horizon.

    Breslow's baseline survival at ``horizon`` for a fitted linear predictor (``lp = 0`` baseline):
    ``exp(-sum over event times u <= horizon of d(u) / sum_{t_j >= u} exp(lp_j))``.

    >>> round(breslow_survival_at(np.zeros(4), [1, 2, 3, 4], [1, 1, 1, 1], 2.5), 4)  # KM-like: exp(-(1/4 + 1/3))
    0.558
    """
    lp = np.asarray(linear_predictor, float)
    t, e = check_survival_data(time, event, "breslow_survival_at")
    r = np.exp(lp - lp.max())
    cumhaz = 0.0
    for u in np.unique(t[e & (t <= horizon)]):
        cumhaz += np.count_nonzero((t == u) & e) / (r[t >= u].sum() * np.exp(lp.max()))
    return float(np.exp(-cumhaz))


def cox_table(time: Any, event: Any, variables: dict[str, Any], *, multivariable: str = "significant",
              alpha: float = 0.05) -> list[dict[str, Any]]:
    """Univariable and multivariable Cox rows in the layout of a paper's Table 2.

    Each variable gets its own univariable model; the multivariable model holds every variable
    (``multivariable="all"``) or those with univariable ``P < alpha`` (``"significant"``, the layout of
    Cai et al.'s Table 2). Variables not entered show ``None``. Complete-case per model.
    """
    if multivariable not in ("all", "significant", "none"):
        raise InvalidInputError(f"multivariable must be 'all', 'significant' or 'none', got {multivariable!r}")
    uni = {name: cox_regression(time, event, {name: v}).rows[0] for name, v in variables.items()}
    if multivariable == "all":
        chosen = list(variables)
    elif multivariable == "significant":
        chosen = [name for name, r in uni.items() if r.p < alpha]
    else:
        chosen = []
    multi: dict[str, CoxRow] = {}
    if chosen:
        multi = {r.variable: r for r in cox_regression(time, event, {k: variables[k] for k in chosen}).rows}
    table = []
    for name in variables:
        u, m = uni[name], multi.get(name)
        table.append({"variable": name, "uni_hr": u.hr, "uni_low": u.low, "uni_high": u.high, "uni_p": u.p,
                      "uni_n": u.n, "multi_hr": m.hr if m else None, "multi_low": m.low if m else None,
                      "multi_high": m.high if m else None, "multi_p": m.p if m else None,
                      "multi_n": m.n if m else None})
    return table


# ------------------------------------------------------------------------------------------- time-dependent ROC
@dataclass
class TimeDependentROC:
    """Cumulative/dynamic ROC at ``horizon``: ``tpr[i], fpr[i]`` for "positive if marker > cutoffs[i]"."""

    horizon: float
    cutoffs: np.ndarray
    tpr: np.ndarray
    fpr: np.ndarray
    auc: float
    survival_at_horizon: float


def _km_at(t: np.ndarray, e: np.ndarray, horizon: float) -> float:
    """Kaplan-Meier survival at ``horizon`` (product over event times <= horizon), plain numpy."""
    if t.size == 0:
        return float("nan")
    s = 1.0
    for u in np.unique(t[e & (t <= horizon)]):
        at_risk = np.count_nonzero(t >= u)
        s *= 1.0 - np.count_nonzero((t == u) & e) / at_risk
    return s


def time_dependent_roc(marker: Any, time: Any, event: Any, horizon: float) -> TimeDependentROC:
    """Heagerty, Lumley & Pepe (2000) cumulative/dynamic ROC at ``horizon`` with the KM estimator.

    Follows R ``survivalROC(method = "KM")``: for each cut ``c`` over the sorted unique marker values,
    ``TP(c) = (1 - S(t | X > c)) P(X > c) / (1 - S(t))`` and ``FP(c) = S(t | X > c) P(X > c) / S(t)``,
    with both ends ``(1, 1)`` and ``(0, 0)`` added and the AUC by the trapezoid rule. A higher marker
    means a higher risk. (The KM estimator can give slightly non-monotone curves; this is R's behaviour.)

    >>> roc = time_dependent_roc([1, 2, 3, 4], [10, 8, 3, 1], [1, 1, 1, 1], horizon=5)
    >>> round(roc.auc, 3)
    1.0
    """
    x = np.asarray(marker, float).ravel()
    t, e = check_survival_data(time, event, "time_dependent_roc")
    if x.size != t.size:
        raise InvalidInputError(f"marker has {x.size} values but time has {t.size}")
    ok = np.isfinite(x)
    x, t, e = x[ok], t[ok], e[ok]
    s_all = _km_at(t, e, horizon)
    if not 0.0 < s_all < 1.0:
        raise InvalidInputError(f"time_dependent_roc: KM survival at horizon {horizon} is {s_all}; "
                                "need events before and subjects beyond the horizon")
    cuts = np.unique(x)
    tp, fp = np.empty(cuts.size), np.empty(cuts.size)
    for i, c in enumerate(cuts):
        above = x > c
        p_above = above.mean()
        if not above.any():
            tp[i] = fp[i] = 0.0
            continue
        s_c = _km_at(t[above], e[above], horizon)
        tp[i] = (1.0 - s_c) * p_above / (1.0 - s_all)
        fp[i] = s_c * p_above / s_all
    tpr, fpr = np.r_[1.0, tp, 0.0], np.r_[1.0, fp, 0.0]
    auc = float(np.sum(np.abs(np.diff(fpr)) * 0.5 * (tpr[1:] + tpr[:-1])))
    return TimeDependentROC(float(horizon), cuts, tpr[1:-1], fpr[1:-1], auc, float(s_all))


def youden_cutoff(roc: TimeDependentROC) -> tuple[float, float, float, float]:
    """The cut-off maximising Youden's J = TPR - FPR: ``(cutoff, J, tpr, fpr)`` (ties: the lowest cut)."""
    j = roc.tpr - roc.fpr
    i = int(np.argmax(j))
    return float(roc.cutoffs[i]), float(j[i]), float(roc.tpr[i]), float(roc.fpr[i])


# ------------------------------------------------------------------------------------------- calibration
@dataclass
class CalibrationCurve:
    """Grouped calibration at ``horizon``: mean predicted vs KM-observed survival per group."""

    horizon: float
    predicted: np.ndarray
    observed: np.ndarray
    observed_low: np.ndarray
    observed_high: np.ndarray
    n: np.ndarray
    corrected: np.ndarray | None = None  # bootstrap optimism-corrected observed (rms::calibrate)
    n_boot: int = 0
    cuts: np.ndarray | None = None

    def rows(self) -> list[dict[str, Any]]:
        """One table row per group."""
        out = []
        for i in range(self.predicted.size):
            row = {"group": i + 1, "n": int(self.n[i]), "predicted": float(self.predicted[i]),
                   "observed_km": float(self.observed[i]), "observed_low": float(self.observed_low[i]),
                   "observed_high": float(self.observed_high[i])}
            if self.corrected is not None:
                row["observed_corrected"] = float(self.corrected[i])
            out.append(row)
        return out


def _group_cuts(pred: np.ndarray, group_size: int) -> np.ndarray:
    n_groups = max(1, int(round(pred.size / max(group_size, 1))))
    return np.unique(np.quantile(pred, np.linspace(0, 1, n_groups + 1)[1:-1]))


def _grouped(pred: np.ndarray, t: np.ndarray, e: np.ndarray, cuts: np.ndarray, horizon: float):
    groups = np.searchsorted(cuts, pred, side="right")
    mean_pred, obs = np.full(cuts.size + 1, np.nan), np.full(cuts.size + 1, np.nan)
    for g in range(cuts.size + 1):
        sel = groups == g
        if sel.any():
            mean_pred[g] = pred[sel].mean()
            obs[g] = _km_at(t[sel], e[sel], horizon)
    return groups, mean_pred, obs


def calibration_at(predicted_survival: Any, time: Any, event: Any, horizon: float, *,
                   group_size: int | None = None, cuts: Any = None) -> CalibrationCurve:
    """Calibration of predicted survival at a time horizon.

    Calibration of predicted survival at ``horizon``: subjects grouped by prediction (about
    ``group_size`` each, default n/4, i.e. quartiles), KM-observed survival per group with its 95% CI.

    >>> rng = np.random.default_rng(1); t = rng.exponential(10, 400)
    >>> cal = calibration_at(np.full(400, np.exp(-0.5)), t, np.ones(400), 5.0, group_size=400)
    >>> bool(abs(cal.observed[0] - np.exp(-0.5)) < 0.06)
    True
    """
    p = np.asarray(predicted_survival, float).ravel()
    t, e = check_survival_data(time, event, "calibration_at")
    if p.size != t.size:
        raise InvalidInputError(f"predicted has {p.size} values but time has {t.size}")
    group_size = group_size or max(1, p.size // 4)
    cuts = _group_cuts(p, group_size) if cuts is None else np.asarray(cuts, float)
    groups, mean_pred, obs = _grouped(p, t, e, cuts, horizon)
    low, high, n = np.full_like(obs, np.nan), np.full_like(obs, np.nan), np.zeros(obs.size, int)
    for g in range(obs.size):
        sel = groups == g
        n[g] = int(sel.sum())
        if sel.sum() > 1:
            km = kaplan_meier(t[sel], e[sel])
            low[g], high[g] = km.ci_at(horizon)
    keep = n > 0
    return CalibrationCurve(float(horizon), mean_pred[keep], obs[keep], low[keep], high[keep], n[keep], cuts=cuts)


def bootstrap_calibration(fit_predict: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
                          time: Any, event: Any, horizon: float, *, group_size: int | None = None,
                          n_boot: int = 200, seed: int = 0) -> CalibrationCurve:
    """Bootstrap optimism-corrected calibration at a time horizon.

    Apparent calibration plus a bootstrap optimism correction, after Harrell's ``rms::calibrate``
    (``cmethod = "KM"``, ``method = "boot"``).

    ``fit_predict(train_idx, eval_idx)`` refits the model on the subjects ``train_idx`` (with repeats)
    and returns ``(survival at horizon for train_idx, survival at horizon for eval_idx)``. Groups are cut
    on the apparent predictions; in each resample the optimism of a group is
    ``(KM - mean predicted) in the resample - (KM - mean predicted) on the original subjects``, and the
    corrected observed survival is the apparent KM minus the mean optimism.
    """
    t, e = check_survival_data(time, event, "bootstrap_calibration")
    n = t.size
    everyone = np.arange(n)
    apparent_pred, _ = fit_predict(everyone, everyone)
    cal = calibration_at(apparent_pred, t, e, horizon, group_size=group_size)
    cuts = cal.cuts
    rng = np.random.default_rng(seed)
    optimism = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        if not e[idx].any():
            continue
        try:
            p_boot, p_orig = fit_predict(idx, everyone)
        except Exception:  # noqa: BLE001 - a resample where the model cannot be fitted is skipped
            continue
        _, mp_b, ob_b = _grouped(p_boot, t[idx], e[idx], cuts, horizon)
        _, mp_o, ob_o = _grouped(p_orig, t, e, cuts, horizon)
        optimism.append((ob_b - mp_b) - (ob_o - mp_o))
    full_groups = np.searchsorted(cuts, apparent_pred, side="right")
    present = np.array([np.any(full_groups == g) for g in range(cuts.size + 1)])
    if optimism:
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                mean_opt = np.nanmean(np.vstack(optimism), axis=0)[present]
        cal.corrected = np.clip(cal.observed - np.nan_to_num(mean_opt), 0.0, 1.0)
    cal.n_boot = len(optimism)
    return cal
