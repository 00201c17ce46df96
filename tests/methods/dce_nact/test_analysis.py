"""Cohort-level analysis on feature tables with a planted signal (fast; no images)."""
from __future__ import annotations

import csv

import numpy as np
import pytest

from biomedai.methods.dce_nact.analysis import run_analysis
from biomedai.methods.dce_nact.config import DceNactConfig
from biomedai.utils import write_csv_atomic

FEATS = ["original_firstorder_Energy", "original_firstorder_Mean", "original_glcm_Autocorrelation",
         "original_gldm_LargeDependenceHighGrayLevelEmphasis", "original_glrlm_RunEntropy"]


def _cohort(tmp_path, n=70, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.4
    subtypes = rng.choice(["luminal_A", "luminal_B", "HER2", "basal_like"], n)
    ids = [f"P{i:03d}" for i in range(n)]
    cohort = np.where(np.arange(n) < 40, "dev", "test")
    clinical = [{"patient_id": i, "cohort": c, "MP_grade": int(rng.choice([4, 5]) if r else rng.choice([1, 2, 3])),
                 "subtype": s, "age": int(rng.integers(30, 70)), "menopausal": rng.choice(["pre", "post"]),
                 "family_history": rng.choice(["yes", "no"])}
                for i, c, r, s in zip(ids, cohort, y, subtypes)]
    write_csv_atomic(tmp_path / "clinical.csv", clinical)
    images = tmp_path / "images"
    base = [{"patient_id": i, "cohort": c, "responder": int(r), "MP_grade": cl["MP_grade"], "subtype": s}
            for i, c, r, s, cl in zip(ids, cohort, y, subtypes, clinical)]
    values = {name: rng.normal(10, 1, (n, len(FEATS))) for name in ("baseline", "followup", "jacobian")}
    values["jacobian"][:, 1] -= 1.5 * y                 # responders shrink more: lower mean J
    values["followup"][:, 0] = values["baseline"][:, 0] * np.where(y, 0.5, 0.9) + rng.normal(0, 0.3, n)
    values["delta"] = (values["baseline"] - values["followup"]) / values["baseline"]
    for name, v in values.items():
        write_csv_atomic(images / f"features_{name}.csv", [dict(b, **dict(zip(FEATS, row))) for b, row in zip(base, v)])
    patients = [dict(b, jacobian_mean_in_tumour=float(j), relative_volume_change=float(rng.normal(0.3, 0.1)))
                for b, j in zip(base, values["jacobian"][:, 1] / 10)]
    write_csv_atomic(images / "patients.csv", patients)
    return tmp_path, y


def test_table3_univariate_and_cohort_table(tmp_path):
    folder, y = _cohort(tmp_path)
    cfg = DceNactConfig(cv_folds=5, k_grid=(1, 2), c_grid_log2=(-1, 3), gamma_grid_log2=(-5, -1))
    res = run_analysis(folder / "clinical.csv", folder / "images", folder / "out", cfg, data_note="SIMULATED test")
    t3 = {r["model_set"]: r for r in res["table3"]}
    assert list(t3) == ["baseline", "followup", "jacobian", "delta", "fusion", "fusion+subtype"]
    assert t3["jacobian"]["auc"] > 0.8 and t3["delta"]["auc"] > 0.8      # the planted signals
    assert t3["baseline"]["auc"] < 0.8                                     # no signal planted there
    assert t3["fusion+subtype"]["delong_p_vs_reference"] is None
    assert 0 <= t3["baseline"]["delong_p_vs_reference"] <= 1
    r = t3["jacobian"]
    assert r["TP"] + r["FN"] == int(y[40:].sum()) and r["TN"] + r["FP"] == int((~y[40:]).sum())
    assert r["ci_low"] <= r["auc"] <= r["ci_high"]
    uni = {u["comparison"]: u for u in res["univariate"]}
    assert uni["mean Jacobian in tumour"]["p"] < 1e-3
    assert uni["mean Jacobian in tumour"]["median_responders"] < uni["mean Jacobian in tumour"]["median_nonresponders"]
    for name in ("table3.csv", "roc_overlay.png", "cohort_table.csv", "univariate.csv", "model_fusion_subtype.json",
                 "test_predictions.csv"):
        assert (folder / "out" / name).is_file(), name
    with open(folder / "out" / "cohort_table.csv", encoding="utf-8") as fh:
        tests = {row["variable"]: row["test_name"] for row in csv.DictReader(fh)}
    assert tests["MP_grade"].startswith("Fisher") and tests["Age, mean (range)"] == "ANOVA"
    assert tests["menopausal"] == "chi-square (Yates)"


def test_unknown_model_set():
    from biomedai.errors import InvalidInputError
    from biomedai.methods.dce_nact.analysis import design_matrix

    with pytest.raises(InvalidInputError, match="unknown model set"):
        design_matrix({}, "habitats")
