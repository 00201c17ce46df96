"""Score patients from their radiomics features alone, one patient or many: no outcome columns, no cohort.

The input is a features table (CSV: ``id`` + the model's feature columns + optional clinical columns such
as ``tnm``) or a JSON object (one patient) or list of objects. A fitted model (``model.json`` with its
z-score parameters) is needed: the paper's preset z-scores within the scored cohort and so cannot score
fewer than three patients.
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError

from .clinical import CLINICAL, MISSING, code_clinical_value, read_text_table
from .model import RadiomicsNomogramModel

#: suffixes that a clinical or features table may have; anything else is refused with one line
TABLE_SUFFIXES = (".csv", ".json", ".tsv", ".txt")


def is_feature_table(path: Path) -> bool:
    """True for a CSV/JSON file of features without outcome columns (a cohort's clinical CSV has ``time``)."""
    path = Path(path)
    if not path.is_file():
        return False
    if path.suffix.lower() == ".json":
        return True
    text = read_text_table(path)
    header = [h.strip().lower() for h in (text.splitlines() or [""])[0].split(",")]
    return "time" not in header or "event" not in header


def read_feature_rows(path: Path) -> list[dict[str, str]]:
    """Rows (``{column: text}``) of a features CSV or JSON; errors name the file."""
    text = read_text_table(path)
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"not valid JSON ({exc.msg}, line {exc.lineno})", path) from None
        items = data if isinstance(data, list) else [data]
        if not items or not all(isinstance(x, dict) for x in items):
            raise InvalidInputError("JSON must be an object {feature: value} or a list of them", path)
        rows = [{str(k).strip(): ("" if v is None else str(v)) for k, v in x.items()} for x in items]
    else:
        rows = [{(k or "").strip(): (v or "").strip() for k, v in r.items()} for r in csv.DictReader(text.splitlines())]
    if not rows:
        raise InvalidInputError("no patients in the features table", path)
    for k, row in enumerate(rows):
        row.setdefault("id", f"patient{k + 1}")
    return rows


def score_feature_rows(rows: list[dict[str, str]], model: RadiomicsNomogramModel, horizons: tuple[float, ...],
                       path: Path) -> list[dict[str, Any]]:
    """Rad-score, risk group and (with a nomogram and the clinical columns) predicted DFS per patient."""
    if model.zscore_mean is None and len(rows) < 3:
        raise InvalidInputError("scoring fewer than 3 patients needs a fitted model with its z-score parameters "
                                "(--weights model.json written by 'biomedai train crc_radiomics_nomogram'); the "
                                "paper's preset z-scores within the scored cohort", path)
    missing = [f for f in model.features if f not in rows[0]]
    if missing:
        raise InvalidInputError(f"the table lacks the model's feature column(s) {missing}", path)
    try:
        raw = np.array([[float(r[f]) for f in model.features] for r in rows])
    except ValueError as exc:
        raise InvalidInputError(f"non-numeric feature value ({exc})", path) from None
    scores = model.rad_score(raw, where=str(path))
    groups = model.risk_group(scores) if math.isfinite(model.cutoff) else None
    preds: dict[float, np.ndarray] = {}
    if model.cox is not None:
        clinical = {}
        for var in model.cox.covariates:
            if var in CLINICAL:
                clinical[var] = np.array([_clinical(r.get(var, ""), var, k + 2, path) for k, r in enumerate(rows)])
        if all(v in clinical for v in model.cox.covariates if v in CLINICAL):
            for h in horizons:
                preds[h] = model.survival(scores, clinical, h)
    out = []
    for i, row in enumerate(rows):
        item: dict[str, Any] = {"id": row["id"], "radscore": round(float(scores[i]), 6)}
        if groups is not None:
            item["risk_group"] = "high" if groups[i] else "low"
        for h, p in preds.items():
            item[f"predicted_dfs_{h:g}"] = None if not np.isfinite(p[i]) else round(float(p[i]), 4)
        out.append(item)
    return out


def _clinical(value: str, column: str, line: int, path: Path) -> float:
    if value.strip().lower() in MISSING:
        return math.nan
    return code_clinical_value(value, column, line, path)
