"""train on a labelled cohort folder and predict with the trained classifier (tiny synthetic subjects: the
plumbing, the model folder and the outputs; not accuracy), and the cohort folder's checks."""
from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.methods import get_method
from biomedai.methods.nmosd_ms.dataset import read_cohort
from biomedai.methods.nmosd_ms.phantom import flair_phantom
from biomedai.train.model_folder import read_model_info

SMALL = {"resize_side": 24, "crop_side": 20, "epochs": 2, "batch_size": 4, "arch": "twoview-r18",
         "explain": True}


def _cohort(folder, n=8):
    (folder / "flair").mkdir(parents=True)
    (folder / "masks").mkdir()
    rows = ["subject_id,diagnosis,lesion_mask,brain_mask"]
    for i in range(n):
        nmosd = i % 2 == 1
        flair, brain, lesion = flair_phantom((44, 48, 40), n_lesions=1 if nmosd else 3, seed=i)
        nib.save(nib.Nifti1Image(flair, np.eye(4)), str(folder / "flair" / f"s{i}.nii.gz"))
        nib.save(nib.Nifti1Image(lesion.astype(np.uint8), np.eye(4)), str(folder / "masks" / f"s{i}_lesion.nii.gz"))
        nib.save(nib.Nifti1Image(brain.astype(np.uint8), np.eye(4)), str(folder / "masks" / f"s{i}_brain.nii.gz"))
        rows.append(f"s{i},{'NMOSD' if nmosd else 'MS'},masks/s{i}_lesion.nii.gz,masks/s{i}_brain.nii.gz")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    (folder / "SIMULATED.txt").write_text("synthetic phantoms\n")
    return folder


def test_train_writes_a_model_folder_and_predict_classifies(tmp_path):
    data = _cohort(tmp_path / "cohort")
    method = get_method("nmosd_ms")(SMALL)
    trained = method.train(data, tmp_path / "train")
    info = read_model_info(tmp_path / "train" / "model")
    assert info.simulated and info.class_names == ["MS", "NMOSD"] and info.architecture["crop_side"] == 20
    assert trained.metrics["subjects"] == 8 and len(trained.metrics["learning_curve"]) == 2
    assert set(trained.metrics["validation"]) == {"accuracy", "sensitivity", "specificity"}
    out = method.predict([data / "flair" / "s1.nii.gz"], tmp_path / "pred", weights=tmp_path / "train" / "model")
    subject = out.metrics["subjects"]["s1"]
    assert 0.0 <= subject["p_nmosd"] <= 1.0 and subject["prediction"] in ("NMOSD", "MS")
    for kind in ("occlusion", "gradcam"):
        assert (tmp_path / "pred" / f"s1_{kind}.nii.gz").is_file() and (tmp_path / "pred" / f"s1_{kind}.png").is_file()
    import json

    notes = json.loads((tmp_path / "pred" / "result.json").read_text())["notes"]
    assert "SIMULATED" in notes["simulated"]


def test_cohort_folder_errors_name_the_problem(tmp_path):
    data = _cohort(tmp_path / "cohort", n=2)
    (data / "labels.csv").write_text("subject_id,diagnosis\ns0,AQP4\n")
    with pytest.raises(InvalidInputError, match="not NMOSD or MS"):
        read_cohort(data)
    (data / "labels.csv").write_text("subject_id,diagnosis,flair\ns0,MS,../../etc/passwd\ns1,NMOSD,flair/s1.nii.gz\n")
    with pytest.raises(InvalidInputError, match="outside the cohort folder"):
        read_cohort(data)
    (data / "labels.csv").write_text("subject_id,diagnosis\ns0,MS\ns1,MS\n")
    with pytest.raises(InvalidInputError, match="both NMOSD and MS"):
        read_cohort(data)
