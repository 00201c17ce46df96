"""2-D training of the U-Net and the box detector through the engine's time budget (tiny synthetic images)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from biomedai.methods.vessels_biosegment.config import VesselsConfig
from biomedai.methods.vessels_biosegment.datasets import VesselCase
from biomedai.methods.vessels_biosegment.detector_training import (DetectorPatches, detector_case,
                                                                   detector_patch_size, train_detector)
from biomedai.methods.vessels_biosegment.training import VesselPatches, prepare_case, train_segmentation


def _cases(tmp_path, n: int = 3, size: int = 64) -> list[VesselCase]:
    """Grey square images with dark vessel lines (DRIVE-like: vessels darker), their masks and no FOV file."""
    cases = []
    for i in range(n):
        mask = np.zeros((size, size), bool)
        mask[10 + 7 * i:13 + 7 * i, 4:size - 4] = True
        mask[4:size - 4, 20 + 9 * i:22 + 9 * i] = True
        rgb = np.full((size, size, 3), 180, np.uint8)
        rgb[mask] = (90, 60, 40)
        for sub in ("images", "1st_manual"):
            (tmp_path / sub).mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb).save(tmp_path / "images" / f"{i:02d}_img.png")
        Image.fromarray(mask.astype(np.uint8) * 255).save(tmp_path / "1st_manual" / f"{i:02d}_manual.png")
        cases.append(VesselCase(f"{i:02d}", tmp_path / "images" / f"{i:02d}_img.png",
                                tmp_path / "1st_manual" / f"{i:02d}_manual.png", None))
    return cases


def _cfg() -> VesselsConfig:
    return VesselsConfig(unet_features=(4, 4, 8, 8, 16, 4), patch_size=32, batch_size=2, steps_per_epoch=3,
                         epochs=3, max_minutes=5.0, clahe=False)


def test_patches_are_drawn_anew_each_epoch(tmp_path):
    cfg = _cfg()
    prepared = [prepare_case(c, cfg) for c in _cases(tmp_path, 2)]
    ds = VesselPatches(prepared, 32, 4, seed=0)
    first = ds[0][0].numpy().copy()
    ds.set_epoch(1)
    assert not np.array_equal(first, ds[0][0].numpy())
    ds.set_epoch(0)
    assert np.array_equal(first, ds[0][0].numpy())
    det = DetectorPatches([detector_case(p, cfg) for p in prepared], 32, 4, cfg.box_size, seed=0)
    a = det[1][0].numpy().copy()
    det.set_epoch(3)
    assert not np.array_equal(a, det[1][0].numpy())


def test_unet_training_runs_its_epochs_and_a_job_limit_ends_it_early(tmp_path):
    cases = _cases(tmp_path / "data")
    trained = train_segmentation(cases[:2], cases[2:], _cfg(), tmp_path / "run")
    assert trained["result"].epochs_completed == 3 and trained["result"].global_step == 9
    assert 0.2 <= trained["threshold"] <= 0.8 and trained["val_ids"] == ["02"]
    # a job limit that any epoch passes ends the job after its first epoch; --resume goes on to the same end
    tiny = _cfg()
    first = train_segmentation(cases[:2], cases[2:], tiny, tmp_path / "jobs", job_minutes=1e-6)
    assert first["result"].epochs_completed == 1
    rest = train_segmentation(cases[:2], cases[2:], tiny, tmp_path / "jobs", resume=True)
    assert rest["result"].global_step == 9


def test_detector_training_chooses_a_decoding_and_a_best_epoch(tmp_path):
    cfg = _cfg()
    prepared = [detector_case(prepare_case(c, cfg), cfg) for c in _cases(tmp_path / "data", size=80)]
    assert detector_patch_size(prepared) == 80              # images smaller than the 128 px default patch
    trained = train_detector(prepared[:2], prepared[2:], cfg, tmp_path / "det", minutes=5.0, epochs=2,
                             steps_per_epoch=2, width=4)
    assert trained["result"].epochs_completed == 2
    assert trained["decoding"].peaks == "ridge" and 0 <= trained["val_line_f1"] <= 1
    assert trained["result"].best_epoch in (1, 2)
    with pytest.raises(Exception):
        train_detector(prepared[:2], prepared[2:], cfg, tmp_path / "det2", minutes=-1.0, epochs=1, steps_per_epoch=1)
