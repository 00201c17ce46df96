"""The reading workflow: worklist columns, sorting and filtering, live events, one reader per study, and the
report from a pre-filled draft to a signed final stored as DICOM SR and sent to the PACS."""
from __future__ import annotations

import io

import pytest

from .conftest import login
from .test_dicomweb import CT_STUDY, ct_slice


@pytest.fixture
def ct_study_simple(store, tmp_path):
    from biomedai.workflow.intake import ingest
    from biomedai.workflow.models import Study
    from tests.workflow.test_dicom_seg import add_result

    items = []
    for i in (1, 2, 3):
        path, _ = ct_slice(tmp_path / f"ct{i}.dcm", i)
        items.append((path.name, path))
    study_id = ingest(store, items, methods=[]).studies[0]
    add_result(store, study_id, [], {}, metrics={"nodule_volume_ml": 1.23456, "n_nodules": 2})
    with store.session() as s:
        study = s.get(Study, study_id)
        study.priority, study.findings = 75.0, [{"label": "nodule", "severity": 75}]
    other = ct_slice(tmp_path / "mr.dcm", 1, "1.2.826.0.1.3680043.8.498.7", "1.2.826.0.1.3680043.8.498.7.1",
                     "Adams^Ann", "20190301", "ACC9", "MR")[0]
    other_id = ingest(store, [("mr.dcm", other)], methods=[]).studies[0]
    return study_id, other_id


def test_worklist_columns_sort_and_filter(client, ct_study_simple):
    study_id, other_id = ct_study_simple
    headers = login(client, "vic")
    rows = client.get("/api/reading/worklist", headers=headers).json()
    assert [r["id"] for r in rows] == [study_id, other_id]  # the urgent one first
    top = rows[0]
    assert (top["patient"], top["accession"], top["study_date"], top["modality"]) == \
        ("Doe^John", "ACC1", "2020-01-15", "CT")
    assert top["urgent"] is True and top["report"] == "unread" and rows[1]["urgent"] is False
    assert "nodule volume ml 1.23" in top["ai_summary"] and "1.23456" not in top["ai_summary"]
    by_name = client.get("/api/reading/worklist", params={"sort": "patient", "order": "asc"}, headers=headers).json()
    assert [r["patient"] for r in by_name] == ["Adams^Ann", "Doe^John"]
    assert [r["id"] for r in client.get("/api/reading/worklist", params={"q": "acc9"}, headers=headers).json()] \
        == [other_id]
    assert client.get("/api/reading/worklist", params={"urgent": "true"}, headers=headers).json()[0]["id"] == study_id
    assert client.get("/api/reading/worklist", params={"modality": "MR"}, headers=headers).json()[0]["id"] == other_id
    assert client.get("/api/reading/worklist", params={"sort": "colour"}, headers=headers).status_code == 400
    assert client.get("/api/reading/worklist", params={"report": "lost"}, headers=headers).status_code == 400
    page = client.get("/reading", headers=headers).text
    for title in ("Patient", "Accession", "Study date", "Description", "Modality", "AI findings", "Urgency",
                  "Report"):
        assert f">{title}</a></th>" in page
    assert "URGENT" in page and "/static/reading.js" in page


def test_one_reader_at_a_time_and_sign_off(client, store, ct_study_simple):
    import pydicom

    study_id, _ = ct_study_simple
    otto, ada, vic = login(client, "otto"), login(client, "ada"), login(client, "vic")
    assert client.post(f"/api/studies/{study_id}/claim", headers=vic).status_code == 403
    draft = client.get(f"/api/studies/{study_id}/reading", headers=vic).json()
    assert draft["status"] == "unread" and "AI FINDINGS" in draft["prefill"]
    assert "nodule volume ml 1.23" in draft["prefill"] and "IMPRESSION:" in draft["prefill"]
    assert client.put(f"/api/studies/{study_id}/reading", json={"text": "x"}, headers=otto).status_code == 409
    assert client.post(f"/api/studies/{study_id}/claim", headers=otto).json()["claimed_by"] == "otto"
    taken = client.post(f"/api/studies/{study_id}/claim", headers=ada)
    assert taken.status_code == 409 and "otto" in taken.json()["detail"]
    text = draft["prefill"] + "No acute finding.\n"
    assert client.put(f"/api/studies/{study_id}/reading", json={"text": text}, headers=otto).json()["status"] == \
        "draft"
    assert client.put(f"/api/studies/{study_id}/reading", json={"text": "mine"}, headers=ada).status_code == 409
    rows = client.get("/api/reading/worklist", headers=vic).json()
    assert rows[0]["report"] == "draft" and rows[0]["claimed_by"] == "otto"
    signed = client.post(f"/api/studies/{study_id}/reading/sign", json={}, headers=otto)
    assert signed.status_code == 200, signed.text
    final = signed.json()
    assert final["status"] == "final" and final["signed_by"] == "otto" and final["sr"]
    assert client.put(f"/api/studies/{study_id}/reading", json={"text": "changed"}, headers=otto).status_code == 409
    audit = client.get("/api/audit", headers=ada).json()
    entries = audit if isinstance(audit, list) else audit.get("events", [])
    signs = [e for e in entries if e["action"] == "sign_report"]
    assert signs and signs[-1]["username"] == "otto" and final["signed_at"] in signs[-1]["detail"]
    sr = pydicom.dcmread(io.BytesIO(client.get(final["sr"], headers=vic).content))
    assert sr.Modality == "SR" and sr.StudyInstanceUID == CT_STUDY
    assert sr.CompletionFlag == "COMPLETE" and sr.VerificationFlag == "VERIFIED"
    assert str(sr.VerifyingObserverSequence[0].VerifyingObserverName).rstrip("^") == "otto"
    texts = []

    def walk(items):
        for item in items:
            if getattr(item, "ValueType", "") == "TEXT":
                texts.append(item.TextValue)
            walk(getattr(item, "ContentSequence", []))
    walk(sr.ContentSequence)
    assert any("No acute finding." in t for t in texts)
    series = client.get(f"/dicom-web/studies/{CT_STUDY}/series", headers=vic).json()
    assert "SR" in [s["00080060"]["Value"][0] for s in series]  # the report is in the study for any viewer


