"""Simulated datasets per task, training with the shared engine, scoring and CPU latency.

Each task has four simulated parts with different seeds: ``train``, ``val`` (model selection),
``test`` (held out, same ranges) and ``unseen`` (ranges or objects never trained on: the "new
objects" test of Zapata-Impata et al.). Every number these produce is from simulated data.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.utils import lazy_import

from .config import CONTACT_SHAPES, SLIP_CLASSES, TactileConfig
from .maps import contact_shape_features, tsis_features
from .simulate import (SIMULATOR_VERSION, InclusionRanges, hardness_sequences, homogeneous_map, inclusion_cases,
                       normalised_pressure_map, shape_sequences, slip_sequences)

tactile_net = lazy_import(".model", __package__)  # torch: imported on first use

logger = logging.getLogger(__name__)

PARTS = ("train", "val", "test", "unseen")
REGRESSION_TARGETS = {"inverse_features": ("d_mm", "h_mm", "E_kpa"), "inverse_image": ("d_mm", "h_mm", "E_kpa"),
                      "hardness": ("shore00",)}
CLASS_NAMES = {"shape": CONTACT_SHAPES, "slip": SLIP_CLASSES}
#: what "unseen" means per task
UNSEEN = {
    "inverse_features": "inclusions stiffer than any trained (E 600-900 kPa; trained 120-600)",
    "inverse_image": "inclusions stiffer than any trained (E 600-900 kPa; trained 120-600)",
    "shape": "larger contacts than any trained (9-12 mm; trained 5-9 mm)",
    "slip": "new objects: ellipse and cross footprints (trained: square, bar, triangle)",
    "hardness": "new object shapes: ellipse, cross, ring footprints (trained: disc, square, triangle, bar)",
}
TRAIN_RANGES = InclusionRanges()
UNSEEN_RANGES = dataclasses.replace(TRAIN_RANGES, modulus_kpa=(600.0, 900.0))


@dataclasses.dataclass
class TaskData:
    """Raw simulated inputs (maps or sequences), targets and where they came from."""

    task: str
    part: str
    raw: np.ndarray
    target: np.ndarray
    seed: int

    def meta(self) -> dict[str, Any]:
        return {"task": self.task, "part": self.part, "n": int(len(self.target)), "seed": self.seed,
                "simulator": SIMULATOR_VERSION, "simulated": True,
                "unseen_means": UNSEEN[self.task] if self.part == "unseen" else ""}


def part_seed(seed: int, part: str) -> int:
    return seed * 1000 + 17 * (PARTS.index(part) + 1)


def simulate_part(task: str, part: str, cfg: TactileConfig, n: int | None = None) -> TaskData:
    """Simulate one part of one task's dataset (seeded from ``cfg.seed`` and the part)."""
    sizes = {"train": cfg.n_train, "val": cfg.n_val, "test": cfg.n_test, "unseen": cfg.n_test}
    n = n or sizes[part]
    seed = part_seed(cfg.seed, part)
    unseen = part == "unseen"
    if task in ("inverse_features", "inverse_image"):
        raw, target = inclusion_cases(cfg, n, UNSEEN_RANGES if unseen else TRAIN_RANGES, seed)
    elif task == "shape":
        raw, target = shape_sequences(n, seed, size_range=(9.0, 12.0) if unseen else (5.0, 9.0))
    elif task == "slip":
        shapes = ("ellipse", "cross") if unseen else ("square", "bar", "triangle")
        raw, target = slip_sequences(n, seed, frames=cfg.slip_frames, shapes=shapes)
    elif task == "hardness":
        shapes = ("ellipse", "cross", "ring") if unseen else CONTACT_SHAPES
        raw, target = hardness_sequences(n, seed, shapes=shapes)
    else:
        raise InvalidInputError(f"unknown task {task!r}")
    return TaskData(task, part, raw.astype(np.float32), target, seed)


def save_parts(parts: dict[str, TaskData], folder: Path) -> list[Path]:
    """Write ``<part>.npz`` (raw, target) and ``dataset.json`` (task, seeds, simulator) into ``folder``."""
    from biomedai.utils import atomic_path, write_json_atomic

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in parts.items():
        with atomic_path(folder / f"{name}.npz") as tmp:
            with open(tmp, "wb") as handle:
                np.savez_compressed(handle, raw=data.raw, target=data.target)
        written.append(folder / f"{name}.npz")
    written.append(write_json_atomic(folder / "dataset.json", {name: d.meta() for name, d in parts.items()}))
    return written


