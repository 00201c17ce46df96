"""The HTML pages: log in with the form, upload, see the worklist and the study viewer."""
from __future__ import annotations

import pytest

from biomedai.workflow.worker import Worker

from tests.workflow.conftest import WF_METHODS, make_png

from .conftest import PASSWORD

#: a hung worker or service must fail the test, not stall the run
pytestmark = pytest.mark.timeout(90)


def _page_login(client, username: str) -> None:
    r = client.post("/login", data={"username": username, "password": PASSWORD})
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert "httponly" in r.headers["set-cookie"].lower() and "samesite=strict" in r.headers["set-cookie"].lower()


def test_login_upload_worklist_viewer(client, store, tmp_path, wf_methods):
    assert client.get("/").headers["location"] == "/login"
    r = client.post("/login", data={"username": "otto", "password": "nope-nope"})
    assert "error" in r.headers["location"]
    _page_login(client, "otto")
    assert 'type="file"' in client.get("/upload").text
    png = make_png(tmp_path / "scan.png", value=210).read_bytes()
    r = client.post("/upload", files={"files": ("scan.png", png)}, data={"methods": "wf_brightness"})
    assert r.status_code == 303
    study_url = r.headers["location"]
    page = client.get(study_url).text
    assert "queued" in page and "Cancel" in page and "/preview" not in page  # the worker makes the preview
    Worker(store, poll_s=0.1, imports=[WF_METHODS]).run(max_jobs=1)
    page = client.get(study_url).text
    assert "/preview" in page
    assert "Result 1: wf_brightness" in page and "scan_mask.png" in page and 'class=ov' in page
    assert "mean brightness" in page and "per_file.scan.png" in page
    report = client.get(f"/api/studies/{study_url.rsplit('/', 1)[1]}/report.html")
    assert report.status_code == 200 and "attachment" in report.headers["content-disposition"]
    assert "data:image/png;base64," in report.text and "mean brightness" in report.text
    worklist = client.get("/").text
    assert f'href="{study_url}"' in worklist and "p-high" in worklist
    img = client.get(f"{study_url.replace('/studies/', '/api/studies/')}/files/1/preview")
    assert img.status_code == 200 and img.content.startswith(b"\x89PNG")
    assert client.post("/logout").status_code == 303
    assert client.get("/").status_code == 303


def test_viewer_sees_no_operator_controls_and_pages_escape_html(client, store, tmp_path, wf_methods):
    from biomedai.workflow.intake import ingest

    ingest(store, [("<script>alert(1)</script>.png", make_png(tmp_path / "x.png"))])
    _page_login(client, "vic")
    page = client.get("/studies/1").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "Run method" not in page and "Cancel" not in page
    assert client.get("/upload").status_code == 403


def test_cancel_from_the_page(client, store, tmp_path, wf_methods):
    _page_login(client, "otto")
    png = make_png(tmp_path / "a.png").read_bytes()
    study_url = client.post("/upload", files={"files": ("a.png", png)},
                            data={"methods": "wf_brightness"}).headers["location"]
    r = client.post("/jobs/1/cancel", data={"study_id": study_url.rsplit("/", 1)[1]})
    assert r.status_code == 303
    assert client.get("/api/jobs/1").json()["status"] == "cancelled"
    r = client.post(f"{study_url}/run", data={"method": "wf_brightness"})
    assert r.status_code == 303 and client.get("/api/jobs/2").json()["status"] == "queued"


def test_prior_comparison_and_deidentified_report(client, store, tmp_path, wf_methods):
    _page_login(client, "otto")
    urls = []
    for i, value in enumerate((90, 200)):
        png = make_png(tmp_path / f"v{i}.png", value=value, seed=i).read_bytes()
        r = client.post("/upload", files={"files": (f"visit{i}.png", png)},
                        data={"methods": "wf_brightness", "patient_id": "PAT-42"})
        urls.append(r.headers["location"])
    Worker(store, poll_s=0.1, imports=[WF_METHODS]).run(max_jobs=2)
    current = urls[1].rsplit("/", 1)[1]
    comparison = client.get(f"/api/studies/{current}/comparison").json()
    [mean] = [c for c in comparison[0]["changes"] if c["measurement"] == "mean"]
    assert comparison[0]["prior_study_id"] == int(urls[0].rsplit("/", 1)[1]) and mean["change"] > 80
    assert "Comparison with the prior study" in client.get(urls[1]).text
    report = client.get(f"/api/studies/{current}/report.html", params={"deidentify": 1}).text
    assert "PAT-42" not in report and "(removed)" in report
    assert "PAT-42" in client.get(f"/api/studies/{current}/report.html").text


def test_window_level_render(client, store, tmp_path):
    import numpy as np
    from PIL import Image

    from biomedai.io import write_image
    from biomedai.workflow.intake import ingest
    from biomedai.workflow.routing import Router

    from tests.workflow.conftest import make_dicom

    volume = np.stack([np.full((16, 16), v, np.float32) for v in (-1000, 0, 40, 1000)])
    vol = write_image(volume, tmp_path / "ct.nii.gz")
    dcm = make_dicom(tmp_path / "ct.dcm", "4.4", "4.4.1", modality="CT", body_part="CHEST")
    report = ingest(store, [("ct.nii.gz", vol), ("ct.dcm", dcm), ("a.png", make_png(tmp_path / "a.png", rgb=True))],
                    router=Router.from_data({"rules": []}))
    _page_login(client, "vic")
    with store.session() as s:
        from biomedai.workflow.models import StoredFile

        files = {f.original_name: (f.study_id, f.id) for f in s.query(StoredFile)}
    sid, fid = files["ct.nii.gz"]

    def grey(**params):
        r = client.get(f"/api/studies/{sid}/files/{fid}/render", params=params)
        assert r.status_code == 200, r.text
        import io

        return np.asarray(Image.open(io.BytesIO(r.content)))

    assert abs(grey(center=40, width=400, slice=2).mean() - 127.5) <= 1.5  # the window's centre: mid-grey
    assert grey(center=40, width=400, slice=0).max() == 0 and grey(center=40, width=400, slice=3).min() == 255
    assert client.get(f"/api/studies/{sid}/files/{fid}/render", params={"slice": 9}).status_code == 400
    assert client.get(f"/api/studies/{sid}/files/{fid}/render", params={"center": 1}).status_code == 400
    rgb_sid, rgb_fid = files["a.png"]
    assert client.get(f"/api/studies/{rgb_sid}/files/{rgb_fid}/render").status_code == 400
    ct_sid, _ = files["ct.dcm"]
    assert "lung -600/1500" in client.get(f"/studies/{ct_sid}").text
    assert len(report.studies) == 2
