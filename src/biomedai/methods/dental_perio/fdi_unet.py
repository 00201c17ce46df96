"""The bundled teeth model: a compact U-Net over the 32 FDI classes (+ background) and the instance splitting.

Not the paper's method (Deetal-Perio uses two Mask R-CNNs and the calibration, see ``model.py``): this is
the model that numbers teeth best within the CPU budget of a bundled model (see the README and
``models/default/MODEL.md``). The network sees the film resized to ``input_size`` x ``input_size`` (aspect
ratio not kept, as the UFBA films themselves are squeezed to 512 x 512) plus two coordinate channels (x and y
in [-1, 1], so the side and arch of a tooth are easy to learn); its first convolution has stride 2 and its
output is upsampled twice, which makes it about 5x faster on a CPU than MONAI's UNet of similar width
(measured in the README). Each FDI class of the arg-max map splits into connected components; every
component of at least ``min_pixels`` becomes a numbered tooth instance scored by its mean class probability
(components other than the largest of their class are down-weighted).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .calibration import FDI_NUMBERS
from .data import CLASS_TO_FDI, FDI_TO_CLASS, ToothInstances

N_CLASSES = 1 + len(FDI_NUMBERS)
#: the class index of each class after a left-right flip of the film (FDI 1x <-> 2x, 4x <-> 3x)
_MIRROR_FDI = {1: 2, 2: 1, 3: 4, 4: 3}
FLIP_CLASS = np.array([0] + [FDI_TO_CLASS[_MIRROR_FDI[f // 10] * 10 + f % 10] for f in FDI_NUMBERS], np.int64)


def _double_conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
                         nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class FDIUNet(nn.Module):
    """U-Net with a stride-2 stem and coordinate channels; ``forward`` returns logits at the input size.

    Parameters
    ----------
    channels : sequence of int
        Widths of the encoder levels (the first at half the input resolution).
    n_classes : int
        Output classes (33: background + 32 FDI teeth).

    >>> net = FDIUNet((8, 16, 32))
    >>> tuple(net(torch.zeros(1, 1, 64, 64)).shape)
    (1, 33, 64, 64)
    """

    def __init__(self, channels: Sequence[int] = (16, 32, 64, 128, 256), n_classes: int = N_CLASSES) -> None:
        super().__init__()
        ch = [int(c) for c in channels]
        self.channels = ch
        self.stem = nn.Sequential(nn.Conv2d(3, ch[0], 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(ch[0]),
                                  nn.ReLU(inplace=True))
        self.encoder = nn.ModuleList([_double_conv(ch[0], ch[0])] + [_double_conv(ch[i - 1], ch[i])
                                                                      for i in range(1, len(ch))])
        self.up = nn.ModuleList([nn.ConvTranspose2d(ch[i], ch[i - 1], 2, stride=2) for i in range(len(ch) - 1, 0, -1)])
        self.decoder = nn.ModuleList([_double_conv(2 * ch[i - 1], ch[i - 1]) for i in range(len(ch) - 1, 0, -1)])
        self.head = nn.Conv2d(ch[0], n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        ys = torch.linspace(-1, 1, h, device=x.device, dtype=x.dtype).view(1, 1, h, 1).expand(b, 1, h, w)
        xs = torch.linspace(-1, 1, w, device=x.device, dtype=x.dtype).view(1, 1, 1, w).expand(b, 1, h, w)
        feats = self.stem(torch.cat([x, xs, ys], 1))
        skips = []
        for level, block in enumerate(self.encoder):
            if level:
                feats = F.max_pool2d(feats, 2)
            feats = block(feats)
            skips.append(feats)
        skips.pop()
        for up, block in zip(self.up, self.decoder):
            feats = block(torch.cat([up(feats), skips.pop()], 1))
        return F.interpolate(self.head(feats), size=(h, w), mode="bilinear", align_corners=False)


def build_fdi_unet(architecture: dict[str, Any]) -> FDIUNet:
    """The network of a model folder's ``architecture`` (``{"kind": "fdi_unet", "channels": [...]}``)."""
    return FDIUNet(architecture.get("channels", (16, 32, 64, 128, 256)))


