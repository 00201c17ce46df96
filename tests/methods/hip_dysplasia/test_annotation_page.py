"""The annotation page in headless Chromium: draw an annotation with real mouse clicks, check that the angles
shown equal the command line's for the saved annotation. Skips when Chromium is not installed."""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import numpy as np
import pytest

from biomedai.methods.hip_dysplasia.annotate_server import AnnotationServer, AnnotationSession
from biomedai.methods.hip_dysplasia.config import HipDysplasiaConfig
from biomedai.methods.hip_dysplasia.geometry import angles_from_landmarks
from biomedai.methods.hip_dysplasia.synthetic import render_radiograph, synthetic_film
from biomedai.viz import save_png

from tests.browser import HeadlessChromium, find_chromium

CHROMIUM = find_chromium()


@pytest.fixture
def film_server(tmp_path):
    film = synthetic_film({"right": (30.0, 39.0, 7.0), "left": (15.0, 45.0, 15.0)}, size=256, seed=3)
    png = save_png((render_radiograph(film, seed=3) * 255).astype(np.uint8), tmp_path / "film.png")
    session = AnnotationSession(png, tmp_path / "film.hip.json", HipDysplasiaConfig())
    server = AnnotationServer(session, port=0)
    url = server.start()
    yield film, url, tmp_path
    server.stop()


def _post(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_server_endpoints_without_a_browser(film_server):
    film, url, tmp_path = film_server
    assert url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(url, timeout=10) as resp:
        page = resp.read().decode()
    assert "<script>" in page and "http://" not in page and "https://" not in page  # self-contained: no CDN
    info = json.loads(urllib.request.urlopen(url + "api/info", timeout=10).read())
    assert (info["width"], info["height"]) == (256, 256) and info["spacing"] is None
    hips = {s: {"acetabulum": film.shapes[s].acetabulum.tolist(), "femoral_head": film.shapes[s].femoral_head.tolist(),
                "sourcil_medial": film.shapes[s].sourcil_medial[0].tolist()} for s in ("right", "left")}
    status, result = _post(url + "api/measure", {"hips": hips})
    assert status == 200 and result["ok"]
    assert result["classes"]["left"]["knowledge_class"] == "dysplasia"
    del hips["left"]["femoral_head"]
    status, result = _post(url + "api/measure", {"hips": hips})
    assert status == 422 and "left hip: the femoral_head contour is missing" in result["error"]
    status, _ = _post(url + "api/save", {"hips": {"right": hips["right"]}})
    assert status == 422 and not (tmp_path / "film.hip.json").exists()
    forged = urllib.request.Request(url + "api/info", headers={"Host": "evil.example:80"})
    with pytest.raises(urllib.error.HTTPError, match="403"):
        urllib.request.urlopen(forged, timeout=10)


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install chromium); "
                                              "the browser test drives it headless over --remote-debugging-pipe")
def test_page_draws_annotation_and_matches_cli(film_server):
    film, url, tmp_path = film_server
    browser = HeadlessChromium(CHROMIUM)
    try:
        browser.open(url)
        browser.wait_for("window.hipApp && window.hipApp.ready")
        left, top, scale = browser.evaluate("(() => { const r = document.getElementById('canvas')"
                                            ".getBoundingClientRect(); return [r.left, r.top, window.hipApp.scale]; })()")
        drawn = {}
        for side in ("right", "left"):
            browser.click_element(f"#side-{side}")
            shapes = film.shapes[side]
            plan = {"acetabulum": np.vstack([shapes.acetabulum[:-1:3], shapes.acetabulum[-1:]]),
                    "femoral_head": shapes.femoral_head[::6],
                    "sourcil_medial": shapes.sourcil_medial}
            drawn[side] = plan
            for tool, points in plan.items():
                browser.click_element(f"#tool-{tool}")
                for x, y in points:
                    browser.click(left + x * scale, top + y * scale)
            if side == "right":  # one side drawn: the page names what is missing
                browser.wait_for("window.hipApp.measuring === 0 && window.hipApp.error")
                assert "left hip" in browser.evaluate("window.hipApp.error")
        browser.wait_for("window.hipApp.measuring === 0 && window.hipApp.result && window.hipApp.result.ok")
        shown = {f"{name}-{side}": browser.evaluate(f"document.getElementById('{name}-{side}').textContent")
                 for name in ("ce", "sharp", "tonnis", "class") for side in ("right", "left")}
        annotation = browser.evaluate("window.hipApp.annotation()")
        for side in ("right", "left"):  # the clicks landed where they were aimed
            got = np.asarray(annotation["hips"][side]["femoral_head"])
            np.testing.assert_allclose(got, drawn[side]["femoral_head"], atol=1.0)
        browser.click_element("#save")
        saved = browser.wait_for("window.hipApp.saved")
    finally:
        browser.close()
    out = subprocess.run([sys.executable, "-m", "biomedai", "tool", "hip_dysplasia", "measure", saved,
                          "-o", str(tmp_path / "cli"), "--json"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    cli = json.loads(out.stdout)["film.hip.json"]
    for side in ("right", "left"):
        for name in ("ce", "sharp", "tonnis"):
            assert float(shown[f"{name}-{side}"]) == pytest.approx(cli[side][name], abs=0.006), (side, name)
    assert shown["class-left"] == "dysplasia" and shown["class-right"] == "normal"
    # the clicks follow the true contours (subsampled, whole CSS pixels), so the angles stay near the truth;
    # the sourcil is ~20 px long here, so half a pixel moves Tönnis by ~1.5 degrees
    truth = angles_from_landmarks(film.landmarks)
    for side in ("right", "left"):
        for name in ("ce", "sharp", "tonnis"):
            assert cli[side][name] == pytest.approx(truth[side][name], abs=3.0), (side, name)
