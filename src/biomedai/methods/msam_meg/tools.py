"""``biomedai tool msam_meg ...``: prepare (windows cache), simulate (SIMULATED cohort), sweep-heads (Fig. 2),
ablate (Table 2), baselines (Table 1)."""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from biomedai.utils import write_json_atomic

from .config import MsamConfig
from .experiment import cross_validate
from .recordings import prepare_cohort
from .report import plot_head_sweep, table_rows, write_table
from .simulate import SIMULATOR_VERSION, SimulationConfig, simulate_cohort


def build_parser(prog: str) -> argparse.ArgumentParser:
    """The tools' argument parser."""
    parser = argparse.ArgumentParser(prog=prog, description="msam_meg tools")
    sub = parser.add_subparsers(dest="tool", required=True)
    p = sub.add_parser("prepare", help="filter, resample and window every recording of DATA/labels.csv")
    p.add_argument("data")
    p.add_argument("-o", "--out", required=True)
    s = sub.add_parser("simulate", help="write a SIMULATED MEG cohort (MNE forward model)")
    s.add_argument("-o", "--out", required=True)
    s.add_argument("--subjects", type=int, default=32)
    s.add_argument("--seconds", type=float, default=40.0)
    s.add_argument("--sensors", type=int, default=32)
    s.add_argument("--seed", type=int, default=0)
    for name, helptext in (("sweep-heads", "subject-wise CV of MSAM for each head count (Fig. 2)"),
                           ("ablate", "full / no_sa / no_mhsa (Table 2)"),
                           ("baselines", "CNN, SVM, RF (and MSAM) (Table 1)")):
        q = sub.add_parser(name, help=helptext)
        q.add_argument("data", help="a cohort folder with labels.csv")
        q.add_argument("-o", "--out", required=True)
        if name == "sweep-heads":
            q.add_argument("--heads", type=int, nargs="+", default=[2, 4, 8, 16])
        if name == "ablate":
            q.add_argument("--variants", nargs="+", default=["full", "no_sa", "no_mhsa"])
        if name == "baselines":
            q.add_argument("--models", nargs="+", default=["cnn", "svm", "rf", "msam"])
    return parser


def _data_label(data: Path, n_subjects: int) -> str:
    sim = (Path(data) / "SIMULATED.txt").is_file()
    return f"{Path(data).name}: {'SIMULATED, ' + SIMULATOR_VERSION if sim else 'as given'}, {n_subjects} subjects"


def run_table(kind: str, data: Path, out: Path, cfg: MsamConfig, values: list[Any]) -> list[dict[str, Any]]:
    """Cross-validate each setting of a sweep / ablation / baseline list and write the CSV (and PNG for heads)."""
    out.mkdir(parents=True, exist_ok=True)
    ws = prepare_cohort(data, cfg, cache_dir=out / "cache")
    label = _data_label(data, len(set(ws.subjects)))
    results = []
    for value in values:
        if kind == "sweep-heads":
            r = cross_validate(ws, "msam", dataclasses.replace(cfg, heads=int(value)))
            r["label"] = f"MSAM h={value}"
        elif kind == "ablate":
            r = cross_validate(ws, "msam", dataclasses.replace(cfg, variant=value))
            r["label"] = {"full": "MSAM", "no_sa": "attn_1 (no self-attention)",
                          "no_mhsa": "attn_2 (no multi-head self-attention)"}[value]
        else:
            r = cross_validate(ws, value, cfg)
            r["label"] = value.upper()
        results.append(r)
    rows = table_rows(results, label_key="label", data=label)
    name = {"sweep-heads": "head_sweep", "ablate": "table2_ablation", "baselines": "table1_baselines"}[kind]
    write_table(out / f"{name}.csv", rows)
    if kind == "sweep-heads":
        plot_head_sweep(rows, [int(v) for v in values], out / "head_sweep.png", f"head sweep, {label}")
    return rows


def run(method: Any, args: argparse.Namespace) -> int:
    """Run one tool; returns the exit code."""
    out = Path(args.out)
    cfg = method.config
    if args.tool == "prepare":
        ws = prepare_cohort(Path(args.data), cfg, cache_dir=out)
        write_json_atomic(out / "prepare.json", {"windows": len(ws.y), "channels": ws.ch_names,
                                                 "subjects": sorted(set(ws.subjects.tolist())), "sfreq": ws.sfreq})
        print(json.dumps({"windows": len(ws.y), "subjects": len(set(ws.subjects)), "channels": len(ws.ch_names)}))
        return 0
    if args.tool == "simulate":
        folder = simulate_cohort(out, SimulationConfig(n_subjects=args.subjects, seconds=args.seconds,
                                                       n_sensors=args.sensors, seed=args.seed))
        print(f"SIMULATED cohort written to {folder}")
        return 0
    values = {"sweep-heads": getattr(args, "heads", None), "ablate": getattr(args, "variants", None),
              "baselines": getattr(args, "models", None)}[args.tool]
    for row in run_table(args.tool, Path(args.data), out, cfg, values):
        print(json.dumps(row))
    return 0
