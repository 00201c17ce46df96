from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
pytest.importorskip("multipart")

from tests.workflow.conftest import cheap_password_hashing, store, wf_methods  # noqa: E402,F401 - shared fixtures

PASSWORD = "s3cret-pass"
MAX_UPLOAD = 300_000


@pytest.fixture
def app(store):
    from biomedai.web.app import create_app

    for name, role in (("ada", "admin"), ("otto", "operator"), ("vic", "viewer")):
        store.create_user(name, PASSWORD, role)
    return create_app(store, max_upload_bytes=MAX_UPLOAD, token_ttl_s=3600)


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app, follow_redirects=False) as c:
        yield c


def login(client, username: str) -> dict[str, str]:
    r = client.post("/api/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}
