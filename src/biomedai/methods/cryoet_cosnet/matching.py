"""Template matching of subtomograms: plain NCC and missing-wedge-aware constrained correlation.

Both score a support (template or one-shot example) against targets as the maximum, over a set of
rotations of the support, of a normalised correlation. The **constrained correlation** (Foerster et al.
2008, the measure of pytom and STOPGAP) compares only the Fourier components that both volumes
actually sampled: the target's own wedge ``W(k)`` and the rotated support's ``W(R^T k)``, inside the
particle's band, and normalises within that set:

    CC(R) = sum_k M Re(S_R(k) T*(k)) / sqrt(sum_k M |S_R(k)|^2  sum_k M |T(k)|^2),
    M(k) = W(k) W(R^T k) [f_lo <= |k| <= f_hi],  k != 0.

By Parseval this is the Pearson correlation of the two volumes after both are filtered by ``M``, which
:func:`masked_correlation_bruteforce` computes in real space for the tests. ``W`` is the single-axis
tilt wedge (tilt axis y, beam z): a frequency is sampled when its direction in the x-z plane is
within the tilt range, or it lies on the tilt axis.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from biomedai.data.cryoet_geometry import uniform_random_rotations
from biomedai.data.cryoet_sim import zscore


def search_rotations(n_rotations: int, seed: int = 0) -> np.ndarray:
    """The identity plus ``n_rotations - 1`` uniform random rotations [n, 3, 3] (z, y, x)."""
    rest = uniform_random_rotations(max(0, n_rotations - 1), np.random.default_rng(seed))
    return np.concatenate([np.eye(3)[None], rest])


def rotate_batch(volume: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """One cubic volume rotated by each of ``rotations`` about its centre (trilinear) -> [R, N, N, N]."""
    n = volume.shape[-1]
    flip = np.eye(3)[::-1]
    theta = np.zeros((len(rotations), 3, 4))
    theta[:, :, :3] = flip @ np.transpose(rotations, (0, 2, 1)) @ flip
    grid = F.affine_grid(torch.from_numpy(theta).float(), (len(rotations), 1, n, n, n), align_corners=True)
    v = torch.from_numpy(np.ascontiguousarray(volume, np.float32))[None, None].expand(len(rotations), 1, n, n, n)
    with torch.no_grad():
        return F.grid_sample(v, grid, align_corners=True)[:, 0].numpy()


def full_frequency_vectors(n: int, real: bool = True) -> np.ndarray:
    """Frequency vectors (kz, ky, kx) in cycles/voxel on the rfftn (or full fftn) grid of an ``n``^3 box."""
    kz = np.fft.fftfreq(n)
    ky = np.fft.fftfreq(n)
    kx = np.fft.rfftfreq(n) if real else np.fft.fftfreq(n)
    grid = np.stack(np.meshgrid(kz, ky, kx, indexing="ij"), -1)
    return grid


def wedge_sampled(k: np.ndarray, tilt_range_deg: tuple[float, float]) -> np.ndarray:
    """True where frequency vectors ``k`` [..., 3] (z, y, x) were sampled by a tilt series about y."""
    kz, kx = k[..., 0], k[..., 2]
    on_axis = (np.abs(kz) < 1e-9) & (np.abs(kx) < 1e-9)
    angle = np.degrees(np.arctan2(-kz, kx))                  # tilt whose plane holds k: tan(theta) = -kz / kx
    angle = (angle + 90.0) % 180.0 - 90.0                     # a line through 0: fold into [-90, 90)
    lo, hi = tilt_range_deg
    return on_axis | ((angle >= lo - 1e-9) & (angle <= hi + 1e-9))


def constrained_masks(n: int, rotations: np.ndarray, tilt_range_deg: tuple[float, float] | None,
                      band: tuple[float, float] | None, real: bool = True) -> np.ndarray:
    """``M_R(k) = W(k) W(R^T k) band(k)`` for each rotation [R, *grid] as float32 (DC excluded)."""
    k = full_frequency_vectors(n, real)
    radius = np.linalg.norm(k, axis=-1)
    lo, hi = band if band is not None else (0.0, np.inf)
    base = (radius > 1e-9) & (radius >= lo) & (radius <= hi)
    if tilt_range_deg is None:
        return np.broadcast_to(base, (len(rotations), *base.shape)).astype(np.float32)
    base = base & wedge_sampled(k, tilt_range_deg)
    out = np.empty((len(rotations), *base.shape), np.float32)
    for i, r in enumerate(rotations):
        out[i] = base & wedge_sampled(k @ r, tilt_range_deg)   # (R^T k) as a row vector is k @ R
    return out


def _rfft_weights(n: int) -> np.ndarray:
    mult = np.full(n // 2 + 1, 2.0, np.float32)
    mult[0] = 1.0
    if n % 2 == 0:
        mult[-1] = 1.0
    return mult


def constrained_correlation_scores(supports: np.ndarray, targets: np.ndarray, n_rotations: int = 60,
                                   tilt_range_deg: tuple[float, float] | None = (-60.0, 60.0),
                                   band: tuple[float, float] | None = None, seed: int = 0,
                                   return_all: bool = False) -> np.ndarray:
    """Missing-wedge-aware template matching: max over rotations of the constrained correlation [S, T].

    ``tilt_range_deg=None`` drops the wedge (band-limited plain correlation). With ``return_all`` the
    scores of every rotation [S, R, T] are returned instead of their maximum.
    """
    supports = np.asarray(supports, np.float32)
    targets = np.asarray(targets, np.float32)
    n = targets.shape[-1]
    rotations = search_rotations(n_rotations, seed)
    masks = constrained_masks(n, rotations, tilt_range_deg, band).reshape(len(rotations), -1)
    masks = torch.from_numpy(masks * np.broadcast_to(_rfft_weights(n), (n, n, n // 2 + 1)).reshape(1, -1))
    t_spec = torch.from_numpy(np.fft.rfftn(targets, axes=(1, 2, 3)).reshape(len(targets), -1).astype(np.complex64))
    t_power = t_spec.real ** 2 + t_spec.imag ** 2                                     # [T, K]
    t_norm = torch.sqrt((masks @ t_power.T).clamp_min(1e-20))                         # [R, T]
    out = np.empty((len(supports), len(rotations), len(targets)), np.float32)
    for i, support in enumerate(supports):
        spec = np.fft.rfftn(rotate_batch(support, rotations), axes=(1, 2, 3)).reshape(len(rotations), -1)
        s_spec = torch.from_numpy(spec.astype(np.complex64))
        weighted = s_spec * masks                                                      # [R, K]
        numer = weighted.real @ t_spec.real.T + weighted.imag @ t_spec.imag.T           # Re(S conj(T))
        s_norm = torch.sqrt(((s_spec.real ** 2 + s_spec.imag ** 2) * masks).sum(1).clamp_min(1e-20))
        out[i] = (numer / (s_norm[:, None] * t_norm)).numpy()
    return out if return_all else out.max(axis=1)


def masked_correlation_bruteforce(support: np.ndarray, target: np.ndarray, rotation: np.ndarray,
                                  tilt_range_deg: tuple[float, float] | None,
                                  band: tuple[float, float] | None) -> float:
    """Reference for the tests: filter both volumes by the full-grid mask ``M_R`` and take their Pearson r."""
    n = target.shape[-1]
    rotated = rotate_batch(np.asarray(support, np.float32), rotation[None])[0]
    mask = constrained_masks(n, rotation[None], tilt_range_deg, band, real=False)[0]
    a = np.real(np.fft.ifftn(np.fft.fftn(rotated) * mask))
    b = np.real(np.fft.ifftn(np.fft.fftn(np.asarray(target, np.float64)) * mask))
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / math.sqrt((a * a).sum() * (b * b).sum()))


def ncc_scores(supports: np.ndarray, targets: np.ndarray, n_rotations: int = 60, seed: int = 0,
               device: str = "cpu") -> np.ndarray:
    """Plain template matching: max over rotations of the support of its whole-band NCC with the target [S, T]."""
    rotations = search_rotations(n_rotations, seed)
    n = supports.shape[-1]
    dev = torch.device(device)
    t = torch.from_numpy(zscore(targets).reshape(len(targets), -1)).to(dev) / float(n ** 3)
    best = torch.full((len(supports), len(targets)), -np.inf, device=dev)
    for i, vol in enumerate(supports):
        r = torch.from_numpy(rotate_batch(vol, rotations).reshape(len(rotations), -1)).to(dev)
        r = (r - r.mean(1, keepdim=True)) / r.std(1, unbiased=False, keepdim=True).clamp_min(1e-8)
        best[i] = (r @ t.T).amax(0)
    return best.cpu().numpy()


def predict_classes(scores: np.ndarray, class_of_support: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per target, the class of the best-scoring support and that score, from scores [S, T]."""
    best = np.argmax(scores, axis=0)
    return np.asarray(class_of_support)[best], scores[best, np.arange(scores.shape[1])]
