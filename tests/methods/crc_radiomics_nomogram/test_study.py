"""The pipeline steps on a small cohort with a known answer (fast), the CLI verbs, and extraction on phantoms."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.methods.crc_radiomics_nomogram.clinical import write_clinical_csv
from biomedai.methods.crc_radiomics_nomogram.config import CrcNomogramConfig
from biomedai.methods.crc_radiomics_nomogram.pipeline import CrcRadiomicsNomogram
from biomedai.methods.crc_radiomics_nomogram.study import NomogramStudy

FAST = {"calibration_boot": 5, "cindex_boot": 20, "n_lambda": 15, "n_folds": 5}


def _feature_cohort(folder, n_primary=90, n_validation=60, seed=0):
    """Clinical CSV + features.csv: two of 20 features drive the hazard (plus TNM), the rest are noise."""
    rng = np.random.default_rng(seed)
    n = n_primary + n_validation
    F = rng.normal(size=(n, 20))
    tnm = rng.integers(1, 5, n)
    lp = 1.0 * F[:, 0] - 0.8 * F[:, 1] + 0.4 * (tnm - 2.5)
    t_event = rng.exponential(60 / np.log(2) * np.exp(-lp))
    t_cens = rng.uniform(24, 120, n)
    rows, feats = [], []
    names = [f"original_firstorder_F{j:02d}" for j in range(20)]
    for i in range(n):
        rows.append({"id": f"s{i}", "cohort": "primary" if i < n_primary else "validation",
                     "time": round(float(min(t_event[i], t_cens[i])), 2), "event": int(t_event[i] <= t_cens[i]),
                     "age": int(rng.integers(40, 85)), "sex": "MF"[i % 2], "cea": ["low", "high"][i % 3 == 0],
                     "grade": ["high", "moderate", "low", ""][i % 4], "tnm": int(tnm[i]), "ln": ["no", "yes"][int(tnm[i] > 2)]})
        feats.append({"id": f"s{i}", **{nm: (200 if j < 2 else 100) + 10 * F[i, j] for j, nm in enumerate(names)}})
    write_clinical_csv(folder / "clinical.csv", rows)
    write_clinical_csv(folder / "features.csv", feats)
    return names


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    data = tmp_path_factory.mktemp("cohort")
    names = _feature_cohort(data)
    out = tmp_path_factory.mktemp("run")
    wf = NomogramStudy(data, out, CrcNomogramConfig(**FAST))
    wf.run(extract=False)
    return wf, names


def test_pipeline_selects_the_true_features_and_separates(finished):
    wf, names = finished
    selected = wf.metrics["selected_features"]
    assert names[0] in selected and names[1] in selected
    assert selected[names[0]] > 0 > selected[names[1]]
    assert wf.metrics["n_features_kept"] == 16  # floor(0.8 * 20)
    assert wf.metrics["cindex_nomogram_validation"] > 0.65
    assert wf.metrics["logrank_p_validation"] < 0.05 and wf.metrics["km_hr_validation"] > 1.5
    survival = json.loads((wf.out / "survival.json").read_text())
    assert survival["validation"]["dfs_60_low"] > survival["validation"]["dfs_60_high"]


def test_pipeline_writes_every_table_figure_and_the_model(finished):
    wf, _ = finished
    for name in ("features_z.csv", "lasso_coefficients.csv", "lasso_path.png", "lasso_cv.png", "roc_cutoff.png",
                 "km_primary.png", "km_validation.png", "waterfall_validation.png", "cox_table.csv",
                 "baseline_table.csv", "nomogram.png", "nomogram_points.csv", "calibration_36.png",
                 "calibration_60.png", "calibration.csv", "td_roc_validation.png", "evaluation.json", "model.json"):
        assert (wf.out / name).is_file(), name
    model = json.loads((wf.out / "model.json").read_text())
    assert model["cox"]["covariates"] == ["radscore", "tnm"] and np.isfinite(model["cutoff"])
    with open(wf.out / "cox_table.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["cohort"] for r in rows} == {"primary", "validation"}
    assert rows[0]["variable"] == "Rad-score (high vs low)" and rows[0]["multivariable HR (95% CI)"] != "-"
    grade = [r for r in rows if r["variable"] == "Differentiation grade" and r["cohort"] == "primary"][0]
    assert int(grade["n"]) < 90  # complete case: a quarter of the grades are missing


def test_saved_model_scores_new_patients(finished, tmp_path):
    wf, _ = finished
    res = CrcRadiomicsNomogram(CrcNomogramConfig(**FAST)).predict([wf.data], tmp_path, weights=wf.out / "model.json")
    with open(tmp_path / "predictions.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 150 and {"radscore", "risk_group", "predicted_dfs_60"} <= set(rows[0])
    with open(wf.out / "radscore.csv") as fh:
        ref = {r["id"]: float(r["radscore"]) for r in csv.DictReader(fh)}
    assert all(abs(float(r["radscore"]) - ref[r["id"]]) < 1e-5 for r in rows)
    assert (tmp_path / "report.html").is_file() and res.metrics["n_patients"] == 150


def test_cli_verbs_step_by_step_and_preset(tmp_path):
    data = tmp_path / "data"
    _feature_cohort(data, 60, 30, seed=1)
    method = CrcRadiomicsNomogram()
    parser = method.tool_parser("crc")
    out = tmp_path / "out"
    sets = [f"--set={k}={v}" for k, v in FAST.items()]
    for step in ("preprocess", "select", "cutoff", "survival", "cox", "baseline", "nomogram", "evaluate"):
        assert method.run_tool(parser.parse_args([step, str(data), "-o", str(out), *sets])) == 0
    assert (out / "nomogram.png").is_file() and (out / "evaluation.json").is_file()
    # the paper's preset needs its five features: these synthetic ones are not there
    with pytest.raises(InvalidInputError, match="lacks the model's feature"):
        method.run_tool(parser.parse_args(["score", str(data), "-o", str(tmp_path / "p"), "--preset", "cai2020"]))
    with pytest.raises(InvalidInputError, match="no features.csv"):
        NomogramStudy(_empty_cohort(tmp_path), tmp_path / "o3").preprocess()


def _empty_cohort(tmp_path):
    folder = tmp_path / "nofeatures"
    write_clinical_csv(folder / "clinical.csv", [{"id": "a", "cohort": "primary", "time": 3, "event": 1}])
    return folder


def test_extract_on_phantoms_and_the_preset(tmp_path):
    from biomedai.methods.crc_radiomics_nomogram.synthetic import simulate_cohort

    data = tmp_path / "sim"
    simulate_cohort(data, n_primary=6, n_validation=0, seed=2, shape=(16, 32, 32))
    wf = NomogramStudy(data, tmp_path / "out", preset="cai2020")
    wf.extract()
    with open(wf.out / "features.csv") as fh:
        header = next(csv.reader(fh))
    assert len(header) == 108 and "original_glszm_SizeZoneNonUniformityNormalized" in header
    wf.score()
    with open(wf.out / "radscore.csv") as fh:
        scores = [float(r["radscore"]) for r in csv.DictReader(fh)]
    assert len(scores) == 6 and abs(np.mean(scores)) < 1e-5  # z-scored on the cohort itself: mean 0
    (data / "images" / "sim0003.nii.gz").unlink()
    with pytest.raises(InvalidInputError, match="line 5: no image for id 'sim0003'"):
        NomogramStudy(data, tmp_path / "out2").extract()


def test_radiogenomics_finds_a_planted_correlation(finished, tmp_path):
    wf, names = finished
    _, X = wf.raw_features
    rng = np.random.default_rng(5)
    first = wf.model.features[0]
    idx = list(range(53))  # the paper's 53 patients with RNA-seq
    x = X[idx, names.index(first)] if first in names else X[idx, 0]
    rows = [{"id": wf.cohort.ids[i], "HALLMARK_GLYCOLYSIS": float(x[k] + rng.normal(0, 2)),
             "HALLMARK_NOISE": float(rng.normal())} for k, i in enumerate(idx)]
    scores = write_clinical_csv(tmp_path / "hallmarks.csv", rows)
    out = wf.radiogenomics(scores)
    with open(out) as fh:
        table = list(csv.DictReader(fh))
    glyco = [r for r in table if r["hallmark"] == "HALLMARK_GLYCOLYSIS" and r["feature"] == first][0]
    assert float(glyco["pearson_r"]) > 0.7 and float(glyco["p"]) < 1e-6 and glyco["n"] == "53"
    assert "HALLMARK_GLYCOLYSIS" in wf.metrics["radiogenomics_significant_hallmarks"]
    assert (wf.out / "radiogenomics.png").is_file()
    with pytest.raises(InvalidInputError, match="not found"):
        wf.radiogenomics(tmp_path / "missing.csv")


def test_one_patient_is_scored_from_a_features_row(finished, tmp_path):
    """A fitted nomogram scores a single patient's features (CSV row or JSON), as in the cohort run."""
    wf, names = finished
    with open(wf.data / "features.csv") as fh:
        feats = {r["id"]: r for r in csv.DictReader(fh)}
    with open(wf.out / "radscore.csv") as fh:
        ref = {r["id"]: float(r["radscore"]) for r in csv.DictReader(fh)}
    patient = dict(feats["s7"], tnm="III")
    (tmp_path / "one.json").write_text(json.dumps(patient))
    method = CrcRadiomicsNomogram(CrcNomogramConfig(**FAST))
    res = method.predict([tmp_path / "one.json"], tmp_path / "out", weights=wf.out / "model.json")
    assert res.metrics["n_patients"] == 1
    assert res.metrics["radscore"] == pytest.approx(ref["s7"], abs=1e-5)
    assert res.metrics["risk_group"] in ("high", "low") and 0 < res.metrics["predicted_dfs_60"] < 1
    write_clinical_csv(tmp_path / "one.csv", [{k: v for k, v in feats["s8"].items()}])
    res = method.predict([tmp_path / "one.csv"], tmp_path / "out2", weights=wf.out / "model.json")
    assert res.metrics["radscore"] == pytest.approx(ref["s8"], abs=1e-5) and "predicted_dfs_60" in res.metrics
    assert res.metrics["predicted_dfs_60"] is None  # no TNM given: no nomogram prediction, not a guess
    with pytest.raises(InvalidInputError, match="fitted model"):  # the preset needs a cohort to z-score
        method.predict([tmp_path / "one.json"], tmp_path / "out3")


