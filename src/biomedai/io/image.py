"""The one image type every reader returns.

Axis convention (the same as numpy and scikit-image): ``array`` is indexed ``[z, y, x]`` for
volumes and ``[y, x]`` for planes, with an optional trailing channel axis (``[y, x, c]``).
``spacing``, ``origin`` and the rows/columns of ``direction`` follow the same axis order, so
``spacing[-1]`` is always the x (column) spacing. SimpleITK and NIfTI use x-first order;
:meth:`Image.to_sitk` and :meth:`Image.from_sitk` do the reversal in one place.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Image:
    """An image or volume with its geometry.

    Attributes
    ----------
        array: pixel/voxel data, spatial axes first (``[z,] y, x``), channels last if any.
        spacing: physical size of one pixel per spatial axis, in ``spacing_unit``.
        origin: physical position of the first pixel per spatial axis.
        direction: ``ndim x ndim`` direction cosines, rows in array-axis order.
        channel_axis: ``-1`` when the last axis holds channels (RGB, multi-channel), else ``None``.
        spacing_unit: ``"mm"`` (radiology), ``"um"`` (microscopy), ``"angstrom"`` (cryo-ET) or ``"pixel"``.
        metadata: format-specific facts (modality, series UID, microns per pixel, ...).

    Example:
        >>> img = Image(np.zeros((4, 5)), spacing=(0.5, 0.25))
        >>> img.shape, img.spatial_shape, img.physical_size
        ((4, 5), (4, 5), (2.0, 1.25))
    """

    array: np.ndarray
    spacing: tuple[float, ...] | None = None
    origin: tuple[float, ...] | None = None
    direction: np.ndarray | None = None
    channel_axis: int | None = None
    spacing_unit: str = "pixel"
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.array = np.asarray(self.array)
        if self.channel_axis is not None and self.channel_axis not in (-1, self.array.ndim - 1):
            raise ValueError("channel_axis must be the last axis (-1) or None")
        if self.channel_axis is not None:
            self.channel_axis = -1
        n = self.ndim_spatial
        if n < 1:
            raise ValueError(f"an image needs at least one spatial axis, got shape {self.array.shape}")
        self.spacing = _as_tuple(self.spacing, n, 1.0, "spacing")
        if any(not np.isfinite(s) or s <= 0 for s in self.spacing):
            raise ValueError(f"spacing must be finite and positive, got {self.spacing}")
        self.origin = _as_tuple(self.origin, n, 0.0, "origin")
        direction = np.eye(n) if self.direction is None else np.asarray(self.direction, dtype=float)
        if direction.shape != (n, n):
            raise ValueError(f"direction must be {n}x{n}, got {direction.shape}")
        self.direction = direction

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the pixel array, channels included."""
        return tuple(self.array.shape)

    @property
    def ndim_spatial(self) -> int:
        """Number of spatial axes (2 for a plane, 3 for a volume)."""
        return self.array.ndim - (1 if self.channel_axis is not None else 0)

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        """Shape of the spatial axes (channels left out)."""
        return tuple(self.array.shape[: self.ndim_spatial])

    @property
    def n_channels(self) -> int:
        """Number of channels (1 without a channel axis)."""
        return int(self.array.shape[-1]) if self.channel_axis is not None else 1

    @property
    def physical_size(self) -> tuple[float, ...]:
        """Extent along each spatial axis in ``spacing_unit``."""
        return tuple(float(n * s) for n, s in zip(self.spatial_shape, self.spacing))

    def with_array(self, array: np.ndarray, **changes: Any) -> Image:
        """A copy with a new array (same geometry unless overridden), e.g. a mask of this image."""
        kwargs = dict(spacing=self.spacing, origin=self.origin, direction=self.direction,
                      channel_axis=self.channel_axis, spacing_unit=self.spacing_unit,
                      metadata=dict(self.metadata))
        kwargs.update(changes)
        return Image(array, **kwargs)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description: shape, dtype, spacing, value range, metadata keys."""
        finite = self.array[np.isfinite(self.array)] if self.array.dtype.kind == "f" else self.array
        return {
            "shape": list(self.shape),
            "dtype": str(self.array.dtype),
            "spatial_dims": self.ndim_spatial,
            "channels": self.n_channels,
            "spacing": list(self.spacing),
            "spacing_unit": self.spacing_unit,
            "origin": list(self.origin),
            "direction": self.direction.round(6).tolist(),
            "min": float(finite.min()) if finite.size else None,
            "max": float(finite.max()) if finite.size else None,
            "metadata": {k: v for k, v in self.metadata.items() if _is_plain(v)},
        }

    def to_sitk(self) -> Any:
        """Convert to a ``SimpleITK.Image`` (axis order reversed to x-first)."""
        import SimpleITK as sitk

        img = sitk.GetImageFromArray(self.array, isVector=self.channel_axis is not None)
        img.SetSpacing(tuple(float(s) for s in reversed(self.spacing)))
        img.SetOrigin(tuple(float(o) for o in reversed(self.origin)))
        img.SetDirection(tuple(float(v) for v in self.direction[::-1, ::-1].ravel()))
        return img

    @classmethod
    def from_sitk(cls, img: Any, spacing_unit: str = "mm", metadata: dict[str, Any] | None = None) -> Image:
        """Build from a ``SimpleITK.Image``; multi-component pixels become a channel axis."""
        import SimpleITK as sitk

        array = sitk.GetArrayFromImage(img)
        n = img.GetDimension()
        direction = np.asarray(img.GetDirection(), dtype=float).reshape(n, n)[::-1, ::-1]
        return cls(array, spacing=tuple(reversed(img.GetSpacing())), origin=tuple(reversed(img.GetOrigin())),
                   direction=direction, channel_axis=-1 if img.GetNumberOfComponentsPerPixel() > 1 else None,
                   spacing_unit=spacing_unit, metadata=dict(metadata or {}))


def _as_tuple(value: Any, n: int, default: float, name: str) -> tuple[float, ...]:
    if value is None:
        return (default,) * n
    values = tuple(float(v) for v in np.ravel(value))
    if len(values) != n:
        raise ValueError(f"{name} needs {n} values (one per spatial axis), got {len(values)}")
    return values


def _is_plain(value: Any) -> bool:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return True
    if isinstance(value, (list, tuple)):
        return len(value) <= 32 and all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False
