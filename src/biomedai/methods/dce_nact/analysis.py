"""Cohort-level steps of spec 4.9 on the feature tables: univariate comparisons + box plots (Figs. 3-6), the six
model sets of Table 3 (SVM-RFE + RBF-SVM chosen on development only, tested once), evaluation (AUC with DeLong
CI, Youden point, sens/spec/PPV/NPV, DeLong p against the reference model, ROC overlay) and the cohort table."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.stats.baseline_tests import anova_test, chi_square_test, fisher_test, mann_whitney_test
from biomedai.stats.roc import auc_with_ci, binary_metrics_at, delong_test, roc_curve_points, youden_threshold
from biomedai.utils import read_csv_rows, write_csv_atomic, write_json_atomic

from .cohort import FEATURE_SETS, read_clinical
from .config import MODEL_SETS, DceNactConfig
from .model import fit_final, grid_search_cv
from .report import box_plot, roc_overlay

logger = logging.getLogger(__name__)
SUBTYPES = ("luminal_A", "luminal_B", "HER2", "basal_like")
TABLE3_NAMES = {"baseline": "Baseline image", "followup": "Follow-up image", "delta": "DeltaRAD",
                "jacobian": "Jacobian map", "fusion": "Feature fusion", "fusion+subtype": "Feature + MS"}
#: univariate comparisons of spec 4.5: (label, table, column)
UNIVARIATE = (("mean Jacobian in tumour", "patients", "jacobian_mean_in_tumour"),
              ("Jacobian LDHGLE", "jacobian", "original_gldm_LargeDependenceHighGrayLevelEmphasis"),
              ("relative volume change", "patients", "relative_volume_change"),
              ("deltaRAD energy", "delta", "original_firstorder_Energy"),
              ("deltaRAD GLCM autocorrelation", "delta", "original_glcm_Autocorrelation"))


def read_table(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise InvalidInputError("feature table not found; run the 'extract' step first", path)
    return read_csv_rows(path)


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def design_matrix(tables: dict[str, list[dict[str, Any]]], model_set: str) -> tuple[np.ndarray, list[str]]:
    """Feature matrix of one model set (rows in the tables' patient order); fusion = concatenation, subtype
    one-hot (4 levels, spec 4.4 step 8 [Decision])."""
    if model_set not in MODEL_SETS:
        raise InvalidInputError(f"unknown model set {model_set!r} (one of {', '.join(MODEL_SETS)})")
    parts = list(FEATURE_SETS) if model_set.startswith("fusion") else [model_set]
    cols, names = [], []
    for part in parts:
        rows = tables[part]
        feats = [k for k in rows[0] if k.startswith("original_")]
        cols.append(np.array([[_num(r[k]) for k in feats] for r in rows]))
        names += [f"{part}__{k}" for k in feats]
    if model_set == "fusion+subtype":
        sub = [r["subtype"] for r in tables["baseline"]]
        cols.append(np.array([[float(s == level) for level in SUBTYPES] for s in sub]))
        names += [f"subtype__{level}" for level in SUBTYPES]
    return np.hstack(cols), names


def clean_columns(x_dev: np.ndarray, x_test: np.ndarray, names: list[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Drop columns non-finite in any development row or constant there; test NaNs get the development median."""
    keep = np.all(np.isfinite(x_dev), axis=0) & (np.nanstd(x_dev, axis=0) > 0)
    x_dev, x_test = x_dev[:, keep], x_test[:, keep].copy()
    med = np.median(x_dev, axis=0)
    bad = ~np.isfinite(x_test)
    if bad.any():
        logger.warning("%d non-finite test values replaced by development medians", int(bad.sum()))
        x_test[bad] = np.broadcast_to(med, x_test.shape)[bad]
    return x_dev, x_test, [n for n, k in zip(names, keep) if k]


def fit_model_set(tables, model_set: str, config: DceNactConfig, out: Path) -> dict[str, Any]:
    """Grid search on development rows, refit, one pass over the test rows; writes ``model_<set>.json``."""
    x, names = design_matrix(tables, model_set)
    cohort = np.array([r["cohort"] for r in tables["baseline"]])
    y = np.array([int(r["responder"]) for r in tables["baseline"]]).astype(bool)
    dev, test = cohort == "dev", cohort == "test"
    if dev.sum() < 4 or test.sum() < 2:
        raise InvalidInputError(f"need development and test patients, got {int(dev.sum())} and {int(test.sum())}")
    x_dev, x_test, names = clean_columns(x[dev], x[test], names)
    search = grid_search_cv(x_dev, y[dev], k_grid=config.k_grid, c_grid=tuple(2.0 ** c for c in config.c_grid_log2),
                            gamma_grid=tuple(2.0 ** g for g in config.gamma_grid_log2), folds=config.cv_folds,
                            seed=config.seed)
    model = fit_final(x_dev, y[dev], names, search, seed=config.seed)
    model.threshold = youden_threshold(y[dev], search.cv_scores)[0]
    model.info = {"model_set": model_set, "k": search.k, "C": search.c, "gamma": search.gamma,
                  "cv_auc_development": search.cv_auc, "n_development": int(dev.sum()),
                  "threshold_source": "Youden on development CV decision values"}
    write_json_atomic(out / f"model_{model_set.replace('+', '_')}.json", model.to_dict())
    idx = [names.index(f) for f in model.features]
    test_scores = model.decision(x_test[:, idx])
    return {"model": model, "search": search, "y_test": y[test], "test_scores": test_scores,
            "test_ids": [r["patient_id"] for r, t in zip(tables["baseline"], test) if t]}


def evaluate_sets(fits: dict[str, dict[str, Any]], config: DceNactConfig, out: Path, data_note: str
                  ) -> list[dict[str, Any]]:
    """Table 3 rows (test set) and the ROC overlay."""
    ref = config.reference_model if config.reference_model in fits else None
    rows, curves = [], {}
    for name, f in fits.items():
        y, s = f["y_test"], f["test_scores"]
        auc = auc_with_ci(y, s)
        dev_thr = f["model"].threshold
        at_dev = binary_metrics_at(y, s, dev_thr)
        test_thr, _ = youden_threshold(y, s)
        at_test = binary_metrics_at(y, s, test_thr)
        use = at_dev if config.threshold_source == "development_cv" else at_test
        p = delong_test(y, s, fits[ref]["test_scores"])[1] if ref and name != ref else float("nan")
        rows.append({"images": TABLE3_NAMES[name], "model_set": name, "auc": round(auc.auc, 3),
                     "ci95_halfwidth": round(1.96 * auc.se, 3), "se": round(auc.se, 3),
                     "ci_low": round(auc.ci_low, 3), "ci_high": round(auc.ci_high, 3),
                     "delong_p_vs_reference": None if np.isnan(p) else round(p, 3),
                     **{k: round(v, 3) if isinstance(v, float) else v for k, v in use.items()},
                     "test_roc_youden_sens": round(at_test["sensitivity"], 3),
                     "test_roc_youden_spec": round(at_test["specificity"], 3),
                     "k_features": f["search"].k, "C": f["search"].c, "gamma": f["search"].gamma,
                     "cv_auc_development": round(f["search"].cv_auc, 3), "n_test": int(y.size),
                     "n_test_responders": int(y.sum()), "data": data_note})
        fpr, tpr, _ = roc_curve_points(y, s)
        curves[TABLE3_NAMES[name]] = (fpr, tpr, auc.auc)
    roc_overlay(curves, out / "roc_overlay.png", f"Test set ROC ({data_note})")
    return rows


def univariate(tables: dict[str, list[dict[str, Any]]], out: Path) -> list[dict[str, Any]]:
    """Mann-Whitney U between responders and non-responders (spec 4.5 [Decision]) with box plots; Wilcoxon
    signed-rank baseline -> follow-up within each group for GLCM autocorrelation."""
    from scipy.stats import wilcoxon

    rows = []
    for label, table, column in UNIVARIATE:
        t = tables[table]
        if column not in t[0]:
            continue
        v = np.array([_num(r[column]) for r in t])
        resp = np.array([int(r["responder"]) for r in t]).astype(bool)
        ok = np.isfinite(v)
        res = mann_whitney_test(v[ok], np.where(resp[ok], "responder", "non-responder"))
        png = box_plot(v[ok], resp[ok], label, res.p_value, out / f"box_{column}.png")
        rows.append({"comparison": label, "test": res.test, "p": res.p_value,
                     "median_responders": float(np.median(v[ok & resp])),
                     "median_nonresponders": float(np.median(v[ok & ~resp])), "median_baseline": None,
                     "median_followup": None, "figure": png.name})
    col = "original_glcm_Autocorrelation"
    if col in tables["baseline"][0]:
        b = np.array([_num(r[col]) for r in tables["baseline"]])
        f = np.array([_num(r[col]) for r in tables["followup"]])
        resp = np.array([int(r["responder"]) for r in tables["baseline"]]).astype(bool)
        for group, sel in (("responders", resp), ("non-responders", ~resp)):
            ok = sel & np.isfinite(b) & np.isfinite(f)
            if ok.sum() >= 2:
                rows.append({"comparison": f"GLCM autocorrelation baseline -> follow-up, {group}",
                             "test": "Wilcoxon signed-rank", "p": float(wilcoxon(b[ok], f[ok]).pvalue),
                             "median_responders": None, "median_nonresponders": None,
                             "median_baseline": float(np.median(b[ok])), "median_followup": float(np.median(f[ok])),
                             "figure": ""})
    write_csv_atomic(out / "univariate.csv", rows)
    return rows


def cohort_table(clinical_path: Path, out: Path) -> list[dict[str, Any]]:
    """Table 2: development vs testing; age by ANOVA, menopausal status / family history / subtype by
    chi-square (Yates on 2x2), Miller-Payne grade by Fisher's test."""
    rows_in = read_clinical(clinical_path).rows
    group = [r["cohort"] for r in rows_in]
    out_rows = [{"variable": "Number", "all": len(rows_in), "dev": group.count("dev"), "test": group.count("test"),
                 "p": "", "test_name": ""}]
    ages = np.array([_num(r.get("age")) for r in rows_in])
    a = anova_test(ages, group)
    g = np.array(group)
    out_rows.append({"variable": "Age, mean (range)", "all": f"{np.nanmean(ages):.0f} ({np.nanmin(ages):.0f}-{np.nanmax(ages):.0f})",
                     **{k: f"{np.nanmean(ages[g == k]):.0f} ({np.nanmin(ages[g == k]):.0f}-{np.nanmax(ages[g == k]):.0f})"
                        for k in ("dev", "test")}, "p": round(a.p_value, 3), "test_name": a.test})
    for var, tester in (("menopausal", chi_square_test), ("family_history", chi_square_test),
                        ("MP_grade", fisher_test), ("subtype", chi_square_test)):
        values = [str(r.get(var, "")) for r in rows_in]
        res = tester(values, group)
        out_rows.append({"variable": var, "all": "", "dev": "", "test": "", "p": round(res.p_value, 3),
                         "test_name": res.test})
        for level in sorted(set(values)):
            n = [sum(1 for v, gg in zip(values, group) if v == level and (k == "all" or gg == k))
                 for k in ("all", "dev", "test")]
            tot = [len(rows_in), group.count("dev"), group.count("test")]
            out_rows.append({"variable": f"  {level}", **{k: f"{c} ({100 * c / max(t, 1):.0f}%)"
                                                         for k, c, t in zip(("all", "dev", "test"), n, tot)},
                             "p": "", "test_name": ""})
    write_csv_atomic(out / "cohort_table.csv", out_rows)
    return out_rows


def load_tables(images_dir: Path) -> dict[str, list[dict[str, Any]]]:
    tables = {name: read_table(images_dir / f"features_{name}.csv") for name in FEATURE_SETS}
    tables["patients"] = read_table(images_dir / "patients.csv")
    ids = [[r["patient_id"] for r in t] for t in tables.values()]
    if any(i != ids[0] for i in ids):
        raise InvalidInputError("the feature tables list different patients; rerun 'extract'", images_dir)
    return tables


def run_analysis(clinical: Path, images_dir: Path, out: Path, config: DceNactConfig, *, data_note: str,
                 model_sets: tuple[str, ...] = MODEL_SETS) -> dict[str, Any]:
    """Univariate, models, Table 3 and the cohort table into ``out``; returns their rows."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tables = load_tables(Path(images_dir))
    uni = univariate(tables, out)
    fits = {m: fit_model_set(tables, m, config, out) for m in model_sets}
    table3 = evaluate_sets(fits, config, out, data_note)
    write_csv_atomic(out / "table3.csv", table3)
    cohort = cohort_table(Path(clinical), out)
    preds = [{"patient_id": pid, "model_set": m, "decision": float(s), "responder": int(y)}
             for m, f in fits.items() for pid, s, y in zip(f["test_ids"], f["test_scores"], f["y_test"])]
    write_csv_atomic(out / "test_predictions.csv", preds)
    return {"table3": table3, "univariate": uni, "cohort_table": cohort}
