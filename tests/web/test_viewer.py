"""The viewer's page, bundle and measurement API (no browser; see test_viewer_browser.py for that)."""
from __future__ import annotations

import re

import pytest

from .conftest import login
from .viewer_data import write_ct_series

STUDY_UID = "1.2.826.0.1.3680043.8.498.7101"
#: URLs that are in the bundled libraries' code as names or documentation, never fetched (the page's
#: content-security policy would refuse any other origin anyway: connect-src 'self')
NOT_FETCHED = {
    "http://www.w3.org/2000/svg",  # the SVG namespace of the tools' annotation layer
    "http://www.kitware.com/Copyright.htm", "https://github.com/BIDS/colormap/blob/master/colormaps.py",
    "https://mimosa-pudica.net/improved-oren-nayar.html", "https://learnopengl.com/PBR/Theory",
    "https://kitware.github.io/vtk-js/docs/concepts_profile.html",
    "https://karthikkaranth.me/blog/generating-random-points-in-a-sphere/", "https://github.com/dcmjs-org/dcmjs",
    "https://github.com/cornerstonejs/cornerstone3D/issues/3000", "http://quantome.org",
    "http://dicom.nema.org/medical/dicom/current/output/chtml/part03/sect_C.7.6.3.html",
    # the default model of OrientationMarkerTool, a tool the viewer does not register
    "https://raw.githubusercontent.com/Slicer/Slicer/80ad0a04dacf134754459557bf2638c63f3d1d1b/Base/Logic/Resources/"
    "OrientationMarkers/Human.vtp",
}
_URL = re.compile(r"""(?:https?|wss?|ftp)://[A-Za-z0-9][A-Za-z0-9.-]*[^\s"'`)<>\\]*""")


@pytest.fixture
def ct_study(store, tmp_path, wf_methods) -> int:
    from biomedai.workflow.intake import ingest

    paths = write_ct_series(tmp_path / "ct", "SIM-VIEWER-2", STUDY_UID, n_slices=3)
    report = ingest(store, [(p.name, p) for p in paths], methods=["wf_brightness"])
    return report.studies[0]


def test_bundle_is_built_and_fetches_nothing_from_elsewhere():
    from biomedai.web.routes.viewer import bundle_files

    files = bundle_files()
    assert {"viewer.js", "viewer.css", "decodeImageFrameWorker.js", "THIRD-PARTY-LICENSES.txt"} <= set(files), \
        "run `make viewer`"
    total = sum(p.stat().st_size for p in files.values())
    assert total < 6_000_000, f"the bundle grew to {total} bytes"
    for name, path in files.items():
        if path.suffix not in (".js", ".css"):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        found = {m.group(0).rstrip(".,;") for m in _URL.finditer(text)}
        unexpected = {u for u in found if not any(u.startswith(ok) or ok.startswith(u) for ok in NOT_FETCHED)}
        assert not unexpected, f"{name} names URLs outside the service: {sorted(unexpected)[:10]}"


def test_viewer_page_is_local_and_needs_login(client, ct_study, wf_methods):
    r = client.get(f"/studies/{ct_study}/viewer")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    r = client.get(f"/studies/{ct_study}/viewer", headers=login(client, "vic"))
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "connect-src 'self'" in csp and "unsafe-eval'" not in csp.replace(
        "wasm-unsafe-eval'", "")
    page = r.text
    assert '<script type="module" src="/static/viewer/viewer.js">' in page
    assert f'data-context="/api/studies/{ct_study}/viewer.json"' in page
    references = re.findall(r"""(?:src|href|action)=["']?([^"' >]+)""", page)
    assert references and all(ref.startswith("/") and not ref.startswith("//") for ref in references), references
    assert not _URL.search(page)
    # the study page links to it
    assert f'href="/studies/{ct_study}/viewer"' in client.get(f"/studies/{ct_study}", headers=login(client, "vic")).text


def test_viewer_page_of_a_study_without_dicom(client, store, tmp_path, wf_methods):
    from biomedai.workflow.intake import ingest

    from tests.workflow.conftest import make_png

    png = make_png(tmp_path / "knee.png")
    study = ingest(store, [("knee.png", png)], methods=["wf_brightness"]).studies[0]
    r = client.get(f"/studies/{study}/viewer", headers=login(client, "vic"))
    assert r.status_code == 200 and "no DICOM images" in r.text and "viewer.js" not in r.text
    assert client.get("/studies/999999/viewer", headers=login(client, "vic")).status_code == 404


