"""Rotations of cubic volumes for the cryo-ET simulator: uniform random poses and batched trilinear rotation."""
from __future__ import annotations

import numpy as np

from biomedai.errors import InvalidInputError


def uniform_random_rotations(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` rotation matrices [n, 3, 3] drawn uniformly from SO(3) (normalised Gaussian quaternions)."""
    q = rng.standard_normal((n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
    ], 1)


def rotate_volumes(volumes: np.ndarray, rotations: np.ndarray, shifts: np.ndarray | None = None) -> np.ndarray:
    """Rotate a batch of cubic volumes [B, N, N, N] about their centre, trilinearly, all at once.

    ``rotations`` [B, 3, 3] (or one [3, 3]) act on ``(z, y, x)`` coordinates: ``out(p) = in(R^T (p - c) + c - s)``
    where ``s`` is an optional shift [B, 3] in voxels (z, y, x). Outside the box reads as 0.
    """
    import torch
    import torch.nn.functional as F

    vols = np.asarray(volumes, dtype=np.float32)
    single = vols.ndim == 3
    if single:
        vols = vols[None]
    b, n = vols.shape[0], vols.shape[1]
    if vols.shape[1:] != (n, n, n):
        raise InvalidInputError(f"rotate_volumes needs cubic volumes, got {vols.shape[1:]}")
    rot = np.broadcast_to(np.asarray(rotations, dtype=np.float64), (b, 3, 3))
    half = (n - 1) / 2.0
    theta = np.zeros((b, 3, 4))
    # normalised coords u = (p - c) / half; source u_src = R^T u - s/half; grid_sample wants (x, y, z)
    flip = np.eye(3)[::-1]
    rt = np.transpose(rot, (0, 2, 1))
    theta[:, :, :3] = flip @ rt @ flip
    if shifts is not None:
        theta[:, :, 3] = -(np.asarray(shifts, dtype=np.float64).reshape(b, 3)[:, ::-1]) / half
    with torch.no_grad():
        grid = F.affine_grid(torch.from_numpy(theta).float(), (b, 1, n, n, n), align_corners=True)
        out = F.grid_sample(torch.from_numpy(np.ascontiguousarray(vols))[:, None], grid, mode="bilinear",
                            padding_mode="zeros", align_corners=True)[:, 0].numpy()
    return out[0] if single else out
