"""Detector decodings on the DRIVE validation images (38-40): the stored one against the one chosen anew.

For each detector model folder (default: the bundled one; ``--git-rev REV`` adds the folder bundled at a
git revision, e.g. the width-16 detector with the old 3x3-maxima decoding), prints the length percent error
and centre-line F1 (4 px buffer) per validation image, first with the decoding stored in its ``model.json``
and then with the one :func:`choose_decoding` picks from the ridge-decoding grid. README decision 1 cites
this for "the old weights with the new decoding reach validation F1 0.87".

Usage (from the repository root):
    python benchmarks/quality/vessels_biosegment/detector_decoding_choice.py [--git-rev 5628090] [FOLDER ...]
"""
from __future__ import annotations

import argparse
import logging
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from biomedai.methods.vessels_biosegment.config import VesselsConfig
from biomedai.methods.vessels_biosegment.datasets import find_cases
from biomedai.methods.vessels_biosegment.decoding import Decoding
from biomedai.methods.vessels_biosegment.detector import VesselBoxDetector
from biomedai.methods.vessels_biosegment.detector_training import choose_decoding, detector_case, score_decodings
from biomedai.methods.vessels_biosegment.training import prepare_case, split_training_validation
from biomedai.train.model_folder import load_model_folder, read_model_info

ROOT = Path(__file__).resolve().parents[3]
BUNDLED = "src/biomedai/methods/vessels_biosegment/models/detector"
log = logging.getLogger("detector_decoding_choice")


def folder_at_revision(rev: str, into: Path) -> Path:
    """The bundled detector folder as it was at git revision ``rev``, written under ``into``."""
    into.mkdir(parents=True, exist_ok=True)
    for name in ("model.json", "weights.pt", "MODEL.md"):
        blob = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{BUNDLED}/{name}"], check=True,
                              capture_output=True).stdout
        (into / name).write_bytes(blob)
    return into


def _row(label: str, errors: np.ndarray, f1: np.ndarray) -> str:
    per_image = " ".join(f"{e:5.1f}%/{f:.3f}" for e, f in zip(errors, f1))
    return f"  {label:<8} mean error {np.mean(errors):5.1f} %  mean F1 {np.mean(f1):.3f}   per image {per_image}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path)
    parser.add_argument("--git-rev", action="append", default=[], help="also the folder bundled at this revision")
    parser.add_argument("--drive", type=Path, default=ROOT.parent / "shared/data/vessels/drive")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    cfg = VesselsConfig()
    _, validation = split_training_validation(find_cases(args.drive / "training"))
    cases = [detector_case(prepare_case(c, cfg), cfg) for c in validation]
    log.info("validation images: %s (DRIVE training set, real)", ", ".join(c.case.case_id for c in cases))
    with tempfile.TemporaryDirectory() as tmp:
        folders = list(args.folders) or ([] if args.git_rev else [ROOT / BUNDLED])
        folders += [folder_at_revision(rev, Path(tmp) / rev) for rev in args.git_rev]
        for folder in folders:
            info = read_model_info(folder)
            net = VesselBoxDetector(int(info.architecture.get("width", 16)))
            load_model_folder(folder, net, method="vessels_biosegment")
            net.eval()
            stored = Decoding.from_preprocessing(info.preprocessing, cfg)
            started = time.monotonic()
            chosen = choose_decoding(net, cases, cfg)["decoding"]
            print(f"{folder} (width {info.architecture.get('width', 16)}): stored {stored}\n  chosen {chosen} "
                  f"({time.monotonic() - started:.0f} s)")
            for label, decoding in (("stored", stored), ("chosen", chosen)):
                errors, f1 = score_decodings(net, cases, cfg, [decoding])
                print(_row(label, errors.ravel(), f1.ravel()))


if __name__ == "__main__":
    main()
