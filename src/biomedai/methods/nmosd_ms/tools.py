"""``biomedai tool nmosd_ms ...``:

- ``simulate-cohort -o DIR --ms-masks ../shared/data/ms_lesions/lesion_masks_mni [--n-ms 44 --n-nmosd 44]``: a
  SIMULATED labelled cohort folder (FLAIR, lesion and brain masks, labels.csv) that ``biomedai train nmosd_ms``
  reads; MS lesions come from the real MS masks, NMOSD lesions from the published differences (README).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .dataset import write_simulated_cohort


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="NMOSD vs MS tools (Wang et al.).")
    sub = parser.add_subparsers(dest="tool", required=True)
    p = sub.add_parser("simulate-cohort", help="write a SIMULATED labelled NMOSD/MS cohort folder")
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--ms-masks", type=Path, required=True, help="folder of real MS lesion masks in MNI space")
    p.add_argument("--n-ms", type=int, default=44)
    p.add_argument("--n-nmosd", type=int, default=44)
    p.add_argument("--seed", type=int, default=0)
    return parser


def run(method: Any, args: argparse.Namespace) -> int:
    folder = write_simulated_cohort(args.output, args.ms_masks, args.n_ms, args.n_nmosd, args.seed)
    sys.stdout.write(f"SIMULATED cohort of {args.n_ms} MS + {args.n_nmosd} NMOSD subjects -> {folder}\n")
    return 0
