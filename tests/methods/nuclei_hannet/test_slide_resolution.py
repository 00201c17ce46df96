"""Whole slides reach the segmenter at the model's microns per pixel; outlines come back in level-0 pixels.

The segmenter is replaced by a threshold on dark disks (known answers: where the disks are and how big), so
the test judges the level choice, the resampling and the mapping back, not a network.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from biomedai.io.wsi import write_pyramidal_tiff, write_pyramidal_tiff_bands
from biomedai.methods.nuclei_hannet import HanNetMethod
from biomedai.methods.nuclei_hannet import pipeline as hannet_pipeline
from biomedai.train.model_folder import ModelInfo

#: disks of radius 12 level-0 pixels (3 um at 0.25 um/px), one every 64 px
RADIUS, STEP, SIZE = 12, 64, 768
CENTRES = [(x, y) for y in range(40, SIZE - 32, STEP) for x in range(40, SIZE - 32, STEP)]


def _disks() -> np.ndarray:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    rgb = np.empty((SIZE, SIZE, 3), np.uint8)
    rgb[:] = (235, 190, 215)
    for x, y in CENTRES:
        rgb[(xx - x) ** 2 + (yy - y) ** 2 <= RADIUS ** 2] = (70, 50, 130)
    return rgb


class ThresholdSegmenter:
    """Stands in for the network: dark pixels, connected components; remembers the disk areas it was shown."""

    def __init__(self, mpp: float | None) -> None:
        self.info = ModelInfo("nuclei_hannet", preprocessing={} if mpp is None else {"mpp": mpp})
        self.arch: dict = {}
        self.areas: list[int] = []

    def segment_small(self, rgb: np.ndarray) -> np.ndarray:
        from skimage.measure import label

        labels = label(rgb.mean(axis=-1) < 140)
        self.areas += np.bincount(labels.ravel())[1:].tolist()
        return labels


@pytest.fixture
def run(monkeypatch, tmp_path):
    def predict(slide: Path, model_mpp: float | None, **config):
        seg = ThresholdSegmenter(model_mpp)
        monkeypatch.setattr(hannet_pipeline.NucleiSegmenter, "from_weights", classmethod(lambda cls, w, c: seg))
        out = tmp_path / f"out_{slide.stem}_{model_mpp}_{config.get('wsi_level', 'auto')}"
        method = HanNetMethod({"block_size": 256, "block_margin": 32, "min_object_size": 5, **config})
        result = method.predict([slide], out)
        geo = json.loads((out / f"{slide.stem}_nuclei.geojson").read_text())
        record = json.loads((out / "result.json").read_text())
        return seg, result, geo, record
    return predict


def _polygon_area(xy: np.ndarray) -> float:
    x, y = xy[:, 0], xy[:, 1]
    return abs(0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _check_outlines(geo: dict) -> None:
    """Every disk found once, at its level-0 place (within 1.5 px) and level-0 size (within 15 %)."""
    outlines = [np.asarray(f["geometry"]["coordinates"][0], float) for f in geo["features"]]
    assert len(outlines) == len(CENTRES)
    centres = np.array([o[:-1].mean(axis=0) for o in outlines])
    for x, y in CENTRES:
        distance = np.hypot(centres[:, 0] - x, centres[:, 1] - y)
        nearest = int(distance.argmin())
        assert distance[nearest] < 1.5
        assert _polygon_area(outlines[nearest]) == pytest.approx(np.pi * RADIUS ** 2, rel=0.15)


@pytest.mark.parametrize("slide_mpp, level, zoom", [
    (0.25, 1, 1.0),       # twice the model's resolution: its 0.5 um/px level read as it is
    (1 / 3, 0, 2 / 3),    # a 30x slide has no 0.5 um/px level: level 0 resampled x2/3
])
def test_a_finer_slide_reaches_the_model_at_its_resolution(run, tmp_path, slide_mpp, level, zoom):
    slide = write_pyramidal_tiff(_disks(), tmp_path / "slide.tif", mpp=slide_mpp, tile=256, levels=3)
    seg, result, geo, record = run(slide, 0.5)
    # the segmenter saw the disks at 0.5 um/px (radius 6 px at 0.25 um/px, 8 px at 1/3), not at level 0's 12 px
    seen_radius = RADIUS * slide_mpp / 0.5
    assert max(seg.areas) == pytest.approx(np.pi * seen_radius ** 2, rel=0.15)
    choice = record["notes"]["wsi"][slide.name]["level_choice"]
    assert (choice["level"], choice["how"]) == (level, "mpp")
    assert choice["zoom"] == pytest.approx(zoom) and choice["mpp"] == pytest.approx(0.5)
    assert record["notes"]["wsi"][slide.name]["coordinates"] == "level-0 pixels"
    _check_outlines(geo)  # and the outlines are back at level 0: the disks' places and sizes there
    assert result.metrics["n_nuclei"][slide.name] == len(CENTRES)


def test_an_explicit_level_and_a_model_without_mpp_read_the_level_as_it_is(run, tmp_path):
    slide = write_pyramidal_tiff(_disks(), tmp_path / "slide.tif", mpp=0.25, tile=256, levels=3)
    seg, _, geo, record = run(slide, None)
    assert max(seg.areas) == pytest.approx(np.pi * RADIUS ** 2, rel=0.15)  # level 0, not resampled
    assert record["notes"]["wsi"]["slide.tif"]["level_choice"]["how"] == "fallback"
    assert not record["notes"].get("warnings")
    _check_outlines(geo)
    seg, _, geo, record = run(slide, 0.5, wsi_level=0)
    assert record["notes"]["wsi"]["slide.tif"]["level_choice"]["how"] == "configured"
    assert max(seg.areas) == pytest.approx(np.pi * RADIUS ** 2, rel=0.15)


def test_a_slide_without_mpp_falls_back_to_level_0_with_a_warning(run, tmp_path):
    array = _disks()
    slide = write_pyramidal_tiff_bands((array[y:y + 256] for y in range(0, SIZE, 256)), array.shape,
                                       tmp_path / "nompp.tif", mpp=None, tile=256, levels=3)
    _seg, _, geo, record = run(slide, 0.5)
    assert record["notes"]["wsi"]["nompp.tif"]["level_choice"]["level"] == 0
    assert any("states no microns per pixel" in w for w in record["notes"]["warnings"])
    _check_outlines(geo)
