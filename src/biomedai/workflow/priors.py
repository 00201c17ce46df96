"""Prior-study comparison (Mun et al.: comparing with priors is manual and slow).

For a study with a patient ID, the prior is the most recent earlier study of the same patient
that has a result of the same method. Every numeric measurement that both results carry under
the same key (nested metrics flattened to ``a.b.c``) is listed with its change. Keys that name
input files differ between studies and are therefore not compared.
"""
from __future__ import annotations

import math
from typing import Any

from sqlalchemy import select

from .models import Result, Study
from .store import Store


def numeric_measurements(metrics: Any, prefix: str = "", limit: int = 2000) -> dict[str, float]:
    """Finite numbers in nested metrics as ``{"a.b": value}`` (booleans and findings left out).

    Example:
        >>> numeric_measurements({"area": 3, "per": {"x": 1.5, "ok": True}, "findings": [1]})
        {'area': 3.0, 'per.x': 1.5}
    """
    out: dict[str, float] = {}
    if isinstance(metrics, dict):
        for key, value in metrics.items():
            if key in ("findings", "priority") and not prefix:
                continue
            out.update(numeric_measurements(value, f"{prefix}{key}.", limit - len(out)))
            if len(out) >= limit:
                break
    elif isinstance(metrics, (int, float)) and not isinstance(metrics, bool) and math.isfinite(metrics):
        out[prefix.rstrip(".")] = float(metrics)
    return out


def compare_with_prior(store: Store, study_id: int) -> list[dict[str, Any]]:
    """One entry per method with a prior: ``{method, prior_study_id, changes: [{measurement, prior, current,
    change, change_percent}]}``; empty when the study has no patient ID or no prior."""
    with store.session() as s:
        study = s.get(Study, study_id)
        if study is None or not study.patient_id:
            return []
        priors = s.scalars(select(Study).where(Study.patient_id == study.patient_id, Study.id != study.id,
                                               Study.created_at <= study.created_at)
                           .order_by(Study.created_at.desc(), Study.id.desc())).all()
        current = {r.method: r for r in s.scalars(select(Result).where(Result.study_id == study_id)
                                                  .order_by(Result.id))}
        out = []
        for method, result in current.items():
            for prior in priors:
                prior_result = s.scalars(select(Result).where(Result.study_id == prior.id, Result.method == method)
                                         .order_by(Result.id.desc())).first()
                if prior_result is None:
                    continue
                now, before = numeric_measurements(result.metrics), numeric_measurements(prior_result.metrics)
                changes = []
                for key in sorted(set(now) & set(before)):
                    delta = now[key] - before[key]
                    changes.append({"measurement": key, "prior": before[key], "current": now[key], "change": delta,
                                    "change_percent": 100 * delta / abs(before[key]) if before[key] else None})
                out.append({"method": method, "prior_study_id": prior.id, "prior_result_id": prior_result.id,
                            "changes": changes})
                break
    return out
