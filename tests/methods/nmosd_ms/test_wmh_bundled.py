"""The bundled WMH network (models/wmh_default): what its model folder says, and that ``segmenter: network`` uses it
out of the box on a real FLAIR. The real-data check is IN-SAMPLE (the model trained on all 3 FLAIRs): it shows the
folder loads and segments, not how well it generalises (that is the leave-one-patient-out run in the README)."""
from __future__ import annotations

import csv

import numpy as np

from biomedai.methods.nmosd_ms import NmosdMsMethod
from biomedai.methods.nmosd_ms.pipeline import WMH_DEFAULT_MODEL
from biomedai.methods.nmosd_ms.volumes import read_mask, read_volume
from biomedai.methods.nmosd_ms.wmh import lesion_wise_scores
from biomedai.train.model_folder import default_model_folder, read_model_info
from tests.conftest import shared_subdir


def test_bundled_wmh_model_folder_says_what_it_is():
    folder = default_model_folder("nmosd_ms", WMH_DEFAULT_MODEL)
    assert folder is not None, "models/wmh_default is missing"
    info = read_model_info(folder)
    arch = info.architecture["wmh_net"]
    assert 0.2 <= arch["threshold"] <= 0.7 and arch["factor"] == 1.5 and arch["patch"] == 48
    assert info.simulated and "SIMULATED" in info.training_data["name"] and info.training_data["licence"] == "CC-BY"
    assert sum(f.stat().st_size for f in folder.iterdir()) <= 5 * 1024 * 1024
    assert any(k.startswith("lopo_mean_") for k in info.metrics) and "leave-one-patient-out" in info.metrics_data


def test_segmenter_network_uses_the_bundled_model_on_a_real_flair(shared_data, tmp_path):
    data = shared_subdir(shared_data, "ms_lesions")
    flair = data / "flair_mni" / "patient26.nii.gz"
    out = tmp_path / "out"
    NmosdMsMethod({"segmenter": "network"}).predict([flair], out)
    row = next(csv.DictReader(open(out / "lesions.csv")))
    assert row["mask_source"] == "network"
    vol = read_volume(flair)
    pred = read_volume(out / "patient26_wmh.nii.gz").array > 0
    truth = read_mask(data / "lesion_masks_mni" / "patient26.nii.gz", vol)
    assert lesion_wise_scores(truth, pred)["dice"] > 0.5  # in-sample; a random or mis-oriented model gets ~0
    assert np.isclose(float(row["wmh_ml"]), pred.sum() * vol.voxel_volume_ml, rtol=0.01)
