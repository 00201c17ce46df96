"""The PDF study report: a valid PDF with the header, findings, measurement values and pictures; authorised."""
from __future__ import annotations

import io
import json

import pytest

from biomedai.workflow.worker import Worker

from tests.workflow.conftest import WF_METHODS, make_png

from .conftest import login

pypdf = pytest.importorskip("pypdf", reason="the PDF test reads the report back with pypdf")
pytest.importorskip("reportlab")

pytestmark = pytest.mark.timeout(90)


def _study_with_result(client, store, tmp_path) -> int:
    headers = login(client, "otto")
    png = make_png(tmp_path / "knee.png", value=205).read_bytes()
    r = client.post("/api/studies", files={"files": ("knee.png", png)},
                    data={"methods": "wf_brightness", "patient_id": "PAT-7"}, headers=headers)
    assert r.status_code == 201, r.text
    Worker(store, poll_s=0.1, imports=[WF_METHODS]).run(max_jobs=1)
    return r.json()["studies"][0]


def _text(data: bytes) -> tuple[str, pypdf.PdfReader]:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages), reader


def _image_count(reader) -> int:
    return sum(len(page.images) for page in reader.pages)


def test_pdf_report_has_header_findings_measurements_and_images(client, store, tmp_path, wf_methods):
    study = _study_with_result(client, store, tmp_path)
    headers = login(client, "vic")  # a viewer may read reports
    r = client.get(f"/api/studies/{study}/report.pdf", headers=headers)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert f'filename="study-{study}.pdf"' in r.headers["content-disposition"]
    assert r.content.startswith(b"%PDF-") and r.content.rstrip().endswith(b"%%EOF")
    text, reader = _text(r.content)
    result = client.get(f"/api/studies/{study}", headers=headers).json()["results"][0]
    mean = result["metrics"]["mean"]
    assert f"Study report {study}" in text and "PAT-7" in text and "wf_brightness" in text
    assert f"mean brightness {mean:.0f}" in text  # the finding
    compact = text.replace("\n", "")
    assert f"{mean:.4g}" in compact and "per_file.knee.png" in compact  # the measurement table, as in the HTML
    assert "knee_mask.png" in text
    assert _image_count(reader) >= 2  # the preview and the result's mask picture
    audit = client.get("/api/audit", headers=login(client, "ada")).json()
    assert any(e["action"] == "report" and e["detail"] == "pdf" and e["username"] == "vic" for e in audit)


def test_pdf_report_deidentified(client, store, tmp_path, wf_methods):
    study = _study_with_result(client, store, tmp_path)
    r = client.get(f"/api/studies/{study}/report.pdf?deidentify=1", headers=login(client, "vic"))
    text, _ = _text(r.content)
    assert r.status_code == 200 and "PAT-7" not in text and "(removed" in text
    assert "knee.png" not in text.replace("knee_mask.png", "").replace("per_file.knee.png", "")


def test_pdf_report_refused_without_token_and_404(client, store, tmp_path, wf_methods):
    study = _study_with_result(client, store, tmp_path)
    r = client.get(f"/api/studies/{study}/report.pdf")
    assert r.status_code == 401 and not r.content.startswith(b"%PDF")
    r = client.get(f"/api/studies/{study}/report.pdf", headers={"Authorization": "Bearer forged"})
    assert r.status_code == 401
    assert client.get("/api/studies/999/report.pdf", headers=login(client, "vic")).status_code == 404


def test_pdf_keeps_unicode_and_escapes_markup(store, tmp_path, wf_methods):
    """Findings text is data, not ReportLab markup, and non-Latin-1 characters survive."""
    from biomedai.web.pdf import study_report_pdf
    from biomedai.workflow.intake import ingest
    from biomedai.workflow.models import Study

    ingest(store, [("a.png", make_png(tmp_path / "a.png"))])
    with store.session() as s:
        s.get(Study, 1).findings = [{"method": "m", "label": "<b>≥ 3 lesions</b> & µ", "severity": "high"}]
    text, _ = _text(study_report_pdf(store, 1))
    assert "<b>≥ 3 lesions</b> & µ" in text
    json.dumps(text)  # plain text, no surrogates
