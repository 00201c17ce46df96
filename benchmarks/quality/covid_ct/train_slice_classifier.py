"""EXTENSION (not in Dou et al.): train the COVID-CT slice CNN on two CPU cores at most, test it, run the
shortcut checks, and write the bundled model folder.

    nice -n 5 python benchmarks/quality/covid_ct/train_slice_classifier.py [DATA] [--out DIR] [--bundle]

DATA defaults to ../shared/data/covid_ct. Writes ``slice_classifier_results.json`` next to this file
(date, machine, load, command) and, with ``--bundle``, ``src/biomedai/methods/covid_ct/models/default``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default=str(REPO.parent / "shared" / "data" / "covid_ct"))
    parser.add_argument("--out", default="/tmp/covid_ct_slice_run")
    parser.add_argument("--bundle", action="store_true", help="write the bundled default model folder")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--budget-s", type=float, default=1500.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from biomedai.methods.covid_ct.config import CovidCTConfig
    from biomedai.methods.covid_ct.slice_training import train_slice_classifier
    from biomedai.methods.covid_ct.slices import CLASS_NAMES

    config = CovidCTConfig(epochs=args.epochs, threads=args.threads, train_time_budget_s=args.budget_s,
                           seed=args.seed)
    load_before = os.getloadavg()
    cpu0 = time.process_time()
    metrics = train_slice_classifier(args.data, args.out, config)
    state = metrics.pop("_state")
    test_files, test_scores = metrics.pop("_test_files"), metrics.pop("_test_scores")
    metrics["cpu_seconds_process"] = round(time.process_time() - cpu0, 1)
    record = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "machine": platform.node(),
              "cpu": platform.processor() or platform.machine(), "load_average_before": load_before,
              "load_average_after": os.getloadavg(), "command": " ".join(["python", *sys.argv]),
              "label": "EXTENSION, not in the paper; COVID-CT figure crops, research use only", **metrics}
    (HERE / "slice_classifier_results.json").write_text(json.dumps(record, indent=1) + "\n")
    (Path(args.out) / "test_scores.json").write_text(json.dumps(dict(zip(test_files, test_scores))))
    print(json.dumps(record, indent=1))
    if args.bundle:
        from biomedai.train.model_folder import ModelInfo, save_model_folder

        info = ModelInfo(
            method="covid_ct", name="default", architecture={"kind": "slice_cnn", "width": 16},
            preprocessing={"grey": "ITU-R 601 luma", "size": config.image_size, "stretch": "1st-99th percentile"},
            class_names=CLASS_NAMES,
            training_data={"name": "COVID-CT cropped slices (GKasperek/data_c19_cropped, from UCSD-AI4H COVID-CT)",
                           "split": f"StratifiedGroupKFold by source figure, seed {args.seed}: "
                                    f"{metrics['split_sizes']}",
                           "licence": "no licence stated; figure crops from papers; research use only",
                           "non_commercial": True},
            metrics={"test_auc": metrics["test"], "shortcut_marks_only_cnn_auc": metrics["shortcut_marks_only_cnn"]},
            metrics_data="COVID-CT test split by source figure (this run's split, see MODEL.md)",
            licence="research use only (training data without a licence)")
        folder = REPO / "src" / "biomedai" / "methods" / "covid_ct" / "models" / "default"
        save_model_folder(folder, state, info, half=True)
        print("bundled", folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
