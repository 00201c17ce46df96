"""Browser test: the reading worklist updates by itself (server-sent events) when a job finishes."""
from __future__ import annotations

import json

import pytest

from tests.browser import HeadlessChromium, find_chromium
from tests.workflow.conftest import make_png

from .service import ADMIN_PASSWORD, running_service

pytest.importorskip("uvicorn")
CHROMIUM = find_chromium()
pytestmark = pytest.mark.timeout(120)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium)")
def test_reading_worklist_updates_without_reload(tmp_path, store, wf_methods):
    import httpx

    image = make_png(tmp_path / "bright.png", value=220)
    rules = "rules:\n  - match: {kind: 'image/*'}\n    methods: [wf_brightness]\n"
    with running_service(store, tmp_path, rules) as base:
        browser = HeadlessChromium(CHROMIUM)
        try:
            browser.open_page()
            browser.navigate(f"{base}/login")
            browser.evaluate(f"""document.querySelector('input[name=username]').value = 'admin';
                document.querySelector('input[name=password]').value = {json.dumps(ADMIN_PASSWORD)};
                document.querySelector('form[action="/login"]').submit();""")
            browser.wait_for("location.pathname === '/' && document.readyState === 'complete'")
            browser.navigate(f"{base}/reading")
            assert browser.evaluate("document.querySelectorAll('#rows tr[data-study]').length") == 0
            browser.evaluate("window.notReloaded = true")
            token = httpx.post(f"{base}/api/token", data={"username": "admin", "password": ADMIN_PASSWORD}
                               ).json()["token"]
            with open(image, "rb") as fh:
                up = httpx.post(f"{base}/api/studies", files={"files": ("bright.png", fh, "image/png")},
                                headers={"Authorization": f"Bearer {token}"})
            assert up.status_code == 201, up.text
            text = browser.wait_for("window.notReloaded === true && "
                                    "document.querySelector('#rows').innerText.includes('wf_brightness:') && "
                                    "document.querySelector('#rows').innerText", timeout=60)
            assert "URGENT" in text  # the bright image is a 'high' finding of the test method
            assert browser.evaluate("document.querySelector('#rows').getAttribute('data-updated') !== null")
        finally:
            browser.close()
