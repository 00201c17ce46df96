"""Tables 1-2 and the head sweep (Fig. 2) of MSAM on a SIMULATED MEG cohort (MNE forward model).

Every number this writes is on SIMULATED data (biomedai.methods.msam_meg.simulate, version printed). Each table
is written as soon as it is done (CSV + JSON; PNG for the head sweep), so a run cut short keeps what it finished.

    python benchmarks/quality/msam_meg/tables.py                      # reduced CPU run (defaults below)
    python benchmarks/quality/msam_meg/tables.py --epochs 300 --seconds 120 --sensors 32 --window 2  # paper-scale
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from biomedai.methods.msam_meg.config import MsamConfig
from biomedai.methods.msam_meg.recordings import prepare_cohort
from biomedai.methods.msam_meg.simulate import SIMULATOR_VERSION, SimulationConfig, simulate_cohort
from biomedai.methods.msam_meg.tools import run_table
from biomedai.utils import write_json_atomic

HERE = Path(__file__).parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=16.0)
    ap.add_argument("--sensors", type=int, default=16)
    ap.add_argument("--sfreq", type=float, default=200.0)
    ap.add_argument("--window", type=float, default=1.0)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cps-spread", type=float, default=SimulationConfig.cps_spread)
    ap.add_argument("--cps-rhythm", type=float, default=SimulationConfig.cps_rhythm)
    ap.add_argument("--heads", type=int, nargs="+", default=[2, 4, 8, 16])
    ap.add_argument("--tables", nargs="+", default=["baselines", "ablate", "sweep-heads"])
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    out = Path(args.out)
    sim_cfg = SimulationConfig(n_subjects=args.subjects, seconds=args.seconds, n_sensors=args.sensors,
                               sfreq=args.sfreq, seed=args.seed, cps_spread=args.cps_spread,
                               cps_rhythm=args.cps_rhythm)
    data = out / "cohort"
    t0 = time.process_time()
    if not (data / "labels.csv").is_file():
        simulate_cohort(data, sim_cfg)
    cfg = MsamConfig(sfreq=args.sfreq, h_freq=min(300.0, args.sfreq / 2 * 0.9), window_s=args.window,
                     overlap=0.0, reject_amplitude=None, epochs=args.epochs, folds=args.folds, seed=args.seed)
    prepare_cohort(data, cfg, cache_dir=out / "cache")
    meta = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": platform.node(),
            "cpu_count": os.cpu_count(), "load_avg_at_start": os.getloadavg(), "command": " ".join(sys.argv),
            "data": f"SIMULATED cohort, {SIMULATOR_VERSION}", "simulation": dataclasses.asdict(sim_cfg),
            "config": cfg.to_dict(), "simulate_prepare_cpu_s": round(time.process_time() - t0, 1), "tables": {}}
    values = {"baselines": ["svm", "rf", "cnn", "msam"], "ablate": ["full", "no_sa", "no_mhsa"],
              "sweep-heads": args.heads}
    for table in args.tables:
        t1 = time.process_time()
        rows = run_table(table, data, out / table, cfg, values[table])
        meta["tables"][table] = {"rows": rows, "cpu_s": round(time.process_time() - t1, 1),
                                 "load_avg_at_end": os.getloadavg()}
        write_json_atomic(out / "results.json", meta)
        for row in rows:
            print(f"[{table}] SIMULATED {row['method']}: acc {row['accuracy_micro']} (fold mean {row['accuracy_mean']}"
                  f" +/- {row['accuracy_sd']}), recall {row['recall_micro']}, precision {row['precision_micro']}, "
                  f"F1 {row['f1_micro']} (macro {row['f1_macro']}), AUC {row['auc']}, subject acc "
                  f"{row['subject_accuracy']}", flush=True)
    meta["total_cpu_s"] = round(time.process_time() - t0, 1)
    write_json_atomic(out / "results.json", meta)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
