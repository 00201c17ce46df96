"""Settings of MSAM (Gu et al.): multi-head self-attention over MEG for TLE subtype classification (CPS vs SPS).

Defaults follow the paper where it gives a value (spec ``../shared/specs/breast-neuro.md`` 2.2-2.4) and the
spec's reference design (2.8) where it is silent; every such choice is listed in the method README.
"""
from __future__ import annotations

import dataclasses
from typing import Literal

from biomedai.config import BaseConfig
from biomedai.errors import ConfigError

#: ablation variants of Table 2: the full model, without the single-head self-attention layer ("attn_1"),
#: without the multi-head self-attention layer ("attn_2")
VARIANTS = ("full", "no_sa", "no_mhsa")


@dataclasses.dataclass
class MsamConfig(BaseConfig):
    # --- model (spec 2.3) -----------------------------------------------------------------------------------
    #: MLP widths (paper: 1024, 512, 128, 32) and activations (paper: ELU, tanh, tanh, ReLU)
    mlp_units: tuple[int, ...] = (1024, 512, 128, 32)
    mlp_activations: tuple[str, ...] = ("elu", "tanh", "tanh", "relu")
    #: the paper's one dropout layer before the MLP (rate not given; spec 2.8.5 decision: 0.2) and the dropout
    #: before the sigmoid classifier (spec 2.8.5 decision: 0.5)
    input_dropout: float = 0.2
    dropout: float = 0.5
    #: number of heads of the multi-head layer (paper: 4; sweep 2, 4, 8, 16)
    heads: int = 4
    #: "full" | "no_sa" (attn_1) | "no_mhsa" (attn_2), Table 2
    variant: str = "full"
    #: tokens of attention: "sensors" (spec 2.8.4 decision: each channel's window is a token) or "time"
    #: (non-overlapping time patches of all channels, the spec's alternative)
    token_axis: Literal["sensors", "time"] = "sensors"
    time_patch: int = 50
    #: optional residual connection + layer norm around each attention layer (spec: optional; off = literal)
    residual: bool = False
    # --- preparation (spec 2.2, 2.8.1, 2.8.3) ------------------------------------------------------------------
    l_freq: float = 0.03
    h_freq: float = 300.0
    notch: float | None = 50.0
    sfreq: float = 1000.0
    window_s: float = 2.0
    overlap: float = 0.5
    #: windows with any |sample| above this (in the recording's units, T for MEG) are rejected; None: keep all
    reject_amplitude: float | None = 4e-12
    #: head movement above this many mm discards a recording (paper: 5 mm)
    max_head_movement_mm: float = 5.0
    #: per-channel z-score of each window (spec 2.8.3)
    zscore: bool = True
    # --- training (spec 2.4, 2.8.5) --------------------------------------------------------------------------
    epochs: int = 300
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    #: subject-grouped stratified k-fold (spec 2.8.2 decision: k = 4-8)
    folds: int = 4
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ConfigError`` for a setting the model cannot use."""
        super().validate()
        if self.variant not in VARIANTS:
            raise ConfigError(f"variant: {self.variant!r} is not one of {VARIANTS}")
        if self.heads < 1 or self.mlp_units[-1] % self.heads:
            raise ConfigError(f"heads: {self.heads} must divide d = {self.mlp_units[-1]} (d_k = d_v = d / h)")
        if len(self.mlp_units) != len(self.mlp_activations):
            raise ConfigError("mlp_units and mlp_activations differ in length")
        if not 0 <= self.overlap < 1:
            raise ConfigError(f"overlap: {self.overlap} must be in [0, 1)")
        if self.folds < 2:
            raise ConfigError(f"folds: {self.folds} must be at least 2")
