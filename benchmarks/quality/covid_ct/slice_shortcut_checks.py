"""EXTENSION: re-test the bundled slice CNN (fp16 weights) on its own test split and run the shortcut checks.

    nice -n 5 python benchmarks/quality/covid_ct/slice_shortcut_checks.py [DATA]

Rebuilds the split of train_slice_classifier.py (same seed, same grouping by source figure), so the
test AUC must equal the training run's (within fp16 rounding). Writes slice_shortcut_results.json.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    data = Path(argv[0]) if argv else REPO.parent / "shared" / "data" / "covid_ct"
    import torch

    from biomedai.methods.covid_ct.slice_model import load_slice_model
    from biomedai.methods.covid_ct.slice_training import _auc_ci, shortcut_checks
    from biomedai.methods.covid_ct.slices import grouped_split, load_slice, predict_scores, read_slice_set
    from biomedai.train.model_folder import default_model_folder

    torch.set_num_threads(1)
    start, load = time.perf_counter(), os.getloadavg()
    model, info = load_slice_model(default_model_folder("covid_ct"))
    dataset = read_slice_set(data)
    seed = 0
    split = grouped_split(dataset.groups, dataset.labels, seed=seed)
    paths = [dataset.root / f for f in dataset.files]
    size = int(info.preprocessing["size"])
    test = split["test"]
    scores = predict_scores(model, np.stack([load_slice(paths[i], size) for i in test]))
    record = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "machine": platform.node(),
              "load_average": load, "command": " ".join(["python", *sys.argv]),
              "label": "EXTENSION, not in the paper; COVID-CT figure crops, research use only",
              "model": info.usage_note(), "weights_dtype": info.weights_dtype,
              "test_bundled_fp16": _auc_ci(dataset.labels[test], scores, seed),
              "test_training_run_fp32": info.metrics.get("test_auc"),
              **shortcut_checks(model, paths, dataset.labels, split, size, seed),
              "seconds": round(time.perf_counter() - start, 1)}
    (HERE / "slice_shortcut_results.json").write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
