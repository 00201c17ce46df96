"""Copy trained model folders into the package (models/default: the U-Net, models/detector: the box detector),
after choosing the detector's decoding (score, contour threshold, gap bridging: ``decoding_grid``) again on
the validation images (38, 39, 40) against the manual skeleton length.

Usage: python benchmarks/quality/vessels_biosegment/bundle_models.py [--unet runs/vessels_default/model]
           [--detector runs/vessels_detector/model]
With ``--detector`` naming the bundled folder itself, only its decoding is chosen again (model.json rewritten).
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch

from biomedai.methods.vessels_biosegment.config import VesselsConfig
from biomedai.methods.vessels_biosegment.datasets import find_cases
from biomedai.methods.vessels_biosegment.detector import VesselBoxDetector
from biomedai.methods.vessels_biosegment.detector_training import choose_decoding, detector_case
from biomedai.methods.vessels_biosegment.training import prepare_case, split_training_validation
from biomedai.train.model_folder import INFO_FILE, load_model_folder, read_model_info
from biomedai.utils import write_json_atomic

HERE = Path(__file__).resolve().parent
PACKAGE_MODELS = HERE.parents[2] / "src/biomedai/methods/vessels_biosegment/models"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unet", type=Path, default=None, help="U-Net model folder to bundle as models/default")
    parser.add_argument("--detector", type=Path, default=None, help="detector model folder to bundle")
    parser.add_argument("--drive", type=Path, default=HERE.parents[3] / "shared/data/vessels/drive")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.unet is not None:
        copy_folder(args.unet, PACKAGE_MODELS / "default")
    if args.detector is None:
        return
    cfg = VesselsConfig()
    _, val = split_training_validation(find_cases(args.drive / "training"))
    net = VesselBoxDetector(int(read_model_info(args.detector).architecture.get("width", 16)))
    _, info = load_model_folder(args.detector, net, method="vessels_biosegment")
    val_dc = [detector_case(prepare_case(c, cfg), cfg) for c in val]
    chosen = choose_decoding(net, val_dc, cfg)
    info.preprocessing.pop("detector_score_chosen_on", None)
    info.preprocessing.update({**chosen["decoding"].to_preprocessing(),
                               "decoding_chosen_on": "validation images " + ", ".join(c.case_id for c in val)
                               + " (lowest mean length percent error against the skeleton length of 1st_manual)"})
    info.metrics.pop("val_length_percent_error_at_score", None)
    info.metrics.update({"val_length_percent_error": chosen["error"], "val_line_f1": chosen["line_f1"]})
    copy_folder(args.detector, PACKAGE_MODELS / "detector")
    write_json_atomic(PACKAGE_MODELS / "detector" / INFO_FILE, info.to_dict())
    print(f"detector decoding {chosen} (validation length error in %); bundled into {PACKAGE_MODELS}")


def copy_folder(source: Path, target: Path) -> None:
    """Copy weights.pt and model.json (nothing when ``source`` is ``target``)."""
    target.mkdir(parents=True, exist_ok=True)
    if source.resolve() == target.resolve():
        return
    for f in ("weights.pt", INFO_FILE):
        shutil.copy2(source / f, target / f)

if __name__ == "__main__":
    main()
