"""Training (Table 3, plus class balancing and augmentation) and FCN inference of the Ki-67 patch classifiers.

The networks (Liu et al.'s padded ResNet18 and the padding-free variant whose FCN is exact) are in
:mod:`.networks`. Inputs are RGB floats in [0, 1], ``[N, 3, H, W]``. Class order: 0 negative,
1 positive, 2 background.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from biomedai.nn.fcn import fcn_map_tiled
from biomedai.train.model_folder import (
    ModelInfo,
    is_model_folder,
    load_model_folder,
    load_weights_into,
    save_model_folder,
)

from .config import BACKGROUND, CLASS_NAMES, NEGATIVE, POSITIVE, Ki67Config
from .networks import (  # noqa: F401 - re-exported: the networks used to live here
    IMAGENET_MEAN,
    IMAGENET_STD,
    BasicBlock,
    ImageNetNormalize,
    Ki67ResNet18,
    Ki67ValidResNet18,
    ValidBasicBlock,
    architecture_of_state,
    build_classifier,
    resnet18_trunk,
    resnet18_valid_trunk,
)

logger = logging.getLogger(__name__)

def patches_to_tensor(patches: np.ndarray) -> torch.Tensor:
    """``[n, h, w, 3]`` uint8 -> ``[n, 3, h, w]`` float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(patches)).permute(0, 3, 1, 2).float().div_(255.0)


class FlipPatchDataset(torch.utils.data.Dataset):
    """Patches with on-the-fly augmentation.

    ``augment``: ``"flips"`` (or True) random horizontal and vertical flips (Table 3); ``"dihedral"``
    flips and 90-degree rotations (all 8 symmetries of the square); ``"none"`` (or False) nothing.
    ``colour_jitter`` > 0 adds a stain-like jitter in optical density: each RGB channel's OD is scaled
    by ``U(1 - j, 1 + j)`` and shifted by ``U(-j/4, j/4)`` (per patch), then mapped back to [0, 1].
    """

    def __init__(self, patches: np.ndarray, labels: np.ndarray, augment: bool | str = True,
                 colour_jitter: float = 0.0) -> None:
        self.x = patches_to_tensor(patches)
        self.y = torch.as_tensor(labels, dtype=torch.long)
        self.augment = {True: "flips", False: "none"}.get(augment, augment)  # type: ignore[call-overload]
        if self.augment not in ("none", "flips", "dihedral"):
            raise ValueError(f"unknown augmentation {augment!r}")
        self.colour_jitter = float(colour_jitter)

    def __len__(self) -> int:
        return int(self.y.numel())

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.x[index]
        if self.augment != "none":
            if torch.rand(()) < 0.5:
                x = x.flip(-1)
            if torch.rand(()) < 0.5:
                x = x.flip(-2)
            if self.augment == "dihedral":
                x = torch.rot90(x, int(torch.randint(0, 4, ())), (-2, -1))
        if self.colour_jitter > 0:
            j = self.colour_jitter
            od = -torch.log(x.clamp_min(1.0 / 255.0))
            scale = 1.0 + (torch.rand(3, 1, 1) * 2 - 1) * j
            shift = (torch.rand(3, 1, 1) * 2 - 1) * (j / 4)
            x = torch.exp(-(od * scale + shift).clamp_min(0.0)).clamp(0.0, 1.0)
        return x, self.y[index]


def class_weights(labels: np.ndarray, num_classes: int = 3) -> torch.Tensor:
    """``n / (K * n_c)`` per class (1 for absent classes): every class weighs the same in the loss."""
    counts = np.bincount(np.asarray(labels, np.int64), minlength=num_classes).astype(float)
    weights = np.where(counts > 0, counts.sum() / (num_classes * np.maximum(counts, 1)), 1.0)
    return torch.as_tensor(weights, dtype=torch.float32)


def sampling_loader(dataset: FlipPatchDataset, batch_size: int, seed: int, balanced: bool,
                    samples_per_epoch: int | None = None) -> torch.utils.data.DataLoader:
    """Draws with replacement, ``samples_per_epoch`` (default ``len(dataset)``) per epoch; with ``balanced``
    every class is drawn equally often."""
    labels = dataset.y.numpy()
    per_sample = class_weights(labels, int(labels.max()) + 1).numpy()[labels] if balanced else np.ones(len(labels))
    generator = torch.Generator().manual_seed(seed)
    sampler = torch.utils.data.WeightedRandomSampler(torch.as_tensor(per_sample, dtype=torch.double),
                                                     int(samples_per_epoch or len(labels)), replacement=True,
                                                     generator=generator)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, sampler=sampler)


