"""The demo gallery as a new user sees it: every picture loads when the output folder is relative, numbers
measured on simulated data are labelled simulated, and bundled models are shown on held-out real samples
(labelled with their set and licence) when the shared data folder is there, with one line when it is not."""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pytest

from biomedai.demo import gallery_src, run_demo, simulated_data_note
from biomedai.methods import registry
from biomedai.methods.base import RealSample, RunResult
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


class RealOtsu(OtsuMethod):
    """The toy method as if it shipped a bundled model, with one real sample (an image + mask in the data root)."""

    name = "toy_otsu_real"
    default_model = "default"

    def real_samples(self, data_root: Path) -> list[RealSample]:
        folder = Path(data_root) / "toy"
        if not folder.is_dir():
            return []
        return [RealSample((folder / "cells.png",), "toy cells, test image 1", "CC-BY-NC 4.0", non_commercial=True,
                           ground_truth=folder / "cells_mask.png")]

    def score_real_sample(self, sample: RealSample, result: RunResult) -> dict:
        from biomedai.io import read_image

        pred = read_image(Path(result.output_dir) / "cells_mask.png").array > 0
        truth = read_image(sample.ground_truth).array > 0
        return {"dice": float(2 * (pred & truth).sum() / max(pred.sum() + truth.sum(), 1))}


class _ToyModelInfo:
    def usage_note(self) -> str:
        return "toy bundled model (trained on toy data; NON-COMMERCIAL terms)"


@pytest.fixture()
def toys():
    registry.register(OtsuMethod)
    registry.register(SimulatedOtsu)
    yield
    registry.unregister(OtsuMethod.name)
    registry.unregister(SimulatedOtsu.name)


@pytest.fixture()
def real_toy(tmp_path, monkeypatch):
    """RealOtsu registered with a stand-in bundled model and a data root holding its one real sample."""
    from PIL import Image

    from biomedai.train import model_folder

    root = tmp_path / "shared_data"
    (root / "toy").mkdir(parents=True)
    yy, xx = np.mgrid[:64, :64]
    mask = ((yy - 32) ** 2 + (xx - 30) ** 2) < 15 ** 2
    Image.fromarray(np.where(mask, 200, 40).astype(np.uint8)).save(root / "toy" / "cells.png")
    Image.fromarray(mask.astype(np.uint8) * 255).save(root / "toy" / "cells_mask.png")
    real_default = model_folder.default_model_folder
    monkeypatch.setattr(model_folder, "default_model_folder", lambda method, name="default": (
        tmp_path if method == RealOtsu.name else real_default(method, name)))
    real_info = model_folder.read_model_info
    monkeypatch.setattr(model_folder, "read_model_info", lambda folder: (
        _ToyModelInfo() if Path(folder) == tmp_path else real_info(folder)))
    registry.register(RealOtsu)
    yield root
    registry.unregister(RealOtsu.name)


def _img_sources(index: Path) -> list[str]:
    return [html.unescape(s) for s in re.findall(r'<img src="([^"]+)"', index.read_text(encoding="utf-8"))]


def _images_in_browser(index: Path) -> list[list]:
    """``[src, naturalWidth]`` of every ``<img>`` of ``index`` once headless Chromium has loaded them."""
    browser = HeadlessChromium(CHROMIUM)
    try:
        browser.open_page()
        browser.navigate(index.resolve().as_uri())
        browser.wait_for("Array.from(document.images).every(i => i.complete)")
        return browser.evaluate("Array.from(document.images).map(i => [i.getAttribute('src'), i.naturalWidth])")
    finally:
        browser.close()


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
def test_every_gallery_image_loads_in_a_browser(toys, real_toy, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    index = run_demo(Path("demo-output"), methods=[OtsuMethod.name, SimulatedOtsu.name, RealOtsu.name],
                     data_root=real_toy)
    images = _images_in_browser(index)
    assert len(images) >= 4
    assert any(src.startswith("real/") for src, _ in images), "the real-data section's pictures are in the page"
    broken = [src for src, width in images if not width]
    assert not broken, f"images that do not load: {broken}"


def test_real_data_section_runs_the_bundled_model_on_a_labelled_real_sample(toys, real_toy, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    index = run_demo(Path("demo-output"), methods=[OtsuMethod.name, RealOtsu.name], data_root=real_toy)
    text = html.unescape(index.read_text(encoding="utf-8"))
    assert "Bundled models on real data" in text
    assert "real data: toy cells, test image 1, CC-BY-NC 4.0 (NON-COMMERCIAL terms)" in text
    summary = json.loads((tmp_path / "demo-output" / "demo-summary.json").read_text())
    runs = summary["real_data"]["methods"][RealOtsu.name]
    assert runs[0]["status"] == "ok" and runs[0]["non_commercial"] is True
    assert runs[0]["scores"]["dice"] > 0.95  # Otsu on a bright disc: a broken run cannot score this
    assert OtsuMethod.name not in summary["real_data"]["methods"]  # no bundled model: not in this section
    sources = _img_sources(index)
    assert any(s.startswith("real/") for s in sources), sources
    missing = [s for s in sources if not (tmp_path / "demo-output" / s).is_file()]
    assert not missing, f"broken <img> paths: {missing}"
    assert not list(Path(__file__).resolve().parents[2].joinpath("src").rglob("cells_mask.png"))


def test_real_data_section_says_so_in_one_line_when_the_data_are_absent(toys, real_toy, tmp_path, monkeypatch):
    from biomedai.data import shared_root

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(shared_root, "shared_data_root", lambda explicit=None: None)
    index = run_demo(Path("demo-output"), methods=[RealOtsu.name])
    text = html.unescape(index.read_text(encoding="utf-8"))
    assert text.count("shared data folder (../shared/data, or $BIOMEDAI_SHARED_DATA) is absent") == 1
    assert "real data: toy cells" not in text
    summary = json.loads((tmp_path / "demo-output" / "demo-summary.json").read_text())
    assert summary["real_data"] == {"data_root": None, "methods": {}}


def test_a_data_root_that_does_not_exist_is_refused(toys, tmp_path):
    from biomedai.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="shared data folder not found"):
        run_demo(tmp_path / "out", methods=[OtsuMethod.name], data_root=tmp_path / "nope")


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium)")
def test_real_bundled_models_in_the_gallery_load_in_a_browser(shared_data, tmp_path, monkeypatch):
    """Two real bundled models (teeth, COVID-CT slices) on their held-out real samples, as `make demo` shows them."""
    monkeypatch.chdir(tmp_path)
    index = run_demo(Path("demo-output"), methods=["dental_perio", "covid_ct"], data_root=shared_data)
    text = html.unescape(index.read_text(encoding="utf-8"))
    assert "real data: UFBA-425 panoramic film" in text and "real data: COVID-CT slice" in text
    assert "(NON-COMMERCIAL terms)" in text
    images = _images_in_browser(index)
    real = [src for src, _ in images if src.startswith("real/")]
    assert len(real) >= 2, images
    broken = [src for src, width in images if not width]
    assert not broken, f"images that do not load: {broken}"
