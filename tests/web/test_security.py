"""Security: tokens on every endpoint, roles, expiry, path traversal, upload size."""
from __future__ import annotations

import re
import time

import pytest
from fastapi.routing import APIRoute

from biomedai.web.app import PUBLIC_PATHS
from biomedai.workflow.models import StoredFile

from tests.workflow.conftest import make_png

from .conftest import MAX_UPLOAD, PASSWORD, login


def api_routes(routes):
    """Every APIRoute, also inside routers included with FastAPI's lazy include (its ``original_router``)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from api_routes(route.original_router.routes)


def _routes(app):
    for route in api_routes(app.routes):
        for method in route.methods:
            yield method, re.sub(r"\{[^}]+\}", "1", route.path), route.path


def test_the_api_has_86_routes(app):
    # 45 + DICOMweb (17 QIDO/WADO GETs, 2 STOW POSTs under /dicom-web) + the viewer (5)
    # + reading (8 API routes, 6 pages) + annotation correction (3)
    assert sum(len(route.methods) for route in api_routes(app.routes)) == 86


def test_no_endpoint_answers_without_a_valid_token(app, client):
    checked = 0
    for method, url, template in _routes(app):
        if template in PUBLIC_PATHS:
            continue
        for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Cookie": "biomedai_token=forged"}):
            r = client.request(method, url, headers=headers)
            if url.startswith(("/api/", "/dicom-web", "/dicomweb/")):
                assert r.status_code == 401, (method, url, r.status_code)
            else:
                assert r.status_code == 303 and r.headers["location"] == "/login", (method, url, r.status_code)
            checked += 1
    assert checked >= 25 * 3
    assert client.get("/docs").status_code in (303, 404) and client.get("/openapi.json").status_code in (303, 404)


def test_roles(client, store, tmp_path):
    viewer, operator, admin = login(client, "vic"), login(client, "otto"), login(client, "ada")
    png = make_png(tmp_path / "a.png").read_bytes()
    assert client.post("/api/studies", headers=viewer, files={"files": ("a.png", png)}).status_code == 403
    r = client.post("/api/studies", headers=operator, files={"files": ("a.png", png)})
    assert r.status_code == 201, r.text
    study = r.json()["studies"][0]
    assert client.get(f"/api/studies/{study}", headers=viewer).status_code == 200
    assert client.delete(f"/api/studies/{study}", headers=viewer).status_code == 403
    assert client.delete(f"/api/studies/{study}", headers=operator).status_code == 403
    assert client.get("/api/users", headers=operator).status_code == 403
    assert client.get("/api/audit", headers=viewer).status_code == 403
    assert client.post("/api/users", headers=operator, json={"username": "eve", "password": "x" * 10,
                                                             "role": "admin"}).status_code == 403
    assert client.delete(f"/api/studies/{study}", headers=admin).status_code == 200
    assert client.get(f"/api/studies/{study}", headers=viewer).status_code == 404
    actions = [(e["username"], e["action"]) for e in client.get("/api/audit", headers=admin).json()]
    assert ("otto", "upload") in actions and ("vic", "view_study") in actions and ("ada", "delete_study") in actions


def test_wrong_password_and_expired_or_revoked_tokens(app, client, store):
    r = client.post("/api/token", data={"username": "vic", "password": "wrong-password"})
    assert r.status_code == 401
    r = client.post("/api/token", data={"username": "nobody", "password": PASSWORD})
    assert r.status_code == 401
    user = store.authenticate("vic", PASSWORD)
    expired, _ = store.issue_token(user, ttl_s=-1)
    assert client.get("/api/me", headers={"Authorization": f"Bearer {expired}"}).status_code == 401
    app.state.settings.token_ttl_s = 2.0  # long enough for login + one request on a loaded machine
    issued = time.monotonic()
    short = login(client, "vic")
    assert client.get("/api/me", headers=short).status_code == 200
    time.sleep(max(0.0, 2.1 - (time.monotonic() - issued)))
    assert client.get("/api/me", headers=short).status_code == 401
    app.state.settings.token_ttl_s = 3600
    headers = login(client, "vic")
    assert client.post("/api/logout", headers=headers).status_code == 200
    assert client.get("/api/me", headers=headers).status_code == 401


@pytest.mark.parametrize("name", ["../evil.png", "/etc/evil.png", "a/../../evil.png", "..\\evil.png"])
def test_traversal_in_upload_names_refused(client, store, tmp_path, name):
    operator = login(client, "otto")
    png = make_png(tmp_path / "a.png").read_bytes()
    r = client.post("/api/studies", headers=operator, files={"files": (name, png)})
    assert r.status_code == 400, r.text
    with store.session() as s:
        assert s.query(StoredFile).count() == 0
    assert not list(store.data_dir.parent.rglob("evil.png"))


def test_file_urls_cannot_escape(client, store, tmp_path, wf_methods):
    from biomedai.workflow.worker import Worker

    from tests.workflow.conftest import WF_METHODS

    operator = login(client, "otto")
    png = make_png(tmp_path / "a.png").read_bytes()
    first = client.post("/api/studies", headers=operator, files={"files": ("a.png", png)},
                        data={"methods": "wf_brightness"}).json()
    other = client.post("/api/studies", headers=operator,
                        files={"files": ("b.png", make_png(tmp_path / "b.png", seed=3).read_bytes())}).json()
    Worker(store, poll_s=0.1, imports=[WF_METHODS]).run(max_jobs=1)
    detail = client.get(f"/api/studies/{first['studies'][0]}", headers=operator).json()
    result = detail["results"][0]
    ok = client.get(result["file_urls"]["result.json"], headers=operator)
    assert ok.status_code == 200 and ok.json()["method"] == "wf_brightness"
    for bad in ("..%2F..%2F..%2Fbiomedai-workflow.db", "%2E%2E/%2E%2E/%2E%2E/%2E%2E/biomedai-workflow.db",
                "%2Fetc%2Fpasswd", "result.json%00", "sub/..%2F..%2F..%2F..%2Fbiomedai-workflow.db"):
        r = client.get(f"/api/results/{result['id']}/files/{bad}", headers=operator)
        assert r.status_code == 404, (bad, r.status_code)
    other_file = other["new_files"][0]
    r = client.get(f"/api/studies/{first['studies'][0]}/files/{other_file}", headers=operator)
    assert r.status_code == 404  # a file id of another study is not reachable through this one


def test_oversized_uploads_refused(client, store):
    operator = login(client, "otto")
    big = b"\x89PNG\r\n\x1a\n" + b"0" * (MAX_UPLOAD + 10)
    r = client.post("/api/studies", headers=operator, files={"files": ("big.png", big)})
    assert r.status_code == 413

    def chunks():
        boundary = b"--xyz\r\n"
        yield boundary + b'Content-Disposition: form-data; name="files"; filename="big.png"\r\n\r\n'
        for _ in range(40):
            yield b"0" * 10_000
        yield b"\r\n--xyz--\r\n"

    r = client.post("/api/studies", headers={**operator, "Content-Type": "multipart/form-data; boundary=xyz"},
                    content=chunks())
    assert r.status_code == 413
    with store.session() as s:
        assert s.query(StoredFile).count() == 0


def test_failed_logins_are_throttled(app, client):
    throttle = app.state.settings.throttle
    now = [1000.0]
    throttle.clock = lambda: now[0]
    throttle.max_failures = 3
    for _ in range(3):
        assert client.post("/api/token", data={"username": "vic", "password": "guess-guess"}).status_code == 401
    r = client.post("/api/token", data={"username": "vic", "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1  # even the right password, for a while
    r = client.post("/login", data={"username": "vic", "password": PASSWORD})
    assert r.status_code == 303 and "too+many" in r.headers["location"]
    now[0] += throttle.base_lock_s + 0.1
    assert client.post("/api/token", data={"username": "vic", "password": PASSWORD}).status_code == 200
