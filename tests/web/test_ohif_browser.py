"""A third-party viewer on our DICOMweb: OHIF Viewer (the prebuilt ``@ohif/app`` from npm, fetched by
``make ohif``) served beside the service, its data source the service's ``/dicom-web``, opened in headless
Chromium on a simulated CT series. It must list the study, draw the series, and draw another slice when
scrolled; without the service's CORS option the same page gets nothing."""
from __future__ import annotations

import contextlib
import io
import os
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from tests.browser import find_chromium

from .conftest import PASSWORD
from .service import free_port
from .test_dicomweb import live_server
from .viewer_data import write_ct_series

pytest.importorskip("uvicorn")
CHROMIUM = find_chromium()
try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - the test extra installs it
    sync_playwright = None

OHIF_DIST = Path(os.environ.get("BIOMEDAI_OHIF_DIST", Path(__file__).resolve().parents[2] / "build" / "ohif" / "dist"))
STUDY_UID = "1.2.826.0.1.3680043.8.498.7101"
CHROMIUM_ARGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist", "--no-sandbox"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not (OHIF_DIST / "index.html").is_file(),
                       reason=f"no OHIF build at {OHIF_DIST}: run 'make ohif' (npm pack @ohif/app, its dist/)"),
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium found (Debian: apt-get install chromium)"),
    pytest.mark.skipif(sync_playwright is None, reason="playwright (Python) is not installed: pip install playwright"),
]


def _token(base: str) -> str:
    import json

    data = urllib.parse.urlencode({"username": "vic", "password": PASSWORD}).encode()
    return json.loads(urllib.request.urlopen(f"{base}/api/token", data=data, timeout=20).read())["token"]


def _viewport_pixels(page) -> np.ndarray:
    from PIL import Image

    canvases = page.locator("canvas")
    sizes = [(c.bounding_box() or {"width": 0, "height": 0}) for c in canvases.all()]
    best = max(range(len(sizes)), key=lambda i: sizes[i]["width"] * sizes[i]["height"])
    png = canvases.nth(best).screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("L")).astype(np.int16)


def _wait_for_image(page, timeout_s: float = 90) -> np.ndarray:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if page.locator("canvas").count():
            pixels = _viewport_pixels(page)
            if pixels.std() > 10:  # the phantom drawn: air, water, lungs, bone
                return pixels
        time.sleep(2)
    raise AssertionError("OHIF drew no image within the time")


@contextlib.contextmanager
def _open(store, cors: bool):
    """(service base, OHIF base) with OHIF's data source at the service; CORS only when ``cors``."""
    from biomedai.web.app import create_app
    from biomedai.web.ohif import cors_origin, start_ohif_server

    oport = free_port()
    app = create_app(store, cors_origins=[cors_origin("127.0.0.1", oport)] if cors else ())
    with live_server(app) as base:
        ohif = start_ohif_server(OHIF_DIST, "127.0.0.1", oport, f"{base}/dicom-web")
        try:
            yield base, f"http://127.0.0.1:{oport}"
        finally:
            ohif.shutdown()


@pytest.fixture(params=["uncompressed", "rle"])
def ct_store(request, store, tmp_path):
    """The simulated series stored as written, or every slice RLE Lossless compressed (OHIF asks its frames with
    ``transfer-syntax=*`` and gets them decoded)."""
    import pydicom
    from pydicom.uid import RLELossless

    from biomedai.workflow.intake import ingest

    store.create_user("vic", PASSWORD, "viewer")
    paths = write_ct_series(tmp_path / "ct", "OHIF-1", STUDY_UID)
    if request.param == "rle":
        for path in paths:
            ds = pydicom.dcmread(path)
            ds.compress(RLELossless)
            ds.save_as(path, enforce_file_format=True)
    ingest(store, [(p.name, p) for p in paths], methods=[])
    return store


