"""The networks of Xu et al. (Table 2) and the MIL classifier, as plain ``nn.Module`` s.

* :class:`TableTwoGenerator` - Table 2's generator: 7x7 conv, two stride-2 convs, ``res_blocks`` residual
  units (the printed conv-IN-ReLU-conv-IN unit, with its skip connection), two transposed convs, 7x7 conv
  and Tanh. ``in_channels = 3 + condition channels`` (spec 2.10.1).
* :class:`TableTwoDiscriminator` - Table 2's discriminator: 7x7 conv, three stride-2 convs with IN and
  LeakyReLU(0.2), a 4x4 conv to one channel (a PatchGAN map) and, as printed, a global average pool.
* :func:`mil_classifier` - ResNet34 (MONAI's ``ResNet`` with basic blocks ``[3, 4, 6, 3]``) whose stage
  widths scale with ``width`` (64 is the original).
* :class:`ReferenceResnetGenerator` - the CycleGAN reference generator (junyanz ``ResnetGenerator``:
  reflection padding, no bias under IN), for the speed comparison at the same size.

Example:
    >>> import torch
    >>> g = TableTwoGenerator(in_channels=4, width=8, res_blocks=1)
    >>> g(torch.zeros(1, 4, 32, 32)).shape
    torch.Size([1, 3, 32, 32])
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def _conv_in_relu(cin: int, cout: int, k: int, s: int, p: int, padding_mode: str, relu: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, s, p, padding_mode=padding_mode), nn.InstanceNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return layers


class ResidualUnit(nn.Module):
    """Table 2 rows 4-5: conv-IN-ReLU-conv-IN (256 channels, 3x3) with an identity skip."""

    def __init__(self, channels: int, padding_mode: str = "zeros") -> None:
        super().__init__()
        self.body = nn.Sequential(*_conv_in_relu(channels, channels, 3, 1, 1, padding_mode),
                                  *_conv_in_relu(channels, channels, 3, 1, 1, padding_mode, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class TableTwoGenerator(nn.Module):
    """Xu et al.'s generator (Table 2) taking ``in_channels = 3 + n_condition`` planes, giving RGB in [-1, 1].

    Parameters
    ----------
    in_channels : int
        3 image channels plus the condition channels (0, 1 or 2).
    out_channels : int
        3 (RGB).
    width : int
        Channels after the first conv (Table 2: 64); the stages use width, 2x and 4x.
    res_blocks : int
        Residual units at 4x width (Table 2 prints one).
    padding_mode : str
        ``zeros`` (Table 2) or ``reflect`` (the CycleGAN reference).
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, width: int = 64, res_blocks: int = 1,
                 padding_mode: str = "zeros") -> None:
        super().__init__()
        w = width
        layers: list[nn.Module] = [
            *_conv_in_relu(in_channels, w, 7, 1, 3, padding_mode),
            *_conv_in_relu(w, 2 * w, 3, 2, 1, padding_mode),
            *_conv_in_relu(2 * w, 4 * w, 3, 2, 1, padding_mode),
            *[ResidualUnit(4 * w, padding_mode) for _ in range(res_blocks)],
            nn.ConvTranspose2d(4 * w, 2 * w, 3, 2, 1, output_padding=1), nn.InstanceNorm2d(2 * w), nn.ReLU(True),
            nn.ConvTranspose2d(2 * w, w, 3, 2, 1, output_padding=1), nn.InstanceNorm2d(w), nn.ReLU(True),
            nn.Conv2d(w, out_channels, 7, 1, 3, padding_mode=padding_mode), nn.Tanh(),
        ]
        self.model = nn.Sequential(*layers)
        self.in_channels, self.out_channels = in_channels, out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.in_channels:
            raise ValueError(f"generator expects {self.in_channels} input channels, got {x.shape[1]}")
        return self.model(x)


class TableTwoDiscriminator(nn.Module):
    """Xu et al.'s discriminator (Table 2): a PatchGAN map, globally averaged to one logit when ``global_pool``."""

    def __init__(self, in_channels: int = 3, width: int = 64, global_pool: bool = True) -> None:
        super().__init__()
        w = width
        self.model = nn.Sequential(
            nn.Conv2d(in_channels, w, 7, 1, 3), nn.LeakyReLU(0.2, True),
            nn.Conv2d(w, 2 * w, 3, 2, 1), nn.InstanceNorm2d(2 * w), nn.LeakyReLU(0.2, True),
            nn.Conv2d(2 * w, 4 * w, 3, 2, 1), nn.InstanceNorm2d(4 * w), nn.LeakyReLU(0.2, True),
            nn.Conv2d(4 * w, 8 * w, 3, 2, 1), nn.InstanceNorm2d(8 * w), nn.LeakyReLU(0.2, True),
            nn.Conv2d(8 * w, 1, 4, 1, 1),
        )
        self.global_pool = global_pool
        self.in_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits: ``[B, 1]`` with the global pool, else the patch map ``[B, 1, h, w]``."""
        out = self.model(x)
        return out.mean(dim=(2, 3)) if self.global_pool else out


class ReferenceResnetGenerator(nn.Module):
    """The CycleGAN reference generator (junyanz ``ResnetGenerator``, BSD): reflection padding, IN without
    bias, ``n_blocks`` residual blocks with reflection padding. Used as the size-matched speed peer."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, n_blocks: int = 9) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7, bias=False),
                                   nn.InstanceNorm2d(ngf), nn.ReLU(True)]
        for i in range(2):
            mult = 2 ** i
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, 2, 1, bias=False), nn.InstanceNorm2d(ngf * mult * 2),
                       nn.ReLU(True)]
        for _ in range(n_blocks):
            layers.append(ResidualUnit(ngf * 4, "reflect"))
        for i in range(2):
            mult = 2 ** (2 - i)
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, 2, 1, output_padding=1, bias=False),
                       nn.InstanceNorm2d(ngf * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def mil_classifier(width: int = 64, layers: Sequence[int] = (3, 4, 6, 3), n_classes: int = 2) -> nn.Module:
    """ResNet34 (basic blocks ``layers``) with stage widths ``width * (1, 2, 4, 8)``, ``n_classes`` logits.

    Example:
        >>> net = mil_classifier(width=8, layers=(1, 1, 1, 1))
        >>> net(torch.zeros(2, 3, 64, 64)).shape
        torch.Size([2, 2])
    """
    from monai.networks.nets import ResNet

    return ResNet(block="basic", layers=list(layers), block_inplanes=[width, 2 * width, 4 * width, 8 * width],
                  spatial_dims=2, n_input_channels=3, num_classes=n_classes, conv1_t_stride=2)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))
