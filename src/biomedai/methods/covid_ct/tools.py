"""``biomedai tool covid_ct ...``: the lesion phantom on a real CT."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from biomedai.utils import write_csv_atomic, write_json_atomic

from .ct_input import load_chest_ct
from .phantom_run import recovery_by, run_phantom


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="covid_ct tools")
    sub = parser.add_subparsers(dest="tool", required=True)
    p = sub.add_parser("phantom", help="insert lesions of known volume/HU into a CT and measure their recovery")
    p.add_argument("ct", help="a 3-D chest CT (DICOM series folder, NIfTI, NRRD)")
    p.add_argument("-o", "--out", required=True)
    p.add_argument("--n-lesions", type=int, default=8)
    p.add_argument("--not-lower-lobe-predominant", action="store_true")
    p.add_argument("--peripheral-fraction", type=float, default=0.75)
    p.add_argument("--seed", type=int, default=0)
    return parser


def run(method: Any, args: argparse.Namespace) -> int:
    if args.tool != "phantom":
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ct = load_chest_ct(args.ct, method.config)
    rows, _ = run_phantom(ct, method.config, args.n_lesions, not args.not_lower_lobe_predominant,
                          args.peripheral_fraction, args.seed)
    write_csv_atomic(out / "phantom_recovery.csv", rows)
    summary = {"data": f"SIMULATED lesions inserted into the real CT {args.ct}",
               "by_lobe": recovery_by(rows, "lobe"), "by_kind": recovery_by(rows, "kind"),
               "by_placement": recovery_by(rows, "placement")}
    write_json_atomic(out / "phantom_summary.json", summary)
    print(json.dumps(summary, indent=1))
    return 0