def test_ohif_reads_a_study_from_our_dicomweb(ct_store, tmp_path):
    seen: list[tuple[int, str]] = []
    with _open(ct_store, cors=True) as (base, ohif_base), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("response", lambda r: seen.append((r.status, r.url)) if r.url.startswith(base) else None)
        page.goto(f"{ohif_base}/viewer?StudyInstanceUIDs={STUDY_UID}&token={_token(base)}")
        _wait_for_image(page)
        skip = page.get_by_text("Skip all")  # OHIF's first-visit tour: closed before comparing pictures
        if skip.count():
            skip.first.click()
        time.sleep(1)
        first = _viewport_pixels(page)
        first_overlay = page.locator("body").inner_text()
        page.screenshot(path=str(tmp_path / "ohif-first.png"))
        box = page.locator("canvas").last.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        changed = None
        for _ in range(20):  # scroll a few slices: OHIF fetches their frames and draws them
            page.mouse.wheel(0, 120)
            time.sleep(0.5)
            later = _viewport_pixels(page)
            if later.shape == first.shape and np.abs(later - first).mean() > 1:
                changed = later
                break
        page.screenshot(path=str(tmp_path / "ohif-scrolled.png"))
        overlay = page.locator("body").inner_text()
        browser.close()
    ok = [url for status, url in seen if status == 200]
    assert any("/dicom-web/studies?" in u for u in ok), seen[:5]  # QIDO-RS study search
    assert any(u.endswith("/metadata") for u in ok), seen[:10]  # WADO-RS series metadata
    assert sum("/frames/" in u for u in ok) >= 2, seen[:20]  # WADO-RS frames
    assert changed is not None, "scrolling in OHIF drew no other slice"
    assert "simulated chest CT" in first_overlay and "(1/24)" in first_overlay, first_overlay[:500]
    assert "/24)" in overlay and "(1/24)" not in overlay, overlay[:500]  # another of the 24 slices


@pytest.mark.parametrize("ct_store", ["uncompressed"], indirect=True)
def test_without_the_cors_option_ohif_gets_nothing(ct_store, tmp_path):
    seen: list[str] = []
    with _open(ct_store, cors=False) as (base, ohif_base), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("requestfailed", lambda r: seen.append(r.url) if r.url.startswith(base) else None)
        page.goto(f"{ohif_base}/viewer?StudyInstanceUIDs={STUDY_UID}&token={_token(base)}")
        deadline = time.monotonic() + 30
        while not seen and time.monotonic() < deadline:
            time.sleep(1)
        browser.close()
    assert seen, "the browser let OHIF read the service without CORS"


def _red_pixels(page) -> int:
    """Pixels of the viewport that OHIF's segmentation colour (red for segment 1) dominates."""
    from PIL import Image

    canvases = page.locator("canvas")
    sizes = [(c.bounding_box() or {"width": 0, "height": 0}) for c in canvases.all()]
    best = max(range(len(sizes)), key=lambda i: sizes[i]["width"] * sizes[i]["height"])
    rgb = np.asarray(Image.open(io.BytesIO(canvases.nth(best).screenshot())).convert("RGB")).astype(np.int16)
    return int(((rgb[..., 0] - rgb[..., 1] > 40) & (rgb[..., 0] - rgb[..., 2] > 40)).sum())


def test_ohif_draws_a_seg_from_our_dicomweb(store, tmp_path):
    """A DICOM SEG (highdicom, the simulated lesion) stored with its CT series: OHIF lists it, loads it through
    our WADO-RS when asked, and draws the lesion in colour over the CT."""
    from biomedai.workflow.intake import ingest

    from .viewer_data import phantom, write_seg

    store.create_user("vic", PASSWORD, "viewer")
    paths = write_ct_series(tmp_path / "ct", "OHIF-2", STUDY_UID)
    _, lesion = phantom(len(paths))
    seg = write_seg(paths, lesion, tmp_path / "lesion-seg.dcm")
    ingest(store, [(p.name, p) for p in [*paths, seg]], methods=[])
    with _open(store, cors=True) as (base, ohif_base), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{ohif_base}/viewer?StudyInstanceUIDs={STUDY_UID}&token={_token(base)}")
        _wait_for_image(page)
        skip = page.get_by_text("Skip all")
        if skip.count():
            skip.first.click()
        before = _red_pixels(page)
        page.get_by_text("lesion SEG (simulated)").first.dblclick()
        page.get_by_role("button", name="Yes").first.click(timeout=60_000)  # "open this Segmentation?"
        red, deadline = 0, time.monotonic() + 60
        while red < 200 and time.monotonic() < deadline:
            time.sleep(2)
            red = _red_pixels(page)
        page.screenshot(path=str(tmp_path / "ohif-seg.png"))
        browser.close()
    assert before < 20 and red >= 200, (before, red)  # the lesion drawn in colour only once the SEG is loaded
