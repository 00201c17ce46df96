"""COS-Net: weight-sharing Siamese 3D encoder-decoder with DuSE blocks (spec 1.3, 1.10).

One stream is ``CosNet.embed``: ``P_VE`` (encoder), ``P_VD`` (decoder, optional) and ``P_FE``
(feature encoder). Both streams of the Siamese pair are the same module applied to the support and
the target (Eqs. 1-6). ``CosNet.pair_scores`` is ``P_final`` on ``|F_S2 - F_T2|`` (Eqs. 7-8): one
scalar per (support, target) pair; the softmax over the support classes is taken by the caller.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DuSE3d(nn.Module):
    """Dual squeeze-and-excitation (Eqs. 9-13): channel SE (reduction 2) and spatial SE, fused by max or add."""

    def __init__(self, channels: int, fusion: str = "max", reduction: int = 2) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)
        self.spatial = nn.Conv3d(channels, 1, kernel_size=1)
        self.fusion = fusion

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = x.mean(dim=(2, 3, 4))                                          # Eq. 9
        v = torch.sigmoid(self.fc2(F.relu(self.fc1(v))))                   # Eq. 10
        channel = x * v[:, :, None, None, None]                            # Eq. 11
        spatial = x * torch.sigmoid(self.spatial(x))                       # Eqs. 12-13
        return torch.maximum(channel, spatial) if self.fusion == "max" else channel + spatial


def _conv_block(channels: int) -> nn.Sequential:
    """[Conv3d k3 -> ReLU -> BN] x 2, as in the authors' nets.py (BN after ReLU)."""
    layers: list[nn.Module] = []
    for _ in range(2):
        layers += [nn.Conv3d(channels, channels, 3, padding=1), nn.ReLU(inplace=True), nn.BatchNorm3d(channels)]
    return nn.Sequential(*layers)


