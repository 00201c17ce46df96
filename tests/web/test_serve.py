"""``serve`` for real: uvicorn on loopback plus a worker process, driven over HTTP."""
from __future__ import annotations

import time

import pytest

from tests.workflow.conftest import make_png

from tests.browser import find_chromium
from .service import ADMIN_PASSWORD, running_service

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

#: a hung worker or service must fail the test, not stall the run
pytestmark = pytest.mark.timeout(90)


@pytest.mark.skipif(find_chromium() is not None,
                    reason="test_browser.py runs the same service end to end through a browser")
def test_serve_processes_an_upload_with_a_real_worker(tmp_path, store, wf_methods):
    rules = "rules:\n  - match: {kind: 'image/*'}\n    methods: [wf_brightness]\n"
    with running_service(store, tmp_path, rules) as base:
        token = httpx.post(f"{base}/api/token", data={"username": "admin", "password": ADMIN_PASSWORD}).json()
        headers = {"Authorization": f"Bearer {token['token']}"}
        png = make_png(tmp_path / "a.png", value=230).read_bytes()
        r = httpx.post(f"{base}/api/studies", headers=headers, files={"files": ("a.png", png)})
        assert r.status_code == 201, r.text
        job = r.json()["jobs"][0]
        deadline = time.monotonic() + 40
        while (status := httpx.get(f"{base}/api/jobs/{job}", headers=headers).json()["status"]) != "done":
            assert status in ("queued", "running") and time.monotonic() < deadline, status
            time.sleep(0.3)
        top = httpx.get(f"{base}/api/worklist", headers=headers).json()[0]
        assert top["priority"] == 75 and top["status"] == "done"
