"""Occlusion sensitivity of an NMOSD/MS classifier over its input volume, written as NIfTI and PNG."""
from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from biomedai.utils import atomic_path
from biomedai.viz import save_png


def occlusion_map(model: torch.nn.Module, volume: np.ndarray, *, patch: int = 14, stride: int = 14,
                  target: int = 1) -> np.ndarray:
    """Drop in the ``target`` class probability when a ``patch^3`` cube is set to 0, per voxel (mean over the
    cubes covering it). ``volume``: the ``(D, D, D)`` network input. Positive = evidence for ``target``."""
    model.eval()
    x = torch.from_numpy(np.ascontiguousarray(volume, np.float32))[None, None]
    with torch.no_grad():
        base = torch.softmax(model(x), 1)[0, target].item()
        heat = np.zeros(volume.shape, np.float64)
        hits = np.zeros(volume.shape, np.float64)
        starts = [list(range(0, max(s - patch, 0) + 1, stride)) for s in volume.shape]
        for i in starts[0]:
            for j in starts[1]:
                for k in starts[2]:
                    sl = (slice(i, i + patch), slice(j, j + patch), slice(k, k + patch))
                    occluded = x.clone()
                    occluded[(0, 0, *sl)] = 0.0
                    drop = base - torch.softmax(model(occluded), 1)[0, target].item()
                    heat[sl] += drop
                    hits[sl] += 1
    return (heat / np.maximum(hits, 1)).astype(np.float32)


def write_map(heat: np.ndarray, volume: np.ndarray, stem: Path) -> list[Path]:
    """``stem.nii.gz`` (identity affine: the 100^3 network grid) and ``stem.png`` (axial slice of the peak)."""
    nii = stem.with_name(stem.name + ".nii.gz")
    data = gzip.compress(nib.Nifti1Image(heat.astype(np.float32), np.eye(4)).to_bytes())
    with atomic_path(nii) as tmp:
        tmp.write_bytes(data)
    k = int(np.unravel_index(int(np.argmax(np.abs(heat))), heat.shape)[2])
    grey = volume[:, :, k]
    grey = (np.clip((grey - grey.min()) / max(float(np.ptp(grey)), 1e-6), 0, 1) * 255).astype(np.uint8)
    h = heat[:, :, k]
    scale = max(float(np.abs(heat).max()), 1e-9)
    rgb = np.stack([grey] * 3, -1).astype(np.float32)
    rgb[..., 0] = np.clip(rgb[..., 0] + 255 * np.clip(h / scale, 0, 1), 0, 255)
    rgb[..., 2] = np.clip(rgb[..., 2] + 255 * np.clip(-h / scale, 0, 1), 0, 255)
    png = save_png(np.rot90(rgb.astype(np.uint8)), stem.with_name(stem.name + ".png"))
    return [nii, png]
