"""End to end: a DICOM series in, label maps, overlay, CSV/JSON, DICOM SEG and SR out."""
from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest

from biomedai.methods.covid_ct.pipeline import CovidCTMethod
from biomedai.methods.registry import get_method

from .synthetic_ct import synthetic_chest, write_ct_series


def test_registered():
    assert get_method("covid_ct") is CovidCTMethod


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("covid_ct")
    hu, truth = synthetic_chest(shape=(24, 64, 96))
    zz, yy, xx = np.mgrid[:24, :64, :96]
    blob = ((zz - 10) * 2.5) ** 2 + ((yy - 32) * 1.5) ** 2 + ((xx - 29) * 1.5) ** 2 <= 8.0 ** 2
    hu[blob & (truth == 1)] = -500.0
    write_ct_series(tmp / "series", hu)
    result = CovidCTMethod().predict([tmp / "series"], tmp / "out")
    return tmp, result, blob & (truth == 1)


def test_outputs_and_numbers(run):
    tmp, result, blob = run
    out = tmp / "out"
    record = json.loads((out / "result.json").read_text())
    files = set(record["files"])
    for name in ("series_lungs_labels.nii.gz", "series_lobes_labels.nii.gz", "series_lesion_mask.nii.gz",
                 "series_overlay.png", "series_quantification.csv", "series_quantification.json",
                 "series_seg.dcm", "series_sr.dcm", "quantification.csv"):
        assert name in files, name
    case = record["metrics"]["cases"]["series"]
    assert case["lobes"].startswith("approximate")
    truth_ml = blob.sum() * 2.5 * 1.5 * 1.5 / 1000
    assert case["regions"]["right lung"]["lesion_ml"] == pytest.approx(truth_ml, rel=0.05)
    assert case["regions"]["left lung"]["lesion_ml"] < 0.05 * truth_ml
    assert case["whole_lung_bins"]["ground glass (-750, -300]"]["lesion_ml"] == pytest.approx(truth_ml, rel=0.05)


def test_dicom_seg_and_sr(run):
    tmp, _, _ = run
    seg = pydicom.dcmread(tmp / "out" / "series_seg.dcm")
    assert seg.Modality == "SEG"
    labels = [s.SegmentLabel for s in seg.SegmentSequence]
    assert "lungs: right lung" in labels and "lungs: left lung" in labels
    assert any("approx." in label for label in labels)
    assert any(label.startswith("lesion: lesion ground glass") for label in labels)
    source = pydicom.dcmread(next((tmp / "series").iterdir()), stop_before_pixels=True)
    assert seg.StudyInstanceUID == source.StudyInstanceUID
    sr = pydicom.dcmread(tmp / "out" / "series_sr.dcm")
    assert sr.Modality == "SR"
    text = str(sr)
    assert "right lung lesion volume" in text and "cm3" in text


def test_report_shows_the_headline_and_the_overlay(run):
    tmp, _, _ = run
    path = CovidCTMethod().report(tmp / "out")
    html = path.read_text()
    assert "series: lesion" in html and "series_overlay.png" in html and "approximate" in html