@torch.no_grad()
def predict_patches(model: nn.Module, patches: np.ndarray, batch_size: int = 256,
                    device: str | torch.device = "cpu") -> np.ndarray:
    """Class probabilities ``[n, 3]`` for uint8 patches ``[n, h, w, 3]``."""
    model = model.eval().to(device)
    out = []
    for start in range(0, len(patches), batch_size):
        x = patches_to_tensor(patches[start:start + batch_size]).to(device)
        out.append(torch.softmax(model(x), 1).float().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, 3), np.float32)


def _accuracy_validator(model: nn.Module, loader: Any) -> dict[str, float]:
    from biomedai.train.batches import move_to_device

    device = next(model.parameters()).device
    truth, preds = [], []
    loss = 0.0
    for x, y in loader:
        x, y = move_to_device(x, device), move_to_device(y, device)
        logits = model(x)
        loss += float(nn.functional.cross_entropy(logits, y, reduction="sum"))
        truth.append(y.cpu())
        preds.append(logits.argmax(1).cpu())
    t, p = torch.cat(truth), torch.cat(preds)
    recalls = [float((p[t == c] == c).float().mean()) for c in torch.unique(t)]
    return {"accuracy": float((t == p).float().mean()), "balanced_accuracy": float(np.mean(recalls)),
            "loss": loss / max(int(t.numel()), 1)}


def train_classifier(train_patches: np.ndarray, train_labels: np.ndarray, val_patches: np.ndarray | None,
                     val_labels: np.ndarray | None, config: Ki67Config, output_dir: Path | None,
                     progress: bool = False, init_weights: str | Path | None = None,
                     training_data: dict[str, Any] | None = None) -> tuple[nn.Module, Any]:
    """Table 3: Adam (wd 1e-5), lr 1e-3 then 1e-4 after epoch 10, batch 64, cross-entropy, flips.

    Additions for unbalanced tissue cells [decide]: ``config.class_balance`` (``weighted_loss``:
    cross-entropy weighted ``n / (K n_c)``; ``sampler``: classes drawn equally often), and
    ``config.augmentation`` / ``config.colour_jitter``. The best epoch is the one with the best
    validation balanced accuracy (mean per-class recall), because validation cells are as unbalanced
    as the tissue. ``init_weights`` starts from earlier weights instead of a fresh network; with
    ``output_dir`` the best model is saved there as a model folder described by ``training_data``. Returns the
    best model (the last epoch's without validation data or ``output_dir``) and the
    :class:`biomedai.train.TrainResult`.
    """
    from biomedai.train import Trainer

    def model_factory() -> nn.Module:
        if init_weights is not None:  # fine-tune from earlier weights (checked against their sha256)
            return load_classifier(init_weights, config).train()
        return build_classifier(config.architecture, config.num_classes, config.patch_size, config.pretrained)

    has_val = val_patches is not None and len(val_patches) > 0
    train_set = FlipPatchDataset(train_patches, train_labels, config.augmentation, config.colour_jitter)
    train_data: Any = train_set
    loss_fn: Any = nn.functional.cross_entropy
    if config.class_balance == "sampler" or config.samples_per_epoch:
        train_data = sampling_loader(train_set, config.batch_size, config.seed, config.class_balance == "sampler",
                                     config.samples_per_epoch)
    if config.class_balance == "weighted_loss":
        weights = class_weights(train_labels, config.num_classes)

        def loss_fn(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return nn.functional.cross_entropy(logits, target, weight=weights.to(logits.device))
    logger.info("training %s on %s patches (classes %s), class balance %s, augmentation %s, jitter %.2f, "
                "%s draws per epoch", config.architecture, len(train_labels),
                np.bincount(train_labels, minlength=3).tolist(), config.class_balance, config.augmentation,
                config.colour_jitter, config.samples_per_epoch or len(train_labels))
    trainer = Trainer(
        model_factory, train_data,
        FlipPatchDataset(val_patches, val_labels, augment=False) if has_val else None,
        optimizer=lambda params: torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay),
        scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, config.lr_step_epochs, config.lr_gamma),
        loss_fn=loss_fn, validate=_accuracy_validator if has_val else None,
        output_dir=output_dir, run_config=config, epochs=config.epochs, batch_size=config.batch_size,
        monitor="val_balanced_accuracy" if has_val else "train_loss", mode="max" if has_val else "min",
        seed=config.seed, device=config.device, amp=False, progress=progress,
        export_weights=output_dir is not None)
    result = trainer.fit()
    model = trainer.model
    best = trainer.best_checkpoint_path
    if best is not None and best.is_file():
        from biomedai.train.checkpoint import load_checkpoint

        state = load_checkpoint(best)
        model.load_state_dict(state["model"])
    if output_dir is not None:
        save_classifier_folder(output_dir, model, config, result, training_data)
    return model.eval(), result


