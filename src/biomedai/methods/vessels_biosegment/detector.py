"""A light one-stage anchor-free box detector (CenterNet-style heads on a small dilated CNN), written here
(no YOLO/AGPL code; spec 4.3 uses YOLOv4-tiny, which the issue rules out of the core).

The network maps a one-channel plane to three maps at ``stride`` 4: a box-centre heat map (1 channel,
sigmoid), the sub-cell offset of the centre (2) and the box size in units of the configured box side (2).
Training targets are Gaussian peaks at the centres of the boxes generated along the polylines.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def _block(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class VesselBoxDetector(nn.Module):
    """Backbone stride 4 (two stride-2 blocks), dilated context blocks, and three 1x1 heads.

    Example:
        >>> out = VesselBoxDetector(width=8)(torch.zeros(2, 1, 64, 64))
        >>> [tuple(v.shape) for v in out.values()]
        [(2, 1, 16, 16), (2, 2, 16, 16), (2, 2, 16, 16)]
    """

    stride = 4

    def __init__(self, width: int = 24, in_channels: int = 1) -> None:
        super().__init__()
        w = int(width)
        self.backbone = nn.Sequential(
            _block(in_channels, w), _block(w, w), _block(w, 2 * w, stride=2), _block(2 * w, 2 * w),
            _block(2 * w, 2 * w, stride=2), _block(2 * w, 2 * w, dilation=2), _block(2 * w, 2 * w, dilation=4),
            _block(2 * w, 2 * w, dilation=8), _block(2 * w, 2 * w))
        self.heatmap = nn.Conv2d(2 * w, 1, 1)
        self.offset = nn.Conv2d(2 * w, 2, 1)
        self.size = nn.Conv2d(2 * w, 2, 1)
        nn.init.constant_(self.heatmap.bias, -2.19)  # prior 0.1, as CenterNet

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.backbone(x)
        return {"heatmap": self.heatmap(f), "offset": self.offset(f), "size": self.size(f)}


def detection_targets(centres_xy: np.ndarray, sizes_wh: np.ndarray, shape: tuple[int, int], box_size: float,
                      stride: int = 4, sigma: float = 1.0) -> dict[str, np.ndarray]:
    """Heat map (max of Gaussians at each centre cell), offset and size targets and their mask, at ``stride``.

    Example:
        >>> t = detection_targets(np.array([[10.0, 10.0]]), np.array([[16.0, 16.0]]), (32, 32), 16)
        >>> float(t["heatmap"].max()), int(t["mask"].sum())
        (1.0, 1)
    """
    gh, gw = shape[0] // stride, shape[1] // stride
    heat = np.zeros((gh, gw), np.float32)
    offset = np.zeros((2, gh, gw), np.float32)
    size = np.zeros((2, gh, gw), np.float32)
    mask = np.zeros((gh, gw), np.float32)
    yy, xx = np.mgrid[0:gh, 0:gw]
    for (cx, cy), (bw, bh) in zip(np.asarray(centres_xy, float).reshape(-1, 2), np.asarray(sizes_wh).reshape(-1, 2)):
        gx, gy = cx / stride, cy / stride
        ix, iy = int(gx), int(gy)
        if not (0 <= ix < gw and 0 <= iy < gh):
            continue
        r = int(3 * sigma) + 1
        y0, y1, x0, x1 = max(iy - r, 0), min(iy + r + 1, gh), max(ix - r, 0), min(ix + r + 1, gw)
        g = np.exp(-((xx[y0:y1, x0:x1] - ix) ** 2 + (yy[y0:y1, x0:x1] - iy) ** 2) / (2 * sigma ** 2))
        heat[y0:y1, x0:x1] = np.maximum(heat[y0:y1, x0:x1], g)
        offset[:, iy, ix] = (gx - ix, gy - iy)
        size[:, iy, ix] = (bw / box_size, bh / box_size)
        mask[iy, ix] = 1.0
    return {"heatmap": heat, "offset": offset, "size": size, "mask": mask}


def centre_focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 2.0,
                      beta: float = 4.0) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss on a Gaussian heat map (normalised by the number of peaks)."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1).float()
    pos_loss = -torch.log(p) * (1 - p) ** alpha * pos
    neg_loss = -torch.log(1 - p) * p ** alpha * (1 - target) ** beta * (1 - pos)
    return (pos_loss.sum() + neg_loss.sum()) / pos.sum().clamp(min=1.0)


def detection_loss(out: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> torch.Tensor:
    """Focal heat-map loss + L1 on offset and size at the centre cells (CenterNet weights 1, 1, 0.1)."""
    mask = target["mask"].unsqueeze(1)
    n = mask.sum().clamp(min=1.0)
    off = (F.l1_loss(out["offset"], target["offset"], reduction="none") * mask).sum() / n
    size = (F.l1_loss(out["size"], target["size"], reduction="none") * mask).sum() / n
    return centre_focal_loss(out["heatmap"], target["heatmap"].unsqueeze(1)) + off + 0.1 * size


def decode_detections(out: dict[str, torch.Tensor], box_size: float, score: float = 0.5,
                      stride: int = 4) -> np.ndarray:
    """Boxes ``(x0, y0, x1, y1, score)`` at the local maxima (3x3) of the heat map above ``score`` (one image)."""
    heat = torch.sigmoid(out["heatmap"])
    peaks = (heat == F.max_pool2d(heat, 3, stride=1, padding=1)) & (heat >= score)
    iy, ix = np.nonzero(peaks[0, 0].cpu().numpy())
    if iy.size == 0:
        return np.zeros((0, 5), np.float32)
    off = out["offset"][0].cpu().numpy()
    size = out["size"][0].cpu().numpy()
    cx = (ix + off[0, iy, ix]) * stride
    cy = (iy + off[1, iy, ix]) * stride
    w = np.clip(size[0, iy, ix], 0.1, 4) * box_size
    h = np.clip(size[1, iy, ix], 0.1, 4) * box_size
    s = heat[0, 0].cpu().numpy()[iy, ix]
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, s], axis=1).astype(np.float32)


def detector_maps(net: nn.Module, x: np.ndarray) -> dict[str, torch.Tensor]:
    """Run the detector on a whole plane (padded to a multiple of 16, outputs cropped back)."""
    net.eval()
    h, w = x.shape
    ph, pw = (-h) % 16, (-w) % 16
    t = torch.from_numpy(np.pad(np.asarray(x, np.float32), ((0, ph), (0, pw)), mode="reflect"))[None, None]
    with torch.inference_mode():
        out = net(t)
    gh, gw = -(-h // net.stride), -(-w // net.stride)
    return {k: v[..., :gh, :gw] for k, v in out.items()}
