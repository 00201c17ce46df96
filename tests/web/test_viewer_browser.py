"""Browser tests of the DICOM viewer (Cornerstone3D over the service's DICOMweb) in headless Chromium.

A simulated CT series (24 slices, a lesion with a DICOM SEG) and a prior study of the same patient are
ingested; the service runs in a subprocess; Playwright drives the system's Chromium (never a
downloaded browser). Pixels are compared on screenshots of the viewport, so a viewer that draws
nothing, or the same thing twice, fails.
"""
from __future__ import annotations

import io
import os
import time
from pathlib import Path

import numpy as np
import pytest

from tests.browser import find_chromium

from .service import ADMIN_PASSWORD, running_service
from .viewer_data import SIZE, SPACING, phantom, write_ct_series, write_seg

pytest.importorskip("uvicorn")
CHROMIUM = find_chromium()
try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - the test extra installs it
    sync_playwright = None



def _has_dicomweb() -> bool:
    import importlib.util

    return importlib.util.find_spec("biomedai.web.dicomweb") is not None


#: about 90 s on two loaded cores (a service, Chromium and WebGL in software): slow
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not _has_dicomweb(), reason="this checkout's service has no DICOMweb (/dicom-web) yet"),
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium found (Debian: apt-get install chromium)"),
    pytest.mark.skipif(sync_playwright is None, reason="playwright (Python) is not installed: pip install playwright"),
]
#: WebGL without a GPU (SwiftShader), which the volume viewports of the reformats need
CHROMIUM_ARGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist", "--no-sandbox"]
RULES = "rules:\n  - match: {kind: 'image/*'}\n    methods: [wf_brightness]\n"
STUDY_UID = "1.2.826.0.1.3680043.8.498.7001"
PRIOR_UID = "1.2.826.0.1.3680043.8.498.7000"


def _pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)


def _ingest_studies(store, tmp_path) -> int:
    from biomedai.workflow.intake import ingest
    from biomedai.workflow.models import Study

    current = write_ct_series(tmp_path / "current", "SIM-VIEWER-1", STUDY_UID, study_date="20260301")
    _, lesion = phantom(len(current))
    seg = write_seg(current, lesion, tmp_path / "lesion-seg.dcm")
    prior = write_ct_series(tmp_path / "prior", "SIM-VIEWER-1", PRIOR_UID, lesion_mm=5.0, study_date="20250901",
                            description="simulated chest CT (prior)")
    ingest(store, [(f"prior/{p.name}", p) for p in prior], methods=["wf_brightness"])  # queues nothing
    ingest(store, [(f"current/{p.name}", p) for p in [*current, seg]], methods=["wf_brightness"])
    with store.session() as s:
        ids = {study.uid: study.id for study in s.query(Study)}
    assert PRIOR_UID in ids
    _add_result(store, ids[STUDY_UID], lesion)
    return ids[STUDY_UID]


def _seed_ct_series(store) -> int:
    """The bundled 5-slice CT series (pydicom's test files), ingested through the seeding code (not a default seed)."""
    from biomedai.data.samples import get_sample_info
    from biomedai.workflow.intake import seed_samples
    from biomedai.workflow.routing import Router

    if not get_sample_info("ct_series").available:
        pytest.skip("pydicom's test files (sample ct_series) are not installed")
    only_images = Router.from_data({"rules": [{"match": {"kind": "image/*"}, "methods": ["wf_brightness"]}]},
                                   check_methods=False)  # queues nothing for a CT
    report = seed_samples(store, ["ct_series"], router=only_images)
    assert not report.jobs
    return report.studies[0]


def _add_result(store, study_id: int, lesion: np.ndarray) -> None:
    """A finished job on the CT series whose result has a lesion mask and a finding: the service turns it
    into a DICOM SEG and SR, which DICOMweb serves as series of the study."""
    from biomedai.workflow.intake import unit_inputs
    from biomedai.workflow.models import Job, Result, StoredFile

    with store.session() as s:
        rows = [f for f in s.query(StoredFile).filter(StoredFile.study_id == study_id) if f.modality == "CT"]
        s.expunge_all()
    inputs = unit_inputs(store, study_id, rows)
    out = f"results/study-{study_id}/job-lesion"
    mask = store.storage.resolve(f"{out}/lesion_mask.npy")
    mask.parent.mkdir(parents=True, exist_ok=True)
    np.save(mask, lesion.astype(np.uint8))
    finding = {"label": "simulated lesion 18 mm", "severity": 75.0}  # as the queue stores findings
    with store.session() as s:
        job = Job(study_id=study_id, method="wf_brightness", inputs=inputs, status="done")
        s.add(job)
        s.flush()
        s.add(Result(job_id=job.id, study_id=study_id, method="wf_brightness", output_dir=out,
                     files=[f"{out}/lesion_mask.npy"], metrics={"segments": {"1": "lesion"}, "findings": [finding]},
                     findings=[finding], priority=75))
        s.commit()


