"""Fully connected 3D CRF (Kraehenbuehl & Koltun 2011, Eqs. 17-18) by vectorised mean-field, in torch.

Binary labels with the Potts compatibility; unary ``-log P`` from the network's probability map;
pairwise kernel ``w1 exp(-|p_i-p_j|^2/2 sa^2 - |I_i-I_j|^2/2 sb^2) + w2 exp(-|p_i-p_j|^2/2 sg^2)``.
The smoothness kernel is a Gaussian filter applied by FFT (periodic boundaries). The appearance (bilateral) kernel is
evaluated on a grid of ``levels`` intensity values (bilateral grid): for each level c the spatial
Gaussian of ``Q * exp(-(I - c)^2 / 2 sb^2)`` is computed, and each voxel reads the two levels around
its own intensity by linear interpolation; exact at the levels, close between them when the level
spacing is below ``sb``. Batched over volumes.
"""
from __future__ import annotations

import math

import torch


def gaussian_filter3d(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian filter of [..., D, H, W] with kernel(0) = 1, by FFT (periodic boundaries)."""
    shape = x.shape[-3:]
    k2 = 0
    for axis, n in enumerate(shape):
        f = torch.fft.rfftfreq(n) if axis == 2 else torch.fft.fftfreq(n)
        view = [1, 1, 1]
        view[axis] = -1
        k2 = k2 + f.to(x.device, torch.float32).view(view) ** 2
    transfer = (2 * math.pi * sigma ** 2) ** 1.5 * torch.exp(-2 * math.pi ** 2 * sigma ** 2 * k2)
    return torch.fft.irfftn(torch.fft.rfftn(x.float(), dim=(-3, -2, -1)) * transfer, s=shape, dim=(-3, -2, -1))


def _level_weights(image: torch.Tensor, sigma_intensity: float, levels: int
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-level intensity weights [B, L, ...] and each voxel's lower level index and fraction [B, 1, ...]."""
    lo = image.amin(dim=(1, 2, 3), keepdim=True)
    span = (image.amax(dim=(1, 2, 3), keepdim=True) - lo).clamp_min(1e-6)
    steps = torch.linspace(0, 1, levels, device=image.device, dtype=image.dtype).view(1, -1, 1, 1, 1)
    centres = lo.unsqueeze(1) + span.unsqueeze(1) * steps
    weights = torch.exp(-(image.unsqueeze(1) - centres) ** 2 / (2 * sigma_intensity ** 2))
    pos = (image - lo) / span * (levels - 1)
    low = pos.floor().clamp(0, levels - 2)
    return weights, low.long().unsqueeze(1), (pos - low).unsqueeze(1)


def bilateral_message(q: torch.Tensor, image: torch.Tensor, sigma_spatial: float, sigma_intensity: float,
                      levels: int = 24) -> torch.Tensor:
    """``sum_j exp(-|p_i-p_j|^2/2 sa^2 - (I_i-I_j)^2/2 sb^2) q_j`` for q [B, ...] and image [B, ...]."""
    weights, low, frac = _level_weights(image.float(), sigma_intensity, levels)
    grid = gaussian_filter3d(weights * q.float().unsqueeze(1), sigma_spatial)
    return ((1 - frac) * grid.gather(1, low) + frac * grid.gather(1, low + 1))[:, 0]


def dense_crf3d(prob: torch.Tensor, image: torch.Tensor, iterations: int = 5, w_appearance: float = 3.0,
                w_smoothness: float = 1.0, sigma_alpha: float = 2.0, sigma_beta: float = 0.5,
                sigma_gamma: float = 1.0, levels: int = 24) -> torch.Tensor:
    """Refine foreground probabilities [B, D, H, W] given intensities [B, D, H, W]; returns Q(foreground).

    Example:
        >>> p = torch.full((1, 8, 8, 8), 0.3); p[:, 2:6, 2:6, 2:6] = 0.7
        >>> q = dense_crf3d(p, (p - 0.5) * 10)    # intensity edges where the probabilities change
        >>> bool(q[0, 4, 4, 4] > 0.7) and bool(q[0, 0, 0, 0] < 0.3)
        True
    """
    p = prob.float().clamp(1e-5, 1 - 1e-5)
    img = image.float()
    weights, low, frac = _level_weights(img, sigma_beta, levels)

    def bilateral(values: torch.Tensor) -> torch.Tensor:
        grid = gaussian_filter3d(weights * values.unsqueeze(1), sigma_alpha)
        return ((1 - frac) * grid.gather(1, low) + frac * grid.gather(1, low + 1))[:, 0]

    # messages are linear in Q and Q(bg) = 1 - Q(fg), so the all-ones message is computed once
    ones = torch.ones_like(p)
    total = w_appearance * bilateral(ones) + w_smoothness * gaussian_filter3d(ones, sigma_gamma)
    self_weight = w_appearance + w_smoothness
    log_fg, log_bg = torch.log(p), torch.log1p(-p)
    q = p
    for _ in range(iterations):
        msg_fg = w_appearance * bilateral(q) + w_smoothness * gaussian_filter3d(q, sigma_gamma) - self_weight * q
        msg_bg = total - msg_fg - self_weight  # sum over j != i of k_ij (1 - q_j)
        # Potts: a label pays for the neighbours' belief in the *other* label
        q = torch.sigmoid((log_fg - msg_bg) - (log_bg - msg_fg))
    return q