def load_part(folder: Path, part: str) -> TaskData:
    """Read one part written by :func:`save_parts`."""
    folder = Path(folder)
    path, meta_path = folder / f"{part}.npz", folder / "dataset.json"
    if not path.is_file() or not meta_path.is_file():
        raise InvalidInputError(f"no {part}.npz/dataset.json here; make a dataset first: "
                                "biomedai tool tactile_mis dataset --task TASK --out FOLDER", folder)
    meta = json.loads(meta_path.read_text())[part]
    with np.load(path) as data:
        return TaskData(meta["task"], part, data["raw"], data["target"], int(meta["seed"]))


# ------------------------------------------------------------------------------------ inputs
def model_inputs(task: str, raw: np.ndarray, cfg: TactileConfig) -> np.ndarray:
    """What the network sees: TSIS features, the force map, the normalised map or the frame sequence."""
    raw = np.asarray(raw, np.float32)
    if task == "inverse_features":
        excess = raw - homogeneous_map(cfg)          # the probe's own nodule-free response removed
        return tsis_features(excess, cfg.tsis_threshold_n).astype(np.float32)
    if task == "shape":
        return contact_shape_features(normalised_pressure_map(raw)).astype(np.float32)
    return raw


def architecture(task: str, cfg: TactileConfig, inputs: np.ndarray) -> dict[str, Any]:
    if task == "inverse_features":
        return {"task": task, "hidden": cfg.hidden}
    if task == "inverse_image":
        return {"task": task, "width": 32, "rows": int(inputs.shape[-2]), "cols": int(inputs.shape[-1])}
    if task == "shape":
        return {"task": task, "in_features": int(inputs.shape[1]), "n_classes": len(CONTACT_SHAPES),
                "hidden": cfg.hidden}
    if task == "slip":
        return {"task": task, "n_classes": len(SLIP_CLASSES), "layers": cfg.convlstm_layers,
                "filters": cfg.convlstm_filters, "frames": int(inputs.shape[1])}
    return {"task": task, "width": 16, "hidden": 64}


