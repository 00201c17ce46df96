"""The segmentation network: a MONAI BasicUNet with one vessel-logit output."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def build_unet(features: Sequence[int] = (16, 16, 32, 64, 128, 16), in_channels: int = 1) -> torch.nn.Module:
    """A 2-D BasicUNet (instance norm, LeakyReLU, MONAI defaults) giving one logit per pixel.

    Example:
        >>> net = build_unet((4, 4, 8, 8, 16, 4))
        >>> net(torch.zeros(1, 1, 32, 32)).shape
        torch.Size([1, 1, 32, 32])
    """
    from monai.networks.nets import BasicUNet

    return BasicUNet(spatial_dims=2, in_channels=in_channels, out_channels=1, features=tuple(int(f) for f in features))


def architecture_of(features: Sequence[int]) -> dict[str, Any]:
    """What ``model.json`` records to rebuild the network."""
    return {"name": "monai.BasicUNet", "spatial_dims": 2, "in_channels": 1, "out_channels": 1,
            "features": [int(f) for f in features]}


def count_parameters(net: torch.nn.Module) -> int:
    return int(sum(p.numel() for p in net.parameters()))
