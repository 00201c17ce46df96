"""The registered method end to end on a tiny SIMULATED cohort: train, predict (DICOM and NIfTI), evaluate."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from biomedai.errors import InvalidInputError, WeightsError
from biomedai.io import write_image
from biomedai.io.image import Image
from biomedai.methods.dbt_maskrcnn import DbtMaskRcnnMethod
from biomedai.methods.dbt_maskrcnn.cohort import write_cohort
from biomedai.methods.dbt_maskrcnn.config import DbtSimConfig
from biomedai.methods.dbt_maskrcnn.reader import read_dbt, write_dbt_dicom

slow = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("dbt")
    write_cohort(root / "cohort", DbtSimConfig(n_train_breasts=3, n_test_breasts=2, shape=(16, 48, 48),
                                               sart_iterations=1, seed=2))
    method = DbtMaskRcnnMethod({"variant": "light", "max_minutes": 0.05, "epochs": 1, "widths": [4, 8, 8, 8, 8],
                                "fpn_channels": 8, "mask_channels": 8, "box_hidden": 16, "groups": 2})
    result = method.train(root / "cohort", root / "train")
    return root, method, result


@slow
def test_train_writes_a_model_folder(trained):
    root, _, result = trained
    info = json.loads((root / "train" / "model" / "model.json").read_text())
    assert info["method"] == "dbt_maskrcnn" and info["simulated"] is True
    assert info["architecture"]["widths"] == [4, 8, 8, 8, 8]
    assert result.metrics["simulated"] is True and (root / "train" / "result.json").is_file()


@slow
def test_predict_on_dicom_and_nifti(trained):
    root, method, _ = trained
    nifti = sorted((root / "cohort" / "volumes").glob("*.nii.gz"))[0]
    view = read_dbt(nifti)
    dicom = write_dbt_dicom(view.image.array, view.image.spacing, root / "in" / "x.dcm", view.view, view.laterality,
                            view.breast_id)
    out = root / "pred"
    res = method.predict([dicom, nifti], out, weights=root / "train" / "model")
    assert (out / "result.json").is_file() and (out / "detections.csv").is_file()
    rows = list(csv.DictReader((out / "detections.csv").open()))
    assert all(float(r["z1"]) <= view.image.spatial_shape[0] for r in rows)
    assert set(res.metrics["views"]) == {view.view_id}  # both inputs are the same view
    assert (out / f"{view.view_id}_labels.nii.gz").is_file() and (out / f"{view.view_id}_montage.png").is_file()


@slow
def test_evaluate_writes_the_tables(trained):
    root, method, _ = trained
    res = method.evaluate(root / "cohort", root / "eval", weights=root / "train" / "model")
    assert res.metrics["simulated"] is True and "SIMULATED" in res.metrics["data"]
    assert 0.0 <= res.metrics["AUFC_breast"] <= 1.0
    assert (root / "eval" / "froc_breast.png").is_file() and (root / "eval" / "table2_fps_at_sensitivity.csv").is_file()


def test_bad_inputs_write_nothing(tmp_path):
    method = DbtMaskRcnnMethod()
    mammo = write_image(Image(np.ones((40, 30), np.float32), spacing=(0.1, 0.1), spacing_unit="mm"),
                        tmp_path / "mammo_LCC.nii.gz")
    out = tmp_path / "out"
    with pytest.raises(InvalidInputError, match="mammo_LCC"):
        method.predict([mammo], out)
    assert not out.exists()
    volume = write_image(Image(np.ones((6, 20, 20), np.float32), spacing=(1.0, 0.6, 0.6), spacing_unit="mm"),
                         tmp_path / "B1_LCC.nii.gz")
    with pytest.raises(WeightsError, match="no such model folder"):  # the bundled default is used only without --weights
        method.predict([volume], out, weights=tmp_path / "missing_model")
    assert not out.exists()
