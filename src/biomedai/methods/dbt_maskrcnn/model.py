"""The 3-D Mask R-CNN of Fan et al. in plain PyTorch (spec 1.4-1.5): 3-D ResNet-FPN, RPN with spacing-scaled
anchors, multi-level 3-D RoIAlign, box and mask heads, 3-D NMS. Depth and width come from
:class:`~.config.DbtMaskRcnnConfig` (the paper's ResNet-50-FPN or the light CPU variant).

``model(images)`` returns one dict per image (``boxes`` ``[z0, y0, x0, z1, y1, x1]`` in voxels, ``scores``,
``mask_probs`` on the mask grid of each box); ``model(images, targets)`` returns the loss terms
``rpn_cls, rpn_box, cls, box, mask`` (spec 1.5), each target a dict of ``boxes`` ``(n, 6)`` and ``masks``
``(n, D, H, W)`` booleans.
"""
from __future__ import annotations

import logging
import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import DbtMaskRcnnConfig
from .geometry import BoxCoder3D, anchor_shapes, box_iou_3d, clip_boxes, grid_anchors, nms_3d, roi_align_3d

logger = logging.getLogger(__name__)

__all__ = ["ResNetFPN3d", "MaskRCNN3d", "level_strides", "paste_mask"]


def level_strides(level: int) -> tuple[int, int, int]:
    """Stride ``(z, y, x)`` of FPN level ``P<level>``: the stem halves in-plane only (1 mm slices vs 0.5 mm)."""
    return 2 ** (level - 2), 2 ** (level - 1), 2 ** (level - 1)


def _norm(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(groups, channels), channels)


