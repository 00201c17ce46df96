"""The two patch classifiers of the Ki-67 method: Liu et al.'s padded ResNet18 and a padding-free variant.

* :class:`Ki67ResNet18` (``architecture: resnet18``): Table 2 as published. ImageNet normalisation +
  torchvision's ResNet18 without its global average pool and FC, then ``Linear(512*2*2, 3)`` on the
  512x2x2 map of a 64x64 patch. Its zero padding makes the FCN map differ from patch-wise
  classification (a lone patch sees zeros where the FCN sees real neighbours).
* :class:`Ki67ValidResNet18` (``architecture: resnet18_valid``): the same stem, the same 8 residual
  blocks and widths (64-128-256-512), but every convolution and pooling is padding-free ("valid"),
  residual shortcuts are cropped to the main branch, and kernels are shrunk where a 64x64 patch has
  no room left (receptive field 63 px, stride 32, 512x1x1 features). Its FCN output at grid position
  ``(i, j)`` is, by construction, the classifier applied to the 64x64 patch at ``(32 i, 32 j)``.

Inputs are RGB floats in [0, 1], ``[N, 3, H, W]``. Class order: 0 negative, 1 positive, 2 background.
"""
from __future__ import annotations

import logging

import torch
from torch import nn

from biomedai.errors import ConfigError
from biomedai.nn.fcn import FullyConvolutional, classifier_to_fcn

logger = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # Table 3: Normalize(mean, std)
IMAGENET_STD = (0.229, 0.224, 0.225)
ARCHITECTURES = ("resnet18", "resnet18_valid")


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


class ValidBasicBlock(nn.Module):
    """A padding-free basic block: conv(k1, stride)-BN-ReLU-conv(k2)-BN + cropped shortcut, ReLU.

    Stride 1: the shortcut is the input (1x1 conv + BN when the width changes), cropped by the
    main branch's shrinkage ``(k1 - 1)/2 + (k2 - 1)/2`` on each side. Stride 2 (``k1 = 2``): the
    shortcut is ResNet-D's 2x2 average pool + 1x1 conv + BN, whose grid is centred like the main
    branch's, cropped by ``(k2 - 1)/2``. The crop is a fixed offset from the top-left corner, so the
    block is translation-equivariant on its stride grid, which is what makes the FCN exact.
    """

    def __init__(self, in_channels: int, out_channels: int, k1: int = 3, k2: int = 3, stride: int = 1) -> None:
        super().__init__()
        if stride == 1 and (k1 % 2 == 0 or k2 % 2 == 0):
            raise ValueError("stride-1 valid blocks need odd kernels")
        if stride == 2 and (k1 != 2 or k2 % 2 == 0):
            raise ValueError("stride-2 valid blocks need a 2x2 first kernel and an odd second kernel")
        if stride not in (1, 2):
            raise ValueError("stride must be 1 or 2")
        self.conv1 = nn.Conv2d(in_channels, out_channels, k1, stride, 0, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, k2, 1, 0, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        layers: list[nn.Module] = [nn.AvgPool2d(2, 2)] if stride == 2 else []
        if stride != 1 or in_channels != out_channels:
            layers += [nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)]
        self.shortcut = nn.Sequential(*layers)
        self.crop = (k2 - 1) // 2 + ((k1 - 1) // 2 if stride == 1 else 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        h, w, c = out.shape[-2], out.shape[-1], self.crop
        identity = self.shortcut(x)[..., c:c + h, c:c + w]
        return self.relu(out + identity)


def _kaiming(trunk: nn.Module) -> nn.Module:
    for m in trunk.modules():  # torchvision's initialisation
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    return trunk


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
    return _kaiming(trunk)


