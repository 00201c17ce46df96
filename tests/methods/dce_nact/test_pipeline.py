"""The registered method end to end on one small SIMULATED patient, and the tool verbs."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("SimpleITK")

from biomedai.methods.dce_nact.model import SvmModel  # noqa: E402
from biomedai.methods.dce_nact.synthetic import simulate_patient  # noqa: E402
from biomedai.methods.registry import get_method  # noqa: E402

FAST = {"n4": False, "resample_spacing_mm": None, "registration_metric": "ms", "registration_iterations": 8,
        "registration_levels": [2, 1], "registration_grid_mm": 20.0}


@pytest.fixture(scope="module")
def patient(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dce") / "P1"
    truth = simulate_patient(folder, np.random.default_rng(4), responder=True, shape=(12, 30, 30))
    return folder, truth


def test_predict_one_patient_with_a_model(patient, tmp_path):
    folder, truth = patient
    method = get_method("dce_nact")(FAST)
    model = SvmModel(["jacobian__original_firstorder_Mean", "delta__original_firstorder_Energy"],
                     np.array([1.0, 0.3]), np.array([0.2, 0.2]), np.array([[0.0, 0.0], [1.0, 1.0]]),
                     np.array([1.0, -1.0]), 0.0, 0.5, 1.0, threshold=0.0, info={"model_set": "fusion"})
    (tmp_path / "model.json").write_text(json.dumps(model.to_dict()))
    res = method.predict([folder], tmp_path / "out", weights=tmp_path / "model.json")
    pred = json.loads((tmp_path / "out" / "prediction.json").read_text())
    assert isinstance(pred["predicted_responder"], bool) and np.isfinite(pred["decision"])
    assert pred["folding_fraction"] == 0.0
    # the Jacobian follows the simulated shrinkage (8 iterations only: loose)
    assert pred["jacobian_mean_in_tumour"] < 0.5 * (1 + truth["true_volume_ratio"]) + 0.1
    for name in ("jacobian.nii.gz", "displacement.nii.gz", "followup_warped.nii.gz", "qc_checkerboard.png",
                 "qc_contours.png", "result.json"):
        assert (tmp_path / "out" / name).is_file(), name
    feats = json.loads((tmp_path / "out" / "features.json").read_text())
    assert sum(k.startswith("baseline__") for k in feats) == 102
    assert sum(k.startswith("jacobian__") for k in feats) == 88          # shape features dropped
    assert res.metrics["n_patients"] == 1


def test_tools_pk_maps_and_simulate(patient, tmp_path, capsys):
    folder, _ = patient
    from biomedai.cli import main

    rc = main(["tool", "dce_nact", "pk-maps", str(folder / "baseline" / "dce.nii.gz"), "-o", str(tmp_path / "pk"),
               "--mask", str(folder / "baseline" / "mask.nii.gz"), "--flip-angle", "10", "--tr", "0.0045", "--aif-delay", "20"])
    assert rc == 0
    import SimpleITK as sitk

    kt = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "pk" / "Ktrans.nii.gz")))
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "baseline" / "mask.nii.gz"))) > 0
    assert 0.1 < np.nanmedian(kt[mask]) < 0.35      # simulated tumour Ktrans: 0.25 (1.1 - 0.4 r) x texture /min
    for name in ("ve.nii.gz", "rmse.nii.gz", "r2.nii.gz", "wash_in.nii.gz", "ser.nii.gz", "time_to_peak.nii.gz"):
        assert (tmp_path / "pk" / name).is_file()
    assert main(["tool", "dce_nact", "segment", str(folder), "-o", str(tmp_path / "seg"), "--set", "n4=false",
                 "--set", "resample_spacing_mm=null", "--set", "segmentation=sfcm"]) == 0
    info = json.loads((tmp_path / "seg" / "segment.json").read_text())
    assert info["baseline"]["source"].startswith("SFCM")


def test_cli_bad_input_is_one_line(tmp_path, capsys):
    from biomedai.cli import main

    (tmp_path / "P" / "followup").mkdir(parents=True)
    rc = main(["tool", "dce_nact", "register", str(tmp_path / "P"), "-o", str(tmp_path / "o")])
    assert rc == 2
    assert "baseline" in capsys.readouterr().err


def test_pk_maps_measured_aif_and_t10_map(patient):
    import SimpleITK as sitk

    from biomedai.methods.dce_nact.pkmaps import pk_maps
    from biomedai.methods.dce_nact.series import load_dce_series
    from biomedai.methods.dce_nact.synthetic import TUMOUR_T10
    from biomedai.perfusion import parker_aif

    folder, _ = patient
    series = load_dce_series(folder / "baseline" / "dce.nii.gz")
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "baseline" / "mask.nii.gz"))) > 0
    ta = np.arange(0, 300.0, 0.5)
    maps = pk_maps(series, mask, flip_angle_deg=10, tr_s=0.0045, t10_s=np.full(mask.shape, TUMOUR_T10),
                   measured_aif=(ta, parker_aif(ta, delay=20, hematocrit=0.42)))
    assert 0.1 < np.nanmedian(maps["Ktrans"][mask]) < 0.35
    with pytest.raises(Exception, match="cover"):
        pk_maps(series, mask, flip_angle_deg=10, tr_s=0.0045, measured_aif=(ta[:100], ta[:100]))
