"""The service's CORS option (off by default) and the OHIF static server, without a browser or an OHIF build:
a preflight from the allowed origin is answered before the token check, other origins get no CORS headers,
and the OHIF server answers its generated app-config.js, files of the build, and index.html for its routes."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from .conftest import login

VIEWER = "http://127.0.0.1:3000"
SEARCH = "/dicom-web/studies"


@pytest.fixture
def cors_client(store):
    from fastapi.testclient import TestClient

    from biomedai.web.app import create_app

    store.create_user("vic", "s3cret-pass", "viewer")
    with TestClient(create_app(store, cors_origins=[VIEWER]), follow_redirects=False) as c:
        yield c


def test_preflight_and_reads_from_the_allowed_origin(cors_client):
    pre = cors_client.options(SEARCH, headers={"Origin": VIEWER, "Access-Control-Request-Method": "GET",
                                               "Access-Control-Request-Headers": "authorization,accept"})
    assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == VIEWER
    assert "authorization" in pre.headers["access-control-allow-headers"].lower()
    headers = {**login(cors_client, "vic"), "Origin": VIEWER}
    r = cors_client.get(SEARCH, headers=headers)
    assert r.status_code in (200, 204) and r.headers["access-control-allow-origin"] == VIEWER  # 204: no studies
    assert "warning" in r.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-credentials" not in r.headers  # the login cookie is never good cross-origin
    no_token = cors_client.get(SEARCH, headers={"Origin": VIEWER})
    assert no_token.status_code == 401  # CORS lets the page see the answer, not past the token check
    other = cors_client.get(SEARCH, headers={**headers, "Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_no_cors_unless_asked(client):
    pre = client.options(SEARCH, headers={"Origin": VIEWER, "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in pre.headers
    r = client.get(SEARCH, headers={**login(client, "vic"), "Origin": VIEWER})
    assert r.status_code in (200, 204) and "access-control-allow-origin" not in r.headers


def test_ohif_server_config_files_and_routes(tmp_path):
    from biomedai.web.ohif import start_ohif_server

    from .service import free_port

    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("<html>OHIF</html>")
    (dist / "app.bundle.abc.js").write_text("console.log(1)")
    port = free_port()
    server = start_ohif_server(dist, "127.0.0.1", port, "http://127.0.0.1:8000/dicom-web")
    base = f"http://127.0.0.1:{port}"
    try:
        config = urllib.request.urlopen(f"{base}/app-config.js", timeout=10).read().decode()
        source = json.loads(config.removeprefix("window.config = ").rstrip(";\n"))["dataSources"][0]
        assert source["configuration"]["qidoRoot"] == "http://127.0.0.1:8000/dicom-web"
        bundle = urllib.request.urlopen(f"{base}/app.bundle.abc.js", timeout=10)
        assert bundle.read() == b"console.log(1)" and "javascript" in bundle.headers["Content-Type"]
        assert bundle.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
        route = urllib.request.urlopen(f"{base}/viewer?StudyInstanceUIDs=1.2.3", timeout=10).read()
        assert route == b"<html>OHIF</html>"  # OHIF's own routes: its index.html
        outside = urllib.request.urlopen(f"{base}/../../etc/passwd", timeout=10).read()
        assert outside == b"<html>OHIF</html>"
    finally:
        server.shutdown()


def test_not_an_ohif_build_says_how_to_get_one(tmp_path):
    from biomedai.errors import ConfigError
    from biomedai.web.ohif import check_dist

    with pytest.raises(ConfigError, match="make ohif"):
        check_dist(tmp_path)


def test_serve_refuses_a_missing_ohif_build_before_starting(tmp_path):
    """``biomedai serve --ohif DIR`` without a build: one line saying how to get it, exit 2, nothing created."""
    from biomedai.cli import main

    data = tmp_path / "data"
    assert main(["serve", "--data-dir", str(data), "--ohif", str(tmp_path / "nothing"), "--port", "1"]) == 2
    assert not data.exists()
