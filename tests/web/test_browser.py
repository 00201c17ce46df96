"""Browser test: headless Chromium (DevTools protocol over a pipe) logs in, uploads, sees the job
finish, opens the viewer, sees the overlay and downloads the report."""
from __future__ import annotations

import json

import pytest

from tests.workflow.conftest import make_png

from tests.browser import HeadlessChromium, find_chromium
from .service import ADMIN_PASSWORD, running_service

pytest.importorskip("uvicorn")
CHROMIUM = find_chromium()

#: a hung worker or service must fail the test, not stall the run
pytestmark = pytest.mark.timeout(90)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium)")
def test_browser_login_upload_view_overlay_report(tmp_path, store, wf_methods):
    image = make_png(tmp_path / "knee.png", value=210)
    rules = "rules:\n  - match: {kind: 'image/*'}\n    methods: [wf_brightness]\n"
    with running_service(store, tmp_path, rules) as base:
        browser = HeadlessChromium(CHROMIUM)
        try:
            browser.open_page()
            browser.navigate(f"{base}/")  # not logged in: sent to the login page
            assert browser.evaluate("location.pathname") == "/login"
            browser.evaluate(f"""document.querySelector('input[name=username]').value = 'admin';
                document.querySelector('input[name=password]').value = {json.dumps(ADMIN_PASSWORD)};
                document.querySelector('form[action="/login"]').submit();""")
            browser.wait_for("location.pathname === '/' && document.readyState === 'complete'")
            assert "Worklist" in browser.evaluate("document.querySelector('h1').textContent")
            browser.navigate(f"{base}/upload")
            browser.set_files("input[type=file]", [str(image)])
            browser.evaluate("document.querySelector('form[action=\"/upload\"]').submit()")
            path = browser.wait_for("location.pathname.startsWith('/studies/') && document.readyState === 'complete'"
                                    " && location.pathname")
            for _ in range(100):  # the page has no auto-refresh: reload until the worker is done
                if browser.evaluate("document.body.innerText.includes('Result 1: wf_brightness')"):
                    break
                browser.navigate(f"{base}{path}")
            else:
                pytest.fail("the job did not finish: " + browser.evaluate("document.body.innerText")[:2000])
            browser.wait_for("[...document.querySelectorAll('img.ov')].length > 0 && "
                             "[...document.querySelectorAll('img')].every(i => i.complete && i.naturalWidth > 0)")
            report = browser.evaluate("""fetch(document.querySelector('a[href$="report.html"]').href)
                .then(r => r.text().then(t => [r.status, r.headers.get('content-disposition'), t]))""",
                                      await_promise=True)
            assert report[0] == 200 and "attachment" in report[1] and "data:image/png;base64," in report[2]
            top = browser.evaluate("fetch('/api/worklist').then(r => r.json()).then(rows => rows[0])",
                                   await_promise=True)
            assert top["priority"] == 75 and top["status"] == "done" and path == f"/studies/{top['id']}"
        finally:
            browser.close()
