"""Alveolar bone segmentation on panoramic films: a small MONAI BasicUNet trained with :mod:`biomedai.train`.

The paper segments the bone contour with a binary Mask R-CNN (spec 4.4) and does not say how the
ground truth was drawn. The bone is one region per arch, not a set of instances, so we use a
semantic U-Net instead (a stated deviation). The only bone ground truth we have is simulated
(:func:`~.synthetic.synthetic_panoramic`); the real UFBA set has no bone contours.

Images are scaled to [0, 1] (uint8 / 255; other types by their 0.5-99.5 percentiles), padded to a
multiple of 16 by reflection, and the sigmoid output is thresholded at 0.5.
"""
from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_FEATURES", "bone_network", "train_bone_model", "segment_bone", "save_bone_model",
           "load_bone_model", "prepare_image"]

#: BasicUNet feature widths (MONAI's default is (32, 32, 64, 128, 256, 32)); small enough for CPU training
DEFAULT_FEATURES: tuple[int, ...] = (8, 16, 32, 32, 64, 8)
_MULTIPLE = 16


def bone_network(features: Sequence[int] = DEFAULT_FEATURES) -> Any:
    """A 2-D, 1-in 1-out MONAI BasicUNet (logits)."""
    import contextlib
    import io

    from monai.networks.nets import BasicUNet

    with contextlib.redirect_stdout(io.StringIO()):  # BasicUNet prints its feature list
        return BasicUNet(spatial_dims=2, in_channels=1, out_channels=1, features=tuple(features))


def prepare_image(image: Any, name: str = "image") -> np.ndarray:
    """A grey film as float32 in [0, 1]; 3-channel grey is accepted, colour is refused."""
    from biomedai.viz import to_display

    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        rgb = arr[..., :3]
        if not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])):
            raise InvalidInputError(f"{name}: a colour image; a panoramic radiograph must be grey")
        arr = rgb[..., 0]
    if arr.ndim != 2 or min(arr.shape) < 16:
        raise InvalidInputError(f"{name}: expected a 2-D grey image of at least 16x16 pixels, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if not np.isfinite(arr.astype(float)).all():
        raise InvalidInputError(f"{name}: contains NaN or infinite values")
    return to_display(arr).astype(np.float32) / 255.0


def _pad(arr: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    h, w = arr.shape[-2:]
    ph, pw = (-h) % _MULTIPLE, (-w) % _MULTIPLE
    if ph or pw:
        widths = [(0, 0)] * (arr.ndim - 2) + [(0, ph), (0, pw)]
        arr = np.pad(arr, widths, mode="reflect")
    return arr, (h, w)


def _dataset(images: Sequence[Any], masks: Sequence[Any], where: str) -> Any:
    import torch
    from torch.utils.data import TensorDataset

    if len(images) != len(masks) or not len(images):
        raise InvalidInputError(f"{where}: need as many bone masks as images (and at least one), "
                                f"got {len(images)} images and {len(masks)} masks")
    xs, ys = [], []
    for i, (img, msk) in enumerate(zip(images, masks)):
        x = prepare_image(img, f"{where} image {i}")
        m = np.asarray(msk)
        if m.shape != x.shape:
            raise InvalidInputError(f"{where} mask {i}: shape {m.shape} differs from its image's {x.shape}")
        xs.append(_pad(x)[0])
        ys.append(_pad(m.astype(np.float32))[0])
    if len({x.shape for x in xs}) != 1:
        raise InvalidInputError(f"{where}: all training images must have one size, got {sorted({x.shape for x in xs})}")
    return TensorDataset(torch.from_numpy(np.stack(xs)[:, None]), torch.from_numpy(np.stack(ys)[:, None]))


def bone_loss(logits: Any, target: Any) -> Any:
    """Binary cross-entropy plus soft Dice on the sigmoid."""
    import torch.nn.functional as F

    prob = logits.sigmoid()
    inter = (prob * target).sum(dim=(1, 2, 3))
    dice = (2 * inter + 1.0) / (prob.sum(dim=(1, 2, 3)) + target.sum(dim=(1, 2, 3)) + 1.0)
    return F.binary_cross_entropy_with_logits(logits, target) + (1 - dice).mean()


def train_bone_model(images: Sequence[Any], bone_masks: Sequence[Any], *, val_images: Sequence[Any] | None = None,
                     val_masks: Sequence[Any] | None = None, epochs: int = 30, batch_size: int = 4, lr: float = 3e-3,
                     features: Sequence[int] = DEFAULT_FEATURES, seed: int = 0, output_dir: str | Path | None = None,
                     device: str = "auto", progress: bool = False) -> Any:
    """Train the bone U-Net with :func:`biomedai.train.train_model`; returns the best model in eval mode.

    With validation data the best epoch is picked by validation Dice; the training history is in
    ``model.bone_history`` and, with ``output_dir``, in ``metrics.jsonl`` and ``weights.pt`` there.
    """
    import torch

    from biomedai.metrics import dice
    from biomedai.train import load_weights, move_to_device, train_model

    train_ds = _dataset(images, bone_masks, "bone training")
    val_ds = _dataset(val_images, val_masks, "bone validation") if val_images is not None else None

    def validate(model: torch.nn.Module, loader: Any) -> dict[str, float]:
        losses, scores = [], []
        dev = next(model.parameters()).device
        for batch in loader:
            x, y = move_to_device(batch, dev)
            out = model(x).float()
            losses.append(float(bone_loss(out, y)))
            pred = (out > 0).cpu().numpy()
            scores += [dice(t > 0.5, p) for t, p in zip(y.cpu().numpy(), pred)]
        return {"loss": float(np.mean(losses)), "dice": float(np.mean(scores))}

    extra: dict[str, Any] = {"validate": validate, "monitor": "val_dice", "mode": "max"} if val_ds is not None else {}
    with tempfile.TemporaryDirectory(prefix="bone-train-") as scratch:  # the engine keeps the best epoch on disk
        result = train_model(lambda: bone_network(features), train_ds, val_ds, loss_fn=bone_loss,
                             output_dir=output_dir if output_dir is not None else scratch, epochs=epochs,
                             batch_size=batch_size, lr=lr, seed=seed, device=device, progress=progress, **extra)
        model = bone_network(features)
        load_weights(model, result.weights)
    model.eval()
    model.bone_history = result.history  # type: ignore[attr-defined]
    logger.info("bone model: %d epochs, best %s = %s", result.epochs_completed, result.monitor, result.best_metric)
    return model


def segment_bone(model: Any, image: Any, threshold: float = 0.5) -> np.ndarray:
    """Boolean bone mask of one grey film (the film's own size)."""
    import torch

    x = prepare_image(image)
    padded, (h, w) = _pad(x)
    dev = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        prob = torch.sigmoid(model(torch.from_numpy(padded[None, None]).to(dev))).float().cpu().numpy()[0, 0]
    return prob[:h, :w] > threshold


def save_bone_model(model: Any, path: str | Path) -> str:
    """Write the weights (and a ``.sha256`` sidecar) with :func:`biomedai.train.save_weights`; returns the digest."""
    from biomedai.train import save_weights

    return save_weights(model, path)


def load_bone_model(path: str | Path, features: Sequence[int] = DEFAULT_FEATURES,
                    expected_sha256: str | None = None) -> Any:
    """A bone U-Net with checksum-verified weights from ``path``, in eval mode."""
    from biomedai.train import load_weights

    model = bone_network(features)
    load_weights(model, path, expected_sha256=expected_sha256)
    model.eval()
    return model