def film_tensor(image: np.ndarray, size: int) -> torch.Tensor:
    """A uint8 film as a (1, size, size) float tensor in [0, 1] (anti-aliased resize, aspect not kept)."""
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32) / 255.0)[None, None]
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0]


def normalise(x: torch.Tensor) -> torch.Tensor:
    """Per-film zero mean, unit variance (over the last two axes)."""
    mean = x.mean(dim=(-2, -1), keepdim=True)
    return (x - mean) / (x.std(dim=(-2, -1), keepdim=True) + 1e-6)


@torch.no_grad()
def fdi_probabilities(model: nn.Module, image: np.ndarray, input_size: int, max_side: int = 1024) -> np.ndarray:
    """Class probabilities (33, H', W') of one film at its own size (or scaled so the longer side is
    ``max_side``; the caller resizes masks back)."""
    model.eval()
    h, w = image.shape
    scale = min(1.0, max_side / max(h, w))
    out_hw = (max(1, round(h * scale)), max(1, round(w * scale)))
    logits = model(normalise(film_tensor(image, input_size))[None])
    logits = F.interpolate(logits, size=out_hw, mode="bilinear", align_corners=False)
    return torch.softmax(logits[0], 0).numpy()


def instances_from_probabilities(probs: np.ndarray, out_shape: tuple[int, int], min_pixels: int = 30,
                                 secondary_weight: float = 0.5) -> ToothInstances:
    """Numbered teeth from class probabilities: connected components of each FDI class of the arg-max map.

    ``min_pixels`` is counted at the resolution of ``probs``; masks are resized (nearest) to ``out_shape``.
    Each component scores its mean class probability; every component but the largest of its class is
    multiplied by ``secondary_weight`` (a class should be one tooth).
    """
    from scipy import ndimage

    label = probs.argmax(0)
    top = probs.max(0)
    fdi, masks, scores = [], [], []
    for cls in np.unique(label):
        if cls == 0:
            continue
        comps, n = ndimage.label(label == cls)
        if n == 0:
            continue
        sizes = np.bincount(comps.ravel())[1:]
        slices = ndimage.find_objects(comps)
        for rank, k in enumerate(np.argsort(-sizes)):
            if sizes[k] < min_pixels:
                break
            mask = np.zeros(label.shape, bool)
            mask[slices[k]] = ndimage.binary_fill_holes(comps[slices[k]] == k + 1)
            score = float(top[mask].mean()) * (1.0 if rank == 0 else secondary_weight)
            fdi.append(CLASS_TO_FDI[int(cls)])
            masks.append(mask)
            scores.append(score)
    masks_out = np.asarray([_resize_mask(m, out_shape) for m in masks], bool).reshape(-1, *out_shape)
    boxes = np.asarray([_box(m) for m in masks_out], float).reshape(-1, 4)
    return ToothInstances(np.asarray(fdi, int), masks_out, boxes, np.asarray(scores, float))


def _resize_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if mask.shape == tuple(shape):
        return mask
    rows = np.minimum((np.arange(shape[0]) + 0.5) * mask.shape[0] / shape[0], mask.shape[0] - 1).astype(int)
    cols = np.minimum((np.arange(shape[1]) + 0.5) * mask.shape[1] / shape[1], mask.shape[1] - 1).astype(int)
    return mask[np.ix_(rows, cols)]


def _box(mask: np.ndarray) -> list[float]:
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if not len(rows):
        return [0.0, 0.0, 0.0, 0.0]
    return [float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)]


def detect_numbered_teeth(model: nn.Module, image: np.ndarray, input_size: int, min_pixels: int = 30,
                          secondary_weight: float = 0.5) -> ToothInstances:
    """The bundled model's numbered teeth on one uint8 film (masks at the film's size)."""
    probs = fdi_probabilities(model, image, input_size)
    return instances_from_probabilities(probs, image.shape, min_pixels=min_pixels, secondary_weight=secondary_weight)