def _token(base: str) -> str:
    import httpx

    r = httpx.post(f"{base}/api/token", data={"username": "admin", "password": ADMIN_PASSWORD})
    assert r.status_code == 200, r.text
    return r.json()["token"]


class Page:
    """A logged-in Playwright page on the viewer, collecting console errors and CSP violations."""

    def __init__(self, browser, base: str, token: str) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.context.add_cookies([{"name": "biomedai_token", "value": token, "url": base}])
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        #: every URL the page asked for: all must be on the service (nothing from elsewhere)
        self.requests: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.base = base

    def open_viewer(self, study_id: int) -> None:
        self.page.goto(f"{self.base}/studies/{study_id}/viewer")
        self.page.wait_for_function("() => window.biomedaiViewer && window.biomedaiViewer.state.ready", timeout=60_000)
        state_errors = self.page.evaluate("window.biomedaiViewer.state.errors")
        assert not state_errors, state_errors

    def shot(self, selector: str = "#bv-vp-main", name: str = "") -> np.ndarray:
        """The pixels of ``selector``; with BIOMEDAI_VIEWER_SHOTS=<folder> the whole page is saved too."""
        self.page.wait_for_timeout(250)  # let the render loop draw the last change
        if name and os.environ.get("BIOMEDAI_VIEWER_SHOTS"):
            folder = Path(os.environ["BIOMEDAI_VIEWER_SHOTS"])
            folder.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(folder / f"{name}.png"))
        return _pixels(self.page.locator(selector).screenshot())

    def index(self) -> int:
        return int(self.page.get_attribute("#bv-vp-main", "data-index"))


