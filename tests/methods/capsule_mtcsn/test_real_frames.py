"""The 5 real Kvasir-SEG colonoscopy frames (research/education only; Jha et al. 2020) through the IO and metric
code and the bundled model. No quality claim: the model learned from SIMULATED capsule frames, and these are
colonoscopy frames with polyp masks; the checks are known answers of the data and of the output files (a tiny
random-weight model folder is enough for that and nothing of its output is reported)."""
from __future__ import annotations

import csv

import numpy as np
import pytest

from biomedai.io import read_image
from biomedai.metrics.segmentation import iou
from tests.conftest import shared_subdir

#: polyp pixels (mask > 127) per frame, from the data set's README (checked there with Pillow)
POLYP_PERCENT = {"cju0qkwl35piu0993l0dewei2": 28.3, "cju0qoxqj9q6s0835b43399p4": 27.1,
                 "cju0qx73cjw570799j4n5cjze": 31.9, "cju0roawvklrq0799vmjorwfv": 10.8,
                 "cju0rx1idathl0835detmsp84": 7.3}


def test_kvasir_frames_through_io_metrics_and_predict(shared_data, tmp_path) -> None:
    torch = pytest.importorskip("torch")
    from biomedai.methods.capsule_mtcsn import MtcsnMethod
    from biomedai.methods.capsule_mtcsn.config import MtcsnConfig
    from biomedai.methods.capsule_mtcsn.inference import save_mtcsn
    from biomedai.methods.capsule_mtcsn.model import Mtcsn

    folder = shared_subdir(shared_data, "kvasir_seg_sample")
    images = sorted((folder / "images").glob("*.jpg"))
    assert [p.stem for p in images] == sorted(POLYP_PERCENT)
    for path in images:
        polyp = np.asarray(read_image(folder / "masks" / path.name).array)[..., 0] > 127
        assert 100 * polyp.mean() == pytest.approx(POLYP_PERCENT[path.stem], abs=0.06)
        assert iou(polyp, polyp) == 1.0 and iou(polyp, ~polyp) == 0.0
    torch.manual_seed(0)
    cfg = MtcsnConfig(input_size=96, light_widths=(4, 4, 8, 8), cls_channels=8, seg_channels=8)
    weights = save_mtcsn(tmp_path / "tiny", Mtcsn(cfg), cfg, {"name": "none (random weights, IO test)"}, {}, "",
                         simulated=False)
    result = MtcsnMethod().predict(images, tmp_path / "out", weights=weights)
    with open(tmp_path / "out" / "images.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["image"] for r in rows] == [p.name for p in images]
    for row, path in zip(rows, images):
        assert abs(sum(float(row[f"p_{c}"]) for c in ("clear", "blur", "invisible")) - 1) < 2e-3
        assert 0 <= float(row["%lesion"]) <= 100
        mask = read_image(tmp_path / "out" / "masks" / f"{path.stem}_mask.png").array
        assert mask.shape[:2] == (96, 96)
    assert result.metrics["images"]["n_images"] == 5
