"""Classifiers of Wang et al. (spec ``breast-neuro.md`` 3.6): the two-view compression block feeding a 2-D
ResNet-18/34, and the 3-D ResNet-18/34 baseline.

The two-view model is torchvision's ResNet trunk (``layer1`` .. ``layer4``) with its stem (conv1 + bn1 +
max-pool) replaced by the compression block; with a 98-slice input per view, bias-free 7x7 convolutions and a
non-affine BatchNorm the parameter counts equal Table 3 exactly (11,475,330 and 21,583,490).
The 3-D baseline is MONAI's ``ResNet`` (1 input channel, 7x7x7 conv1, type-B shortcuts, 2 outputs).
"""
from __future__ import annotations

import logging

import torch
import torchvision
from monai.networks.nets import resnet18 as monai_resnet18
from monai.networks.nets import resnet34 as monai_resnet34
from torch import nn

from .config import ARCHITECTURES

logger = logging.getLogger(__name__)



class CompressionView(nn.Module):
    """One view: a spatial axis of the volume becomes the channel axis, then conv2d -> BN -> ReLU (Eqs. 3-6)."""

    def __init__(self, depth: int, out_channels: int = 32, kernel: int = 7, stride: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(depth, out_channels, kernel, stride=stride, padding=kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, affine=False)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class TwoViewCompression(nn.Module):
    """Two-view compression block (Eqs. 3-7): ``(B, 1, h, w, l)`` -> ``(B, 64, h', l')``.

    View 1 takes ``h`` as channels, view 2 takes ``w`` as channels; the outputs are concatenated.
    The volume must be a cube of side ``depth`` so the two views' feature maps agree.
    """

    def __init__(self, depth: int = 98, out_channels: int = 32, kernel: int = 7, stride: int = 3) -> None:
        super().__init__()
        self.depth = depth
        self.view_h = CompressionView(depth, out_channels, kernel, stride)
        self.view_w = CompressionView(depth, out_channels, kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[1] != 1 or x.shape[2] != self.depth or x.shape[3] != self.depth:
            raise ValueError(f"expected (B, 1, {self.depth}, {self.depth}, L), got {tuple(x.shape)}")
        vol = x[:, 0]                                  # (B, h, w, l)
        y1 = self.view_h(vol)                          # h -> channels: (B, 32, w', l')
        y2 = self.view_w(vol.permute(0, 2, 1, 3))      # w -> channels: (B, 32, h', l')
        return torch.cat([y1, y2], dim=1)


class TwoViewResNet(nn.Module):
    """Compression block + torchvision ResNet-18/34 ``layer1..layer4`` + avgpool + dropout + fc (spec 3.6)."""

    def __init__(self, depth_layers: int = 18, *, input_side: int = 98, num_classes: int = 2,
                 dropout: float = 0.15) -> None:
        super().__init__()
        if depth_layers not in (18, 34):
            raise ValueError(f"depth_layers must be 18 or 34, got {depth_layers}")
        trunk = (torchvision.models.resnet18 if depth_layers == 18 else torchvision.models.resnet34)(weights=None)
        self.compression = TwoViewCompression(input_side)
        self.layer1, self.layer2, self.layer3, self.layer4 = trunk.layer1, trunk.layer2, trunk.layer3, trunk.layer4
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.compression(x)
        y = self.layer4(self.layer3(self.layer2(self.layer1(y))))
        return self.fc(self.dropout(torch.flatten(self.pool(y), 1)))

    def load_trunk(self, state_dict: dict[str, torch.Tensor]) -> list[str]:
        """Load a local ImageNet ResNet checkpoint (torchvision keys) into ``layer1..layer4``.

        Nothing is downloaded: "pretrained" means a file the user gives. Returns the keys that were loaded.
        """
        wanted = {k: v for k, v in state_dict.items() if k.split(".")[0] in ("layer1", "layer2", "layer3", "layer4")}
        missing, unexpected = self.load_state_dict(wanted, strict=False)
        loaded = sorted(wanted)
        if not loaded:
            raise ValueError("the checkpoint holds no layer1..layer4 weights of a torchvision ResNet")
        logger.info("loaded %d trunk tensors; %d parameters stay at their initialisation", len(loaded), len(missing))
        return loaded


class ResNet3D(nn.Module):
    """3-D ResNet-18/34 baseline (MONAI ``ResNet``, biased conv1 and shortcuts) with dropout 0.15 before the 2-way fc layer."""

    def __init__(self, depth_layers: int = 18, *, num_classes: int = 2, dropout: float = 0.15) -> None:
        super().__init__()
        if depth_layers not in (18, 34):
            raise ValueError(f"depth_layers must be 18 or 34, got {depth_layers}")
        factory = monai_resnet18 if depth_layers == 18 else monai_resnet34
        self.net = factory(spatial_dims=3, n_input_channels=1, conv1_t_size=7, conv1_t_stride=2,
                           shortcut_type="B", num_classes=num_classes, bias_downsample=True)
        # a biased conv1: with it (and biased 1x1x1 shortcuts) the counts equal Table 3's 33,161,986 / 63,471,618
        self.net.conv1 = nn.Conv3d(1, 64, kernel_size=7, stride=2, padding=3, bias=True)
        fc = self.net.fc
        self.net.fc = nn.Sequential(nn.Dropout(dropout), fc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_classifier(arch: str, *, input_side: int = 98, dropout: float = 0.15) -> nn.Module:
    """One of :data:`ARCHITECTURES` (``twoview-r18`` .. ``3d-r34``), randomly initialised."""
    if arch == "twoview-r18":
        return TwoViewResNet(18, input_side=input_side, dropout=dropout)
    if arch == "twoview-r34":
        return TwoViewResNet(34, input_side=input_side, dropout=dropout)
    if arch == "3d-r18":
        return ResNet3D(18, dropout=dropout)
    if arch == "3d-r34":
        return ResNet3D(34, dropout=dropout)
    raise ValueError(f"unknown architecture {arch!r}; choose one of {ARCHITECTURES}")


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (Table 3's "Parameters")."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
