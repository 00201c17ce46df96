"""The case-control study of Dou et al.: quantify every CT, then Tables 1-3, plots and an HTML report.

``cases.csv`` (one row per patient): ``patient``, ``group`` (two values, the first one met is the
case group), optionally ``ct`` (a CT path relative to the folder, quantified here), the 8 signs of
:data:`SIGNS` as 0/1 (and ``<sign>_reader2`` for Cohen's kappa between readers), precomputed
``<region> lesion_ml`` / ``<region> lesion_pct`` columns, and any clinical columns (Table 1).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.methods.base import Method, RunResult
from biomedai.provenance import RunRecorder
from biomedai.stats.group_tests import VariableSpec, cohens_kappa, group_table
from biomedai.utils import file_named_by_table, write_csv_atomic

from .case import analyse_ct
from .config import CovidCTConfig
from .lobes import LOBE_NAMES
from .quantify import summary
from .report import study_report

logger = logging.getLogger(__name__)

#: the radiologists' 8 signs (spec 3.3), column name -> label
SIGNS = {"ground_glass": "Ground glass opacities", "patchy_infiltration": "Patchy infiltration",
         "patchy_consolidation": "Patchy consolidation", "pleural_effusion": "Pleural effusion",
         "mediastinal_lymphadenopathy": "Mediastinal lymphadenopathy", "air_bronchogram": "Air bronchogram",
         "pleural_thickening": "Pleural thickening", "interstitial_change": "Interstitial change"}
RESERVED = {"patient", "group", "ct", "lobe_mask"}
TABLE3_REGIONS = [*LOBE_NAMES.values(), "whole lung"]


def read_cases(folder: Path) -> Any:
    import pandas as pd

    table = folder / "cases.csv"
    try:
        data = pd.read_csv(table)
    except Exception as exc:  # noqa: BLE001 - any parser error becomes one message
        raise InvalidInputError(f"cannot read cases.csv: {exc}", table) from None
    for column in ("patient", "group"):
        if column not in data:
            raise InvalidInputError(f"cases.csv needs a {column!r} column", table)
    groups = list(dict.fromkeys(data["group"].dropna().tolist()))
    if len(groups) != 2:
        raise InvalidInputError(f"cases.csv must hold exactly two groups, found {groups}", table)
    return data


def quantify_cases(data: Any, folder: Path, config: CovidCTConfig) -> Any:
    """Add ``<region> lesion_ml``/``lesion_pct`` and HU-bin columns for rows that name a CT."""
    if "ct" not in data:
        return data
    data = data.copy()
    for index, row in data.iterrows():
        if not isinstance(row["ct"], str) or not row["ct"].strip():
            continue
        lobe_mask = row.get("lobe_mask") if isinstance(row.get("lobe_mask"), str) else None
        table = folder / "cases.csv"
        ct = file_named_by_table(folder, row["ct"], table, "ct", where="the study folder")
        result = analyse_ct(ct, config, file_named_by_table(folder, lobe_mask, table, "lobe_mask",
                                                            where="the study folder"))
        numbers = summary(result.rows)
        for region, values in numbers["regions"].items():
            data.loc[index, f"{region} lesion_ml"] = values["lesion_ml"]
            data.loc[index, f"{region} lesion_pct"] = values["lesion_pct"]
        for name, values in numbers["whole_lung_bins"].items():
            data.loc[index, f"whole lung {name} lesion_ml"] = values["lesion_ml"]
            data.loc[index, f"whole lung {name} lesion_pct"] = values["lesion_pct"]
        data.loc[index, "lobes"] = result.lobe_source
    return data


def _is_binary(values: Any) -> bool:
    levels = set(values.dropna().unique().tolist())
    return 0 < len(levels) <= 2 and levels <= {0, 1, 0.0, 1.0, True, False}


def study_tables(data: Any, config: CovidCTConfig) -> dict[str, list[dict[str, Any]]]:
    """Table 1 (clinical), Table 2 (signs), Table 3 (lesion volume and % per region) and the HU-bin table."""
    groups = list(dict.fromkeys(data["group"].dropna().tolist()))
    quantified = [c for c in data.columns if c.endswith(" lesion_ml") or c.endswith(" lesion_pct")]
    signs = [c for c in SIGNS if c in data]
    clinical = [c for c in data.columns if c not in RESERVED and c not in quantified and c not in SIGNS
                and not c.endswith("_reader2") and c != "lobes"]
    specs1 = []
    for column in clinical:
        values = data[column]
        if _is_binary(values):
            specs1.append(VariableSpec(column, column, "categorical", 1))
        elif values.dtype.kind in "if":
            specs1.append(VariableSpec(column, column, "continuous"))
        elif values.nunique() == 2:
            specs1.append(VariableSpec(column, f"{column}: {sorted(values.dropna().unique())[0]}", "categorical",
                                       sorted(values.dropna().unique())[0]))
    kwargs = {"alpha": config.normality_alpha, "fdr": config.fdr}
    tables: dict[str, list[dict[str, Any]]] = {}
    if specs1:
        tables["table1_clinical"] = group_table(data, "group", groups, specs1, **kwargs)
    if signs:
        tables["table2_signs"] = group_table(data, "group", groups,
                                             [VariableSpec(c, SIGNS[c], "categorical", 1) for c in signs], **kwargs)
        kappas = [{"sign": SIGNS[c], "kappa": round(cohens_kappa(data[c], data[f"{c}_reader2"]), 4)}
                  for c in signs if f"{c}_reader2" in data]
        if kappas:
            tables["reader_agreement"] = kappas
    rows3 = []
    for region in TABLE3_REGIONS:
        for measure, label in (("lesion_ml", "infection volume (cm³)"), ("lesion_pct", "infection %")):
            column = f"{region} {measure}"
            if column in data:
                rows3.append(VariableSpec(column, f"{region}: {label}", "continuous"))
    if rows3:
        tables["table3_lesions"] = group_table(data, "group", groups, rows3, **kwargs)
    bins = [c for c in quantified if c.startswith("whole lung ") and "(" in c]
    if bins:
        tables["hu_bins"] = group_table(data, "group", groups, [VariableSpec(c, c, "continuous") for c in bins],
                                        **kwargs)
    return tables


def features_auc(data: Any, config: CovidCTConfig) -> dict[str, Any] | None:
    """EXTENSION (a): cross-validated AUC of a logistic regression on the quantified features and signs."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from biomedai.metrics import bootstrap_ci, roc_auc

    groups = list(dict.fromkeys(data["group"].dropna().tolist()))
    columns = [c for c in data.columns if c in SIGNS or c.endswith(" lesion_ml") or c.endswith(" lesion_pct")]
    frame = data[columns].apply(lambda s: s.astype(float))
    keep = frame.notna().all(axis=1) & data["group"].notna()
    y = (data["group"][keep] == groups[0]).astype(int).to_numpy()
    if not columns or keep.sum() < 2 * config.cv_folds or min(y.sum(), (1 - y).sum()) < config.cv_folds:
        return None
    folds = StratifiedKFold(config.cv_folds, shuffle=True, random_state=config.seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
    scores = cross_val_predict(model, frame[keep].to_numpy(), y, cv=folds, method="predict_proba")[:, 1]
    ci = bootstrap_ci(roc_auc, y, scores, n_resamples=2000, seed=config.seed)
    return {"extension": "logistic regression, not in the paper", "features": columns, "n": int(keep.sum()),
            "positive_group": groups[0], "cv_folds": config.cv_folds, "auc": round(ci.estimate, 4),
            "auc_ci95": [round(ci.low, 4), round(ci.high, 4)]}


def run_study(method: Method, folder: Path, output_dir: Path, *, simulated: bool = False,
              action: str = "evaluate") -> RunResult:
    """Quantify, test, plot and report one study folder (``action`` names the run in result.json)."""
    config = method.config
    rec = RunRecorder(output_dir, method.name, action, seed=config.seed, config=config.to_dict())
    rec.add_inputs([folder / "cases.csv"])
    data = read_cases(folder)
    with rec.timer("quantify"):
        data = quantify_cases(data, folder, config)
    rec.add_file(write_csv_atomic(output_dir / "cases_quantified.csv", data.to_dict("records")))
    with rec.timer("statistics"):
        tables = study_tables(data, config)
        auc = features_auc(data, config)
    for name, rows in tables.items():
        rec.add_file(write_csv_atomic(output_dir / f"{name}.csv", rows))
    files = study_report(data, tables, auc, output_dir, simulated=simulated)
    for f in files:
        rec.add_file(f)
    groups = list(dict.fromkeys(data["group"].dropna().tolist()))
    rec.metrics = {"data": f"{folder}{' (SIMULATED cohort)' if simulated else ''}",
                   "groups": {str(g): int((data["group"] == g).sum()) for g in groups},
                   "tables": tables,
                   "features_logistic_auc": auc}
    rec.notes["statistics"] = ("categorical: chi-square, Fisher's exact when an expected count < 5; continuous: "
                               f"Shapiro-Wilk (alpha {config.normality_alpha}) then Student t or Mann-Whitney U; "
                               "two-sided" + ("; Benjamini-Hochberg column" if config.fdr else ""))
    rec.write()
    return RunResult(output_dir, rec.metrics, [output_dir / f for f in rec.files])


def simulated_cohort(seed: int = 0) -> Any:
    """A SIMULATED cohort shaped like Dou et al.: 52 vs 80 patients, Table 2 sign rates, Table 3 lobe means
    (log-normal volumes), two readers agreeing 85 % of the time. For the demo and tests only."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    rates = {"ground_glass": (0.73, 0.71), "patchy_infiltration": (0.58, 0.60), "patchy_consolidation": (0.29, 0.35),
             "pleural_effusion": (0.08, 0.11), "mediastinal_lymphadenopathy": (0.06, 0.06),
             "air_bronchogram": (0.21, 0.19), "pleural_thickening": (0.08, 0.08), "interstitial_change": (0.19, 0.20)}
    lobe_ml = {"right upper lobe": (29.6, 40.8), "right middle lobe": (11.6, 25.4), "right lower lobe": (45.9, 80.6),
               "left upper lobe": (22.2, 34.6), "left lower lobe": (48.4, 105.8)}
    lobe_size = {"right upper lobe": 1100, "right middle lobe": 450, "right lower lobe": 1300,
                 "left upper lobe": 1200, "left lower lobe": 1100}
    rows = []
    for g, (name, n) in enumerate((("COVID-19", 52), ("other viral pneumonia", 80))):
        for k in range(n):
            row: dict[str, Any] = {"patient": f"{'CV' if g == 0 else 'VP'}{k:03d}", "group": name,
                                   "age": round(rng.normal((45.6, 48.7)[g], 14.4), 1),
                                   "sex": rng.choice(["F", "M"], p=[(0.62, 0.73)[g], 1 - (0.62, 0.73)[g]]),
                                   "fever": int(rng.random() < (0.90, 0.89)[g])}
            for sign, p in rates.items():
                row[sign] = int(rng.random() < p[g])
                row[f"{sign}_reader2"] = row[sign] if rng.random() < 0.85 else 1 - row[sign]
            total = 0.0
            for lobe in LOBE_NAMES.values():
                ml = float(rng.lognormal(np.log(lobe_ml[lobe][g]) - 0.5, 1.0))
                row[f"{lobe} lesion_ml"] = round(ml, 2)
                row[f"{lobe} lesion_pct"] = round(100 * ml / lobe_size[lobe], 3)
                total += ml
            row["whole lung lesion_ml"] = round(total, 2)
            row["whole lung lesion_pct"] = round(100 * total / sum(lobe_size.values()), 3)
            rows.append(row)
    return pd.DataFrame(rows)
