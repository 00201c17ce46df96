"""Dense blocks with dilated convolutions (DenseNet connectivity, FullNet/Han-Net style).

A :class:`DenseDilatedBlock` of ``n_layers`` layers appends ``growth_rate`` feature maps per layer:
layer ``k`` sees the block input concatenated with the outputs of layers ``0..k-1``. Each layer is
normalisation (batch or instance) -> ReLU -> 3x3 convolution with ``dilation`` (padding keeps the size) ->
dropout, the pre-activation order of DenseNet (Huang et al. 2017) and FullNet (Qu et al. 2019). The output has
``in_channels + n_layers * growth_rate`` channels at the input's resolution.

Example:
    >>> import torch
    >>> block = DenseDilatedBlock(spatial_dims=2, in_channels=8, n_layers=6, growth_rate=16, dilation=4)
    >>> block(torch.zeros(1, 8, 20, 20)).shape
    torch.Size([1, 104, 20, 20])
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["DenseDilatedLayer", "DenseDilatedBlock", "NORMS", "norm_layer"]


def _conv(spatial_dims: int) -> type[nn.Module]:
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
    return nn.Conv2d if spatial_dims == 2 else nn.Conv3d


#: feature normalisations the blocks accept
NORMS = ("batch", "instance")


def norm_layer(spatial_dims: int, channels: int, norm: str = "batch") -> nn.Module:
    """``"batch"`` (running statistics) or ``"instance"`` (per image and channel, affine) normalisation.

    Instance normalisation makes a network insensitive to an image's overall brightness and contrast,
    which helps on images stained or scanned unlike the training ones (MONAI's BasicUNet default).
    """
    if norm == "batch":
        return (nn.BatchNorm2d if spatial_dims == 2 else nn.BatchNorm3d)(channels)
    if norm == "instance":
        return (nn.InstanceNorm2d if spatial_dims == 2 else nn.InstanceNorm3d)(channels, affine=True)
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


class DenseDilatedLayer(nn.Module):
    """Norm (batch or instance) -> ReLU -> dilated 3x3 conv (``in_channels -> growth_rate``) -> dropout."""

    def __init__(self, spatial_dims: int, in_channels: int, growth_rate: int, dilation: int = 1,
                 dropout: float = 0.0, norm: str = "batch") -> None:
        super().__init__()
        if in_channels < 1 or growth_rate < 1 or dilation < 1:
            raise ValueError("in_channels, growth_rate and dilation must be >= 1")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        self.norm = norm_layer(spatial_dims, in_channels, norm)
        self.act = nn.ReLU(inplace=True)
        self.conv = _conv(spatial_dims)(in_channels, growth_rate, 3, padding=dilation, dilation=dilation, bias=False)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.conv(self.act(self.norm(x))))


class DenseDilatedBlock(nn.Module):
    """``n_layers`` densely connected dilated layers; output ``in_channels + n_layers * growth_rate`` maps.

    ``dilation`` is one value for every layer or one per layer.
    """

    def __init__(self, spatial_dims: int, in_channels: int, n_layers: int = 6, growth_rate: int = 16,
                 dilation: int | Sequence[int] = 1, dropout: float = 0.0, norm: str = "batch") -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        dilations = [int(dilation)] * n_layers if isinstance(dilation, int) else [int(d) for d in dilation]
        if len(dilations) != n_layers:
            raise ValueError(f"{len(dilations)} dilations for {n_layers} layers")
        self.layers = nn.ModuleList(
            DenseDilatedLayer(spatial_dims, in_channels + k * growth_rate, growth_rate, d, dropout, norm)
            for k, d in enumerate(dilations))
        self.in_channels = in_channels
        self.out_channels = in_channels + n_layers * growth_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, dim=1)))
        return torch.cat(features, dim=1)