# ------------------------------------------------------------------------------------ training
def train_task(task: str, train: TaskData, val: TaskData, cfg: TactileConfig, output_dir: Path
               ) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Train the task's network with :func:`biomedai.train.train_model`; returns (model, architecture, preprocessing)."""
    import torch
    from torch.utils.data import TensorDataset

    from biomedai.train import train_model

    torch.set_num_threads(cfg.threads)
    x_train, x_val = model_inputs(task, train.raw, cfg), model_inputs(task, val.raw, cfg)
    arch = architecture(task, cfg, x_train)
    preprocessing: dict[str, Any] = {"inputs": _input_note(task), "tsis_threshold_n": cfg.tsis_threshold_n,
                                     "simulator": SIMULATOR_VERSION}
    torch.manual_seed(cfg.seed)
    model = tactile_net.build_model(task, arch)
    if hasattr(model, "mean"):
        model.mean.copy_(torch.from_numpy(x_train.mean(0)))
        model.std.copy_(torch.from_numpy(x_train.std(0) + 1e-6))
    if hasattr(model, "scale"):
        model.scale.fill_(float(np.percentile(x_train, 99)) or 1.0)
    if task in REGRESSION_TARGETS:
        y_train = np.asarray(train.target, np.float32).reshape(len(train.target), -1)
        mean, std = y_train.mean(0), y_train.std(0) + 1e-6
        preprocessing.update(target_mean=mean.tolist(), target_std=std.tolist())
        norm = lambda y: torch.from_numpy(((np.asarray(y, np.float32).reshape(len(y), -1) - mean) / std)  # noqa: E731
                                          .astype(np.float32))
        loss_fn = torch.nn.functional.mse_loss
        train_set = TensorDataset(torch.from_numpy(x_train), norm(train.target))
        val_set = TensorDataset(torch.from_numpy(x_val), norm(val.target))
    else:
        loss_fn = torch.nn.functional.cross_entropy
        train_set = TensorDataset(torch.from_numpy(x_train), torch.from_numpy(train.target.astype(np.int64)))
        val_set = TensorDataset(torch.from_numpy(x_val), torch.from_numpy(val.target.astype(np.int64)))
    # the engine's wall-clock budget, checked at epoch ends: training stops after the epoch that spends it
    result = train_model(model, train_set, val_set, loss_fn=loss_fn, output_dir=output_dir, epochs=cfg.epochs,
                         batch_size=cfg.batch_size, lr=cfg.lr, device="cpu", seed=cfg.seed, progress=False,
                         max_minutes=cfg.train_seconds / 60.0 if cfg.train_seconds else None,
                         time_budget_check="epoch", export_weights=False, patience=max(5, cfg.epochs // 4))
    from biomedai.train import load_checkpoint

    model.load_state_dict(load_checkpoint(result.best_checkpoint)["model"])
    model.eval()
    preprocessing["training"] = {"epochs_completed": result.epochs_completed, "best_epoch": result.best_epoch,
                                 "best_val_loss": result.best_metric, "time_budget_hit": result.time_budget_spent}
    return model, arch, preprocessing


def _input_note(task: str) -> str:
    return {"inverse_features": "TSIS features (O1 centroid value, O2 sum, O3 count > threshold) of the force map "
                                "minus the probe's nodule-free map",
            "inverse_image": "the (rows, cols) force map in N",
            "shape": "polar-Fourier invariant features (16 radii x 16 harmonics) of the normalised pressure map",
            "slip": "(frames, 12, 11) BioTac-like images (24 electrodes, 8-neighbour gap filling), N",
            "hardness": "(frames, 16, 16) force maps under a fixed displacement ramp, N"}[task]


def predict_outputs(task: str, model: Any, inputs: np.ndarray, preprocessing: dict[str, Any],
                    batch_size: int = 256) -> np.ndarray:
    """Network outputs in task units: (n, targets) for regression, (n,) class indices for classification."""
    import torch

    outs = []
    with torch.no_grad():
        for start in range(0, len(inputs), batch_size):
            outs.append(model(torch.from_numpy(np.asarray(inputs[start:start + batch_size], np.float32))).numpy())
    out = np.concatenate(outs)
    if task in REGRESSION_TARGETS:
        return out * np.asarray(preprocessing["target_std"]) + np.asarray(preprocessing["target_mean"])
    return out.argmax(1)


def score(task: str, truth: np.ndarray, pred: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """Regression: MAE per target with 95% bootstrap CI and relative error; classification: accuracy (CI),
    per-class recall and the confusion matrix."""
    from biomedai.metrics import bootstrap_ci
    from biomedai.metrics.classification import accuracy, confusion_matrix

    if task in REGRESSION_TARGETS:
        names = REGRESSION_TARGETS[task]
        truth = np.asarray(truth, float).reshape(len(truth), -1)
        out: dict[str, Any] = {}
        for k, name in enumerate(names):
            ci = bootstrap_ci(lambda t, p: float(np.mean(np.abs(t - p))), truth[:, k], pred[:, k], n_resamples=500,
                              seed=seed)
            rel = float(np.median(np.abs(truth[:, k] - pred[:, k]) / np.abs(truth[:, k])))
            out[name] = {"mae": ci.estimate, "mae_ci95": [ci.low, ci.high], "median_relative_error": rel,
                         "pearson_r": float(np.corrcoef(truth[:, k], pred[:, k])[0, 1]),
                         # what a constant guess (the part's own mean) scores: the bar a real estimate must beat
                         "mae_of_constant_mean": float(np.mean(np.abs(truth[:, k] - truth[:, k].mean()))),
                         "truth_range": [float(truth[:, k].min()), float(truth[:, k].max())]}
        return out
    names = CLASS_NAMES[task]
    ci = bootstrap_ci(accuracy, truth, pred, n_resamples=500, seed=seed)
    cm = confusion_matrix(truth, pred, labels=list(range(len(names))))
    recall = {n: float(cm[i, i] / cm[i].sum()) if cm[i].sum() else None for i, n in enumerate(names)}
    return {"accuracy": ci.estimate, "accuracy_ci95": [ci.low, ci.high], "recall": recall,
            "confusion_matrix": cm.tolist(), "classes": list(names)}


def latency_ms(task: str, model: Any, inputs: np.ndarray, repeats: int = 200) -> dict[str, float]:
    """Per-image CPU latency of the network alone (batch 1, ``torch.no_grad``), in ms: median and p95."""
    import torch

    sample = torch.from_numpy(np.asarray(inputs[:1], np.float32))
    times = []
    with torch.no_grad():
        for _ in range(10):
            model(sample)
        for _ in range(repeats):
            start = time.perf_counter()
            model(sample)
            times.append((time.perf_counter() - start) * 1e3)
    return {"median_ms": float(np.median(times)), "p95_ms": float(np.percentile(times, 95)),
            "threads": int(torch.get_num_threads())}
