from __future__ import annotations

import io

import pytest

from biomedai.errors import InvalidInputError
from biomedai.workflow.intake import ingest
from biomedai.workflow.models import Job, Result
from biomedai.workflow.routing import Router

from .conftest import make_dicom, make_png, operator_client_and_pacs

pytest.importorskip("highdicom")


def _result(store, study_id, metrics, findings=()):
    with store.session() as s:
        job = Job(study_id=study_id, method="wf_brightness", inputs=[], status="done")
        s.add(job)
        s.flush()
        result = Result(job_id=job.id, study_id=study_id, method="wf_brightness", output_dir="x", metrics=metrics,
                        findings=list(findings))
        s.add(result)
        s.flush()
        return result.id


def test_result_exported_as_dicom_sr_joins_the_study(store, tmp_path):
    import pydicom

    from biomedai.workflow.export import result_to_sr

    files = [make_dicom(tmp_path / f"{i}.dcm", "5.6.7", "5.6.7.1", instance=i) for i in (1, 2)]
    report = ingest(store, [(p.name, p) for p in files], router=Router.from_data({"rules": []}))
    rid = _result(store, report.studies[0], {"mean": 12.5, "per": {"area_mm2": 3}, "label": "text"},
                  [{"label": "dysplasia", "severity": 75.0}])
    sr = pydicom.dcmread(io.BytesIO(result_to_sr(store, rid)))
    assert sr.Modality == "SR" and sr.StudyInstanceUID == "5.6.7" and sr.PatientID == "P1"
    text = str(sr)
    assert "12.5" in text and "per.area_mm2" in text and "dysplasia (severity 75)" in text
    assert len(sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
               .ReferencedSOPSequence) == 2


def test_text_severity_is_written_as_text(store, tmp_path):
    import pydicom

    from biomedai.workflow.export import result_to_sr

    files = [make_dicom(tmp_path / "1.dcm", "5.6.8", "5.6.8.1", instance=1)]
    report = ingest(store, [(p.name, p) for p in files], router=Router.from_data({"rules": []}))
    rid = _result(store, report.studies[0], {"mean": 1.0}, [{"label": "effusion", "severity": "moderate"}])
    text = str(pydicom.dcmread(io.BytesIO(result_to_sr(store, rid))))
    assert "effusion (severity moderate)" in text


def test_non_dicom_study_is_refused(store, tmp_path):
    from biomedai.workflow.export import result_to_sr

    report = ingest(store, [("a.png", make_png(tmp_path / "a.png"))], router=Router.from_data({"rules": []}))
    rid = _result(store, report.studies[0], {"mean": 1.0})
    with pytest.raises(InvalidInputError, match="has no DICOM files"):
        result_to_sr(store, rid)


def test_sr_endpoint(store, tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from biomedai.web.app import create_app

    files = [make_dicom(tmp_path / "1.dcm", "5.6.8", "5.6.8.1")]
    report = ingest(store, [("1.dcm", files[0])], router=Router.from_data({"rules": []}))
    rid = _result(store, report.studies[0], {"mean": 2.0})
    png_study = ingest(store, [("a.png", make_png(tmp_path / "a.png"))], router=Router.from_data({"rules": []}))
    rid_png = _result(store, png_study.studies[0], {"mean": 1.0})
    store.create_user("vera", "password-123", "viewer")
    with TestClient(create_app(store)) as client:
        token = client.post("/api/token", data={"username": "vera", "password": "password-123"}).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        r = client.get(f"/api/results/{rid}/sr.dcm", headers=headers)
        assert r.status_code == 200 and r.content[128:132] == b"DICM"
        assert client.get(f"/api/results/{rid_png}/sr.dcm", headers=headers).status_code == 400
        assert client.get("/api/results/999/sr.dcm", headers=headers).status_code == 404
        assert client.get(f"/api/results/{rid}/sr.dcm").status_code == 401


def test_sr_sent_to_a_pacs_arrives_in_the_same_study(store, tmp_path):
    """Our own C-STORE receiver plays the PACS: the SR comes back into the source study, unrouted."""
    pytest.importorskip("pynetdicom")
    pytest.importorskip("fastapi")
    from sqlalchemy import select

    from biomedai.workflow.models import StoredFile

    files = [make_dicom(tmp_path / "1.dcm", "5.6.9", "5.6.9.1")]
    report = ingest(store, [("1.dcm", files[0])], router=Router.from_data({"rules": []}))
    rid = _result(store, report.studies[0], {"mean": 2.0})
    with operator_client_and_pacs(store) as (client, headers, pacs):
        r = client.post(f"/api/results/{rid}/send", headers=headers, json={"destination": "pacs"})
        assert r.status_code == 200 and r.json()["status"] == 0, r.text
        bad = client.post(f"/api/results/{rid}/send", headers=headers, json={"destination": "evil:1.2.3.4"})
        assert bad.status_code == 400
        import time

        deadline = time.monotonic() + 10
        while not pacs.last_reports and time.monotonic() < deadline:
            time.sleep(0.1)
    assert pacs.last_reports and pacs.last_reports[0].studies == report.studies and pacs.last_reports[0].jobs == []
    with store.session() as s:
        kinds = sorted(s.scalars(select(StoredFile.kind).where(StoredFile.study_id == report.studies[0])))
    assert kinds == ["dicom/DX", "dicom/SR"]
