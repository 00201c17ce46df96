"""The modified ResNet18 of Liu et al. (Table 2), its training (Table 3) and its FCN form (section 1.6).

``Ki67ResNet18`` = ImageNet normalisation + torchvision ResNet18 without its global average pool and
FC, then ``Linear(512*2*2, 3)`` on the flattened 512x2x2 map of a 64x64 patch. Inputs are RGB floats in
[0, 1], ``[N, 3, H, W]``. Class order: 0 negative, 1 positive, 2 background.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from biomedai.nn.fcn import FullyConvolutional, classifier_to_fcn, fcn_map_tiled

from .config import BACKGROUND, NEGATIVE, POSITIVE, Ki67Config

logger = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # Table 3: Normalize(mean, std)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ImageNetNormalize(nn.Module):
    """Per-channel ``(x - mean) / std``; a per-pixel affine map, so it commutes with the FCN conversion."""

    def __init__(self, mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class BasicBlock(nn.Module):
    """ResNet's basic block (conv3x3-BN-ReLU-conv3x3-BN + shortcut, ReLU); torchvision's parameter names."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                            nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


def resnet18_trunk() -> nn.Sequential:
    """conv1..layer4 of ResNet18 (Table 2), named like torchvision's so its ImageNet weights load."""
    def layer(cin: int, cout: int, stride: int) -> nn.Sequential:
        return nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1))

    trunk = nn.Sequential()
    trunk.add_module("conv1", nn.Conv2d(3, 64, 7, 2, 3, bias=False))
    trunk.add_module("bn1", nn.BatchNorm2d(64))
    trunk.add_module("relu", nn.ReLU(inplace=True))
    trunk.add_module("maxpool", nn.MaxPool2d(3, 2, 1))
    for name, (cin, cout, stride) in zip(("layer1", "layer2", "layer3", "layer4"),
                                         ((64, 64, 1), (64, 128, 2), (128, 256, 2), (256, 512, 2))):
        trunk.add_module(name, layer(cin, cout, stride))
    for m in trunk.modules():  # torchvision's initialisation
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    return trunk


def _load_imagenet_weights(trunk: nn.Sequential) -> bool:
    """Copy torchvision's ImageNet ResNet18 weights into ``trunk`` if they can be had offline."""
    try:
        import torchvision

        weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
        state = weights.get_state_dict(progress=False)
    except Exception as exc:  # noqa: BLE001 - no torchvision or no network: train from scratch
        logger.warning("ImageNet weights for ResNet18 are not available (%s); training from scratch",
                       exc.__class__.__name__)
        return False
    trunk.load_state_dict({k: v for k, v in state.items() if not k.startswith("fc.")}, strict=True)
    return True


class Ki67ResNet18(nn.Module):
    """Table 2: conv1..layer4 of ResNet18 (no avgpool), flatten, ``Linear(512*(p/32)^2, num_classes)``.

    Built here rather than taken from torchvision (same layers and parameter names), so that it runs
    where only PyTorch is installed; ``pretrained`` loads torchvision's ImageNet weights when available.
    """

    def __init__(self, num_classes: int = 3, patch_size: int = 64, pretrained: bool = False) -> None:
        super().__init__()
        self.patch_size = patch_size
        backbone = resnet18_trunk()
        if pretrained:
            _load_imagenet_weights(backbone)
        self.trunk = nn.Sequential(ImageNetNormalize(), *backbone.children())
        side = patch_size // 32
        self.fc = nn.Linear(512 * side * side, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.trunk(x), 1))

    def to_fcn(self) -> FullyConvolutional:
        """The FCN form (shares weights with this model), softmax over classes, in eval mode."""
        return classifier_to_fcn(self.trunk, self.fc, self.patch_size, softmax=True).eval()


def patches_to_tensor(patches: np.ndarray) -> torch.Tensor:
    """``[n, h, w, 3]`` uint8 -> ``[n, 3, h, w]`` float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(patches)).permute(0, 3, 1, 2).float().div_(255.0)


class FlipPatchDataset(torch.utils.data.Dataset):
    """Patches with random horizontal and vertical flips (Table 3 augmentation) when ``augment``."""

    def __init__(self, patches: np.ndarray, labels: np.ndarray, augment: bool = True) -> None:
        self.x = patches_to_tensor(patches)
        self.y = torch.as_tensor(labels, dtype=torch.long)
        self.augment = augment

    def __len__(self) -> int:
        return int(self.y.numel())

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.x[index]
        if self.augment:
            if torch.rand(()) < 0.5:
                x = x.flip(-1)
            if torch.rand(()) < 0.5:
                x = x.flip(-2)
        return x, self.y[index]


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
                     progress: bool = False, init_weights: str | Path | None = None) -> tuple[Ki67ResNet18, Any]:
    """Table 3: Adam (wd 1e-5), lr 1e-3 then 1e-4 after epoch 10, batch 64, cross-entropy, flips.

    The best epoch is the one with the best validation balanced accuracy (mean per-class recall),
    because validation cells are as unbalanced as the tissue [decide]. ``init_weights`` starts from
    earlier weights instead of a fresh network. Returns the best model (the last epoch's without
    validation data) and the :class:`biomedai.train.TrainResult`.
    """
    from biomedai.train import Trainer

    def model_factory() -> Ki67ResNet18:
        if init_weights is not None:  # fine-tune from earlier weights (checked against their sha256)
            return load_classifier(init_weights, config).train()
        return Ki67ResNet18(config.num_classes, config.patch_size, config.pretrained)

    has_val = val_patches is not None and len(val_patches) > 0
    trainer = Trainer(
        model_factory, FlipPatchDataset(train_patches, train_labels, augment=True),
        FlipPatchDataset(val_patches, val_labels, augment=False) if has_val else None,
        optimizer=lambda params: torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay),
        scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, config.lr_step_epochs, config.lr_gamma),
        loss_fn=nn.functional.cross_entropy, validate=_accuracy_validator if has_val else None,
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
    return model.eval(), result


def load_classifier(weights: str | Path, config: Ki67Config) -> Ki67ResNet18:
    """A :class:`Ki67ResNet18` with weights from ``weights`` (checked against its ``.sha256`` sidecar)."""
    from biomedai.train.checkpoint import load_weights

    model = Ki67ResNet18(config.num_classes, config.patch_size, pretrained=False)
    load_weights(model, weights)
    return model.eval()


@torch.no_grad()
def probability_map(model: Ki67ResNet18, rgb: np.ndarray, config: Ki67Config,
                    device: str | torch.device = "cpu") -> np.ndarray:
    """FCN class probabilities ``[3, rows, cols]`` for an RGB uint8 region (stride 32 for 64x64 patches)."""
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
