"""Baselines run beside the 3-D Mask R-CNN (spec 1.6 and the issue):

* **slice-wise 2-D Mask R-CNN** (torchvision's ``MaskRCNN`` on a light 2-D ResNet-FPN as wide as the light 3-D
  model), in both modes of Table 2: "3-D DBT" (every slice, detections linked across adjacent slices into 3-D
  boxes - our reading of a merge the paper does not describe) and "2-D DBT" (only the slice where the mass is
  widest);
* **SFCM** (spatial fuzzy C-means) inside the 3-D model's boxes, the paper's segmentation baseline (Table 4);
* **3-D U-Net + connected components** (MONAI ``UNet``; component score = its highest probability), the simple
  detector practitioners often find hard to beat (beyond the paper).
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from scipy import ndimage
from torch import nn

from biomedai.data.tiling import predict_tiled

from .data import ViewRecord
from .geometry import box_iou_3d, nms_3d
from .inference import VolumeDetections

logger = logging.getLogger(__name__)

__all__ = ["LightBackbone2d", "build_mask_rcnn_2d", "SliceDataset", "collate_slices", "detect_slices",
           "link_slices", "max_diameter_slice", "build_unet", "UNetPatchDataset", "unet_components", "sfcm_segment",
           "sfcm_masks"]


class LightBackbone2d(nn.Module):
    """A narrow 2-D ResNet-FPN for torchvision's ``MaskRCNN`` (strides 2 and 4 like the light 3-D P2-P3)."""

    def __init__(self, widths: Sequence[int] = (8, 16, 24), out_channels: int = 16) -> None:
        super().__init__()
        from torchvision.ops import FeaturePyramidNetwork

        def block(cin: int, cout: int, stride: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.GroupNorm(4, cout), nn.ReLU(True),
                                 nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.GroupNorm(4, cout), nn.ReLU(True))

        self.stem = nn.Sequential(nn.Conv2d(1, widths[0], 3, 2, 1, bias=False), nn.GroupNorm(4, widths[0]),
                                  nn.ReLU(True))
        self.layer1 = block(widths[0], widths[1], 1)
        self.layer2 = block(widths[1], widths[2], 2)
        self.fpn = FeaturePyramidNetwork([widths[1], widths[2]], out_channels)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        c2 = self.layer1(self.stem(x))
        c3 = self.layer2(c2)
        return self.fpn(OrderedDict([("0", c2), ("1", c3)]))


def build_mask_rcnn_2d(image_size: int, anchor_sizes: Sequence[float] = (8.0, 16.0)) -> nn.Module:
    """torchvision ``MaskRCNN`` (2 classes) on :class:`LightBackbone2d`, 32 ROIs per image at 3:2 and heads as narrow
    as the light 3-D model's (box MLP 128, mask convs 16 channels)."""
    from torchvision.models.detection import MaskRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
    from torchvision.ops import MultiScaleRoIAlign

    anchors = AnchorGenerator(sizes=tuple((a, a * 1.5) for a in anchor_sizes),
                              aspect_ratios=((0.5, 1.0, 2.0),) * len(anchor_sizes))
    return MaskRCNN(LightBackbone2d(), num_classes=None, min_size=image_size, max_size=image_size,
                    image_mean=[0.0], image_std=[1.0], rpn_anchor_generator=anchors,
                    box_roi_pool=MultiScaleRoIAlign(["0", "1"], 7, 2), mask_roi_pool=MultiScaleRoIAlign(["0", "1"], 14, 2),
                    box_batch_size_per_image=32, box_positive_fraction=0.6, rpn_pre_nms_top_n_train=300,
                    rpn_post_nms_top_n_train=48, rpn_pre_nms_top_n_test=300, rpn_post_nms_top_n_test=32,
                    box_score_thresh=0.05, box_nms_thresh=0.3, box_detections_per_img=10,
                    box_head=TwoMLPHead(16 * 7 * 7, 128), box_predictor=FastRCNNPredictor(128, 2),
                    mask_head=MaskRCNNHeads(16, [16, 16, 16, 16], 1),
                    mask_predictor=MaskRCNNPredictor(16, 16, 2))


def _box2d(mask: np.ndarray) -> np.ndarray:
    idx = np.argwhere(mask)
    return np.array([idx[:, 1].min(), idx[:, 0].min(), idx[:, 1].max() + 1, idx[:, 0].max() + 1], np.float32)


