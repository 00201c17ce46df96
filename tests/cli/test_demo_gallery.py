"""The demo gallery as a new user sees it: every picture loads when the output folder is relative, and
numbers measured on simulated data are labelled simulated."""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from biomedai.demo import gallery_src, run_demo, simulated_data_note
from biomedai.methods import registry
from biomedai.methods.base import RunResult
from biomedai.provenance import RunRecorder

from tests.browser import HeadlessChromium, find_chromium

from ..methods.toy_method import OtsuMethod

CHROMIUM = find_chromium()


class SimulatedOtsu(OtsuMethod):
    """The toy method whose demo scores itself on a simulated image (as the dental and hip demos do)."""

    name = "toy_otsu_simulated"

    def demo(self, output_dir: Path) -> RunResult:
        result = super().demo(output_dir)
        rec = RunRecorder(Path(output_dir), self.name, "demo")
        rec.metrics = {"data": "SIMULATED film (toy)", "dice": 0.9412}
        rec.files = [str(Path(f).name) for f in result.files]
        rec.write()
        return RunResult(result.output_dir, rec.metrics, result.files)


@pytest.fixture()
def toys():
    registry.register(OtsuMethod)
    registry.register(SimulatedOtsu)
    yield
    registry.unregister(OtsuMethod.name)
    registry.unregister(SimulatedOtsu.name)


def _img_sources(index: Path) -> list[str]:
    return [html.unescape(s) for s in re.findall(r'<img src="([^"]+)"', index.read_text(encoding="utf-8"))]


def test_gallery_src_relative_and_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out" / "m").mkdir(parents=True)
    (tmp_path / "out" / "m" / "a.png").write_bytes(b"")
    for picture in ("out/m/a.png", "a.png", tmp_path / "out" / "m" / "a.png"):
        assert gallery_src(picture, "out/m", "out") == "m/a.png"
        assert gallery_src(picture, tmp_path / "out" / "m", tmp_path / "out") == "m/a.png"


def test_gallery_with_relative_output_folder(toys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    index = run_demo(Path("demo-output"), methods=[OtsuMethod.name, SimulatedOtsu.name])
    sources = _img_sources(index)
    method_pictures = [s for s in sources if not s.startswith("samples/")]
    assert len(method_pictures) >= 2, sources
    missing = [s for s in sources if not (tmp_path / "demo-output" / s).is_file()]
    assert not missing, f"broken <img> paths: {missing}"
    text = index.read_text(encoding="utf-8")
    assert "SIMULATED data" in text and "simulated data" in text
    summary = json.loads((tmp_path / "demo-output" / "demo-summary.json").read_text())
    assert summary["methods"][SimulatedOtsu.name]["simulated"] is True
    assert summary["methods"][OtsuMethod.name]["simulated"] is False


def test_simulated_note_reads_result_json(tmp_path):
    rec = RunRecorder(tmp_path, "x", "demo")
    rec.notes["data"] = "synthetic phantoms"
    rec.write()
    assert simulated_data_note(RunResult(tmp_path, {"dice": 1.0}, [])) == "synthetic phantoms"
    assert simulated_data_note(RunResult(tmp_path / "none", {"data": "UFBA test split"}, [])) == ""


@pytest.mark.timeout(120)
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium)")
def test_every_gallery_image_loads_in_a_browser(toys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    index = run_demo(Path("demo-output"), methods=[OtsuMethod.name, SimulatedOtsu.name])
    browser = HeadlessChromium(CHROMIUM)
    try:
        browser.open_page()
        browser.navigate(index.resolve().as_uri())
        browser.wait_for("Array.from(document.images).every(i => i.complete)")
        images = browser.evaluate("Array.from(document.images).map(i => [i.getAttribute('src'), i.naturalWidth])")
    finally:
        browser.close()
    assert len(images) >= 3
    broken = [src for src, width in images if not width]
    assert not broken, f"images that do not load: {broken}"
