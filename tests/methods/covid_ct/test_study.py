"""The case-control study: Tables 1-3 checked against scipy on the same numbers, the report, CTs quantified."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from biomedai.io import Image, write_image
from biomedai.methods.covid_ct.config import CovidCTConfig
from biomedai.methods.covid_ct.pipeline import CovidCTMethod
from biomedai.methods.covid_ct.study import simulated_cohort, study_tables

from .synthetic_ct import synthetic_chest


@pytest.fixture(scope="module")
def cohort():
    return simulated_cohort(0)


def test_tables_match_scipy(cohort):
    tables = study_tables(cohort, CovidCTConfig(fdr=True))
    covid, other = cohort[cohort.group == "COVID-19"], cohort[cohort.group != "COVID-19"]
    ggo = tables["table2_signs"][0]
    table = [[covid.ground_glass.sum(), len(covid) - covid.ground_glass.sum()],
             [other.ground_glass.sum(), len(other) - other.ground_glass.sum()]]
    assert ggo["p"] == pytest.approx(st.chi2_contingency(np.array(table).T, correction=False).pvalue)
    effusion = next(r for r in tables["table2_signs"] if r["variable"] == "Mediastinal lymphadenopathy")
    assert effusion["test"] == "Fisher's exact"
    rul = tables["table3_lesions"][0]
    assert rul["test"] == "Mann-Whitney U"     # log-normal volumes are not normal
    assert rul["p"] == pytest.approx(st.mannwhitneyu(covid["right upper lobe lesion_ml"],
                                                     other["right upper lobe lesion_ml"]).pvalue)
    age = next(r for r in tables["table1_clinical"] if r["variable"] == "age")
    assert age["test"] == "Student t" and " ± " in age["COVID-19 (N=52)"]
    assert all("p_bh" in r for r in tables["table3_lesions"])
    assert {r["sign"] for r in tables["reader_agreement"]} >= {"Ground glass opacities"}


def test_demo_is_labelled_simulated_and_writes_the_report(tmp_path):
    result = CovidCTMethod().demo(tmp_path)
    assert "SIMULATED" in result.metrics["data"]
    html = (tmp_path / "report.html").read_text()
    assert "SIMULATED" in html and "Table 3" in html and (tmp_path / "plots_lesion_pct.png").exists()
    auc = result.metrics["features_logistic_auc"]
    assert 0 <= auc["auc_ci95"][0] <= auc["auc"] <= auc["auc_ci95"][1] <= 1


def test_study_quantifies_the_cts_it_names(tmp_path):
    rows = []
    for k in range(6):
        hu, truth = synthetic_chest(shape=(24, 64, 96), seed=k)
        zz, yy, xx = np.mgrid[:24, :64, :96]
        radius = 5.0 + 2.0 * k
        blob = ((zz - 10) * 2.5) ** 2 + ((yy - 32) * 1.5) ** 2 + ((xx - 29) * 1.5) ** 2 <= radius ** 2
        hu[blob & (truth == 1)] = -400.0
        write_image(Image(hu, spacing=(2.5, 1.5, 1.5), spacing_unit="mm"), tmp_path / f"ct{k}.nii.gz")
        rows.append({"patient": f"p{k}", "group": "COVID-19" if k % 2 else "other", "ct": f"ct{k}.nii.gz",
                     "ground_glass": int(k % 3 == 0)})
    pd.DataFrame(rows).to_csv(tmp_path / "cases.csv", index=False)
    result = CovidCTMethod(CovidCTConfig(cv_folds=2)).evaluate(tmp_path, tmp_path / "out")
    data = pd.read_csv(tmp_path / "out" / "cases_quantified.csv")
    assert data["right lung lesion_ml"].is_monotonic_increasing
    assert (data["left lung lesion_ml"] < 0.2).all()
    assert "table3_lesions" in result.metrics["tables"]
    assert json.loads((tmp_path / "out" / "result.json").read_text())["action"] == "evaluate"