class SliceDataset(torch.utils.data.Dataset):
    """Random slices (70 % through a mass) as torchvision detection samples: boxes ``(x0, y0, x1, y1)``."""

    def __init__(self, views: Sequence[ViewRecord], n_items: int, seed: int = 0, p_lesion: float = 0.7) -> None:
        self.views, self.n_items, self.seed, self.p_lesion = list(views), int(n_items), int(seed), float(p_lesion)

    def __len__(self) -> int:
        return self.n_items

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        rng = np.random.default_rng((self.seed, index))
        v = self.views[int(rng.integers(len(self.views)))]
        lesion = np.nonzero(v.mask.sum((1, 2)) >= 4)[0]
        z = int(rng.choice(lesion)) if lesion.size and rng.uniform() < self.p_lesion else int(rng.integers(v.volume.shape[0]))
        image, mask = v.volume[z], v.mask[z]
        if rng.uniform() < 0.5:
            image, mask = image[:, ::-1], mask[:, ::-1]
        if mask.sum() >= 4:
            target = {"boxes": torch.from_numpy(_box2d(mask))[None], "labels": torch.ones(1, dtype=torch.int64),
                      "masks": torch.from_numpy(np.ascontiguousarray(mask))[None].to(torch.uint8)}
        else:
            target = {"boxes": torch.zeros((0, 4)), "labels": torch.zeros(0, dtype=torch.int64),
                      "masks": torch.zeros((0,) + mask.shape, dtype=torch.uint8)}
        return torch.from_numpy(np.ascontiguousarray(image))[None], target


def collate_slices(items: list[Any]) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    """torchvision detection batches are lists."""
    return [i[0] for i in items], [i[1] for i in items]


def detect_slices(model: nn.Module, volume: np.ndarray, slices: Sequence[int] | None = None) -> list[dict[str, np.ndarray]]:
    """Run the 2-D model on the given slices (default all): per slice ``boxes (x0, y0, x1, y1)``, scores, masks."""
    model.eval()
    chosen = list(range(volume.shape[0])) if slices is None else list(slices)
    out = []
    with torch.no_grad():
        for start in range(0, len(chosen), 8):
            batch = [torch.from_numpy(np.ascontiguousarray(volume[z]))[None] for z in chosen[start:start + 8]]
            for r in model(batch):
                out.append({"boxes": r["boxes"].numpy(), "scores": r["scores"].numpy(),
                            "masks": r["masks"][:, 0].numpy() >= 0.5})
    return out


def link_slices(per_slice: list[dict[str, np.ndarray]], shape: Sequence[int], iou: float = 0.3,
                nms_iou: float = 0.3) -> VolumeDetections:
    """Merge slice detections into 3-D: greedily chain detections of adjacent slices whose 2-D IoU >= ``iou``.

    A chain's box spans its slices and the union of its 2-D boxes, its score is the highest slice score and its
    mask stacks the slice masks. Chains are then reduced by 3-D NMS.
    """
    items = [(z, k) for z, r in enumerate(per_slice) for k in range(r["scores"].size)]
    items.sort(key=lambda zk: -per_slice[zk[0]]["scores"][zk[1]])
    used: set[tuple[int, int]] = set()
    boxes, scores, masks = [], [], []
    for seed in items:
        if seed in used:
            continue
        chain = [seed]
        used.add(seed)
        for step in (-1, 1):  # grow up and down from the seed slice
            z, k = seed
            while 0 <= z + step < len(per_slice):
                prev = per_slice[z]["boxes"][k]
                nxt = per_slice[z + step]
                if nxt["scores"].size == 0:
                    break
                b = torch.as_tensor(nxt["boxes"])
                ious = box_iou_3d(_as3d(b), _as3d(torch.as_tensor(prev[None])))[:, 0].numpy()
                free = [j for j in np.argsort(-ious) if (z + step, int(j)) not in used and ious[j] >= iou]
                if not free:
                    break
                z, k = z + step, int(free[0])
                chain.append((z, k))
                used.add((z, k))
        zs = [z for z, _ in chain]
        b2 = np.stack([per_slice[z]["boxes"][k] for z, k in chain])
        boxes.append([min(zs), b2[:, 1].min(), b2[:, 0].min(), max(zs) + 1, b2[:, 3].max(), b2[:, 2].max()])
        scores.append(max(per_slice[z]["scores"][k] for z, k in chain))
        box = np.asarray(boxes[-1])
        lo = np.floor(box[:3]).astype(int)
        hi = np.minimum(np.ceil(box[3:]).astype(int), np.asarray(shape))
        crop = np.zeros(tuple(hi - lo), bool)
        for z, k in chain:
            crop[z - lo[0]] |= per_slice[z]["masks"][k][lo[1]:hi[1], lo[2]:hi[2]]
        masks.append(crop)
    if not boxes:
        return VolumeDetections.empty()
    boxes_np, scores_np = np.asarray(boxes, np.float32), np.asarray(scores, np.float32)
    keep = nms_3d(torch.from_numpy(boxes_np), torch.from_numpy(scores_np), nms_iou).numpy()
    return VolumeDetections(boxes_np[keep], scores_np[keep], [masks[k] for k in keep])


def _as3d(b: torch.Tensor) -> torch.Tensor:
    """2-D boxes ``(x0, y0, x1, y1)`` as unit-depth 3-D boxes (so 3-D IoU is the 2-D IoU)."""
    zeros, ones = torch.zeros(b.shape[0], 1, dtype=b.dtype), torch.ones(b.shape[0], 1, dtype=b.dtype)
    return torch.cat([zeros, b[:, 1:2], b[:, 0:1], ones, b[:, 3:4], b[:, 2:3]], 1)


