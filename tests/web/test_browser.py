"""Browser test: headless Chromium (DevTools protocol over a pipe) logs in, uploads, sees the job
finish, opens the viewer, sees the overlay and downloads the report."""
from __future__ import annotations

import json
import time

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
            for _ in range(240):  # the page has no auto-refresh: reload until the result and the preview it overlays
                if browser.evaluate("document.body.innerText.includes('Result 1: wf_brightness') && "  # are both done
                                    "document.querySelectorAll('img.ov').length > 0"):
                    break
                time.sleep(0.25)  # the preview is made in a child process, which is slow on a loaded machine
                browser.navigate(f"{base}{path}")
            else:
                pytest.fail("the job or its preview did not finish: " + browser.evaluate("document.body.innerText")[:2000])
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


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium)")
def test_browser_wsi_pan_zoom_with_overlay(tmp_path, store, wf_methods):
    """The slide viewer draws Deep Zoom tiles and a GeoJSON overlay; the wheel zooms in, a drag pans."""
    import numpy as np

    from biomedai.io.wsi import write_pyramidal_tiff
    from biomedai.workflow.intake import ingest
    from biomedai.workflow.models import Job, Result

    yy, xx = np.mgrid[0:2048, 0:3072]
    array = np.stack([(xx // 12) % 256, (yy // 8) % 256, np.full_like(xx, 128)], axis=-1).astype(np.uint8)
    write_pyramidal_tiff(array, tmp_path / "slide.tif", mpp=0.5, tile=256)
    report = ingest(store, [("slide.tif", tmp_path / "slide.tif")], methods=["wf_brightness"])  # queues nothing
    file_id = report.new_files[0]
    with store.session() as s:  # a finished result with cell outlines on the slide
        from biomedai.workflow.models import StoredFile

        row = s.get(StoredFile, file_id)
        job = Job(study_id=row.study_id, method="wf_brightness", inputs=[row.path], status="done")
        s.add(job)
        s.flush()
        folder = store.storage.resolve("results/cells")
        folder.mkdir(parents=True)
        (folder / "cells.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"color": [255, 0, 0]},
             "geometry": {"type": "Polygon", "coordinates": [[[1400, 900], [1700, 900], [1700, 1100], [1400, 900]]]}}]}))
        s.add(Result(job_id=job.id, study_id=row.study_id, method="wf_brightness", output_dir="results/cells",
                     files=["results/cells/cells.geojson"]))
    rules = "rules:\n  - match: {kind: 'image/*'}\n    methods: [wf_brightness]\n"
    with running_service(store, tmp_path, rules, workers=0) as base:
        browser = HeadlessChromium(CHROMIUM)
        try:
            browser.open_page()
            browser.navigate(f"{base}/login")
            browser.evaluate(f"""document.querySelector('input[name=username]').value = 'admin';
                document.querySelector('input[name=password]').value = {json.dumps(ADMIN_PASSWORD)};
                document.querySelector('form[action="/login"]').submit();""")
            browser.wait_for("location.pathname === '/' && document.readyState === 'complete'")
            browser.navigate(f"{base}/slides/{file_id}")
            viewer = "document.querySelector('.wsi-viewer')"
            browser.wait_for(f"+{viewer}.dataset.tilesDrawn > 0 && +{viewer}.dataset.overlayDrawn === 1")
            assert browser.evaluate(f"{viewer}.dataset.error") is None
            centre = browser.evaluate(f"""(() => {{ const c = {viewer}.querySelector('canvas');
                const r = c.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; }})()""")
            # the centre tile arrives on its own schedule: wait until slide pixels, not the empty background, are there
            browser.wait_for(f"""(() => {{ const c = {viewer}.querySelector('canvas');
                const p = c.getContext('2d').getImageData(c.width / 2, c.height / 2, 1, 1).data;
                return !(p[0] === 34 && p[1] === 34 && p[2] === 34); }})()""")
            level = int(browser.evaluate(f"{viewer}.dataset.level"))
            for _ in range(3):  # the mouse wheel zooms in at the pointer
                browser.send("Input.dispatchMouseEvent", {"type": "mouseWheel", "x": centre[0], "y": centre[1],
                                                          "deltaX": 0, "deltaY": -400}, session=browser.session)
            browser.wait_for(f"+{viewer}.dataset.level > {level} && +{viewer}.dataset.tilesDrawn > 0")
            x0, y0, scale = map(float, browser.evaluate(f"{viewer}.dataset.view").split(","))
            for kind, dx, buttons in (("mousePressed", 0, 1), ("mouseMoved", 60, 1), ("mouseMoved", 120, 1),
                                      ("mouseReleased", 120, 0)):
                browser.send("Input.dispatchMouseEvent", {"type": kind, "x": centre[0] + dx, "y": centre[1],
                                                          "button": "left", "buttons": buttons, "clickCount": 1},
                             session=browser.session)
            browser.wait_for(f"{viewer}.dataset.view.split(',')[0] < {x0 - 100 / scale}")
            panned = float(browser.evaluate(f"{viewer}.dataset.view").split(",")[0])
            assert panned == pytest.approx(x0 - 120 / scale, rel=0.05, abs=2)
        finally:
            browser.close()
