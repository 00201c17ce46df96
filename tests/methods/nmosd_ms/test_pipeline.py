"""The registered nmosd_ms method: demo on the phantom, imported masks, the empty-mask flag, real-data smoke test."""
from __future__ import annotations

import csv
import json

import nibabel as nib
import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.methods.nmosd_ms import NmosdMsMethod
from biomedai.methods.nmosd_ms.phantom import flair_phantom


def test_demo_counts_the_phantom_lesions(tmp_path):
    result = NmosdMsMethod().demo(tmp_path)
    subject = result.metrics["subjects"]["simulated_flair"]
    assert subject["lesion_count"] == 6 and not subject["empty_lesion_mask"]
    mask = nib.load(str(tmp_path / "simulated_flair_wmh.nii.gz"))
    assert mask.shape == (64, 72, 60) and set(np.unique(np.asarray(mask.dataobj))) == {0, 1}
    assert json.loads((tmp_path / "result.json").read_text())["action"] == "demo"


def test_imported_masks_and_empty_flag(tmp_path):
    flair, brain, _ = flair_phantom(seed=1)
    for name, arr in (("f", flair), ("b", brain.astype(np.uint8)), ("l", np.zeros(flair.shape, np.uint8)),
                      ("bad", np.zeros((5, 5, 5), np.uint8))):
        nib.save(nib.Nifti1Image(arr, np.eye(4)), str(tmp_path / f"{name}.nii.gz"))
    cfg = {"brain_mask": str(tmp_path / "b.nii.gz"), "lesion_mask": str(tmp_path / "l.nii.gz")}
    NmosdMsMethod(cfg).predict([tmp_path / "f.nii.gz"], tmp_path / "out")
    row = next(csv.DictReader(open(tmp_path / "out" / "lesions.csv")))
    assert row["mask_source"] == "imported" and row["empty_lesion_mask"] == "True"
    assert float(row["icv_ml"]) == pytest.approx(brain.sum() / 1000)
    with pytest.raises(InvalidInputError, match="geometry"):
        NmosdMsMethod({"lesion_mask": str(tmp_path / "bad.nii.gz")}).predict([tmp_path / "f.nii.gz"], tmp_path / "o2")


@pytest.mark.slow
def test_real_ms_flair_smoke(shared_data, tmp_path):
    """The 3 real MS FLAIRs: the morphology baseline must find lesions that overlap the consensus masks."""
    data = shared_data / "ms_lesions"
    if not (data / "flair_mni").is_dir():
        pytest.skip("ms_lesions not present")
    metrics = NmosdMsMethod().evaluate(data, tmp_path).metrics
    assert metrics["n_subjects"] == 3
    assert metrics["dice_mean"] > 0.1 and metrics["lesion_f1_mean"] > 0.1