def max_diameter_slice(mask: np.ndarray, spacing: Sequence[float]) -> int:
    """The slice where the mass is widest (largest in-plane extent in mm; ties: larger area)."""
    best, best_key = 0, (-1.0, -1)
    for z in range(mask.shape[0]):
        if mask[z].any():
            idx = np.argwhere(mask[z])
            extent = float(((idx.max(0) - idx.min(0) + 1) * np.asarray(spacing[1:])).max())
            key = (extent, int(mask[z].sum()))
            if key > best_key:
                best, best_key = z, key
    return best


def build_unet(channels: Sequence[int] = (8, 16, 32, 48)) -> nn.Module:
    """MONAI's 3-D U-Net (one input, one output channel) with in-plane-only first downsampling."""
    from monai.networks.nets import UNet

    strides = [(1, 2, 2)] + [(2, 2, 2)] * (len(channels) - 2)
    return UNet(spatial_dims=3, in_channels=1, out_channels=1, channels=tuple(channels), strides=strides,
                num_res_units=1, norm="instance")


class UNetPatchDataset(torch.utils.data.Dataset):
    """(image, mask) random crops for the U-Net: ``(1, z, y, x)`` float and ``(1, z, y, x)`` float."""

    def __init__(self, patches: torch.utils.data.Dataset) -> None:
        self.patches = patches

    def __len__(self) -> int:
        return len(self.patches)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, target = self.patches[index]
        masks = target["masks"]
        label = masks.any(0, keepdim=True).float() if masks.shape[0] else torch.zeros_like(image)
        return image, label


def unet_components(model: nn.Module, volume: np.ndarray, tile: Sequence[int], threshold: float = 0.5,
                    min_voxels: int = 10) -> VolumeDetections:
    """U-Net probabilities blended over tiles, thresholded, split into connected components (score = max prob)."""
    model.eval()

    def prob(batch: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(model(batch))

    p = predict_tiled(volume.astype(np.float32), prob, tile=tuple(tile), overlap=0.25, batch_size=1,
                      framework="torch", device="cpu", cval=float(volume.min()), progress=False)
    labels, n = ndimage.label(p >= threshold)
    boxes, scores, masks = [], [], []
    for k, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        comp = labels[sl] == k
        if comp.sum() < min_voxels:
            continue
        boxes.append([s.start for s in sl] + [s.stop for s in sl])
        scores.append(float(p[sl][comp].max()))
        masks.append(comp)
    if not boxes:
        return VolumeDetections.empty()
    return VolumeDetections(np.asarray(boxes, np.float32), np.asarray(scores, np.float32), masks)


def sfcm_segment(crop: np.ndarray, n_clusters: int = 2, m: float = 2.0, p: float = 1.0, q: float = 1.0,
                 n_iter: int = 40, tol: float = 1e-4) -> np.ndarray:
    """Spatial fuzzy C-means (Chuang et al. 2006; the paper's SFCM baseline, spec 1.6 decision): the brightest
    cluster of a crop. Memberships ``u`` are updated as in FCM, then weighted by the spatial function
    ``h = sum of u over the 3^3 neighbourhood``: ``u' = u^p h^q / sum_k u_k^p h_k^q``."""
    x = crop.astype(np.float64).ravel()
    if x.size < n_clusters or float(x.max()) == float(x.min()):
        return np.zeros(crop.shape, bool)
    centres = np.quantile(x, np.linspace(0.1, 0.9, n_clusters))
    u = np.zeros((n_clusters, x.size))
    for _ in range(int(n_iter)):
        dist = np.abs(x[None] - centres[:, None]) + 1e-9
        u = 1.0 / np.sum((dist[:, None] / dist[None]) ** (2.0 / (m - 1.0)), axis=1)
        h = np.stack([ndimage.uniform_filter(uk.reshape(crop.shape), size=3, mode="nearest").ravel() for uk in u])
        u = (u**p) * (h**q)
        u /= u.sum(0, keepdims=True)
        new = (u**m @ x) / (u**m).sum(1)
        if np.max(np.abs(new - centres)) < tol:
            centres = new
            break
        centres = new
    return (np.argmax(u, 0) == int(np.argmax(centres))).reshape(crop.shape)


def sfcm_masks(volume: np.ndarray, found: VolumeDetections) -> VolumeDetections:
    """The same detections with SFCM masks inside their boxes instead of the network's mask head."""
    masks = []
    for box in found.boxes:
        lo = np.clip(np.floor(box[:3]), 0, None).astype(int)
        hi = np.minimum(np.ceil(box[3:]).astype(int), np.asarray(volume.shape))
        masks.append(sfcm_segment(volume[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]))
    return VolumeDetections(found.boxes, found.scores, masks)
