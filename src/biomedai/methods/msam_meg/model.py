"""MSAM (spec 2.3): dropout + shared MLP per token, single-head self-attention (Eq. 2), multi-head
self-attention (Eqs. 3-4), mean pooling and a sigmoid classifier (Eq. 5); ablations ``no_sa`` / ``no_mhsa``.

Tensors: a batch of windows ``x`` is ``(batch, channels, samples)``. With ``token_axis="sensors"`` every channel's
window is one token (spec 2.8.4); with ``"time"`` each non-overlapping patch of ``time_patch`` samples of all channels
is one token. ``mask`` (``(batch, tokens)``, True = padded / absent token) hides tokens from attention and pooling.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from biomedai.errors import InvalidInputError

from .config import MsamConfig

_ACTIVATIONS = {"elu": nn.ELU, "tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU}


class SelfAttention(nn.Module):
    """Single-head self-attention, Eq. 2 with Q = K = V = X: ``softmax(X Xᵀ / √d) X`` (no parameters)."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the attended tokens ``(B, N, d)`` and the attention weights ``(B, N, N)``."""
        scores = x @ x.transpose(-1, -2) / math.sqrt(x.shape[-1])
        if mask is not None:
            scores = scores.masked_fill(mask[:, None, :], float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        return weights @ x, weights


class MultiHeadSelfAttention(nn.Module):
    """Eqs. 3-4: ``Concat(head_1..head_h) W^O`` with ``head_i = Attention(X W_i^Q, X W_i^K, X W_i^V)``,
    ``d_k = d_v = d / h``, no biases (the equations have none). Built on :class:`torch.nn.MultiheadAttention`."""

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.attention = nn.MultiheadAttention(d, heads, bias=False, batch_first=True)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the attended tokens ``(B, N, d)`` and the per-head weights ``(B, h, N, N)``."""
        out, weights = self.attention(x, x, x, key_padding_mask=mask, need_weights=True,
                                      average_attn_weights=False)
        return out, weights


def token_mlp(in_features: int, units: tuple[int, ...], activations: tuple[str, ...], dropout: float) -> nn.Sequential:
    """The paper's feature extractor: one dropout layer, then dense layers (1024-ELU, 512-tanh, 128-tanh, 32-ReLU)."""
    layers: list[nn.Module] = [nn.Dropout(dropout)]
    width = in_features
    for n, act in zip(units, activations):
        layers += [nn.Linear(width, n), _ACTIVATIONS[act]()]
        width = n
    return nn.Sequential(*layers)


class MSAM(nn.Module):
    """The multi-head self-attention model; ``forward`` returns one logit per window (sigmoid = P(CPS))."""

    def __init__(self, n_channels: int, n_samples: int, config: MsamConfig | None = None) -> None:
        super().__init__()
        cfg = config or MsamConfig()
        self.config = cfg
        self.n_channels, self.n_samples = n_channels, n_samples
        if cfg.token_axis == "time":
            if n_samples % cfg.time_patch:
                raise InvalidInputError(f"window of {n_samples} samples is not a multiple of time_patch "
                                        f"{cfg.time_patch}")
            in_features = n_channels * cfg.time_patch
        else:
            in_features = n_samples
        d = cfg.mlp_units[-1]
        self.mlp = token_mlp(in_features, cfg.mlp_units, cfg.mlp_activations, cfg.input_dropout)
        self.sa = SelfAttention() if cfg.variant != "no_sa" else None
        self.mhsa = MultiHeadSelfAttention(d, cfg.heads) if cfg.variant != "no_mhsa" else None
        self.norms = nn.ModuleList([nn.LayerNorm(d), nn.LayerNorm(d)]) if cfg.residual else None
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = nn.Linear(d, 1)  # Eq. 5: W_c u + b_c
        self.last_attention: dict[str, torch.Tensor] = {}

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, T)`` windows to ``(B, N, features)`` tokens."""
        if x.ndim != 3 or x.shape[1] != self.n_channels or x.shape[2] != self.n_samples:
            raise InvalidInputError(f"MSAM expects windows (batch, {self.n_channels}, {self.n_samples}), "
                                    f"got {tuple(x.shape)}")
        if self.config.token_axis == "sensors":
            return x
        b, c, t = x.shape
        p = self.config.time_patch
        return x.reshape(b, c, t // p, p).permute(0, 2, 1, 3).reshape(b, t // p, c * p)

    def encode(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """The pooled representation ``u`` of Eq. 5, ``(B, d)``; attention weights go to ``last_attention``."""
        h = self.mlp(self.tokens(x))
        self.last_attention = {}
        for i, (name, layer) in enumerate((("sa", self.sa), ("mhsa", self.mhsa))):
            if layer is None:
                continue
            out, weights = layer(h, mask)
            self.last_attention[name] = weights.detach()
            h = self.norms[i](h + out) if self.norms is not None else out
        if mask is None:
            return h.mean(dim=1)
        keep = (~mask).unsqueeze(-1).to(h.dtype)
        return (h * keep).sum(dim=1) / keep.sum(dim=1).clamp_min(1.0)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(B,)``; ``torch.sigmoid`` of them is Eq. 5."""
        return self.classifier(self.dropout(self.encode(x, mask))).squeeze(-1)

    def token_importance(self) -> torch.Tensor | None:
        """Attention each token receives in the last forward pass (mean over queries and heads), ``(B, N)``."""
        weights = self.last_attention.get("mhsa", self.last_attention.get("sa"))
        if weights is None:
            return None
        if weights.ndim == 4:
            weights = weights.mean(dim=1)
        return weights.mean(dim=1)


def bce_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Eq. 6 as intended: mean binary cross-entropy over windows (numerically stable on logits)."""
    return nn.functional.binary_cross_entropy_with_logits(logits, target.to(logits.dtype).reshape(logits.shape))
