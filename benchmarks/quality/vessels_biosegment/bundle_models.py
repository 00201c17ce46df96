"""Copy the trained model folders into the package (models/default: the U-Net, models/detector: the box
detector), after choosing the detector's score threshold again on the validation images (38, 39, 40) with the
current ``SCORE_GRID`` (the training run validated with an older, coarser grid that started at 0.1).

Usage: python benchmarks/quality/vessels_biosegment/bundle_models.py runs/vessels_default/model runs/vessels_detector/model
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch

from biomedai.methods.vessels_biosegment.config import VesselsConfig
from biomedai.methods.vessels_biosegment.datasets import find_cases
from biomedai.methods.vessels_biosegment.detector import VesselBoxDetector
from biomedai.methods.vessels_biosegment.detector_training import choose_detector_score, detector_case
from biomedai.methods.vessels_biosegment.training import prepare_case, split_training_validation
from biomedai.train.model_folder import INFO_FILE, load_model_folder
from biomedai.utils import write_json_atomic

HERE = Path(__file__).resolve().parent
PACKAGE_MODELS = HERE.parents[2] / "src/biomedai/methods/vessels_biosegment/models"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("unet", type=Path)
    parser.add_argument("detector", type=Path)
    parser.add_argument("--drive", type=Path, default=HERE.parents[3] / "shared/data/vessels/drive")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = VesselsConfig()
    _, val = split_training_validation(find_cases(args.drive / "training"))
    net = VesselBoxDetector(16)
    _, info = load_model_folder(args.detector, net, method="vessels_biosegment")
    val_dc = [detector_case(prepare_case(c, cfg), cfg) for c in val]
    score, error = choose_detector_score(net, val_dc, cfg)
    info.preprocessing["detector_score"] = score
    info.metrics["val_length_percent_error_at_score"] = error
    for name, source in (("default", args.unet), ("detector", args.detector)):
        target = PACKAGE_MODELS / name
        target.mkdir(parents=True, exist_ok=True)
        for f in ("weights.pt", INFO_FILE):
            shutil.copy2(source / f, target / f)
    write_json_atomic(PACKAGE_MODELS / "detector" / INFO_FILE, info.to_dict())
    print(f"detector score {score} (validation length error {error:.1f} %); bundled into {PACKAGE_MODELS}")


if __name__ == "__main__":
    main()
