"""The study page and API say which methods did not run on a study and why (declined / not configured)."""
from __future__ import annotations

from biomedai.data.samples import sample_path

from .conftest import login


def test_study_page_lists_methods_not_run(client, store):
    from biomedai.workflow.intake import ingest
    from biomedai.workflow.routing import Router

    report = ingest(store, [("coins.png", sample_path("coins"))], router=Router())
    headers = login(client, "vic")
    detail = client.get(f"/api/studies/{report.studies[0]}", headers=headers).json()
    assert detail["jobs"] == [] and {n["method"] for n in detail["routing"]} >= {"dental_perio", "hip_dysplasia"}
    page = client.get(f"/studies/{report.studies[0]}", headers=headers).text
    assert "Methods not run" in page and "declined" in page and "No method runs on this study" in page
    assert "failed" not in page.split("Methods not run")[1]
    r = client.post(f"/api/studies/{report.studies[0]}/jobs", json={"method": "dental_perio"},
                    headers=login(client, "otto"))
    assert r.status_code == 400 and "symmetry" in r.json()["detail"]
