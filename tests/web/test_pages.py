"""The HTML pages: log in with the form, upload, see the worklist and the study viewer."""
from __future__ import annotations

from biomedai.workflow.worker import Worker

from tests.workflow.conftest import WF_METHODS, make_png

from .conftest import PASSWORD


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
    assert "queued" in page and "Cancel" in page and "/preview" in page
    Worker(store, poll_s=0.1, imports=[WF_METHODS]).run(max_jobs=1)
    page = client.get(study_url).text
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