def test_signed_report_goes_to_the_pacs(store, tmp_path):
    from sqlalchemy import select

    from biomedai.workflow.models import StoredFile
    from tests.workflow.conftest import operator_client_and_pacs

    path, _ = ct_slice(tmp_path / "ct.dcm", 1)
    from biomedai.workflow.intake import ingest

    study_id = ingest(store, [("ct.dcm", path)], methods=[]).studies[0]
    with operator_client_and_pacs(store) as (client, headers, _pacs):
        assert client.post(f"/api/studies/{study_id}/claim", headers=headers).status_code == 200
        r = client.post(f"/api/studies/{study_id}/reading/sign", json={"text": "Normal.", "destination": "pacs"},
                        headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["sent"] == {"destination": "pacs", "status": 0}
        import time

        deadline = time.monotonic() + 20
        while True:  # our receiver stood in for the PACS: the SR arrives in the same study (ingested after release)
            with store.session() as s:
                kinds = [f.kind for f in s.scalars(select(StoredFile).where(StoredFile.study_id == study_id))]
            if "dicom/SR" in kinds or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert "dicom/SR" in kinds


def test_live_events_and_version(client, store, ct_study_simple):
    from biomedai.workflow.reading import worklist_version
    from tests.workflow.test_dicom_seg import add_result

    headers = login(client, "vic")
    before = worklist_version(store)
    r = client.get("/api/reading/events", params={"max_s": 1, "poll_s": 0.5}, headers=headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert f"event: worklist\ndata: {before}" in r.text
    add_result(store, ct_study_simple[1], [], {}, metrics={"x": 1.0})
    assert worklist_version(store) != before
    fragment = client.get("/reading/rows", headers=headers).text
    assert fragment.startswith("<table>") and "x 1" in fragment


def test_report_page_flow(client, ct_study_simple):
    study_id, _ = ct_study_simple
    otto = login(client, "otto")
    page = client.get(f"/studies/{study_id}/report", headers=otto).text
    assert "Claim and read" in page and "AI FINDINGS" in page
    assert client.post(f"/studies/{study_id}/claim", headers=otto).status_code == 303
    page = client.get(f"/studies/{study_id}/report", headers=otto).text
    assert "<textarea" in page and "Sign (final)" in page
    r = client.post(f"/studies/{study_id}/report/save", data={"text": "Page report.", "action": "sign"},
                    headers=otto)
    assert r.status_code == 303 and "error" not in r.headers["location"]
    page = client.get(f"/studies/{study_id}/report", headers=login(client, "vic")).text
    assert "signed by otto" in page and "Page report." in page


def test_claims_race_and_lapse(store, ct_study_simple, monkeypatch):
    """Of readers claiming at once exactly one holds the study; a claim left alone lapses (CLAIM_TTL_S)."""
    from concurrent.futures import ThreadPoolExecutor

    from biomedai.workflow import reading as rd

    study_id, other_id = ct_study_simple

    def attempt(name):
        try:
            rd.claim(store, study_id, name)
            return name
        except rd.ClaimError:
            return None

    with ThreadPoolExecutor(6) as pool:
        winners = [w for w in pool.map(attempt, [f"reader{i}" for i in range(6)]) if w]
    assert len(winners) == 1
    assert rd.get_reading(store, study_id)["claimed_by"] == winners[0]
    import time

    monkeypatch.setattr(rd, "CLAIM_TTL_S", 1.0)
    rd.claim(store, other_id, "first")
    with pytest.raises(rd.ClaimError, match="first"):
        rd.claim(store, other_id, "second")
    time.sleep(1.2)  # the first reader walked away
    assert rd.claim(store, other_id, "second")["claimed_by"] == "second"