class CosNet(nn.Module):
    """The COS-Net stream. ``duse``/``decoder`` switch the Table 1 variants (SCNN / DuSE-SCNN, w/o / w decoder).

    Args:
        box: subtomogram edge (32); width: channels at every level (64 in nets.py);
        embedding_dim: size of F_S2 / F_T2 (512); duse_fusion: "max" (code) or "add" (paper text);
        head_activation: ReLU between the two feature-encoder FC layers (nets.py: none);
        input_binning: average-pool the input by this factor first (2: a 32^3 box at 10 A is seen at 20 A,
        which keeps the particle band up to 1/4 cycles/voxel and costs ~8x less); the decoder's
        logits are upsampled back to ``box``^3. 1 (no binning) is the paper's network.
    """

    def __init__(self, box: int = 32, width: int = 64, duse: bool = True, decoder: bool = True,
                 duse_fusion: str = "max", embedding_dim: int = 512, head_activation: bool = False,
                 input_binning: int = 1) -> None:
        super().__init__()
        self.box, self.use_decoder, self.binning = box, decoder, input_binning
        se = (lambda: DuSE3d(width, duse_fusion)) if duse else (lambda: nn.Identity())
        self.stem = nn.Sequential(nn.Conv3d(1, width, 3, padding=1), nn.ReLU(inplace=True))
        self.enc1, self.enc2, self.enc3 = _conv_block(width), _conv_block(width), _conv_block(width)
        self.ese1, self.ese2 = se(), se()      # separate weights (nets.py reuses eduse1: a bug we do not copy)
        if decoder:
            self.up1 = nn.ConvTranspose3d(width, width, 2, stride=2)
            self.dec1, self.dse1 = _conv_block(width), se()
            self.up2 = nn.ConvTranspose3d(width, width, 2, stride=2)
            self.dec2, self.dse2 = _conv_block(width), se()
            self.out = nn.Conv3d(width, 1, 1)
        flat = width * (box // input_binning // 4) ** 3
        head: list[nn.Module] = [nn.Linear(flat, embedding_dim)]
        if head_activation:
            head.append(nn.ReLU(inplace=True))
        head.append(nn.Linear(embedding_dim, embedding_dim))
        self.feature = nn.Sequential(*head)                              # P_FE
        self.final = nn.Linear(embedding_dim, 1)                          # P_final
        # channels-last 3D: PyTorch's CPU conv3d backward is 10-20x faster in this layout (oneDNN path)
        self.to(memory_format=torch.channels_last_3d)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """P_VE: [B, 1, 32, 32, 32] -> [B, width, 8, 8, 8] (/ ``input_binning``)."""
        if self.binning > 1:
            x = F.avg_pool3d(x, self.binning)
        x = self.ese1(self.enc1(self.stem(x.contiguous(memory_format=torch.channels_last_3d))))
        x = self.ese2(self.enc2(F.max_pool3d(x, 2)))
        return self.enc3(F.max_pool3d(x, 2))

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        """P_VD: latent -> segmentation logits [B, 1, 32, 32, 32]."""
        x = self.dse1(self.dec1(self.up1(f)))
        x = self.out(self.dse2(self.dec2(self.up2(x))))
        if self.binning > 1:
            x = F.interpolate(x, scale_factor=float(self.binning), mode="trilinear", align_corners=False)
        return x

    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Eqs. 1-3 / 4-6: (F_2 embedding [B, D], mask logits [B, 1, ...] or None)."""
        f1 = self.encode(x)
        mask = self.decode(f1) if self.use_decoder else None
        return self.feature(f1.flatten(1)), mask

    def pair_scores(self, support: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Eqs. 7-8 before the softmax: scores [..., T, S] = P_final(|F_S2 - F_T2|) for every pair."""
        diff = (target.unsqueeze(-2) - support.unsqueeze(-3)).abs()
        return self.final(diff).squeeze(-1)


class SupervisedCnn(nn.Module):
    """Baseline: the same encoder and feature encoder with an N-class softmax head (plain supervised 3D CNN)."""

    def __init__(self, n_classes: int, box: int = 32, width: int = 64, embedding_dim: int = 512,
                 input_binning: int = 1) -> None:
        super().__init__()
        self.body = CosNet(box, width, duse=False, decoder=False, embedding_dim=embedding_dim,
                           input_binning=input_binning)
        self.classifier = nn.Linear(embedding_dim, n_classes)

    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.body.embed(x)[0], None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(F.relu(self.embed(x)[0]))


def soft_dice(prob: torch.Tensor, truth: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Mean soft Dice over the batch (Eq. 15's per-stream term), probabilities in [0, 1]."""
    dims = tuple(range(1, prob.ndim))
    inter = (prob * truth).sum(dims)
    return ((2 * inter + eps) / (prob.sum(dims) + truth.sum(dims) + eps)).mean()


def episode_loss(model: CosNet, batch: dict[str, torch.Tensor], dice_eps: float = 1.0) -> dict[str, torch.Tensor]:
    """Eqs. 14-16 for a batch of episodes with two support sets each.

    ``batch``: ``a``, ``b`` [E, n, 1, D, H, W] (same n classes; ``b`` permuted), ``ma``, ``mb`` masks,
    ``match`` [E, n, n] with 1 where a_i and b_j share a class. Each a_i acts as the target and the b
    set as the support: ``F_out = softmax_j score(a_i, b_j)``; BCE on F_out vs match; Dice on both sets.
    """
    a, b = batch["a"], batch["b"]
    e, n = a.shape[:2]
    vols = torch.cat([a.flatten(0, 1), b.flatten(0, 1)])
    feats, logits = model.embed(vols)
    fa, fb = feats[: e * n].view(e, n, -1), feats[e * n:].view(e, n, -1)
    f_out = torch.softmax(model.pair_scores(fb, fa).float(), dim=-1)       # [E, n(targets), n(supports)]
    p, y = f_out.clamp(1e-6, 1 - 1e-6), batch["match"].float()
    bce = -(y * torch.log(p) + (1 - y) * torch.log1p(-p)).mean()    # Eq. 14 (written out: autocast-safe)
    out = {"loss": bce, "bce": bce.detach(), "acc": (f_out.argmax(-1) == batch["match"].argmax(-1)).float().mean()}
    if logits is not None:
        prob = torch.sigmoid(logits.float())
        ma, mb = batch["ma"].flatten(0, 1).float(), batch["mb"].flatten(0, 1).float()
        dsc = (1 - soft_dice(prob[: e * n], ma, dice_eps)) + (1 - soft_dice(prob[e * n:], mb, dice_eps))
        out["loss"] = bce + dsc                                             # Eq. 16, unweighted
        out["dice_loss"] = dsc.detach()
    return out
