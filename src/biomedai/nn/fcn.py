"""Turn a patch classifier (convolutional trunk + flatten + ``Linear``) into a fully convolutional network.

Long et al. (2015), as used by Liu et al. (2020) for Ki-67: the classifier's ``Linear(C*h*w, K)``
becomes a ``Conv2d(C, K, kernel_size=(h, w))`` with the same weights, so the network accepts any
input size and returns a ``K``-channel score map. Map position ``(i, j)`` corresponds to the input
window whose top-left corner is ``(i * stride, j * stride)`` and whose size is the classifier's patch.

For a trunk without zero padding (or with padding that never reaches a window's border) the map
equals the classifier run on each window exactly; for a padded trunk such as ResNet18 the windows'
borders see real neighbours instead of zeros, so the map is close but not identical
(:func:`sliding_window_classify` is the naive reference to compare with). A residual network can be
made exact by construction: padding-free convolutions and pooling, shortcuts cropped to the main
branch at a fixed offset (``biomedai.methods.ki67.networks.Ki67ValidResNet18``).

Example:
    >>> import torch
    >>> trunk = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2))
    >>> fc = torch.nn.Linear(4 * 7 * 7, 2)
    >>> fcn = classifier_to_fcn(trunk, fc, patch_size=16)
    >>> fcn.stride, tuple(fcn(torch.zeros(1, 3, 32, 48)).shape)
    (2, (1, 2, 9, 17))
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from biomedai.errors import InvalidInputError


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    pair = (int(value), int(value)) if np.isscalar(value) else tuple(int(v) for v in value)
    if len(pair) != 2 or min(pair) < 1:
        raise InvalidInputError(f"{name} must be a positive int or (rows, cols), got {value!r}")
    return pair  # type: ignore[return-value]


@torch.no_grad()
def _feature_shape(trunk: nn.Module, size: tuple[int, int], in_channels: int) -> tuple[int, int, int]:
    was_training = trunk.training
    trunk.eval()
    try:
        param = next(iter(trunk.parameters()), None)
        device = param.device if param is not None else torch.device("cpu")
        dtype = param.dtype if param is not None else torch.float32
        out = trunk(torch.zeros(1, in_channels, *size, device=device, dtype=dtype))
    finally:
        trunk.train(was_training)
    if out.ndim != 4:
        raise InvalidInputError(f"the trunk must return a [N, C, H, W] feature map, got shape {tuple(out.shape)}")
    return int(out.shape[1]), int(out.shape[2]), int(out.shape[3])


def linear_to_conv(fc: nn.Linear, feature_shape: tuple[int, int, int]) -> nn.Conv2d:
    """A ``Conv2d`` computing ``fc`` on every ``(h, w)`` window of a ``(C, H, W)`` map.

    ``feature_shape`` is ``(C, h, w)`` of the map the classifier flattens (``torch.flatten`` order).
    """
    c, h, w = feature_shape
    if fc.in_features != c * h * w:
        raise InvalidInputError(f"Linear has {fc.in_features} inputs but the trunk gives {c}x{h}x{w} = {c * h * w}")
    conv = nn.Conv2d(c, fc.out_features, kernel_size=(h, w), bias=fc.bias is not None)
    conv = conv.to(device=fc.weight.device, dtype=fc.weight.dtype)
    with torch.no_grad():
        conv.weight.copy_(fc.weight.reshape(fc.out_features, c, h, w))
        if fc.bias is not None:
            conv.bias.copy_(fc.bias)
    return conv


class FullyConvolutional(nn.Module):
    """``trunk`` followed by the converted head; optionally softmax over the class channel.

    Attributes:
        patch_size: ``(rows, cols)`` of the classifier's input window.
        stride: pixels between adjacent map positions (the trunk's total stride).
    """

    def __init__(self, trunk: nn.Module, head: nn.Conv2d, patch_size: tuple[int, int], stride: int,
                 softmax: bool = False) -> None:
        super().__init__()
        self.trunk, self.head = trunk, head
        self.patch_size, self.stride, self.softmax = patch_size, int(stride), softmax

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[-2] < self.patch_size[0] or x.shape[-1] < self.patch_size[1]:
            raise InvalidInputError(f"FCN input must be [N, C, H, W] with H, W >= {self.patch_size}, "
                                    f"got {tuple(x.shape)}")
        scores = self.head(self.trunk(x))
        return torch.softmax(scores, dim=1) if self.softmax else scores

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Number of windows ``(rows, cols)`` lying fully inside a ``height x width`` input.

        The network itself may return one more row/column at the bottom/right edge (windows that
        stick out of the image, seen through the trunk's padding); those come last in its map.
        """
        return ((height - self.patch_size[0]) // self.stride + 1, (width - self.patch_size[1]) // self.stride + 1)


def classifier_to_fcn(trunk: nn.Module, fc: nn.Linear, patch_size: int | Sequence[int], in_channels: int = 3,
                      softmax: bool = False) -> FullyConvolutional:
    """Convert ``fc(flatten(trunk(x)))`` on ``patch_size`` inputs into a :class:`FullyConvolutional`.

    The trunk is shared (not copied). The stride is measured by running the trunk on the patch
    and on a patch one stride-multiple larger; a trunk whose map does not grow linearly is refused.
    """
    patch = _pair(patch_size, "patch_size")
    c, h, w = _feature_shape(trunk, patch, in_channels)
    _, h2, w2 = _feature_shape(trunk, (2 * patch[0], 2 * patch[1]), in_channels)
    if h2 <= h or w2 <= w or patch[0] % (h2 - h) or patch[1] % (w2 - w):
        raise InvalidInputError(f"cannot infer an integer stride: a {patch} patch gives a {h}x{w} map and "
                                f"a {2 * patch[0]}x{2 * patch[1]} input a {h2}x{w2} map")
    stride_y, stride_x = patch[0] // (h2 - h), patch[1] // (w2 - w)
    if stride_y != stride_x:
        raise InvalidInputError(f"the trunk's strides differ between rows ({stride_y}) and columns ({stride_x})")
    return FullyConvolutional(trunk, linear_to_conv(fc, (c, h, w)), patch, stride_y, softmax)


@torch.no_grad()
def sliding_window_classify(classifier: nn.Module, image: torch.Tensor, patch_size: int | Sequence[int], stride: int,
                            batch_size: int = 256, softmax: bool = False) -> torch.Tensor:
    """The naive reference: crop every window at ``stride`` and classify it on its own.

    ``image`` is ``[C, H, W]``; returns ``[K, rows, cols]`` for the windows fully inside the image,
    i.e. the first ``rows x cols`` positions of the FCN map.
    """
    if image.ndim != 3:
        raise InvalidInputError(f"image must be [C, H, W], got shape {tuple(image.shape)}")
    ph, pw = _pair(patch_size, "patch_size")
    rows, cols = (image.shape[1] - ph) // stride + 1, (image.shape[2] - pw) // stride + 1
    if rows < 1 or cols < 1:
        raise InvalidInputError(f"image {tuple(image.shape[1:])} is smaller than the patch {(ph, pw)}")
    origins = [(r * stride, c * stride) for r in range(rows) for c in range(cols)]
    outputs = []
    for start in range(0, len(origins), batch_size):
        batch = torch.stack([image[:, y:y + ph, x:x + pw] for y, x in origins[start:start + batch_size]])
        scores = classifier(batch)
        outputs.append(torch.softmax(scores, dim=1) if softmax else scores)
    return torch.cat(outputs).T.reshape(-1, rows, cols)


@torch.no_grad()
def fcn_map_tiled(fcn: FullyConvolutional, image: torch.Tensor, tile: int | None = None) -> torch.Tensor:
    """Run the FCN on ``image`` ``[C, H, W]``, in one pass or in stride-aligned tiles.

    Tiles start at multiples of the stride and overlap by ``patch - stride`` pixels, so their maps
    join without gaps or duplicates into the one-pass map's grid (the last tile in each direction
    keeps whatever edge positions the network returns, as the one pass does). ``tile`` is the tile
    side in pixels (rounded down to a multiple of the stride, at least patch + stride); None means
    one pass. Returns ``[K, rows, cols]`` on the input's device. Values equal the one pass exactly
    for padding-free trunks; with a padded trunk, positions near a tile border see the padding
    instead of the neighbouring tile (like separate ROIs), so large tiles keep the difference small.
    """
    if image.ndim != 3:
        raise InvalidInputError(f"image must be [C, H, W], got shape {tuple(image.shape)}")
    height, width = (int(v) for v in image.shape[1:])
    if height < fcn.patch_size[0] or width < fcn.patch_size[1]:
        raise InvalidInputError(f"image {(height, width)} is smaller than the patch {fcn.patch_size}")
    if tile is None:
        return fcn(image[None])[0]
    s, (ph, pw) = fcn.stride, fcn.patch_size
    tile = max(int(tile) // s * s, max(ph, pw) // s * s + s)
    n_r, n_c = (tile - ph) // s + 1, (tile - pw) // s + 1  # map positions per interior tile
    row_blocks = []
    r0 = 0
    while True:
        last_r = (r0 + n_r) * s + ph > height  # no full window after this tile
        y1 = height if last_r else r0 * s + (n_r - 1) * s + ph
        blocks, c0 = [], 0
        while True:
            last_c = (c0 + n_c) * s + pw > width
            x1 = width if last_c else c0 * s + (n_c - 1) * s + pw
            part = fcn(image[None, :, r0 * s:y1, c0 * s:x1])[0]
            blocks.append(part if last_c else part[:, :, :n_c])
            if last_c:
                break
            c0 += n_c
        row = torch.cat(blocks, dim=2)
        row_blocks.append(row if last_r else row[:, :n_r])
        if last_r:
            break
        r0 += n_r
    return torch.cat(row_blocks, dim=1)
