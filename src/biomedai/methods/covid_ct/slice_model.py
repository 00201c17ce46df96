"""EXTENSION: the trained slice CNN at use time: load the model folder, score pictures, evaluate a labelled set."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import WeightsError
from biomedai.methods.base import Method, RunResult
from biomedai.metrics import bootstrap_ci, roc_auc
from biomedai.provenance import RunRecorder
from biomedai.utils import write_csv_atomic

from .config import CovidCTConfig
from .slices import build_slice_cnn, load_slice, predict_scores, read_slice_set


def load_slice_model(folder: Path | None) -> tuple[Any, Any]:
    """``(model, ModelInfo)`` from a model folder (the bundled default when ``folder`` is the resolved one)."""
    from biomedai.train.model_folder import load_model_folder

    if folder is None:
        raise WeightsError("covid_ct: no slice-classifier model (no bundled default and no --weights)")
    model = build_slice_cnn()
    _, info = load_model_folder(folder, model, method="covid_ct")
    return model.eval(), info


def classify_pictures(pictures: list[Path], folder: Path | None, config: CovidCTConfig
                      ) -> tuple[list[dict[str, Any]], str]:
    """COVID probability per picture, and the usage note of the model."""
    model, info = load_slice_model(folder)
    size = int(info.preprocessing.get("size", config.image_size))
    scores = predict_scores(model, np.stack([load_slice(p, size) for p in pictures]))
    rows = [{"file": str(p), "covid_probability": round(float(s), 4)} for p, s in zip(pictures, scores)]
    note = (f"EXTENSION, not in the paper: {info.usage_note()}. Trained on figure crops of COVID-CT; "
            "not a clinical classifier and not a pneumonia-type classifier")
    return rows, note


def evaluate_slices(method: Method, data: Path, output_dir: Path, folder: Path | None) -> RunResult:
    """AUC (95 % bootstrap CI) of the slice classifier on a labelled COVID-CT-style folder."""
    config = method.config
    rec = RunRecorder(output_dir, method.name, "evaluate", seed=config.seed, config=config.to_dict())
    rec.add_inputs([data])
    model, info = load_slice_model(folder)
    dataset = read_slice_set(data)
    size = int(info.preprocessing.get("size", config.image_size))
    with rec.timer("predict"):
        scores = predict_scores(model, np.stack([load_slice(dataset.root / f, size) for f in dataset.files]))
    ci = bootstrap_ci(roc_auc, dataset.labels, scores, n_resamples=2000, seed=config.seed)
    rec.metrics = {"data": str(data), "n": len(dataset.files), "n_covid": int(dataset.labels.sum()),
                   "auc": round(ci.estimate, 4), "auc_ci95": [round(ci.low, 4), round(ci.high, 4)],
                   "model": info.usage_note(),
                   "caution": "if these slices share source figures with the model's training split, the AUC is "
                              "inflated (leakage); the bundled model's own test split is in its MODEL.md"}
    rows = [{"file": f, "label": int(y), "covid_probability": round(float(s), 4)}
            for f, y, s in zip(dataset.files, dataset.labels, scores)]
    rec.add_file(write_csv_atomic(Path(output_dir) / "slice_scores.csv", rows))
    rec.write()
    return RunResult(Path(output_dir), rec.metrics, [Path(output_dir) / f for f in rec.files])
