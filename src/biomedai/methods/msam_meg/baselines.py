"""Table 1 baselines (spec 2.8.6 decisions): a compact ShallowConvNet/EEGNet-style CNN on the windows, and an RBF
SVM and a 500-tree random forest (scikit-learn) on log band-power features (MNE's Welch PSD)."""
from __future__ import annotations

import numpy as np
import torch
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from torch import nn

#: canonical bands (Hz); the upper edge is capped at Nyquist
BANDS = {"delta": (1.0, 4.0), "theta": (4.0, 8.0), "alpha": (8.0, 13.0), "beta": (13.0, 30.0),
         "gamma": (30.0, 80.0)}


def band_power(x: np.ndarray, sfreq: float) -> np.ndarray:
    """Log mean power per channel and band, ``(n, channels * bands)``, from ``mne.time_frequency.psd_array_welch``."""
    from mne.time_frequency import psd_array_welch

    n_fft = min(x.shape[-1], int(sfreq))
    psd, freqs = psd_array_welch(x.astype(np.float64), sfreq, fmin=0.5, fmax=min(80.0, sfreq / 2), n_fft=n_fft,
                                 verbose="error")
    feats = []
    for lo, hi in BANDS.values():
        sel = (freqs >= lo) & (freqs < hi)
        if sel.any():
            feats.append(np.log(psd[..., sel].mean(axis=-1) + 1e-30))
    return np.stack(feats, axis=-1).reshape(len(x), -1)


def make_svm(seed: int = 0) -> object:
    """RBF SVM on standardised features (its score is the logistic of the decision value: no Platt scaling)."""
    return make_pipeline(StandardScaler(), SVC(kernel="rbf", random_state=seed))


def svm_score(estimator: object, features: np.ndarray) -> np.ndarray:
    """P-like score in (0, 1) whose 0.5 threshold is the SVM's own decision."""
    return 1.0 / (1.0 + np.exp(-estimator.decision_function(features)))


def make_random_forest(seed: int = 0, n_jobs: int = 1) -> object:
    """Random forest with 500 trees (spec 2.8.6)."""
    return RandomForestClassifier(n_estimators=500, random_state=seed, n_jobs=n_jobs)


class ShallowCNN(nn.Module):
    """Compact ShallowConvNet-style CNN: temporal conv (kernel 7) -> spatial conv over channels -> square ->
    average pool -> log -> dropout -> linear logit."""

    def __init__(self, n_channels: int, n_samples: int, filters: int = 16, kernel: int = 7, pool: int = 25,
                 dropout: float = 0.5) -> None:
        super().__init__()
        self.temporal = nn.Conv2d(1, filters, (1, kernel), padding=(0, kernel // 2))
        self.spatial = nn.Conv2d(filters, filters, (n_channels, 1), bias=False)
        self.norm = nn.BatchNorm2d(filters)
        self.pool = nn.AvgPool2d((1, pool), stride=(1, max(1, pool // 2)))
        self.dropout = nn.Dropout(dropout)
        with torch.no_grad():
            width = self._features(torch.zeros(1, n_channels, n_samples)).shape[1]
        self.classifier = nn.Linear(width, 1)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.spatial(self.temporal(x.unsqueeze(1))))
        h = torch.log(torch.clamp(self.pool(h * h), min=1e-6))
        return h.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B,)``."""
        return self.classifier(self.dropout(self._features(x))).squeeze(-1)
