"""Browser test of the live reading worklist: a job that finishes while the page is open changes its row
without the page being reloaded (server-sent events). Headless Chromium through Playwright."""
from __future__ import annotations

import importlib.util
import time

import pytest

from tests.browser import find_chromium
from tests.workflow.conftest import make_png

from .service import running_service
from .test_viewer_browser import CHROMIUM_ARGS, _token

pytest.importorskip("uvicorn")
CHROMIUM = find_chromium()
try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - the test extra installs it
    sync_playwright = None

#: about 50 s on two loaded cores (a service, a 6 s job, Chromium): slow
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium found (Debian: apt-get install chromium)"),
    pytest.mark.skipif(sync_playwright is None, reason="playwright (Python) is not installed: pip install playwright"),
    pytest.mark.skipif(importlib.util.find_spec("biomedai.web.reading_pages") is None,
                       reason="this checkout's service has no reading worklist yet"),
]
RULES = "rules:\n  - match: {kind: 'image/*'}\n    methods: [wf_slow]\n"


def test_worklist_row_changes_when_its_job_finishes(tmp_path, store, wf_methods, monkeypatch):
    import httpx

    monkeypatch.setenv("WF_SLEEP_S", "6")  # long enough to see the row before the job is done
    image = make_png(tmp_path / "knee.png", value=210)
    with running_service(store, tmp_path, RULES) as base, sync_playwright() as pw:
        token = _token(base)
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            context.add_cookies([{"name": "biomedai_token", "value": token, "url": base}])
            page = context.new_page()
            page.goto(f"{base}/reading")
            page.wait_for_selector("#rows")
            page.evaluate("window.notReloaded = true")
            with open(image, "rb") as fh:
                r = httpx.post(f"{base}/api/studies", files={"files": ("knee.png", fh, "image/png")},
                               headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 201, r.text
            study = r.json()["studies"][0]
            row = f"#rows tr[data-study='{study}']"
            page.wait_for_selector(row, timeout=30_000)  # the new study appears by itself
            first = page.inner_text(row)
            started = time.monotonic()
            page.wait_for_function(
                f"() => {{ const r = document.querySelector(\"{row}\"); return r && r.innerText !== {first!r}; }}",
                timeout=60_000)
            assert page.evaluate("window.notReloaded === true"), "the page was reloaded"
            status = httpx.get(f"{base}/api/studies/{study}", headers={"Authorization": f"Bearer {token}"}).json()
            assert status["status"] == "done", status
            assert "processing" in first and "processing" not in page.inner_text(row), (first, page.inner_text(row))
            assert time.monotonic() - started < 60
        finally:
            browser.close()
