"""Hybrid attention: channel (squeeze-and-excitation) and spatial attention in series and in parallel.

The block of Han-Net's A-part (He et al.): two convolution branches with different kernel sizes;
the first is followed by a **series** attention module (channel attention, then spatial attention),
the second by a **parallel** module (channel and spatial attention applied to the same features and
added); the two branch outputs are added. It maps ``in_channels -> out_channels`` at the same
resolution and can stand in for a UNet "conv block".

* :class:`ChannelAttention`: global average pooling -> FC (1x1 conv) -> ReLU -> FC -> sigmoid,
  rescaling the channels (Hu et al., SE-Net; reduction ratio ``reduction``).
* :class:`SpatialAttention`: a 1-channel 1x1 convolution -> sigmoid map that multiplies every channel.

Example:
    >>> import torch
    >>> block = HybridAttentionBlock(spatial_dims=2, in_channels=8, out_channels=16)
    >>> block(torch.zeros(2, 8, 12, 12)).shape
    torch.Size([2, 16, 12, 12])
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from biomedai.nn.dense_dilated import _conv, norm_layer

__all__ = ["ChannelAttention", "SpatialAttention", "HybridAttentionBlock"]


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation: ``x * sigmoid(W2 relu(W1 avgpool(x)))``, hidden size ``channels // reduction``
    (at least ``min_hidden``)."""

    def __init__(self, spatial_dims: int, channels: int, reduction: int = 16, min_hidden: int = 4) -> None:
        super().__init__()
        if reduction < 1:
            raise ValueError(f"reduction must be >= 1, got {reduction}")
        hidden = max(channels // reduction, min_hidden)
        conv = _conv(spatial_dims)
        self.pool = nn.AdaptiveAvgPool2d(1) if spatial_dims == 2 else nn.AdaptiveAvgPool3d(1)
        self.fc = nn.Sequential(conv(channels, hidden, 1), nn.ReLU(inplace=True), conv(hidden, channels, 1),
                                nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(self.pool(x))


class SpatialAttention(nn.Module):
    """``x * sigmoid(conv1x1(x))`` with a single-channel attention map."""

    def __init__(self, spatial_dims: int, channels: int) -> None:
        super().__init__()
        self.conv = _conv(spatial_dims)(channels, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.conv(x))


class _ConvNormAct(nn.Sequential):
    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int, kernel_size: int,
                 norm: str = "batch") -> None:
        super().__init__(_conv(spatial_dims)(in_channels, out_channels, kernel_size, padding=kernel_size // 2,
                                             bias=False),
                         norm_layer(spatial_dims, out_channels, norm), nn.ReLU(inplace=True))


class HybridAttentionBlock(nn.Module):
    """Conv(k1)-norm-ReLU -> channel then spatial attention, plus Conv(k2)-norm-ReLU -> channel + spatial
    attention in parallel; the two branches are added.

    Args:
        spatial_dims: 2 or 3.
        in_channels, out_channels: channels in and out.
        kernel_sizes: odd kernel sizes of the series and the parallel branch.
        reduction: squeeze-and-excitation reduction ratio.
        norm: "batch" or "instance" normalisation after each branch convolution.
    """

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int,
                 kernel_sizes: Sequence[int] = (3, 1), reduction: int = 16, norm: str = "batch") -> None:
        super().__init__()
        k1, k2 = (int(k) for k in kernel_sizes)
        if k1 % 2 == 0 or k2 % 2 == 0 or k1 < 1 or k2 < 1:
            raise ValueError(f"kernel_sizes must be two odd positive integers, got {tuple(kernel_sizes)}")
        self.series_conv = _ConvNormAct(spatial_dims, in_channels, out_channels, k1, norm)
        self.series_channel = ChannelAttention(spatial_dims, out_channels, reduction)
        self.series_spatial = SpatialAttention(spatial_dims, out_channels)
        self.parallel_conv = _ConvNormAct(spatial_dims, in_channels, out_channels, k2, norm)
        self.parallel_channel = ChannelAttention(spatial_dims, out_channels, reduction)
        self.parallel_spatial = SpatialAttention(spatial_dims, out_channels)
        self.in_channels, self.out_channels = in_channels, out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        series = self.series_spatial(self.series_channel(self.series_conv(x)))
        p = self.parallel_conv(x)
        parallel = self.parallel_channel(p) + self.parallel_spatial(p)
        return series + parallel
