from __future__ import annotations

import datetime as dt

from biomedai.workflow.models import Job, Result, Study
from biomedai.workflow.priors import compare_with_prior, numeric_measurements


def _study(store, uid, patient, days_ago, metrics=None, method="m"):
    with store.session() as s:
        study = Study(uid=uid, patient_id=patient, created_at=dt.datetime(2026, 1, 1) - dt.timedelta(days=days_ago))
        s.add(study)
        s.flush()
        if metrics is not None:
            job = Job(study_id=study.id, method=method, inputs=[], status="done")
            s.add(job)
            s.flush()
            s.add(Result(job_id=job.id, study_id=study.id, method=method, output_dir="x", metrics=metrics))
        return study.id


def test_compares_with_the_latest_prior_of_the_same_patient(store):
    _study(store, "old", "P1", 300, {"area": 10.0})
    prior = _study(store, "prior", "P1", 100, {"area": 8.0, "angle": 30, "per": {"a.png": 1}})
    _study(store, "other-patient", "P2", 50, {"area": 1.0})
    _study(store, "no-result", "P1", 20)
    current = _study(store, "now", "P1", 0, {"area": 12.0, "angle": 30, "findings": [{"severity": 99}]})
    [c] = compare_with_prior(store, current)
    assert c["prior_study_id"] == prior and c["method"] == "m"
    by_key = {ch["measurement"]: ch for ch in c["changes"]}
    assert set(by_key) == {"area", "angle"}
    assert by_key["area"]["change"] == 4.0 and by_key["area"]["change_percent"] == 50.0
    assert by_key["angle"]["change"] == 0


def test_no_patient_or_no_prior_gives_nothing(store):
    lone = _study(store, "lone", "", 0, {"area": 1.0})
    first = _study(store, "first", "P9", 0, {"area": 1.0})
    assert compare_with_prior(store, lone) == [] and compare_with_prior(store, first) == []
    assert compare_with_prior(store, 12345) == []


def test_numeric_measurements_skip_non_numbers():
    assert numeric_measurements({"a": float("nan"), "b": "x", "c": [1, 2], "d": {"e": 2}}) == {"d.e": 2.0}
