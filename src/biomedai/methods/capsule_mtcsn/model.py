"""The MTCSN network: a shared encoder, a clearness-degree (CD) branch and a tissue-segmentation (TSS) branch
joined by cross-fusion modules (Eq. 1), and the ablation variants of Tables 3-5.

Cross fusion (spec 2.3, our reading of the missing Figure 3): ``M`` is a 1x1 convolution whose weight
``W`` is ``[C1, C2]``; ``M^T`` applies ``W^T`` (the *same* parameter, transposed: one weight, shared)::

    x_cls' = x_cls + Pool(act(M(x_seg)))            # [C1]
    x_seg' = x_seg + act(M^T(Pad(x_cls)))           # [C2, H, W]; Pad = tile x_cls over H x W

Tiling a vector and applying a 1x1 convolution equals broadcasting ``W^T x_cls``; :class:`CrossFusion`
computes the cheap form (the test checks it against the literal tile + conv).
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .config import MtcsnConfig
from .palette import CD_CLASSES, TISSUE_CLASSES


def conv_bn_relu(c_in: int, c_out: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class LightEncoder(nn.Module):
    """A small CPU-trainable encoder: four stages, output stride 8 (stage 4 dilated); also returns stride 4.

    Returns ``(low, deep)``: ``[B, widths[1], H/4, W/4]`` and ``[B, widths[3], H/8, W/8]``.
    """

    def __init__(self, in_channels: int = 3, widths: tuple[int, ...] = (16, 32, 64, 96)) -> None:
        super().__init__()
        w1, w2, w3, w4 = widths
        self.stage1 = nn.Sequential(conv_bn_relu(in_channels, w1, 2), conv_bn_relu(w1, w1))
        self.stage2 = nn.Sequential(conv_bn_relu(w1, w2, 2), conv_bn_relu(w2, w2))
        self.stage3 = nn.Sequential(conv_bn_relu(w2, w3, 2), conv_bn_relu(w3, w3))
        self.stage4 = nn.Sequential(conv_bn_relu(w3, w4, dilation=2), conv_bn_relu(w4, w4, dilation=2))
        self.low_channels, self.out_channels = w2, w4

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        low = self.stage2(self.stage1(x))
        return low, self.stage4(self.stage3(low))


class TorchvisionEncoder(nn.Module):
    """The paper's backbones (ResNet-50/101 dilated to output stride 8, DenseNet-121 at stride 32), random init.

    Nothing is downloaded: ImageNet pre-training is not stated in the paper (spec 2.10 #10) and not used.
    """

    def __init__(self, name: str) -> None:
        super().__init__()
        import torchvision

        if name in ("resnet50", "resnet101"):
            net = getattr(torchvision.models, name)(weights=None, replace_stride_with_dilation=[False, True, True])
            self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1)
            self.body = nn.Sequential(net.layer2, net.layer3, net.layer4)
            self.low_channels, self.out_channels = 256, 2048
        elif name == "densenet121":
            features = torchvision.models.densenet121(weights=None).features
            children = list(features.children())          # conv0 norm0 relu0 pool0 denseblock1 transition1 ...
            self.stem = nn.Sequential(*children[:5])
            self.body = nn.Sequential(*children[5:], nn.ReLU(inplace=True))
            self.low_channels, self.out_channels = 256, 1024
        else:
            raise ValueError(f"unknown backbone {name!r}")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        low = self.stem(x)
        return low, self.body(low)


def build_encoder(cfg: MtcsnConfig) -> nn.Module:
    if cfg.backbone == "light":
        return LightEncoder(3, tuple(cfg.light_widths))
    return TorchvisionEncoder(cfg.backbone)


class CrossFusion(nn.Module):
    """Eq. 1 with one shared weight ``W [C1, C2]`` used as ``M`` and, transposed, as ``M^T``."""

    def __init__(self, cls_channels: int, seg_channels: int, pooling: str = "gap", activation: str = "none") -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(cls_channels, seg_channels))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))   # the default init of a 1x1 conv
        self.pooling, self.activation = pooling, activation

    def _act(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x) if self.activation == "relu" else x

    def forward(self, x_cls: torch.Tensor, x_seg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m_seg = self._act(F.conv2d(x_seg, self.weight[:, :, None, None]))            # [B, C1, H, W]
        pooled = m_seg.mean((2, 3)) if self.pooling == "gap" else m_seg.amax((2, 3))
        m_cls = self._act(x_cls @ self.weight)                                        # W^T x_cls: [B, C2]
        return x_cls + pooled, x_seg + m_cls[:, :, None, None]


class Mtcsn(nn.Module):
    """Shared encoder + CD branch (GAP -> FC stages -> classifier) + TSS branch (conv stages -> decoder).

    ``variant``: ``cd_only`` (no TSS branch), ``tss_only`` (no CD branch), ``hard_sharing`` (both, no fusion),
    ``mtcsn`` (both, a :class:`CrossFusion` after each of the ``fusion_sites`` branch stages).
    ``forward`` returns ``{"cd_logits": [B, 3] | None, "seg_logits": [B, 8, H, W] | None,
    "fusion_pairs": [(x_cls before, x_cls after), ...]}`` (the pairs feed Eq. 4).
    """

    def __init__(self, cfg: MtcsnConfig) -> None:
        super().__init__()
        self.variant = cfg.variant
        self.with_cd = cfg.variant != "tss_only"
        self.with_seg = cfg.variant != "cd_only"
        self.with_fusion = cfg.variant == "mtcsn"
        self.encoder = build_encoder(cfg)
        c_enc, c1, c2, sites = self.encoder.out_channels, cfg.cls_channels, cfg.seg_channels, cfg.fusion_sites
        if self.with_cd:
            self.cls_in = nn.Sequential(nn.Linear(c_enc, c1), nn.ReLU(inplace=True))
            self.cls_stages = nn.ModuleList(nn.Sequential(nn.Linear(c1, c1), nn.ReLU(inplace=True))
                                            for _ in range(sites))
            self.cls_head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(c1, len(CD_CLASSES)))
        if self.with_seg:
            self.seg_in = conv_bn_relu(c_enc, c2)
            self.seg_stages = nn.ModuleList(conv_bn_relu(c2, c2) for _ in range(sites))
            self.low_proj = nn.Sequential(nn.Conv2d(self.encoder.low_channels, 32, 1, bias=False),
                                          nn.BatchNorm2d(32), nn.ReLU(inplace=True))
            self.seg_head = nn.Sequential(conv_bn_relu(c2 + 32, c2), nn.Conv2d(c2, len(TISSUE_CLASSES), 1))
        if self.with_fusion:
            self.fusions = nn.ModuleList(CrossFusion(c1, c2, cfg.pooling, cfg.fusion_activation)
                                         for _ in range(sites))

    def forward(self, x: torch.Tensor) -> dict[str, Any]:
        size = x.shape[-2:]
        low, deep = self.encoder(x)
        x_cls = self.cls_in(deep.mean((2, 3))) if self.with_cd else None
        x_seg = self.seg_in(deep) if self.with_seg else None
        pairs = []
        n_stages = len(self.cls_stages) if self.with_cd else len(self.seg_stages)
        for i in range(n_stages):
            if self.with_cd:
                x_cls = self.cls_stages[i](x_cls)
            if self.with_seg:
                x_seg = self.seg_stages[i](x_seg)
            if self.with_fusion:
                before = x_cls
                x_cls, x_seg = self.fusions[i](x_cls, x_seg)
                pairs.append((before, x_cls))
        cd_logits = self.cls_head(x_cls) if self.with_cd else None
        seg_logits = None
        if self.with_seg:
            low = self.low_proj(low)
            up = F.interpolate(x_seg, size=low.shape[-2:], mode="bilinear", align_corners=False)
            seg_logits = F.interpolate(self.seg_head(torch.cat([up, low], 1)), size=size, mode="bilinear",
                                       align_corners=False)
        return {"cd_logits": cd_logits, "seg_logits": seg_logits, "fusion_pairs": pairs}


def mtcsn_loss(outputs: dict[str, Any], cd_target: torch.Tensor | None, mask_target: torch.Tensor | None,
               cfg: MtcsnConfig) -> dict[str, torch.Tensor]:
    """Eqs. 2-5: ``lambda_cls * (CE + alpha * sum_i MSE(x'_i, x_i)) + lambda_seg * pixel CE``."""
    terms: dict[str, torch.Tensor] = {}
    total = None
    if outputs["cd_logits"] is not None and cd_target is not None:
        ce = F.cross_entropy(outputs["cd_logits"], cd_target)
        consistency = sum((F.mse_loss(after, before) for before, after in outputs["fusion_pairs"]),
                          torch.zeros((), device=ce.device))
        terms["loss_cls"], terms["loss_consistency"] = ce.detach(), consistency.detach()
        total = cfg.lambda_cls * (ce + cfg.alpha * consistency)
    if outputs["seg_logits"] is not None and mask_target is not None:
        seg = F.cross_entropy(outputs["seg_logits"], mask_target.long(), ignore_index=cfg.ignore_index)
        terms["loss_seg"] = seg.detach()
        total = cfg.lambda_seg * seg if total is None else total + cfg.lambda_seg * seg
    if total is None:
        raise ValueError("no loss term: the variant's outputs and the targets given do not match")
    return {"loss": total, **terms}


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