def save_classifier_folder(folder: str | Path, model: nn.Module, config: Ki67Config, result: Any = None,
                           training_data: dict[str, Any] | None = None) -> Path:
    """Write the classifier as a model folder (``weights.pt`` + ``model.json``) with what rebuilding it needs."""
    metrics: dict[str, Any] = {}
    if result is not None and result.best_metric is not None:
        metrics = {result.monitor: result.best_metric, "best_epoch": result.best_epoch}
    info = ModelInfo(method="ki67", architecture={"architecture": architecture_of_state(model.state_dict()),
                                                  "num_classes": config.num_classes,
                                                  "patch_size": config.patch_size},
                     preprocessing={"patch_size_px": config.patch_size, "input": "RGB uint8 patch scaled to [0, 1]"},
                     class_names=list(CLASS_NAMES),
                     training_data=training_data or {"split": "random 8:2 cell split (section 1.3); the "
                                                              "validation part chose the best epoch"},
                     metrics=metrics, metrics_data="validation patches of the training data" if metrics else "",
                     licence=str((training_data or {}).get("licence", "")))
    return save_model_folder(folder, model, info)


def load_classifier(weights: str | Path, config: Ki67Config) -> nn.Module:
    """The classifier in ``weights``: a model folder (checked against ``model.json``'s sha256) or an older
    ``weights.pt`` (checked against its ``.sha256`` sidecar).

    The architecture is read from the saved model; when it differs from ``config.architecture``
    the file wins (with a warning), since weights only fit the network they were trained in.
    """
    from biomedai.train.checkpoint import load_weights

    if is_model_folder(weights):
        state, info = load_model_folder(weights, method="ki67")
        architecture = str(info.architecture.get("architecture") or architecture_of_state(state))
    else:
        state = load_weights(None, weights)
        architecture = architecture_of_state(state)
    if architecture != config.architecture:
        logger.warning("%s holds %s weights; using that architecture instead of the configured %s",
                       weights, architecture, config.architecture)
    model = build_classifier(architecture, config.num_classes, config.patch_size, pretrained=False)
    reference = model.state_dict()
    load_weights_into(model, {k: (v.to(reference[k].dtype) if k in reference and hasattr(v, "to") else v)
                              for k, v in state.items()}, weights)
    return model.eval()


@torch.no_grad()
def probability_map(model: nn.Module, rgb: np.ndarray, config: Ki67Config,
                    device: str | torch.device = "cpu") -> np.ndarray:
    """FCN class probabilities ``[3, rows, cols]`` for an RGB uint8 region (stride 32 for 64x64 patches).

    ``config.fcn_tile`` runs it in stride-aligned tiles; for ``resnet18_valid`` that is exactly the one pass.
    """
    fcn = model.to(device).to_fcn()
    x = torch.from_numpy(np.ascontiguousarray(rgb)).to(device).permute(2, 0, 1).float().div_(255.0)
    return fcn_map_tiled(fcn, x, config.fcn_tile).float().cpu().numpy()


def map_to_classes(prob: np.ndarray, config: Ki67Config) -> np.ndarray:
    """The public notebook's rule: bg if P(bg) > 0.6, else pos if P(pos) > 0.3, else neg (uint8 map)."""
    out = np.where(prob[POSITIVE] > config.map_positive_prob, POSITIVE, NEGATIVE).astype(np.uint8)
    out[prob[BACKGROUND] > config.map_background_prob] = BACKGROUND
    return out


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
