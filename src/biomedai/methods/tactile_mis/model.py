"""The networks of the review's AI systems (spec 3.3), small enough to train on a CPU.

* :class:`FeatureMLP`: the three-layer feed-forward net of Lee & Won 2013 (3 TSIS features -> d, h, E)
  and of Liu et al. 2012 (normalised pressure map -> 4 contact shapes);
* :class:`TactileCNN`: a small CNN from the full tactile image (inverse problem);
* :class:`ConvLSTMClassifier`: Zapata-Impata et al. 2019, stacked ConvLSTM layers of 3 x 3 filters
  over 3-5 frames -> 7 slip classes;
* :class:`CnnLstmRegressor`: Yuan et al. 2017, per-frame CNN features -> LSTM -> Shore 00 hardness
  (a small CNN instead of VGG: 16 x 16 tactile images, CPU budget).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn


class FeatureMLP(nn.Module):
    """in -> hidden -> hidden -> out, ReLU; inputs standardised with stored mean/std."""

    def __init__(self, in_features: int, out_features: int, hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, out_features))
        self.register_buffer("mean", torch.zeros(in_features))
        self.register_buffer("std", torch.ones(in_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        return self.net((x - self.mean) / self.std)


class TactileCNN(nn.Module):
    """(B, 1, rows, cols) force map -> outputs; two 3 x 3 conv blocks, global pooling, linear head."""

    def __init__(self, out_features: int, width: int = 32):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU())
        self.head = nn.Sequential(nn.Linear(4 * width, 64), nn.ReLU(), nn.Linear(64, out_features))
        self.register_buffer("scale", torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            x = x[:, None]
        h = self.features(x / self.scale)
        pooled = torch.cat([h.mean((2, 3)), h.amax((2, 3))], 1)
        return self.head(pooled)


class ConvLSTMCell(nn.Module):
    """One ConvLSTM cell (Shi et al. 2015): the LSTM gates are 2-D convolutions."""

    def __init__(self, in_channels: int, hidden: int, kernel: int = 3):
        super().__init__()
        self.hidden = hidden
        self.gates = nn.Conv2d(in_channels + hidden, 4 * hidden, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        h, c = state
        i, f, o, g = self.gates(torch.cat([x, h], 1)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class ConvLSTMClassifier(nn.Module):
    """(B, T, rows, cols) tactile frames -> class logits from the last hidden state of stacked ConvLSTMs."""

    def __init__(self, n_classes: int, layers: int = 5, filters: int = 32, kernel: int = 3):
        super().__init__()
        self.cells = nn.ModuleList([ConvLSTMCell(1 if k == 0 else filters, filters, kernel) for k in range(layers)])
        self.head = nn.Linear(filters, n_classes)
        self.register_buffer("scale", torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, rows, cols = x.shape
        x = x / self.scale
        states = [(x.new_zeros(b, cell.hidden, rows, cols), x.new_zeros(b, cell.hidden, rows, cols))
                  for cell in self.cells]
        for step in range(t):
            inp = x[:, step, None]
            for k, cell in enumerate(self.cells):
                states[k] = cell(inp, states[k])
                inp = states[k][0]
        return self.head(inp.mean((2, 3)))


class CnnLstmRegressor(nn.Module):
    """(B, T, rows, cols) -> one value: a CNN encodes each frame, an LSTM reads the feature sequence."""

    def __init__(self, width: int = 16, hidden: int = 64):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                     nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2))
        self.lstm = nn.LSTM(8 * width, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)
        self.register_buffer("scale", torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, rows, cols = x.shape
        feats = self.encoder((x / self.scale).reshape(b * t, 1, rows, cols)).reshape(b, t, -1)
        out, _ = self.lstm(feats)
        return self.head(out[:, -1])


def build_model(task: str, architecture: dict[str, Any]) -> nn.Module:
    """The network of a task from its ``model.json`` architecture."""
    if task == "inverse_features":
        return FeatureMLP(3, 3, architecture.get("hidden", 64))
    if task == "inverse_image":
        return TactileCNN(3, architecture.get("width", 32))
    if task == "shape":
        return FeatureMLP(architecture["in_features"], architecture["n_classes"], architecture.get("hidden", 64))
    if task == "slip":
        return ConvLSTMClassifier(architecture["n_classes"], architecture.get("layers", 5),
                                  architecture.get("filters", 32))
    if task == "hardness":
        return CnnLstmRegressor(architecture.get("width", 16), architecture.get("hidden", 64))
    raise ValueError(f"unknown task {task!r}")
