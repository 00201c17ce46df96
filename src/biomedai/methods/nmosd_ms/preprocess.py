"""Pre-processing of spec 3.5: the crop kernel (bounding box of the non-background FLAIR), applied identically to
the FLAIR and the lesion image, resizing to 100^3, the input image the classifier sees, and shift/flip
augmentation. Images are trilinear, masks nearest-neighbour (spec 3.10 point 2: 3-D resampling, not OpenCV
section by section)."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import ndimage

from biomedai.errors import InvalidInputError


class CropKernel(NamedTuple):
    """A bounding box ``(start, stop)`` per axis, in voxels of the volume it was computed on."""

    start: tuple[int, int, int]
    stop: tuple[int, int, int]
    shape: tuple[int, int, int]

    def apply(self, volume: np.ndarray, name: str = "volume") -> np.ndarray:
        """Crop ``volume`` (which must have the kernel's source shape) with this kernel."""
        if tuple(volume.shape) != self.shape:
            raise InvalidInputError(f"{name}: shape {volume.shape} differs from the FLAIR's {self.shape}; "
                                    "the crop kernel needs the same grid")
        return volume[tuple(slice(a, b) for a, b in zip(self.start, self.stop))]


def crop_kernel(flair: np.ndarray, threshold: float = 0.0, name: str = "FLAIR") -> CropKernel:
    """The FLAIR's non-background bounding box (voxels ``> threshold``), spec 3.5 step 1."""
    flair = np.asarray(flair)
    if flair.ndim != 3:
        raise InvalidInputError(f"{name}: expected a 3-D volume, got {flair.ndim}-D shape {flair.shape}")
    fg = flair > threshold
    if not fg.any():
        raise InvalidInputError(f"{name}: the volume is all background (no voxel above {threshold})")
    idx = [np.flatnonzero(fg.any(axis=tuple(a for a in range(3) if a != ax))) for ax in range(3)]
    start = tuple(int(i[0]) for i in idx)
    stop = tuple(int(i[-1]) + 1 for i in idx)
    return CropKernel(start, stop, tuple(int(s) for s in flair.shape))  # type: ignore[arg-type]


def resize_volume(volume: np.ndarray, side: int = 100, *, is_mask: bool = False) -> np.ndarray:
    """Resize to ``side^3``: trilinear for images, nearest-neighbour for masks (spec 3.5 step 3, 3.10 point 2)."""
    volume = np.asarray(volume)
    zoom = [side / s for s in volume.shape]
    if is_mask:
        out = ndimage.zoom(volume.astype(np.uint8), zoom, order=0, grid_mode=True, mode="grid-constant")
        return out.astype(bool)
    return ndimage.zoom(volume.astype(np.float32), zoom, order=1, grid_mode=True, mode="grid-constant")


def normalise_flair(flair: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """Z-score within the brain mask (spec 3.10 point 3); zero outside the brain."""
    brain = np.asarray(brain, bool)
    if not brain.any():
        raise InvalidInputError("brain mask: empty, cannot normalise the FLAIR")
    vals = flair[brain].astype(np.float64)
    sd = vals.std()
    out = np.zeros(flair.shape, np.float32)
    out[brain] = ((vals - vals.mean()) / (sd if sd > 0 else 1.0)).astype(np.float32)
    return out


def classifier_input(flair: np.ndarray, lesion: np.ndarray, kind: str = "flair_masked_by_wmh",
                     side: int = 100) -> np.ndarray:
    """Crop (one kernel for both), resize to ``side^3`` and build the image the classifier sees.

    ``kind``: ``wmh_mask`` (binary lesion image), ``flair_masked_by_wmh`` (FLAIR intensities inside the lesions,
    the default) or ``flair``. ``flair`` should already be normalised. Returns float32 ``(side, side, side)``.
    """
    kernel = crop_kernel(flair)
    f = resize_volume(kernel.apply(flair, "FLAIR"), side)
    m = resize_volume(kernel.apply(np.asarray(lesion) > 0, "lesion mask"), side, is_mask=True)
    if kind == "wmh_mask":
        return m.astype(np.float32)
    if kind == "flair_masked_by_wmh":
        return np.where(m, f, 0.0).astype(np.float32)
    if kind == "flair":
        return f.astype(np.float32)
    raise InvalidInputError(f"unknown classifier input kind {kind!r}")


def shift_flip(volume: np.ndarray, crop_side: int, rng: np.random.Generator | None, *,
               flip_probability: float = 0.5, flip_axis: int = 0) -> np.ndarray:
    """Random shift (a ``crop_side^3`` crop at a random offset) and left-right flip (spec 3.5 step 4).

    With ``rng=None`` it is the deterministic centre crop used at inference.
    """
    if crop_side > min(volume.shape):
        raise ValueError(f"crop_side {crop_side} exceeds the volume {volume.shape}")
    if rng is None:
        offs = [(s - crop_side) // 2 for s in volume.shape]
    else:
        offs = [int(rng.integers(0, s - crop_side + 1)) for s in volume.shape]
    out = volume[tuple(slice(o, o + crop_side) for o in offs)]
    if rng is not None and rng.random() < flip_probability:
        out = np.flip(out, axis=flip_axis)
    return np.ascontiguousarray(out)