def resnet18_valid_trunk() -> nn.Sequential:
    """ResNet18's stem and 8 blocks without padding; a 64x64 patch gives 512x1x1 (receptive field 63, stride 32).

    Sizes for a 64x64 patch: conv1 7x7/2 -> 29, max pool 3x3/2 -> 14, layer1 (3x3+3x3, 3x3+1x1) -> 8,
    layer2..4 (2x2/2 + 1x1, then 1x1 + 1x1) -> 4, 2, 1. Receptive field 11 after the stem, +24 in
    layer1 (three 3x3 at stride 4), +4, +8, +16 for the three 2x2/2 downsamplings = 63.
    """
    trunk = nn.Sequential()
    trunk.add_module("conv1", nn.Conv2d(3, 64, 7, 2, 0, bias=False))
    trunk.add_module("bn1", nn.BatchNorm2d(64))
    trunk.add_module("relu", nn.ReLU(inplace=True))
    trunk.add_module("maxpool", nn.MaxPool2d(3, 2, 0))
    trunk.add_module("layer1", nn.Sequential(ValidBasicBlock(64, 64, 3, 3), ValidBasicBlock(64, 64, 3, 1)))
    for name, (cin, cout) in zip(("layer2", "layer3", "layer4"), ((64, 128), (128, 256), (256, 512))):
        trunk.add_module(name, nn.Sequential(ValidBasicBlock(cin, cout, 2, 1, stride=2),
                                             ValidBasicBlock(cout, cout, 1, 1)))
    return _kaiming(trunk)


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


class _PatchClassifier(nn.Module):
    """``fc(flatten(trunk(x)))`` with the trunk's feature size measured on one patch."""

    architecture = ""

    def __init__(self, backbone: nn.Sequential, num_classes: int, patch_size: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.trunk = nn.Sequential(ImageNetNormalize(), *backbone.children())
        with torch.no_grad():
            features = self.trunk.eval()(torch.zeros(1, 3, patch_size, patch_size))
        self.trunk.train()
        if min(features.shape[-2:]) < 1:
            raise ConfigError(f"key 'patch_size' {patch_size} is too small for {self.architecture}")
        self.fc = nn.Linear(features[0].numel(), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.trunk(x), 1))

    def to_fcn(self) -> FullyConvolutional:
        """The FCN form (shares weights with this model), softmax over classes, in eval mode."""
        return classifier_to_fcn(self.trunk, self.fc, self.patch_size, softmax=True).eval()


class Ki67ResNet18(_PatchClassifier):
    """Table 2: conv1..layer4 of ResNet18 (no avgpool), flatten, ``Linear(512*(p/32)^2, num_classes)``.

    Built here rather than taken from torchvision (same layers and parameter names), so that it runs
    where only PyTorch is installed; ``pretrained`` loads torchvision's ImageNet weights when available.
    """

    architecture = "resnet18"

    def __init__(self, num_classes: int = 3, patch_size: int = 64, pretrained: bool = False) -> None:
        backbone = resnet18_trunk()
        if pretrained:
            _load_imagenet_weights(backbone)
        super().__init__(backbone, num_classes, patch_size)


class Ki67ValidResNet18(_PatchClassifier):
    """The padding-free ResNet18 variant (:func:`resnet18_valid_trunk`) + ``Linear(512, num_classes)``.

    Its FCN map equals patch-wise classification exactly (up to float rounding), and tiles that overlap
    by ``patch - stride`` pixels join into exactly the one-pass map.
    """

    architecture = "resnet18_valid"

    def __init__(self, num_classes: int = 3, patch_size: int = 64) -> None:
        super().__init__(resnet18_valid_trunk(), num_classes, patch_size)


def build_classifier(architecture: str, num_classes: int = 3, patch_size: int = 64,
                     pretrained: bool = False) -> _PatchClassifier:
    """A fresh classifier of ``architecture`` (``resnet18`` or ``resnet18_valid``)."""
    if architecture == "resnet18":
        return Ki67ResNet18(num_classes, patch_size, pretrained)
    if architecture == "resnet18_valid":
        if pretrained:
            raise ConfigError("key 'pretrained' needs architecture 'resnet18' (no ImageNet weights exist for "
                              "the padding-free variant)")
        return Ki67ValidResNet18(num_classes, patch_size)
    raise ConfigError(f"key 'architecture' must be one of {ARCHITECTURES}, got {architecture!r}")


def architecture_of_state(state: dict[str, torch.Tensor]) -> str:
    """Which architecture a saved ``state_dict`` belongs to (the valid variant's blocks have ``shortcut``)."""
    return "resnet18_valid" if any(".shortcut." in k for k in state) else "resnet18"