def test_viewer_scroll_window_measure_seg_mpr_prior(tmp_path, store, wf_methods):
    import httpx

    study_id = _ingest_studies(store, tmp_path)
    seeded = _seed_ct_series(store)
    with running_service(store, tmp_path, RULES) as base, sync_playwright() as pw:
        token = _token(base)
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            view = Page(browser, base, token)
            page = view.page

            # the seeded CT series (5 real slices, 16x16): the arrow keys scroll and the pixels change
            view.open_viewer(seeded)
            start, first = view.index(), view.shot(name="0-seeded")
            assert first.std() > 5, "the seeded CT series is not drawn"
            page.keyboard.press("ArrowDown" if start == 0 else "ArrowUp")
            page.wait_for_function(f"() => document.querySelector('#bv-vp-main').dataset.index !== '{start}'")
            assert np.abs(view.shot() - first).mean() > 1.0, "scrolling the seeded series changed no pixel"

            view.open_viewer(study_id)
            first_ms = page.evaluate("window.biomedaiViewer.state.firstImageMs")
            print(f"viewer: first image of the 24-slice CT drawn {first_ms:.0f} ms after the script started "
                  f"(load average {os.getloadavg()[0]:.1f})")
            page.wait_for_selector(".bv-thumb.bv-loaded", timeout=30_000)  # a series thumbnail was drawn
            assert page.locator(".bv-thumb").count() >= 2  # the CT and the SEG series

            # stack scrolling: the wheel moves to another slice and the drawn pixels change
            start, first = view.index(), view.shot(name="1-opened")
            assert first.std() > 5, "the viewport draws no image"
            box = page.locator("#bv-vp-main").bounding_box()
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            for _ in range(5):
                page.mouse.wheel(0, 120)
                page.wait_for_timeout(60)
            page.wait_for_function(f"() => document.querySelector('#bv-vp-main').dataset.index !== '{start}'")
            moved, second = view.index(), view.shot(name="2-scrolled")
            assert moved != start
            assert np.abs(second - first).mean() > 1.0, "scrolling changed no pixel"

            # window presets: lung then bone draw differently, and the viewport's VOI is the preset's
            page.click("button[data-preset=lung]")
            lung = view.shot(name="3-lung")
            voi = page.evaluate("window.biomedaiViewer.shown.main.viewport.getProperties().voiRange")
            assert voi["lower"] == pytest.approx(-600 - 750, abs=2) and voi["upper"] == pytest.approx(-600 + 750, abs=2)
            page.click("button[data-preset=bone]")
            bone = view.shot(name="4-bone")
            assert np.abs(lung - bone).mean() > 5.0, "the presets draw the same pixels"

            # a length measurement drawn with the mouse is saved to the study with its length in mm
            page.click("button[data-tool=Length]")
            x0, y0 = box["x"] + box["width"] * 0.35, box["y"] + box["height"] * 0.5
            dx = box["width"] * 0.3
            page.mouse.move(x0, y0)
            page.mouse.down()
            for step in range(1, 11):
                page.mouse.move(x0 + dx * step / 10, y0)
            page.mouse.up()
            headers = {"Authorization": f"Bearer {token}"}
            deadline, saved = time.monotonic() + 15, []
            while time.monotonic() < deadline and not saved:
                saved = httpx.get(f"{base}/api/studies/{study_id}/annotations", headers=headers).json()["measurements"]
                time.sleep(0.3)
            assert len(saved) == 1 and saved[0]["tool"] == "Length", saved
            side = min(box["width"], box["height"])  # the 64-pixel image is fitted into the square side
            expected_mm = dx * SIZE * SPACING / side
            assert saved[0]["stats"]["length"] == pytest.approx(expected_mm, rel=0.15), (saved, expected_mm)

            # a rectangle ROI: saved next to it, with its area in mm2 and the HU statistics inside
            page.click("button[data-tool=RectangleROI]")
            x1, y1, w, h = box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.6, dx / 3, dx / 4
            page.mouse.move(x1, y1)
            page.mouse.down()
            for step in range(1, 11):
                page.mouse.move(x1 + w * step / 10, y1 + h * step / 10)
            page.mouse.up()
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and len(saved) < 2:
                saved = httpx.get(f"{base}/api/studies/{study_id}/annotations", headers=headers).json()["measurements"]
                time.sleep(0.3)
            roi = [m for m in saved if m["tool"] == "RectangleROI"]
            assert len(saved) == 2 and len(roi) == 1, saved
            mm_per_px = SIZE * SPACING / side
            assert roi[0]["stats"]["area"] == pytest.approx(w * h * mm_per_px ** 2, rel=0.3), roi
            assert {"mean", "max", "min"} <= set(roi[0]["stats"]), roi

            # an angle: a drag for the first arm, a click for the second; a right angle is saved as ~90 degrees
            page.click("button[data-tool=Angle]")
            ax, ay, arm = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3, box["width"] * 0.12
            page.mouse.move(ax + arm, ay)
            page.mouse.down()
            for step in range(1, 11):
                page.mouse.move(ax + arm - arm * step / 10, ay)
            page.mouse.up()
            for step in range(1, 11):
                page.mouse.move(ax, ay + arm * step / 10)
            page.mouse.down()
            page.mouse.up()
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and len(saved) < 3:
                saved = httpx.get(f"{base}/api/studies/{study_id}/annotations", headers=headers).json()["measurements"]
                time.sleep(0.3)
            angle = [m for m in saved if m["tool"] == "Angle"]
            assert len(angle) == 1 and angle[0]["stats"]["angle"] == pytest.approx(90, abs=3), saved

            # the lesion of both SEGs (the uploaded one, and the one the service made from the result) is drawn
            # over the middle slice; their toggles hide it. The result's finding, read from the DICOM SR, is
            # drawn over the image
            page.wait_for_function("() => document.querySelectorAll('input[data-seg]').length === 2", timeout=30_000)
            page.evaluate("window.biomedaiViewer.shown.main.viewport.setImageIdIndex(12)")
            page.wait_for_function("() => document.querySelector('canvas[data-overlay=main]').dataset.segFrames === '2'")
            findings = page.locator("[data-findings=main]")
            assert findings.is_visible() and "simulated lesion 18 mm" in findings.inner_text()
            assert page.evaluate("window.biomedaiViewer.state.findings.some(f => f.from === 'SR')")
            with_seg = view.shot(".bv-frame", name="5-seg-and-length")
            for box_ in page.locator("input[data-seg]").all():
                box_.uncheck()
            page.uncheck("input[data-findings-toggle]")
            assert not findings.is_visible()
            page.wait_for_function("() => document.querySelector('canvas[data-overlay=main]').dataset.segFrames === '0'")
            without_seg = view.shot(".bv-frame")
            red = (with_seg[..., 0] - with_seg[..., 1] > 60) & (with_seg[..., 0] - with_seg[..., 2] > 60)
            red_before = (without_seg[..., 0] - without_seg[..., 1] > 60) & (without_seg[..., 0] - without_seg[..., 2] > 60)
            assert red.sum() > 50 + red_before.sum(), (red.sum(), red_before.sum())

            # reopened, the page draws the saved measurements again
            view.open_viewer(study_id)
            page.wait_for_function("() => window.biomedaiViewer.annotations().length === 3", timeout=20_000)

            # reformats: three volume viewports, each drawing the volume
            page.click("#bv-mpr")
            page.wait_for_function("() => document.querySelectorAll('.bv-viewport').length === 3 && "
                                   "window.biomedaiViewer.state.mode === 'mpr'", timeout=30_000)
            page.wait_for_timeout(1500)
            for plane in ("axial", "coronal", "sagittal"):
                pixels = view.shot(f"#bv-vp-{plane}", name=f"6-mpr-{plane}")
                assert pixels.std() > 5, f"the {plane} reformat draws nothing"

            # side by side with the prior study of the same patient
            page.select_option("#bv-prior", PRIOR_UID)
            page.wait_for_function(f"() => window.biomedaiViewer.state.comparing === '{PRIOR_UID}'", timeout=30_000)
            page.wait_for_timeout(1000)
            # linked scrolling: the wheel on the current series moves the prior by the same distance
            index = "window.biomedaiViewer.shown.{}.viewport.getCurrentImageIdIndex()"
            main_before, prior_before = page.evaluate(index.format("main")), page.evaluate(index.format("prior"))
            box = page.locator("#bv-vp-main").bounding_box()
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            for _ in range(3):
                page.mouse.wheel(0, 120)
                page.wait_for_timeout(80)
            page.wait_for_function(f"() => {index.format('main')} !== {main_before}")
            page.wait_for_timeout(300)
            moved = page.evaluate(index.format("main")) - main_before
            assert page.evaluate(index.format("prior")) - prior_before == moved  # same slice spacing
            for side in ("main", "prior"):
                pixels = view.shot(f"#bv-vp-{side}", name=f"7-compare-{side}")
                middle = pixels[pixels.shape[0] // 4: -pixels.shape[0] // 4, pixels.shape[1] // 4: -pixels.shape[1] // 4]
                assert middle.std() > 20, f"the {side} study is not drawn side by side"
            assert not [e for e in view.errors if "Content Security Policy" in e], view.errors
            outside = [u for u in view.requests if not u.startswith((base + "/", "blob:", "data:"))]
            assert not outside, outside
            assert any("/dicom-web/studies/" in u and "/frames/" in u for u in view.requests)  # fed by WADO-RS
        finally:
            browser.close()


def test_viewer_real_ct_with_its_prior(tmp_path, store, wf_methods, shared_data):
    """Real data: two axial chest CT slices of one COVID-19-positive patient, 12 months apart (TCIA
    COVID-19-NY-SBU via shared/data/chest_ct; 512x512, HU). The viewer draws the current one, the lung
    preset sets its VOI, and the prior of the same patient, found by QIDO-RS, is drawn beside it."""
    from biomedai.workflow.intake import ingest

    from tests.conftest import shared_subdir

    folder = shared_subdir(shared_data, "chest_ct", "covid19_ny_sbu_axial_slices")
    prior, current = folder / "A046441_19001111-045.dcm", folder / "A046441_19010101-23.dcm"
    if not (prior.exists() and current.exists()):
        pytest.skip(f"{prior.name} or {current.name} is absent from {folder}")
    ingest(store, [(prior.name, prior)], methods=["wf_brightness"])
    study = ingest(store, [(current.name, current)], methods=["wf_brightness"]).studies[0]
    with running_service(store, tmp_path, RULES) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            view = Page(browser, base, _token(base))
            page = view.page
            view.open_viewer(study)
            default = view.shot(name="real-1-default")
            assert default.std() > 20, "the real CT slice is not drawn"
            page.click("button[data-preset=lung]")
            lung = view.shot(name="real-2-lung")
            voi = page.evaluate("window.biomedaiViewer.shown.main.viewport.getProperties().voiRange")
            assert voi["lower"] == pytest.approx(-1350, abs=2) and voi["upper"] == pytest.approx(150, abs=2)
            assert np.abs(lung - default).mean() > 5.0
            options = page.eval_on_selector_all("#bv-prior option", "os => os.map(o => o.textContent)")
            assert any(o.startswith("1900-11-11") for o in options), options
            page.select_option("#bv-prior", index=1)
            page.wait_for_function("() => window.biomedaiViewer.state.comparing", timeout=30_000)
            page.wait_for_timeout(1000)
            prior_voi = page.evaluate("window.biomedaiViewer.shown.prior.viewport.getProperties().voiRange")
            assert prior_voi == voi  # the prior is shown in the same (lung) window
            for side in ("main", "prior"):
                pixels = view.shot(f"#bv-vp-{side}", name=f"real-3-compare-{side}")
                middle = pixels[pixels.shape[0] // 4: -pixels.shape[0] // 4, pixels.shape[1] // 4: -pixels.shape[1] // 4]
                assert middle.std() > 20, f"the {side} study is not drawn"
            assert not [u for u in view.requests if not u.startswith((base + "/", "blob:", "data:"))]
        finally:
            browser.close()