def test_bundle_files_are_served_by_name_only(client):
    headers = login(client, "vic")
    r = client.get("/static/viewer/viewer.js", headers={**headers, "Accept-Encoding": "identity"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert r.headers["x-content-type-options"] == "nosniff" and "content-encoding" not in r.headers
    zipped = client.get("/static/viewer/viewer.js", headers={**headers, "Accept-Encoding": "gzip, br"})
    assert zipped.headers["content-encoding"] == "gzip" and zipped.content == r.content  # httpx unzips it
    assert int(zipped.headers["content-length"]) < len(r.content) / 2
    assert client.get("/static/viewer/viewer.css", headers=headers).headers["content-type"].startswith("text/css")
    for name in ("nothing.js", "..%2Fviewer.py", ".hidden.js", "viewer.py"):
        assert client.get(f"/static/viewer/{name}", headers=headers).status_code == 404, name
    assert client.get("/static/viewer/viewer.js").status_code == 303  # to the login page, like every page


def _length(uid: str = "m1", length: float = 12.5) -> dict:
    return {"uid": uid, "tool": "Length", "series_uid": "1.2.3", "sop_instance_uid": "1.2.3.4", "frame": 1,
            "points": [[0.0, 0.0, -100.0], [12.5, 0.0, -100.0]], "label": "",
            "stats": {"length": length, "unit": "mm", "bogus": [1]},
            "view": {"FrameOfReferenceUID": "1.2.9", "viewPlaneNormal": [0, 0, 1], "viewUp": [0, -1, 0]}}


def test_measurements_are_saved_with_the_study_and_audited(client, store, ct_study, wf_methods):
    from biomedai.workflow.intake import remove_study
    from biomedai.workflow.models import AuditEvent

    operator, viewer = login(client, "otto"), login(client, "vic")
    url = f"/api/studies/{ct_study}/annotations"
    assert client.get(url, headers=viewer).json()["measurements"] == []
    assert client.put(url, json={"measurements": [_length()]}, headers=viewer).status_code == 403
    r = client.put(url, json={"measurements": [_length(), {**_length("m2"), "tool": "Angle",
                                                           "stats": {"angle": 33.0}}]}, headers=operator)
    assert r.status_code == 200, r.text
    saved = client.get(url, headers=viewer).json()
    assert [m["uid"] for m in saved["measurements"]] == ["m1", "m2"] and saved["updated_by"] == "otto"
    assert saved["measurements"][0]["stats"] == {"length": 12.5, "unit": "mm"}  # non-scalar stats dropped
    context = client.get(f"/api/studies/{ct_study}/viewer.json", headers=viewer).json()
    assert context["study"]["uid"] == STUDY_UID and context["annotations_url"] == url
    assert context["dicomweb"] == "/dicom-web" and context["study"]["dicom"] is True
    assert context["can_save"] is False  # a viewer measures but does not save
    assert client.get(f"/api/studies/{ct_study}/viewer.json", headers=operator).json()["can_save"] is True
    with store.session() as s:
        details = [e.detail for e in s.query(AuditEvent).filter(AuditEvent.action == "save_measurements")]
    assert details == ["Length length 12.5 mm, Angle angle 33 deg"]
    path = store.storage.resolve(f"results/study-{ct_study}/viewer-annotations.json")
    assert path.exists()
    remove_study(store, ct_study)
    assert not path.exists()  # they go with the study


@pytest.mark.parametrize("change, message", [
    ({"tool": "Freehand"}, "tool"),
    ({"points": [[0, 0]]}, "points"),
    ({"points": [[0, 0, float("nan")]]}, "points"),
    ({"sop_instance_uid": "../etc"}, "sop_instance_uid"),
    ({"frame": 0}, "frame"),
    ({"stats": [1, 2]}, "stats"),
])
def test_bad_measurements_are_refused(client, ct_study, wf_methods, change, message):
    import json

    body = json.dumps({"measurements": [{**_length(), **change}]}, allow_nan=True)
    r = client.put(f"/api/studies/{ct_study}/annotations", content=body,
                   headers={**login(client, "otto"), "Content-Type": "application/json"})
    assert r.status_code in (400, 422) and message in r.text, r.text


def test_measurement_api_bad_requests(client, ct_study, wf_methods):
    headers = login(client, "otto")
    url = f"/api/studies/{ct_study}/annotations"
    assert client.put(url, json={"measurements": "x"}, headers=headers).status_code == 400
    assert client.put(url, json={"measurements": [_length(), _length()]}, headers=headers).status_code == 400
    assert client.put("/api/studies/999999/annotations", json={"measurements": []}, headers=headers).status_code == 404
    assert client.get("/api/studies/999999/annotations", headers=headers).status_code == 404
    assert client.get("/api/studies/999999/viewer.json", headers=headers).status_code == 404
