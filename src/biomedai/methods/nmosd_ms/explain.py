"""Explanation maps of an NMOSD/MS classifier over its input volume (occlusion sensitivity and Grad-CAM), written
as NIfTI and PNG.

Grad-CAM (MONAI ``GradCAM``) uses the last residual stage (``layer4``). For the 3-D ResNet that map is 3-D and is
upsampled to the input (MONAI's trilinear upsampler; MONAI's default normaliser, which maps (min, max) to (1, 0)
and so inverts the map, is replaced by a plain scaling to [0, 1]). For the two-view ResNet it is 2-D over ``(a, l)``: the
compression block turned axis ``h`` (view 1) and axis ``w`` (view 2) into channels and concatenated the two views'
channels, so the map's first axis is ``w`` for view-1 features and ``h`` for view-2 features. It is brought back to
the volume as ``M(h, w, l) = (C(w, l) + C(h, l)) / 2`` (each view's collapsed axis broadcast), our choice: the
network has no finer localisation along the axis it compressed.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from biomedai.errors import InvalidInputError
from biomedai.utils import atomic_path
from biomedai.viz import save_png

from .config import EXPLANATIONS
from .networks import ResNet3D, TwoViewResNet


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


def _unit(cam: torch.Tensor) -> torch.Tensor:
    """Scaled to [0, 1] (all zeros stays zeros)."""
    cam = cam - cam.min()
    top = cam.max()
    return cam / top if top > 0 else cam


def gradcam_map(model: torch.nn.Module, volume: np.ndarray, *, target: int = 1) -> np.ndarray:
    """Grad-CAM of class ``target`` at ``layer4`` over the ``(D, D, D)`` network input, in [0, 1] (module
    docstring: how the two-view map is brought back to 3-D). The input is checked before anything is computed
    (:func:`check_gradcam_input`)."""
    from monai.visualize import GradCAM

    volume = check_gradcam_input(model, volume)
    model.eval()
    x = torch.from_numpy(np.ascontiguousarray(volume, np.float32))[None, None]
    with torch.enable_grad():
        if isinstance(model, TwoViewResNet):
            cam2d = GradCAM(model, target_layers="layer4").compute_map(x, class_idx=target)  # (1, 1, a', l')
            c = _unit(torch.nn.functional.interpolate(cam2d, size=(volume.shape[0], volume.shape[2]),
                                                      mode="bilinear", align_corners=False)[0, 0].detach())
            heat = 0.5 * (c[None, :, :] + c[:, None, :])  # view 1: C(w, l) over every h; view 2: C(h, l) over every w
        else:
            # MONAI's default post-processing maps (min, max) to (1, 0), i.e. flips the map: scale it ourselves
            cam = GradCAM(model, target_layers="net.layer4", postprocessing=lambda t: t)
            heat = cam(x, class_idx=target)[0, 0].detach()
    return _unit(heat).numpy().astype(np.float32)


def check_gradcam_input(model: torch.nn.Module, volume: np.ndarray) -> np.ndarray:
    """``volume`` as an array once it suits ``model``'s Grad-CAM: a finite 3-D volume, for the two-view network
    with equal ``h`` and ``w`` sides of its compression depth (the two views must agree: a cube in those axes).

    Raises :class:`~biomedai.errors.InvalidInputError` naming the problem (``ValueError`` for a classifier that
    is neither network)."""
    if not isinstance(model, (TwoViewResNet, ResNet3D)):
        raise ValueError(f"Grad-CAM: unsupported classifier {type(model).__name__}")
    volume = np.asarray(volume)
    if volume.ndim != 3 or min(volume.shape) < 1:
        raise InvalidInputError(f"Grad-CAM needs a 3-D (h, w, l) network input, got shape {volume.shape}")
    if not np.isfinite(volume).all():
        raise InvalidInputError("Grad-CAM input holds NaN or infinite values")
    if isinstance(model, TwoViewResNet):
        depth = model.compression.depth
        if volume.shape[0] != volume.shape[1] or volume.shape[0] != depth:
            raise InvalidInputError(f"the two-view network needs a cube in h and w of side {depth} (its two views "
                                    f"take h and w as channels), got shape {volume.shape}")
    return volume


def explanation_maps(model: torch.nn.Module, volume: np.ndarray, kinds: tuple[str, ...] = EXPLANATIONS,
                     target: int = 1) -> dict[str, np.ndarray]:
    """The maps named in ``kinds`` (``gradcam``, ``occlusion``) over ``volume``, by name."""
    unknown = set(kinds) - set(EXPLANATIONS)
    if unknown:
        raise ValueError(f"unknown explanation(s) {sorted(unknown)}; choose from {EXPLANATIONS}")
    makers = {"gradcam": gradcam_map, "occlusion": occlusion_map}
    return {k: makers[k](model, volume, target=target) for k in kinds}


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
