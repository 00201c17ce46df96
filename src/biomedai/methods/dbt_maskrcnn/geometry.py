"""3-D detection geometry for the DBT Mask R-CNN: anchors, box coding, 3-D IoU/NMS and 3-D RoIAlign.

Boxes are ``(n, 6)`` tensors ``[z0, y0, x0, z1, y1, x1]`` in voxel units of the array they refer to, with voxel
``k`` spanning ``[k, k + 1)`` along each axis (so a box covering voxels 2..5 is ``[2, 6)``), the convention of
:mod:`biomedai.metrics.detection`. Box coding and NMS are MONAI's (``monai.apps.detection``); anchors are scaled
by the in-plane/slice spacing ratio (spec section 1.4) and RoIAlign is trilinear on ``torch.nn.functional.grid_sample``,
so nothing needs a custom CUDA kernel.

Example:
    >>> import torch
    >>> sizes = anchor_shapes((16.0,), spacing_zyx=(1.0, 0.5, 0.5))   # 16 voxels in-plane = 8 mm
    >>> sizes.tolist()                                              # 8 slices of 1 mm = 8 mm
    [[8.0, 16.0, 16.0]]
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from biomedai.errors import InvalidInputError

logger = logging.getLogger(__name__)

__all__ = ["anchor_shapes", "grid_anchors", "BoxCoder3D", "box_iou_3d", "nms_3d", "clip_boxes", "roi_align_3d"]

#: largest log-scale change a decoded box may have (as torchvision: log(1000 / 16))
LOG_SCALE_CLIP = 4.135166556742356


def anchor_shapes(inplane_sizes: Sequence[float], spacing_zyx: Sequence[float],
                  aspect_ratios: Sequence[float] = (1.0,)) -> torch.Tensor:
    """Anchor extents ``(k, 3)`` in voxels ``(dz, dy, dx)``, physically cubic-ish for the voxel spacing.

    The in-plane side ``a`` (voxels) becomes ``a * spacing_y / spacing_z`` slices, so an anchor spans the
    same millimetres along z as in-plane (spec 1.4: "scale the z size by the in-plane/z spacing ratio").
    ``aspect_ratios`` multiply the z extent (e.g. 0.5 for masses flattened by the out-of-plane blur).

    Parameters
    ----------
    inplane_sizes : sequence of float
        In-plane anchor sides in voxels (e.g. one per FPN level).
    spacing_zyx : sequence of 3 floats
        Voxel spacing in mm, slice axis first.
    aspect_ratios : sequence of float
        Factors on the physical z extent; one anchor per size and ratio.
    """
    if len(spacing_zyx) != 3 or min(spacing_zyx) <= 0:
        raise InvalidInputError(f"spacing_zyx: need three positive spacings, got {spacing_zyx}")
    if not inplane_sizes or min(inplane_sizes) <= 0 or not aspect_ratios or min(aspect_ratios) <= 0:
        raise InvalidInputError("anchor sizes and aspect ratios must be positive")
    sz, sy, sx = (float(s) for s in spacing_zyx)
    rows = [[a * sy / sz * r, a, a * sy / sx] for a in inplane_sizes for r in aspect_ratios]
    return torch.tensor(rows, dtype=torch.float32)


def grid_anchors(feature_shape: Sequence[int], stride_zyx: Sequence[float], shapes: torch.Tensor) -> torch.Tensor:
    """Anchors ``(D * H * W * k, 6)`` centred on every cell of a feature map (cell-major, shape-minor order).

    Cell ``(i, j, l)`` with strides ``(s_z, s_y, s_x)`` covers input voxels ``[i s_z, (i + 1) s_z)`` etc., so the
    anchor centre is ``((i + 0.5) s_z, (j + 0.5) s_y, (l + 0.5) s_x)``.
    """
    if len(feature_shape) != 3 or len(stride_zyx) != 3:
        raise InvalidInputError("grid_anchors: feature_shape and stride_zyx need three values (z, y, x)")
    axes = [(torch.arange(n, dtype=torch.float32) + 0.5) * float(s) for n, s in zip(feature_shape, stride_zyx)]
    centres = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, 1, 3)
    half = shapes.to(torch.float32).reshape(1, -1, 3) / 2
    return torch.cat([centres - half, centres + half], dim=-1).reshape(-1, 6)


class BoxCoder3D:
    """The Faster R-CNN box parameterisation in 3-D (spec 1.5), via MONAI's ``BoxCoder``.

    ``t_z = (z - z_a) / d_a``, ..., ``t_d = log(d / d_a)``, each multiplied by ``weights``; decoding clips the
    log-scale terms at :data:`LOG_SCALE_CLIP`.
    """

    def __init__(self, weights: Sequence[float] = (1.0,) * 6) -> None:
        from monai.apps.detection.utils.box_coder import BoxCoder

        if len(weights) != 6:
            raise InvalidInputError(f"BoxCoder3D: need six weights, got {len(weights)}")
        self.coder = BoxCoder(weights=tuple(float(w) for w in weights), boxes_xform_clip=LOG_SCALE_CLIP)

    def encode(self, boxes: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
        """Deltas ``(n, 6)`` that take ``references`` (anchors or proposals) to ``boxes``."""
        if boxes.shape[0] == 0:
            return boxes.new_zeros((0, 6))
        return self.coder.encode_single(boxes.float(), references.float())

    def decode(self, deltas: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
        """Boxes ``(n, 6)`` from deltas applied to ``references``."""
        if deltas.shape[0] == 0:
            return deltas.new_zeros((0, 6))
        return self.coder.decode_single(deltas.float(), references.float())


def box_iou_3d(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """IoU matrix ``(n1, n2)`` of two sets of 3-D boxes (empty boxes give 0)."""
    lo = torch.maximum(boxes1[:, None, :3], boxes2[None, :, :3])
    hi = torch.minimum(boxes1[:, None, 3:], boxes2[None, :, 3:])
    inter = (hi - lo).clamp(min=0).prod(-1)
    vol1 = (boxes1[:, 3:] - boxes1[:, :3]).clamp(min=0).prod(-1)
    vol2 = (boxes2[:, 3:] - boxes2[:, :3]).clamp(min=0).prod(-1)
    union = vol1[:, None] + vol2[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))


def nms_3d(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, max_keep: int = -1) -> torch.Tensor:
    """Greedy 3-D non-maximum suppression (MONAI's): indices of the kept boxes, by decreasing score.

    A box is dropped when its IoU with a kept, higher-scoring box exceeds ``iou_threshold``.
    """
    from monai.data.box_utils import non_max_suppression

    if boxes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long)
    keep = non_max_suppression(boxes.float(), scores.float(), float(iou_threshold), max_proposals=int(max_keep),
                               box_overlap_metric=box_iou_3d)
    return torch.as_tensor(keep, dtype=torch.long, device=boxes.device).reshape(-1)


def clip_boxes(boxes: torch.Tensor, shape_zyx: Sequence[int]) -> torch.Tensor:
    """Boxes clipped to ``[0, shape)`` along each axis."""
    upper = torch.tensor([float(n) for n in shape_zyx] * 2, dtype=boxes.dtype, device=boxes.device)
    return torch.minimum(boxes.clamp(min=0), upper)


def roi_align_3d(features: torch.Tensor, rois: torch.Tensor, output_size: Sequence[int],
                 spatial_scale: float | Sequence[float] = 1.0, sampling_ratio: int = 2) -> torch.Tensor:
    """Trilinear 3-D RoIAlign (He et al.'s RoIAlign with ``aligned=True``) written on ``grid_sample``.

    Each box is cut into ``output_size`` bins; every bin averages ``sampling_ratio`` samples per axis taken at
    the centres of its sub-bins, each sample trilinearly interpolated from the feature map. A box coordinate
    ``c`` (input voxels) maps to the continuous feature index ``c * scale - 0.5`` (voxel centres at integers);
    samples outside the map take the value of the nearest border voxel.

    Parameters
    ----------
    features : Tensor
        ``(B, C, D, H, W)`` feature maps.
    rois : Tensor
        ``(R, 7)``: batch index, then ``[z0, y0, x0, z1, y1, x1]`` in input voxels.
    output_size : sequence of 3 int
        Bins per axis ``(oz, oy, ox)``.
    spatial_scale : float or 3 floats
        Feature-map size over input size per axis (1 / stride).
    sampling_ratio : int
        Samples per bin per axis.

    Returns
    -------
    Tensor
        ``(R, C, oz, oy, ox)``.
    """
    if features.ndim != 5 or rois.ndim != 2 or rois.shape[1] != 7:
        raise InvalidInputError(f"roi_align_3d: features (B,C,D,H,W) and rois (R,7) expected, got "
                                f"{tuple(features.shape)} and {tuple(rois.shape)}")
    out = tuple(int(n) for n in output_size)
    n_rois, channels = rois.shape[0], features.shape[1]
    if n_rois == 0:
        return features.new_zeros((0, channels) + out)
    scale = torch.as_tensor(spatial_scale, dtype=features.dtype, device=features.device).expand(3)
    s = max(int(sampling_ratio), 1)
    lo = rois[:, 1:4].to(features.dtype) * scale - 0.5
    hi = rois[:, 4:7].to(features.dtype) * scale - 0.5
    points = []
    for axis in range(3):  # sub-bin centres along each axis, in feature index units
        steps = (torch.arange(out[axis] * s, dtype=features.dtype, device=features.device) + 0.5) / (out[axis] * s)
        points.append(lo[:, axis:axis + 1] + (hi - lo)[:, axis:axis + 1] * steps)
    sizes = features.shape[2:]
    normed = []
    for axis, p in enumerate(points):  # grid_sample(align_corners=True): index 0 -> -1, index n-1 -> +1
        n = sizes[axis]
        normed.append(torch.zeros_like(p) if n == 1 else p.clamp(0, n - 1) * (2.0 / (n - 1)) - 1.0)
    gz, gy, gx = normed
    grid = torch.stack(torch.broadcast_tensors(gx[:, :, None, None], gy[:, None, :, None], gz[:, None, None, :]), -1)
    grid = grid.permute(0, 3, 2, 1, 4)  # (R, Dz, Hy, Wx, 3) with (x, y, z) last as grid_sample wants
    batch_index = rois[:, 0].long()
    sampled = features.new_empty((n_rois, channels) + tuple(g.shape[1] for g in points))
    for b in batch_index.unique().tolist():  # one grid_sample per image: the boxes' grids stacked along depth
        sel = (batch_index == b).nonzero().flatten()
        g = grid[sel]
        stacked = g.reshape(1, -1, g.shape[2], g.shape[3], 3)
        values = F.grid_sample(features[b:b + 1], stacked, mode="bilinear", padding_mode="border", align_corners=True)
        sampled[sel] = values.reshape(channels, sel.numel(), *g.shape[1:4]).transpose(0, 1)
    return F.avg_pool3d(sampled, kernel_size=s, stride=s) if s > 1 else sampled