class _Block(nn.Module):
    """A 3-D residual block, basic (two 3^3 convs) or bottleneck (1-3-1, expansion 4 folded into ``out``)."""

    def __init__(self, cin: int, cout: int, stride: int, bottleneck: bool, groups: int) -> None:
        super().__init__()
        mid = max(cout // 4, 1) if bottleneck else cout
        if bottleneck:
            self.body = nn.Sequential(nn.Conv3d(cin, mid, 1, bias=False), _norm(mid, groups), nn.ReLU(inplace=True),
                                      nn.Conv3d(mid, mid, 3, stride, 1, bias=False), _norm(mid, groups),
                                      nn.ReLU(inplace=True), nn.Conv3d(mid, cout, 1, bias=False), _norm(cout, groups))
        else:
            self.body = nn.Sequential(nn.Conv3d(cin, cout, 3, stride, 1, bias=False), _norm(cout, groups),
                                      nn.ReLU(inplace=True), nn.Conv3d(cout, cout, 3, 1, 1, bias=False),
                                      _norm(cout, groups))
        self.skip = (nn.Identity() if cin == cout and stride == 1 else
                     nn.Sequential(nn.Conv3d(cin, cout, 1, stride, bias=False), _norm(cout, groups)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.skip(x))


class ResNetFPN3d(nn.Module):
    """3-D ResNet (C2-C5) with a feature pyramid (P2-P5); ReLU throughout, Kaiming initialisation (spec 1.6)."""

    def __init__(self, in_channels: int, block: str, layers: tuple[int, ...], widths: tuple[int, ...],
                 fpn_channels: int, groups: int) -> None:
        super().__init__()
        bottleneck = block == "bottleneck"
        self.stem = nn.Sequential(nn.Conv3d(in_channels, widths[0], 3, (1, 2, 2), 1, bias=False),
                                  _norm(widths[0], groups), nn.ReLU(inplace=True))
        stages, cin = [], widths[0]
        for k, (n, cout) in enumerate(zip(layers, widths[1:])):
            blocks = [_Block(cin, cout, 1 if k == 0 else 2, bottleneck, groups)]
            blocks += [_Block(cout, cout, 1, bottleneck, groups) for _ in range(n - 1)]
            stages.append(nn.Sequential(*blocks))
            cin = cout
        self.stages = nn.ModuleList(stages)
        self.lateral = nn.ModuleList(nn.Conv3d(c, fpn_channels, 1) for c in widths[1:])
        self.smooth = nn.ModuleList(nn.Conv3d(fpn_channels, fpn_channels, 3, padding=1) for _ in widths[1:])
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        feats = []
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        out: dict[int, torch.Tensor] = {}
        top = self.lateral[-1](feats[-1])
        out[5] = self.smooth[-1](top)
        for k in range(len(feats) - 2, -1, -1):
            top = self.lateral[k](feats[k]) + F.interpolate(top, size=feats[k].shape[2:], mode="nearest")
            out[k + 2] = self.smooth[k](top)
        return out


def _sample(labels: torch.Tensor, batch: int, pos_fraction: float, generator: torch.Generator | None) -> torch.Tensor:
    """Indices of up to ``batch`` labelled entries, at most ``pos_fraction`` of them positive (label 1)."""
    pos = torch.nonzero(labels == 1).flatten()
    neg = torch.nonzero(labels == 0).flatten()
    n_pos = min(pos.numel(), int(batch * pos_fraction))
    n_neg = min(neg.numel(), batch - n_pos)
    pos = pos[torch.randperm(pos.numel(), generator=generator)[:n_pos]]
    neg = neg[torch.randperm(neg.numel(), generator=generator)[:n_neg]]
    return torch.cat([pos, neg])


def paste_mask(mask_probs: torch.Tensor, box: torch.Tensor, shape: tuple[int, int, int],
               threshold: float = 0.5) -> torch.Tensor:
    """Resize one box's mask probabilities to its voxel extent and paste them into a boolean volume."""
    lo = box[:3].floor().clamp(min=0).long()
    hi = torch.minimum(box[3:].ceil().long(), torch.tensor(shape))
    out = torch.zeros(shape, dtype=torch.bool)
    size = (hi - lo).tolist()
    if min(size) <= 0:
        return out
    resized = F.interpolate(mask_probs[None, None].float(), size=tuple(size), mode="trilinear", align_corners=False)
    out[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = resized[0, 0] >= threshold
    return out


class MaskRCNN3d(nn.Module):
    """3-D Mask R-CNN: ResNet-FPN, RPN, RoIAlign, box and mask heads (two classes: mass and background)."""

    def __init__(self, config: DbtMaskRcnnConfig | None = None, in_channels: int = 1) -> None:
        super().__init__()
        cfg = config or DbtMaskRcnnConfig()
        self.cfg = cfg
        self.levels = tuple(cfg.levels)
        c = cfg.fpn_channels
        self.backbone = ResNetFPN3d(in_channels, cfg.block, tuple(cfg.layers), tuple(cfg.widths), c, cfg.groups)
        self.n_anchors = len(cfg.anchor_scales)
        self.rpn_conv = nn.Conv3d(c, c, 3, padding=1)
        self.rpn_cls = nn.Conv3d(c, self.n_anchors, 1)
        self.rpn_box = nn.Conv3d(c, 6 * self.n_anchors, 1)
        box_in = c * int(torch.tensor(cfg.box_roi_size).prod())
        self.box_head = nn.Sequential(nn.Flatten(), nn.Linear(box_in, cfg.box_hidden), nn.ReLU(inplace=True),
                                      nn.Linear(cfg.box_hidden, cfg.box_hidden), nn.ReLU(inplace=True))
        self.cls_out = nn.Linear(cfg.box_hidden, 2)
        self.box_out = nn.Linear(cfg.box_hidden, 6)
        m = cfg.mask_channels
        convs: list[nn.Module] = []
        for k in range(4):  # spec 1.4: 4 x (3^3 conv, ReLU), transposed conv, 1^3 sigmoid output
            convs += [nn.Conv3d(c if k == 0 else m, m, 3, padding=1), nn.ReLU(inplace=True)]
        self.mask_head = nn.Sequential(*convs, nn.ConvTranspose3d(m, m, 2, 2), nn.ReLU(inplace=True),
                                       nn.Conv3d(m, 1, 1))
        self.rpn_coder = BoxCoder3D()
        self.roi_coder = BoxCoder3D((10.0, 10.0, 10.0, 5.0, 5.0, 5.0))
        nn.init.normal_(self.cls_out.weight, std=0.01)
        nn.init.normal_(self.box_out.weight, std=0.001)
        nn.init.constant_(self.rpn_cls.bias, -4.0)  # rare positives: start near p = 0.02
        self._anchor_cache: dict[tuple[int, tuple[int, ...]], torch.Tensor] = {}

    # ------------------------------------------------------------------ anchors and RPN
    def divisor(self) -> tuple[int, int, int]:
        """Input sizes must be multiples of this (the C5 stride) per axis."""
        return level_strides(5)

    def anchors(self, level: int, feature_shape: tuple[int, ...]) -> torch.Tensor:
        key = (level, tuple(feature_shape))
        if key not in self._anchor_cache:
            base = self.cfg.anchor_sizes[self.levels.index(level)]
            shapes = anchor_shapes([base * s for s in self.cfg.anchor_scales], self.cfg.spacing)
            self._anchor_cache[key] = grid_anchors(feature_shape, level_strides(level), shapes)
        return self._anchor_cache[key]

    def _rpn(self, feats: dict[int, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[int]]:
        logits, deltas, anchors, sizes = [], [], [], []
        for lv in self.levels:
            f = feats[lv]
            h = F.relu(self.rpn_conv(f))
            b = f.shape[0]
            logits.append(self.rpn_cls(h).permute(0, 2, 3, 4, 1).reshape(b, -1))
            deltas.append(self.rpn_box(h).reshape(b, self.n_anchors, 6, *f.shape[2:]).permute(0, 3, 4, 5, 1, 2)
                          .reshape(b, -1, 6))
            a = self.anchors(lv, tuple(f.shape[2:])).to(f.device)
            anchors.append(a)
            sizes.append(a.shape[0])
        return torch.cat(logits, 1), torch.cat(deltas, 1), torch.cat(anchors, 0), sizes

    def _proposals(self, logits: torch.Tensor, deltas: torch.Tensor, anchors: torch.Tensor, sizes: list[int],
                   shape: tuple[int, ...]) -> list[torch.Tensor]:
        post = self.cfg.rpn_post_nms_train if self.training else self.cfg.rpn_post_nms_test
        out = []
        for b in range(logits.shape[0]):
            keep_idx, start = [], 0
            for n in sizes:  # top-k per level before NMS
                k = min(self.cfg.rpn_pre_nms, n)
                keep_idx.append(start + logits[b, start:start + n].topk(k).indices)
                start += n
            idx = torch.cat(keep_idx)
            boxes = clip_boxes(self.rpn_coder.decode(deltas[b, idx].detach(), anchors[idx]), shape)
            scores = logits[b, idx].detach()
            ok = ((boxes[:, 3:] - boxes[:, :3]) >= 1.0).all(1)
            boxes, scores = boxes[ok], scores[ok]
            keep = nms_3d(boxes, scores, self.cfg.rpn_nms_iou, post)
            out.append(boxes[keep])
        return out

    def _rpn_loss(self, logits: torch.Tensor, deltas: torch.Tensor, anchors: torch.Tensor,
                  targets: list[dict[str, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        cls_terms, box_terms = [], []
        for b, t in enumerate(targets):
            gt = t["boxes"].to(anchors)
            labels = torch.zeros(anchors.shape[0], device=anchors.device)
            if gt.shape[0]:
                iou = box_iou_3d(anchors, gt)
                best, match = iou.max(1)
                labels[(best >= self.cfg.rpn_neg_iou) & (best < self.cfg.rpn_pos_iou)] = -1
                labels[best >= self.cfg.rpn_pos_iou] = 1
                per_gt = iou.max(0).values
                labels[((iou == per_gt[None]) & (per_gt[None] > 0)).any(1)] = 1  # each lesion's best anchors
            sel = _sample(labels, self.cfg.rpn_batch_anchors, self.cfg.rpn_pos_fraction, None)
            cls_terms.append(F.binary_cross_entropy_with_logits(logits[b, sel], labels[sel]))
            pos = sel[labels[sel] == 1]
            if pos.numel():
                target = self.rpn_coder.encode(gt[match[pos]], anchors[pos])
                box_terms.append(F.smooth_l1_loss(deltas[b, pos], target, beta=1.0 / 9, reduction="sum")
                                 / max(sel.numel(), 1))
            else:
                box_terms.append(deltas[b].sum() * 0.0)
        return torch.stack(cls_terms).mean(), torch.stack(box_terms).mean()

    # ------------------------------------------------------------------ RoI heads
    def _roi_features(self, feats: dict[int, torch.Tensor], rois: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
        """Multi-level RoIAlign: each box reads the level whose anchor size best fits its in-plane size."""
        c = feats[self.levels[0]].shape[1]
        out = rois.new_zeros((rois.shape[0], c) + tuple(size))
        if rois.shape[0] == 0:
            return out
        side = torch.sqrt(((rois[:, 5] - rois[:, 2]) * (rois[:, 6] - rois[:, 3])).clamp(min=1.0))
        level_idx = torch.round(torch.log2(side / self.cfg.anchor_sizes[0])).clamp(0, len(self.levels) - 1).long()
        for k, lv in enumerate(self.levels):
            sel = torch.nonzero(level_idx == k).flatten()
            if sel.numel():
                scale = [1.0 / s for s in level_strides(lv)]
                out[sel] = roi_align_3d(feats[lv], rois[sel], size, scale, sampling_ratio=self.cfg.roi_sampling_ratio)
        return out

    @staticmethod
    def _with_batch_index(boxes: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat([torch.cat([torch.full((b.shape[0], 1), float(i), device=b.device), b], 1)
                          for i, b in enumerate(boxes)]) if boxes else torch.zeros(0, 7)

    def _roi_loss(self, feats: dict[int, torch.Tensor], proposals: list[torch.Tensor],
                  targets: list[dict[str, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rois, labels, box_targets, mask_targets = [], [], [], []
        mask_size = tuple(2 * s for s in self.cfg.mask_roi_size)
        for b, (props, t) in enumerate(zip(proposals, targets)):
            gt = t["boxes"].to(props)
            props = torch.cat([props, gt])  # ground truth joins the proposals (standard Mask R-CNN training)
            lab = torch.zeros(props.shape[0], device=props.device)
            match = torch.zeros(props.shape[0], dtype=torch.long, device=props.device)
            if gt.shape[0]:
                best, match = box_iou_3d(props, gt).max(1)
                lab[best >= self.cfg.roi_pos_iou] = 1
            sel = _sample(lab, self.cfg.roi_batch, self.cfg.roi_pos_fraction, None)  # 32 ROIs at 3:2 (spec 1.6)
            props, lab, match = props[sel], lab[sel], match[sel]
            rois.append(torch.cat([torch.full((props.shape[0], 1), float(b), device=props.device), props], 1))
            labels.append(lab)
            pos = lab == 1
            if pos.any():
                box_targets.append(self.roi_coder.encode(gt[match[pos]], props[pos]))
                masks = t["masks"].to(props.device)[match[pos]].float()[:, None]  # (P, 1, D, H, W)
                crop_rois = torch.cat([torch.arange(masks.shape[0], dtype=props.dtype, device=props.device)[:, None],
                                       props[pos]], 1)
                mask_targets.append(roi_align_3d(masks, crop_rois, mask_size, 1.0, sampling_ratio=1) >= 0.5)
        rois_t, labels_t = torch.cat(rois), torch.cat(labels)
        hidden = self.box_head(self._roi_features(feats, rois_t, self.cfg.box_roi_size))
        cls_loss = F.cross_entropy(self.cls_out(hidden), labels_t.long())
        pos = labels_t == 1
        if not pos.any():
            zero = hidden.sum() * 0.0
            return cls_loss, zero, zero + sum(p.sum() for p in self.mask_head.parameters()) * 0.0
        box_loss = F.smooth_l1_loss(self.box_out(hidden[pos]), torch.cat(box_targets), beta=1.0,
                                    reduction="sum") / labels_t.numel()
        mask_logits = self.mask_head(self._roi_features(feats, rois_t[pos], self.cfg.mask_roi_size))
        mask_loss = F.binary_cross_entropy_with_logits(mask_logits, torch.cat(mask_targets).float())  # positives only
        return cls_loss, box_loss, mask_loss

    def _detect(self, feats: dict[int, torch.Tensor], proposals: list[torch.Tensor],
                shape: tuple[int, ...]) -> list[dict[str, torch.Tensor]]:
        results = []
        for b, props in enumerate(proposals):
            rois = torch.cat([torch.full((props.shape[0], 1), float(b), device=props.device), props], 1)
            hidden = self.box_head(self._roi_features(feats, rois, self.cfg.box_roi_size))
            scores = F.softmax(self.cls_out(hidden), 1)[:, 1]
            boxes = clip_boxes(self.roi_coder.decode(self.box_out(hidden), props), shape)
            ok = (scores >= self.cfg.score_threshold) & ((boxes[:, 3:] - boxes[:, :3]) >= 1.0).all(1)
            boxes, scores = boxes[ok], scores[ok]
            keep = nms_3d(boxes, scores, self.cfg.nms_iou, self.cfg.max_detections)
            boxes, scores = boxes[keep], scores[keep]
            rois = torch.cat([torch.full((boxes.shape[0], 1), float(b), device=boxes.device), boxes], 1)
            masks = (torch.sigmoid(self.mask_head(self._roi_features(feats, rois, self.cfg.mask_roi_size)))[:, 0]
                     if boxes.shape[0] else boxes.new_zeros((0,) + tuple(2 * s for s in self.cfg.mask_roi_size)))
            results.append({"boxes": boxes, "scores": scores, "mask_probs": masks})
        return results

    def forward(self, images: torch.Tensor, targets: list[dict[str, torch.Tensor]] | None = None) -> object:
        shape = tuple(images.shape[2:])
        feats = self.backbone(images)
        logits, deltas, anchors, sizes = self._rpn(feats)
        proposals = self._proposals(logits, deltas, anchors, sizes, shape)
        if targets is None:
            return self._detect(feats, proposals, shape)
        rpn_cls, rpn_box = self._rpn_loss(logits, deltas, anchors, targets)
        cls, box, mask = self._roi_loss(feats, proposals, targets)
        return {"rpn_cls": rpn_cls, "rpn_box": rpn_box, "cls": cls, "box": box, "mask": mask}
