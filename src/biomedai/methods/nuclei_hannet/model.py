"""Han-Net (He et al.): hybrid-attention nested U-network, and the ablation variants of its Table 1.

Nodes ``x[i][j]``: ``i`` = depth (0 = full resolution, channels ``base * 2**i``), ``j`` = column.
Evaluation is column by column, top to bottom (Eq. 1; spec 3.2):

* ``x[i][0]`` (encoder, ``i > 0``): ``C(D(x[i-1][0]))``;
* ``x[0][j]`` (top row, ``j > 0``): ``M(x[0][j-1] + unify(U(x[1][j-1])))``: the up-sampled lower map is
  brought to the top-row width by a 1x1 conv and **added**; ``M`` is a dilated dense block followed by an
  A-part (Han-Net) or a 1x1 transition (dense top without attention), or a conv block (NUNet);
* ``x[i][j]`` (nested, ``i, j > 0``, ``i + j <= 4``): ``C([x[i][0..j-1], D(x[i-1][j]), U(x[i+1][j-1])])``;
* output: 1x1 conv of ``x[0][4]`` to 3 classes (logits; softmax is applied by the loss / at inference).

``C`` is a conv block (two 3x3 conv-norm-ReLU; batch or instance norm) or, with ``attention=True``, a hybrid
attention block.
``D`` = 2x2 max pooling, ``U`` = bilinear up-sampling (align_corners=False). ``nested=False`` gives the
plain UNet of Table 1: encoder ``x[i][0]`` and decoder ``x[i][4-i] = C([x[i][0], U(x[i+1][3-i])])``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from biomedai.nn.dense_dilated import DenseDilatedBlock, norm_layer
from biomedai.nn.hybrid_attention import HybridAttentionBlock

__all__ = ["ConvBlock", "HanNet", "PEER_VARIANT", "UNetPlusPlusPeer", "VARIANTS", "build_model",
           "count_parameters"]

#: Table 1 variants -> (nested, dense_top, attention)
VARIANTS: dict[str, tuple[bool, bool, bool]] = {
    "unet": (False, False, False),
    "nunet": (True, False, False),
    "nunet_attention": (True, False, True),
    "nunet_dense_top": (True, True, False),
    "hannet": (True, True, True),
}


class ConvBlock(nn.Sequential):
    """Two 3x3 conv -> norm -> ReLU layers (the UNet/UNet++ "conv block")."""

    def __init__(self, in_channels: int, out_channels: int, norm: str = "batch") -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), norm_layer(2, out_channels, norm),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False), norm_layer(2, out_channels, norm),
            nn.ReLU(inplace=True))


class _TopNode(nn.Module):
    """A top-row node: dense dilated block + A-part / 1x1 transition, or a conv block."""

    def __init__(self, in_channels: int, out_channels: int, dense: bool, attention: bool, dilation: int,
                 dense_layers: int, growth_rate: int, drop_rate: float, kernels: Sequence[int],
                 reduction: int, norm: str = "batch") -> None:
        super().__init__()
        if dense:
            block = DenseDilatedBlock(2, in_channels, dense_layers, growth_rate, dilation, drop_rate, norm)
            if attention:
                after: nn.Module = HybridAttentionBlock(2, block.out_channels, out_channels, kernels, reduction,
                                                        norm)
            else:
                after = nn.Sequential(norm_layer(2, block.out_channels, norm), nn.ReLU(inplace=True),
                                      nn.Conv2d(block.out_channels, out_channels, 1, bias=False))
            self.body: nn.Module = nn.Sequential(block, after)
        elif attention:
            self.body = HybridAttentionBlock(2, in_channels, out_channels, kernels, reduction, norm)
        else:
            self.body = ConvBlock(in_channels, out_channels, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class HanNet(nn.Module):
    """Han-Net and its ablations as one ``nn.Module`` (2D, channels first, any size divisible by 16).

    Args:
        in_channels: image channels (3 for RGB).
        out_channels: classes (3: background, inside, boundary).
        base_channels: channels at full resolution; depth ``i`` has ``base_channels * 2**i``
            (64 gives the paper's 64..1024; smaller values are the width multiplier for CPUs).
        nested: nested U-network (NUNet) rather than a plain UNet.
        dense_top: dilated dense blocks in the top row (needs ``nested``).
        attention: hybrid attention blocks (A-part) in place of conv blocks and after dense blocks.
        dense_layers, growth_rate, dilations: dense blocks (6, 16, (2, 4, 8, 4, 2) in the paper);
            one dilation per top-row block.
        drop_rate: dropout after every dense layer (the paper's "drop rate 0.1").
        attention_kernels, se_reduction: the A-part's branch kernel sizes and SE reduction ratio.
        norm: "batch" or "instance" normalisation in every block (the paper does not say).
    """

    depth = 5

    def __init__(self, in_channels: int = 3, out_channels: int = 3, base_channels: int = 64, *,
                 nested: bool = True, dense_top: bool = True, attention: bool = True, dense_layers: int = 6,
                 growth_rate: int = 16, dilations: Sequence[int] = (2, 4, 8, 4, 2), drop_rate: float = 0.1,
                 attention_kernels: Sequence[int] = (3, 1), se_reduction: int = 16, norm: str = "batch") -> None:
        super().__init__()
        if dense_top and not nested:
            raise ValueError("dense_top needs the nested network (nested=True)")
        if len(tuple(dilations)) != self.depth:
            raise ValueError(f"dilations needs {self.depth} values (one per top-row block), got {tuple(dilations)}")
        if base_channels < 1:
            raise ValueError(f"base_channels must be >= 1, got {base_channels}")
        self.nested, self.dense_top, self.attention = nested, dense_top, attention
        ch = [base_channels * 2**i for i in range(self.depth)]
        self.channels = ch
        kernels = tuple(attention_kernels)

        def block(cin: int, cout: int) -> nn.Module:
            return (HybridAttentionBlock(2, cin, cout, kernels, se_reduction, norm) if attention
                    else ConvBlock(cin, cout, norm))

        def top(cin: int, j: int) -> nn.Module:
            return _TopNode(cin, ch[0], dense_top, attention, int(dilations[j]), dense_layers, growth_rate,
                            drop_rate, kernels, se_reduction, norm)

        self.nodes = nn.ModuleDict()
        self.unify = nn.ModuleDict()
        if dense_top:  # x[0][0]: a stem conv brings the image to the top-row width, then the first dense block
            self.stem = nn.Sequential(nn.Conv2d(in_channels, ch[0], 3, padding=1, bias=False),
                                      norm_layer(2, ch[0], norm), nn.ReLU(inplace=True))
            self.nodes["0_0"] = top(ch[0], 0)
        else:
            self.stem = nn.Identity()
            self.nodes["0_0"] = block(in_channels, ch[0])
        for i in range(1, self.depth):
            self.nodes[f"{i}_0"] = block(ch[i - 1], ch[i])
        if nested:
            for j in range(1, self.depth):
                self.unify[f"{j}"] = nn.Conv2d(ch[1], ch[0], 1)
                self.nodes[f"0_{j}"] = top(ch[0], j)
                for i in range(1, self.depth - j):
                    cin = j * ch[i] + ch[i - 1] + ch[i + 1]
                    self.nodes[f"{i}_{j}"] = block(cin, ch[i])
        else:
            for i in range(self.depth - 2, -1, -1):
                self.nodes[f"{i}_{self.depth - 1 - i}"] = block(ch[i] + ch[i + 1], ch[i])
        self.head = nn.Conv2d(ch[0], out_channels, 1)

    @staticmethod
    def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.depth
        if x.shape[-1] % 2 ** (n - 1) or x.shape[-2] % 2 ** (n - 1):
            raise ValueError(f"HanNet needs a size divisible by {2 ** (n - 1)}, got {tuple(x.shape[-2:])}")
        grid: list[list[torch.Tensor | None]] = [[None] * n for _ in range(n)]
        grid[0][0] = self.nodes["0_0"](self.stem(x))
        for i in range(1, n):
            grid[i][0] = self.nodes[f"{i}_0"](F.max_pool2d(grid[i - 1][0], 2))
        if not self.nested:
            for i in range(n - 2, -1, -1):
                below = grid[i + 1][n - 2 - i]
                skip = grid[i][0]
                grid[i][n - 1 - i] = self.nodes[f"{i}_{n - 1 - i}"](torch.cat([skip, self._up(below, skip)], 1))
            return self.head(grid[0][n - 1])
        for j in range(1, n):
            prev = grid[0][j - 1]
            grid[0][j] = self.nodes[f"0_{j}"](prev + self.unify[f"{j}"](self._up(grid[1][j - 1], prev)))
            for i in range(1, n - j):
                same_row = [grid[i][k] for k in range(j)]
                down = F.max_pool2d(grid[i - 1][j], 2)
                up = self._up(grid[i + 1][j - 1], down)
                grid[i][j] = self.nodes[f"{i}_{j}"](torch.cat(same_row + [down, up], 1))
        return self.head(grid[0][n - 1])


#: the peer of the comparisons (MONAI BasicUNetPlusPlus) as a variant of this method: at equal CPU time it beats
#: Han-Net (benchmarks/results/RESULTS-nuclei_hannet.md), so the bundled default model uses it
PEER_VARIANT = "unetpp"


class UNetPlusPlusPeer(nn.Module):
    """MONAI ``BasicUNetPlusPlus`` with features ``(b, b, 2b, 4b, 8b, b)``, 3 output classes, first output only.

    ``base_channels=32`` is MONAI's default width (2.4 M parameters); ``16`` has 0.6 M.
    """

    def __init__(self, base_channels: int = 32, norm: str = "instance", drop_rate: float = 0.0) -> None:
        super().__init__()
        from monai.networks.nets import BasicUNetPlusPlus

        b = base_channels
        norm_arg = ("instance", {"affine": True}) if norm == "instance" else ("batch", {"eps": 1e-3, "momentum": 0.1})
        self.net = BasicUNetPlusPlus(spatial_dims=2, in_channels=3, out_channels=3,
                                     features=(b, b, 2 * b, 4 * b, 8 * b, b), norm=norm_arg, dropout=drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[0]


def build_model(variant: str = "hannet", base_channels: int = 64, **kwargs: object) -> nn.Module:
    """The Table 1 variant ``variant`` (one of :data:`VARIANTS`, or :data:`PEER_VARIANT`) with the given width.

    The peer variant uses only ``norm`` of the options (``drop_rate`` is not applied: the comparisons trained it
    without dropout).

    >>> m = build_model("unet", base_channels=4)
    >>> m(torch.zeros(1, 3, 32, 32)).shape
    torch.Size([1, 3, 32, 32])
    """
    if variant == PEER_VARIANT:
        return UNetPlusPlusPeer(base_channels, norm=str(kwargs.get("norm", "instance")))
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {sorted(VARIANTS) + [PEER_VARIANT]}")
    nested, dense_top, attention = VARIANTS[variant]
    return HanNet(base_channels=base_channels, nested=nested, dense_top=dense_top, attention=attention,
                  **kwargs)  # type: ignore[arg-type]


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
