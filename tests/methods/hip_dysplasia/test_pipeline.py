"""The method end to end: predict on DICOM (anisotropic spacing, mirrored orientation) and PNG, the CLI tools,
the detector plumbing, and clear errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

from biomedai.cli import main
from biomedai.errors import InvalidInputError, WeightsError
from biomedai.methods.hip_dysplasia.annotation import HipAnnotation
from biomedai.methods.hip_dysplasia.geometry import SideShapes, angles_from_landmarks
from biomedai.methods.hip_dysplasia import HipDysplasia
from biomedai.methods.hip_dysplasia.synthetic import synthetic_film
from biomedai.methods.registry import get_method


def _write_dicom(path, array, spacing, orientation):
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # digital X-ray
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientID = "DX", "SIM"
    ds.Rows, ds.Columns = array.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelSpacing = [str(v) for v in spacing]
    ds.PatientOrientation = list(orientation)
    ds.PixelData = array.astype(np.uint16).tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    return path


@pytest.fixture(scope="module")
def mirrored_film():
    return synthetic_film({"right": (33.0, 37.0, 4.0), "left": (12.0, 47.0, 18.0)}, size=256, mirror=True, seed=2)


def test_registered():
    assert get_method("hip_dysplasia") is HipDysplasia


def test_dicom_spacing_and_orientation_are_honoured(mirrored_film, tmp_path):
    sy, sx = 0.5, 1.0  # physical units per pixel: rows finer than columns
    scale = np.array([sx, sy])
    px = {s: SideShapes(**{k: None if v is None else v / scale for k, v in vars(sh).items()})
          for s, sh in mirrored_film.shapes.items()}
    hips = {"image_left": px["left"], "image_right": px["right"]}  # positional keys, resolved by the DICOM tag
    data = HipAnnotation({"right": hips["image_left"], "left": hips["image_right"]}).to_dict()
    data["sides"] = "image"
    data["hips"] = {"image_left": data["hips"]["right"], "image_right": data["hips"]["left"]}
    rng = np.random.default_rng(0)
    dcm = _write_dicom(tmp_path / "film.dcm", rng.integers(0, 4000, (512, 256)), (sy, sx), ["R", "F"])
    (tmp_path / "film.hip.json").write_text(json.dumps(data))
    result = HipDysplasia().predict([dcm], tmp_path / "out")
    film = result.metrics["films"]["film.dcm"]
    truth = angles_from_landmarks(mirrored_film.landmarks)
    for side in ("right", "left"):
        for name in ("ce", "sharp", "tonnis"):
            assert film["angles"][side][name] == pytest.approx(truth[side][name], abs=0.1), (side, name)
    assert not any("square pixels" in n for n in film["notes"])
    for name in ("angles.csv", "film_overlay.png", "film_report.html", "film_measurement.json", "result.json"):
        assert (tmp_path / "out" / name).is_file()
    csv_text = (tmp_path / "out" / "angles.csv").read_text()
    assert "knowledge_class" in csv_text and "dysplasia" in csv_text


def test_png_without_spacing_notes_square_pixels_and_require_spacing_refuses(mirrored_film, tmp_path):
    from biomedai.viz import save_png

    png = save_png(np.zeros((256, 256), np.uint8), tmp_path / "f.png")
    HipAnnotation(mirrored_film.shapes).save(tmp_path / "f.hip.json")
    result = HipDysplasia().predict([png], tmp_path / "out")
    assert any("square pixels assumed" in n for n in result.metrics["films"]["f.png"]["notes"])
    with pytest.raises(InvalidInputError, match="no pixel spacing"):
        HipDysplasia({"require_spacing": True}).predict([png], tmp_path / "out2")
    (tmp_path / "g.png").write_bytes(png.read_bytes())
    with pytest.raises(InvalidInputError, match="no annotation beside the film"):
        HipDysplasia().predict([tmp_path / "g.png"], tmp_path / "out3")


def test_cli_tools_simulate_measure_fit_diagnose(tmp_path, capsys):
    d = tmp_path / "sim"
    assert main(["tool", "hip_dysplasia", "simulate", "-o", str(d), "--films", "1", "--size", "256", "--cohort"]) == 0
    assert main(["tool", "hip_dysplasia", "measure", str(d / "synthetic_000.png"), "-o", str(tmp_path / "m"),
                 "--json"]) == 0
    out = capsys.readouterr().out
    angles = json.loads(out[out.index("{"):])["synthetic_000.png"]
    assert set(angles) == {"right", "left"} and all(np.isfinite(v) for v in angles["left"].values())
    assert main(["tool", "hip_dysplasia", "fit", str(d / "cohort.csv"), "-o", str(tmp_path / "model")]) == 0
    for name in ("normal_model.json", "normal_model_fig5.png", "decision_graph.png", "diagnosis.csv"):
        assert (tmp_path / "model" / name).is_file()
    assert main(["tool", "hip_dysplasia", "diagnose", str(tmp_path / "model" / "normal_model.json"),
                 str(d / "cohort.csv"), "-o", str(tmp_path / "diag.csv")]) == 0
    assert "model_class" in (tmp_path / "diag.csv").read_text().splitlines()[0]
    assert main(["tool", "hip_dysplasia", "measure", str(d / "synthetic_000.png"), "-o", str(tmp_path / "m2"),
                 "--model", str(tmp_path / "model" / "normal_model.json"), "--unsigned"]) == 0
    assert "model_class" in (tmp_path / "m2" / "angles.csv").read_text()
    assert main(["tool", "hip_dysplasia", "measure", str(d), "-o", str(tmp_path / "m3")]) == 0  # a folder
    assert (tmp_path / "m3" / "synthetic_000_overlay.png").is_file()
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    assert main(["tool", "hip_dysplasia", "fit", str(tmp_path / "bad.csv"), "-o", str(tmp_path / "x")]) == 2
    assert "needs columns" in capsys.readouterr().err


def test_detector_trains_predicts_and_evaluates(tmp_path):
    import torch

    torch.set_num_threads(1)
    method = HipDysplasia({"detector_size": 32, "detector_features": [4, 8], "epochs": 1, "batch_size": 2,
                           "n_synthetic_train": 2, "n_synthetic_val": 2})
    trained = method.train("synthetic", tmp_path / "run")
    weights = tmp_path / "run" / "weights.pt"
    assert weights.is_file() and trained.metrics["n_train"] == 2
    agreement = trained.metrics["val_angle_agreement"]
    assert {"ce", "sharp", "tonnis", "radial_error_px"} <= set(agreement)
    assert {"mae_deg", "icc_2_1", "bland_altman_loa_deg"} <= set(agreement["ce"])
    evaluated = method.evaluate("synthetic", tmp_path / "eval", weights=weights)
    assert (tmp_path / "eval" / "bland_altman.png").is_file() and evaluated.metrics["n_films"] == 2
    from biomedai.viz import save_png

    png = save_png(np.zeros((64, 64), np.uint8), tmp_path / "nofilm.png")
    result = method.predict([png], tmp_path / "pred", weights=weights)
    assert "from_detector" in result.metrics["films"]["nofilm.png"]["flags"]["right"]
    with pytest.raises(WeightsError):
        method.evaluate("synthetic", tmp_path / "eval2")


@pytest.mark.slow
def test_detector_learns_landmarks_on_simulated_films(tmp_path):
    """64-px simulated films, 96 for training: the detector must beat the mean-position baseline clearly."""
    import torch

    from biomedai.methods.hip_dysplasia.config import HipDysplasiaConfig
    from biomedai.methods.hip_dysplasia.detector import (agreement_report, detect_landmarks, load_detector,
                                                         synthetic_samples, train_detector)
    from biomedai.methods.hip_dysplasia.model import positional_to_sides

    torch.set_num_threads(2)
    cfg = HipDysplasiaConfig(detector_size=64, detector_features=(8, 16, 32), epochs=15, batch_size=8,
                             heatmap_sigma=1.5)
    train, val, test = synthetic_samples(96, 64, 1), synthetic_samples(16, 64, 2), synthetic_samples(32, 64, 3)
    result = train_detector(cfg, train, val, tmp_path / "run")
    points = detect_landmarks(load_detector(result.weights, cfg), [s.picture for s in test], 64)
    mean_points = np.mean([s.points for s in train], axis=0)
    radial = np.mean([np.hypot(*(p[:, :2] - s.points).T) for p, s in zip(points, test)])
    baseline = np.mean([np.hypot(*(mean_points - s.points).T) for s in test])
    assert radial < 0.3 * baseline
    true = [angles_from_landmarks(positional_to_sides(s.points, s.image_left_side)) for s in test]
    pred = [angles_from_landmarks(positional_to_sides(p[:, :2], s.image_left_side)) for p, s in zip(points, test)]
    report = agreement_report(true, pred)
    assert report["ce"]["icc_2_1"] > 0.6 and report["sharp"]["icc_2_1"] > 0.5


@pytest.mark.slow
def test_demo_runs_on_simulated_data(tmp_path):
    import time

    start = time.perf_counter()
    result = HipDysplasia().demo(tmp_path)
    assert time.perf_counter() - start < 90
    for name in ("normal_model_fig5.png", "decision_graph.png", "normal_model.json", "cohort_diagnoses.csv",
                 "film/synthetic_film_overlay.png", "film/synthetic_film_report.html", "result.json"):
        assert (tmp_path / name).is_file(), name
    film, truth = result.metrics["film_angles"], result.metrics["film_true_angles"]
    for side in ("right", "left"):
        assert film[side]["ce"] == pytest.approx(truth[side]["ce"], abs=0.2)
    rules = {r["rule"]: r for r in result.metrics["cohort"]["rules"]}
    assert rules["CE < 20 (knowledge, borderline = negative)"]["sensitivity"] > 0.8
    assert "SIMULATED" in result.metrics["cohort"]["data"]


def test_detector_trains_on_a_folder_of_annotated_films(tmp_path):
    import torch

    torch.set_num_threads(1)
    folder = tmp_path / "films"
    assert main(["tool", "hip_dysplasia", "simulate", "-o", str(folder), "--films", "3", "--size", "128"]) == 0
    method = HipDysplasia({"detector_size": 32, "detector_features": [4, 8], "epochs": 1, "batch_size": 2})
    result = method.train(folder, tmp_path / "run")
    assert (result.metrics["n_train"], result.metrics["n_val"]) == (3 - 1, 1)
    evaluated = method.evaluate(folder, tmp_path / "eval", weights=tmp_path / "run" / "weights.pt")
    assert evaluated.metrics["n_films"] == 3 and evaluated.metrics["data"] == str(folder)
    with pytest.raises(InvalidInputError, match="no image with an annotation"):
        method.train(tmp_path / "run", tmp_path / "run2")
