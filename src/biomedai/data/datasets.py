"""PyTorch datasets over files read through :mod:`biomedai.io` and over in-memory arrays.

This is the only module of :mod:`biomedai.data` that imports torch. Samples are dicts (MONAI's
style): ``"image"`` channels first, float32; ``"target"`` a mask (integer masks as int64, spatial
axes only when single-channel) or a label; plus where it came from. A ``transform`` callable
receives that dict (numpy arrays) and returns it; tensors are made afterwards when ``as_tensor``.

Example:
    >>> from biomedai.data.phantoms import nuclei_phantom
    >>> img, lab = nuclei_phantom((64, 64), n_nuclei=3, radius_range=(4, 6), seed=0)
    >>> ds = PatchDataset([img], patch_size=32, targets=[lab], patches_per_image=4)
    >>> s = ds[0]
    >>> tuple(s["image"].shape), tuple(s["target"].shape)
    ((3, 32, 32), (32, 32))
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from biomedai.errors import InvalidInputError
from biomedai.io.image import Image

logger = logging.getLogger(__name__)

__all__ = ["ImageDataset", "PatchDataset", "image_to_channels_first"]

Transform = Callable[[dict[str, Any]], dict[str, Any]]


def image_to_channels_first(image: Image | np.ndarray, channel_axis: int | None = None) -> np.ndarray:
    """A float32 ``(C, *spatial)`` array from an :class:`Image` (or an array + ``channel_axis``)."""
    if isinstance(image, Image):
        array, channel_axis = image.array, image.channel_axis
    else:
        array = np.asarray(image)
    if channel_axis is None:
        array = array[None]
    elif channel_axis in (-1, array.ndim - 1):
        array = np.moveaxis(array, -1, 0)
    elif channel_axis != 0:
        raise InvalidInputError(f"channel_axis must be None, 0 or -1, got {channel_axis}")
    return np.ascontiguousarray(array, dtype=np.float32)


def _target_array(array: np.ndarray, channel_axis: int | None) -> np.ndarray:
    """Masks: int64 for integer/bool data, float32 otherwise; channels first only if several differ."""
    if channel_axis is not None:
        array = np.moveaxis(array, -1 if channel_axis != 0 else 0, 0)
        if array.shape[0] == 1 or all(np.array_equal(array[0], c) for c in array[1:]):
            array = array[0]
    dtype = np.int64 if array.dtype.kind in "biu" else np.float32
    return np.ascontiguousarray(array, dtype=dtype)


def _to_tensors(sample: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in sample.items():
        if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            value = torch.from_numpy(np.ascontiguousarray(value))
        elif isinstance(value, (int, float, np.integer, np.floating)) and key == "target":
            value = torch.as_tensor(value)
        out[key] = value
    return out


class ImageDataset(Dataset):
    """Images and their targets read from files through :func:`biomedai.io.read_image`.

    ``items`` is a list of image paths or of ``(image path, target)`` pairs, where a target is a
    mask path (``str``/``Path``), a class label (``int``/``float``) or ``None``. Each sample is
    ``{"image": (C, *spatial) float32, "target": ..., "image_path": str, "target_path": str | None,
    "spacing": tuple}``. Image and mask must have the same spatial shape.
    """

    def __init__(self, items: Sequence[Any], transform: Transform | None = None, *, as_tensor: bool = True,
                 reader: Callable[[Path], Image] | None = None) -> None:
        self.items: list[tuple[Path, Any]] = []
        for item in items:
            image_path, target = (item if isinstance(item, (tuple, list)) else (item, None))
            if isinstance(target, (str, Path)):
                target = Path(target)
            self.items.append((Path(image_path), target))
        self.transform = transform
        self.as_tensor = as_tensor
        self._reader = reader

    def __len__(self) -> int:
        return len(self.items)

    def _read(self, path: Path) -> Image:
        if self._reader is not None:
            return self._reader(path)
        from biomedai.io import read_image

        return read_image(path)

    def __getitem__(self, index: int) -> dict[str, Any]:
        image_path, target = self.items[index]
        image = self._read(image_path)
        sample: dict[str, Any] = {"image": image_to_channels_first(image), "image_path": str(image_path),
                                  "target_path": None, "spacing": tuple(image.spacing)}
        if isinstance(target, Path):
            mask = self._read(target)
            if mask.spatial_shape != image.spatial_shape:
                raise InvalidInputError(f"mask shape {mask.spatial_shape} differs from image "
                                        f"{image_path} shape {image.spatial_shape}", target)
            sample["target"] = _target_array(mask.array, mask.channel_axis)
            sample["target_path"] = str(target)
        else:
            sample["target"] = target
        if self.transform is not None:
            sample = self.transform(sample)
        return _to_tensors(sample) if self.as_tensor else sample


class PatchDataset(Dataset):
    """Random patches from in-memory images (and aligned targets), reproducible per index and epoch.

    ``len(ds) == len(images) * patches_per_image``; item ``i`` comes from image
    ``i // patches_per_image`` at an origin drawn from ``default_rng([seed, epoch, i])``, so two
    passes give the same patches until :meth:`set_epoch` changes the epoch. With
    ``foreground_fraction`` > 0 that share of patches is centred on a random foreground voxel of
    the target (``target > 0``). Images smaller than the patch are zero-padded. ``images`` are
    arrays (``channel_axis`` tells where channels are) or :class:`Image` objects.
    """

    def __init__(self, images: Sequence[np.ndarray | Image], patch_size: int | Sequence[int],
                 targets: Sequence[np.ndarray | Image] | None = None, patches_per_image: int = 16,
                 seed: int = 0, *, channel_axis: int | None = None, foreground_fraction: float = 0.0,
                 transform: Transform | None = None, as_tensor: bool = True) -> None:
        if not images:
            raise InvalidInputError("PatchDataset needs at least one image")
        if patches_per_image < 1:
            raise InvalidInputError(f"patches_per_image must be >= 1, got {patches_per_image}")
        if not 0.0 <= foreground_fraction <= 1.0:
            raise InvalidInputError(f"foreground_fraction must lie in [0, 1], got {foreground_fraction}")
        self.images = [image_to_channels_first(im, channel_axis) for im in images]
        ndim = self.images[0].ndim - 1
        if any(im.ndim - 1 != ndim for im in self.images):
            raise InvalidInputError("all images must have the same number of spatial axes")
        size = (patch_size,) * ndim if isinstance(patch_size, int) else tuple(patch_size)
        if len(size) != ndim or any(int(p) < 1 for p in size):
            raise InvalidInputError(f"patch_size needs {ndim} positive values, got {patch_size}")
        self.patch_size = tuple(int(p) for p in size)
        self.targets = None
        if targets is not None:
            if len(targets) != len(images):
                raise InvalidInputError(f"{len(targets)} targets for {len(images)} images")
            self.targets = [_target_array(t.array, t.channel_axis) if isinstance(t, Image)
                            else _target_array(np.asarray(t), None) for t in targets]
            for k, (im, t) in enumerate(zip(self.images, self.targets)):
                if t.shape[-ndim:] != im.shape[1:]:
                    raise InvalidInputError(f"target {k} shape {t.shape} does not match image shape {im.shape[1:]}")
        self.patches_per_image = patches_per_image
        self.seed = seed
        self.foreground_fraction = foreground_fraction
        self.transform = transform
        self.as_tensor = as_tensor
        self.epoch = 0
        self._foreground: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.images) * self.patches_per_image

    def set_epoch(self, epoch: int) -> None:
        """Draw a different set of patches (call once per epoch)."""
        self.epoch = int(epoch)

    def _origin(self, rng: np.random.Generator, k: int) -> tuple[int, ...]:
        shape = self.images[k].shape[1:]
        high = [max(n - p, 0) for n, p in zip(shape, self.patch_size)]
        if self.targets is not None and self.foreground_fraction > 0 and rng.random() < self.foreground_fraction:
            if k not in self._foreground:
                t = self.targets[k]
                self._foreground[k] = np.flatnonzero(t.reshape(-1, *shape).any(axis=0) if t.ndim > len(shape)
                                                     else t > 0)
            fg = self._foreground[k]
            if fg.size:
                centre = np.unravel_index(fg[rng.integers(fg.size)], shape)
                return tuple(int(min(max(c - p // 2, 0), h)) for c, p, h in zip(centre, self.patch_size, high))
        return tuple(int(rng.integers(0, h + 1)) for h in high)

    def _crop(self, array: np.ndarray, origin: tuple[int, ...]) -> np.ndarray:
        lead = array.ndim - len(origin)
        index = (slice(None),) * lead + tuple(slice(o, o + p) for o, p in zip(origin, self.patch_size))
        patch = array[index]
        pads = [(0, 0)] * lead + [(0, p - n) for n, p in zip(patch.shape[lead:], self.patch_size)]
        return np.pad(patch, pads) if any(p[1] for p in pads) else np.ascontiguousarray(patch)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        k = index // self.patches_per_image
        rng = np.random.default_rng([self.seed, self.epoch, index])
        origin = self._origin(rng, k)
        sample: dict[str, Any] = {"image": self._crop(self.images[k], origin), "origin": origin, "image_index": k}
        if self.targets is not None:
            sample["target"] = self._crop(self.targets[k], origin)
        if self.transform is not None:
            sample = self.transform(sample)
        return _to_tensors(sample) if self.as_tensor else sample