def test_an_image_given_to_the_nomogram_is_one_line_exit_2(tmp_path, capsys):
    from biomedai.cli import main

    image = tmp_path / "scan.nii.gz"
    image.write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(256)) * 8)
    assert main(["predict", "crc_radiomics_nomogram", str(image), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "scan.nii.gz" in err and "binary" in err
    (tmp_path / "cohort").mkdir()
    (tmp_path / "cohort" / "clinical.csv").write_bytes(b"\xff\xfe\x00i\x00d")
    assert main(["predict", "crc_radiomics_nomogram", str(tmp_path / "cohort"), "-o", str(tmp_path / "o")]) == 2
    assert "clinical.csv" in capsys.readouterr().err


def test_a_bad_hallmark_table_gets_one_clear_error(finished, tmp_path):
    """User-supplied score tables: not UTF-8, or without an id column, is one error naming the file."""
    wf, _ = finished
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(f"id,Angiogen\xe8se\n{wf.cohort.ids[0]},0.5\n".encode("latin-1"))
    with pytest.raises(InvalidInputError, match="not UTF-8") as info:
        wf.radiogenomics(latin1)
    assert "latin1.csv" in str(info.value)
    no_id = tmp_path / "no_id.csv"
    no_id.write_text("patient,HALLMARK_X\np1,0.5\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="lacks the column"):
        wf.radiogenomics(no_id)
