"""A cohort folder: ``clinical.csv`` (spec 4.9 columns) and one folder per patient with ``baseline/`` and
``followup/``. Runs the image steps for every patient (resumable: a finished patient is not redone) and writes
``features_{baseline,followup,jacobian,delta}.csv`` and ``patients.csv``."""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from biomedai.errors import InvalidInputError
from biomedai.utils import plain_name, read_csv_rows, write_csv_atomic, write_json_atomic

from .config import DceNactConfig
from .patient import process_patient

logger = logging.getLogger(__name__)
REQUIRED = ("patient_id", "cohort", "MP_grade", "subtype")
FEATURE_SETS = ("baseline", "followup", "jacobian", "delta")


@dataclass
class Cohort:
    """The clinical table of a cohort folder; ``responder`` is derived as MP >= 4 (spec 4.1)."""

    path: Path
    rows: list[dict[str, Any]]

    @property
    def folder(self) -> Path:
        return self.path.parent


def read_clinical(path: str | Path) -> Cohort:
    """``clinical.csv`` (or its folder), validated: required columns, unique ids, cohort dev|test, MP 1-5."""
    path = Path(path)
    if path.is_dir():
        path = path / "clinical.csv"
    if not path.is_file():
        raise InvalidInputError("clinical CSV not found", path)
    rows = read_csv_rows(path)
    if not rows:
        raise InvalidInputError("the clinical CSV has no rows", path)
    missing = [c for c in REQUIRED if c not in rows[0]]
    if missing:
        raise InvalidInputError(f"missing column(s) {missing} (spec 4.9: patient_id, cohort, MP_grade, ER, PR, "
                                f"HER2, Ki67, subtype, age, menopausal, family_history)", path)
    seen = set()
    for i, r in enumerate(rows, 2):
        pid = r["patient_id"].strip()
        if not pid or pid in seen:
            raise InvalidInputError(f"line {i}: empty or repeated patient_id {pid!r}", path)
        plain_name(pid, f"line {i}: patient_id", path)  # it names the patient's input and output folders
        seen.add(pid)
        if r["cohort"] not in ("dev", "test"):
            raise InvalidInputError(f"line {i}: cohort must be dev or test, got {r['cohort']!r}", path)
        try:
            mp = int(float(r["MP_grade"]))
        except ValueError:
            raise InvalidInputError(f"line {i}: MP_grade {r['MP_grade']!r} is not a number", path) from None
        if not 1 <= mp <= 5:
            raise InvalidInputError(f"line {i}: MP_grade must be 1-5, got {mp}", path)
        r["patient_id"], r["MP_grade"], r["responder"] = pid, mp, int(mp >= 4)
    return Cohort(path, rows)


def process_cohort(data: str | Path, out: str | Path, config: DceNactConfig, *, only: list[str] | None = None
                   ) -> dict[str, Path]:
    """Image steps for every patient (skipping finished ones), then the feature CSVs; returns their paths."""
    cohort = read_clinical(data)
    out = Path(out)
    done_dir = out / "patients"
    for r in cohort.rows:
        pid = r["patient_id"]
        if only and pid not in only:
            continue
        marker = done_dir / pid / "features.json"
        if marker.is_file():
            continue
        start = time.perf_counter()
        result = process_patient(cohort.folder / pid, done_dir / pid, config)
        result.summary["seconds"] = round(time.perf_counter() - start, 1)
        write_json_atomic(done_dir / pid / "summary.json", result.summary)
        write_json_atomic(marker, result.features)
        logger.info("%s done in %.1f s (mean J in tumour %.3f)", pid, result.summary["seconds"],
                    result.summary["jacobian_mean_in_tumour"])
    return write_feature_tables(cohort, out)


def write_feature_tables(cohort: Cohort, out: Path) -> dict[str, Path]:
    """``features_<set>.csv`` (patient_id, cohort, responder, subtype + the set's features) and ``patients.csv``."""
    feats, summaries, rows = {}, [], []
    for r in cohort.rows:
        folder = out / "patients" / r["patient_id"]
        if not (folder / "features.json").is_file():
            continue
        feats[r["patient_id"]] = json.loads((folder / "features.json").read_text(encoding="utf-8"))
        summaries.append(json.loads((folder / "summary.json").read_text(encoding="utf-8")))
        rows.append(r)
    if not rows:
        raise InvalidInputError("no patient has been processed yet", out)
    paths = {}
    base_cols = ["patient_id", "cohort", "responder", "MP_grade", "subtype"]
    for name in FEATURE_SETS:
        names = sorted({k for f in feats.values() for k in f if k.startswith(name + "__")})
        table = [{**{c: r[c] for c in base_cols}, **{n.split("__", 1)[1]: feats[r["patient_id"]].get(n) for n in names}}
                 for r in rows]
        paths[name] = write_csv_atomic(out / f"features_{name}.csv", table)
    paths["patients"] = write_csv_atomic(out / "patients.csv", [{**{c: r[c] for c in base_cols}, **s}
                                                                for r, s in zip(rows, summaries)])
    return paths
