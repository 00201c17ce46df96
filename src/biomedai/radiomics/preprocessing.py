"""Image and mask preparation before feature extraction, with PyRadiomics' semantics.

Loading (paths, :class:`biomedai.io.image.Image`, SimpleITK images), mask selection and checks
(geometry tolerance, ``correctMask``, minimum ROI dimensions and size), normalisation,
resampling, resegmentation, cropping and grey-level discretisation (``binWidth``/``binCount``).
SimpleITK does the resampling and normalisation, as in PyRadiomics, so results agree.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidInputError

logger = logging.getLogger(__name__)


@dataclass
class BoundingBox:
    """Inclusive voxel bounds of the ROI in numpy axis order (``[z,] y, x``)."""

    lower: np.ndarray
    upper: np.ndarray

    @property
    def size(self) -> np.ndarray:
        """Extent of the box per axis, in voxels."""
        return self.upper - self.lower + 1

    def slices(self, pad: int = 0, shape: tuple[int, ...] | None = None) -> tuple[slice, ...]:
        """Slices of the box grown by ``pad`` voxels, clipped to ``shape`` when given."""
        lo = self.lower - pad
        hi = self.upper + pad + 1
        if shape is not None:
            lo = np.maximum(lo, 0)
            hi = np.minimum(hi, shape)
        return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))

    def itk(self) -> tuple[int, ...]:
        """PyRadiomics' diagnostics layout: x-first lower bounds, then x-first sizes."""
        return tuple(int(v) for v in np.concatenate([self.lower[::-1], self.size[::-1]]))


def input_name(obj: Any, default: str) -> str:
    """How error messages name an input: its path, or ``default`` for in-memory images."""
    return str(obj) if isinstance(obj, (str, Path)) else default


def to_sitk(obj: Any, what: str) -> Any:
    """A SimpleITK image from a path, a biomedai ``Image``, a SimpleITK image or a numpy array."""
    import SimpleITK as sitk

    from ..io.image import Image

    if isinstance(obj, sitk.Image):
        return obj
    if isinstance(obj, Image):
        if obj.channel_axis is not None and what == "image":
            raise InvalidInputError(f"the {what} has {obj.n_channels} channels; radiomics needs a scalar image")
        return obj.to_sitk()
    if isinstance(obj, np.ndarray):
        if obj.ndim not in (2, 3):
            raise InvalidInputError(f"the {what} array is {obj.ndim}D; radiomics takes 2D or 3D inputs "
                                    f"(split 4D series into 3D volumes first)")
        return sitk.GetImageFromArray(obj)
    if isinstance(obj, (str, Path)):
        path = Path(obj)
        if not path.exists():
            raise InvalidInputError(f"{what} file not found", path)
        from ..io import read_image

        img = read_image(path)
        if img.channel_axis is not None and what == "mask":
            # multi-segment files: keep the vector image so label_channel can pick one
            return img.to_sitk()
        if img.channel_axis is not None:
            raise InvalidInputError(f"the {what} has {img.n_channels} channels; radiomics needs a scalar image", path)
        return img.to_sitk()
    raise InvalidInputError(f"cannot use a {type(obj).__name__} as the {what}; give a path, an Image or an array")


def check_dimensions(image: Any, mask: Any, image_name: str, mask_name: str) -> None:
    """2D and 3D inputs only, and the same dimensionality for image and mask."""
    for img, name, what in ((image, image_name, "image"), (mask, mask_name, "mask")):
        if img.GetDimension() not in (2, 3):
            raise InvalidInputError(f"the {what} is {img.GetDimension()}D; radiomics takes 2D or 3D inputs "
                                    f"(split 4D series into 3D volumes first)", name)
    if image.GetDimension() != mask.GetDimension():
        raise InvalidInputError(f"the image is {image.GetDimension()}D but the mask is {mask.GetDimension()}D",
                                mask_name)


def select_mask(mask: Any, label: int, label_channel: int, name: str) -> Any:
    """Pick a channel of a vector mask, cast to UInt32 and check the label is present."""
    import SimpleITK as sitk

    if mask.GetNumberOfComponentsPerPixel() > 1:
        n = mask.GetNumberOfComponentsPerPixel()
        if label_channel >= n:
            raise InvalidInputError(f"label_channel {label_channel} requested but the mask has {n} channels", name)
        mask = sitk.VectorIndexSelectionCast(mask, label_channel)
    arr = sitk.GetArrayViewFromImage(mask)
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        raise InvalidInputError("the mask contains NaN or infinite values", name)
    mask = sitk.Cast(mask, sitk.sitkUInt32)
    arr = sitk.GetArrayViewFromImage(mask)
    top = int(arr.max())
    labels = np.flatnonzero(np.bincount(arr.ravel(), minlength=1)) if top < 1 << 20 else np.unique(arr)
    if not np.any(labels != 0):  # a mask of all ones (the whole image) is not empty
        raise InvalidInputError("the mask is empty (no voxel is segmented)", name)
    if label not in labels:
        present = ", ".join(str(int(v)) for v in labels[labels != 0])
        raise InvalidInputError(f"label {label} is not present in the mask; labels present: {present}", name)
    return mask


def check_finite(image: Any, name: str) -> None:
    """Reject images with NaN or infinite voxels (they would poison every feature)."""
    import SimpleITK as sitk

    arr = sitk.GetArrayViewFromImage(image)
    if np.issubdtype(arr.dtype, np.floating):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        if bad:
            raise InvalidInputError(f"the image has {bad} NaN or infinite voxels; fill or crop them first", name)


def _same_geometry(image: Any, mask: Any, tolerance: float) -> bool:
    if image.GetSize() != mask.GetSize():
        return False
    coord_tol = tolerance * abs(image.GetSpacing()[0])
    if not np.allclose(image.GetOrigin(), mask.GetOrigin(), rtol=0, atol=coord_tol):
        return False
    if not np.allclose(image.GetSpacing(), mask.GetSpacing(), rtol=0, atol=coord_tol):
        return False
    return bool(np.allclose(image.GetDirection(), mask.GetDirection(), rtol=0, atol=tolerance))


def roi_bounds(mask_arr: np.ndarray, label: int) -> BoundingBox:
    """Inclusive bounding box of the voxels equal to ``label`` (one ``any`` projection per axis)."""
    roi = mask_arr == label
    lower, upper = [], []
    for axis in range(roi.ndim):
        other = tuple(a for a in range(roi.ndim) if a != axis)
        idx = np.flatnonzero(np.any(roi, axis=other))
        lower.append(idx[0])
        upper.append(idx[-1])
    return BoundingBox(np.array(lower), np.array(upper))


def _check_roi_inside(image: Any, mask: Any, label: int, name: str) -> None:
    """The ROI's physical extent must lie inside the image (PyRadiomics' tolerance of 1e-3 voxel)."""
    import SimpleITK as sitk

    bb = roi_bounds(sitk.GetArrayViewFromImage(mask), label)
    lo_x = (bb.lower[::-1] - 0.5).tolist()
    hi_x = (bb.upper[::-1] + 0.5).tolist()
    corners = [image.TransformPhysicalPointToContinuousIndex(mask.TransformContinuousIndexToPhysicalPoint(c))
               for c in (lo_x, hi_x)]
    corners = np.array(corners)
    tol = 1e-3
    if np.any(corners.min(0) < -0.5 - tol) or np.any(corners.max(0) > np.array(image.GetSize()) - 0.5 + tol):
        raise InvalidInputError("the ROI extends outside the image's physical space; cannot correct the mask", name)


def check_mask(image: Any, mask: Any, settings: dict[str, Any], name: str) -> tuple[BoundingBox, Any | None]:
    """Geometry, label and size checks; returns the ROI bounding box and a corrected mask (or None)."""
    import SimpleITK as sitk

    label = settings.get("label", 1)
    tolerance = settings.get("geometryTolerance") or 1e-6
    corrected = None
    if not _same_geometry(image, mask, tolerance):
        if not settings.get("correctMask", False):
            raise InvalidInputError(
                f"image and mask geometry differ (size {image.GetSize()} vs {mask.GetSize()}, spacing "
                f"{tuple(round(s, 6) for s in image.GetSpacing())} vs {tuple(round(s, 6) for s in mask.GetSpacing())}, "
                f"origin {tuple(round(s, 4) for s in image.GetOrigin())} vs "
                f"{tuple(round(s, 4) for s in mask.GetOrigin())}); set correctMask: true to resample the mask onto "
                f"the image grid, or raise geometryTolerance", name)
        _check_roi_inside(image, mask, label, name)
        corrected = sitk.Resample(mask, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0, mask.GetPixelID())
        mask = corrected
    mask_arr = sitk.GetArrayViewFromImage(mask)
    count = int(np.count_nonzero(mask_arr == label))
    if count == 0:
        raise InvalidInputError(f"label {label} is not present in the mask on the image grid", name)
    bb = roi_bounds(mask_arr, label)
    ndims = int(np.sum(bb.size > 1))
    min_dims = settings.get("minimumROIDimensions", 2)
    if ndims == 0:
        raise InvalidInputError("the ROI is a single voxel; features need at least two voxels", name)
    if ndims < min_dims:
        raise InvalidInputError(f"the ROI spans {ndims} dimension(s) but minimumROIDimensions is {min_dims}", name)
    min_size = settings.get("minimumROISize")
    if min_size is not None and count <= min_size:
        raise InvalidInputError(f"the ROI has {count} voxels, not more than minimumROISize ({min_size})", name)
    return bb, corrected


def normalize_image(image: Any, settings: dict[str, Any]) -> Any:
    """z-score the whole image, clip at +-removeOutliers (in SDs), multiply by normalizeScale."""
    import SimpleITK as sitk

    image = sitk.Normalize(image)
    outliers = settings.get("removeOutliers")
    if outliers is not None:
        arr = sitk.GetArrayFromImage(image)
        np.clip(arr, -outliers, outliers, out=arr)
        clipped = sitk.GetImageFromArray(arr)
        clipped.CopyInformation(image)
        image = clipped
    return image * settings.get("normalizeScale", 1)


def crop(image: Any, mask: Any, bb: BoundingBox, pad: int = 0) -> tuple[Any, Any]:
    """Crop image and mask to the bounding box grown by ``pad`` voxels (clipped at the image border)."""
    import SimpleITK as sitk

    size = np.array(mask.GetSize())
    lower = np.maximum(bb.lower[::-1] - pad, 0)
    upper = np.maximum(size - bb.upper[::-1] - pad - 1, 0)
    return (sitk.Crop(image, lower.tolist(), upper.tolist()), sitk.Crop(mask, lower.tolist(), upper.tolist()))


def _interpolator(value: Any) -> int:
    import SimpleITK as sitk

    if isinstance(value, str):
        return int(getattr(sitk, value, sitk.sitkBSpline))
    return int(value)


def resample(image: Any, mask: Any, settings: dict[str, Any], name: str) -> tuple[Any, Any]:
    """Resample to ``resampledPixelSpacing`` on a grid cropped around the ROI (PyRadiomics' grid rules).

    A spacing of 0 keeps the original spacing in that axis; axes where the ROI is one voxel thick
    keep their spacing too. The mask is resampled with nearest neighbour.
    """
    import SimpleITK as sitk

    label = settings.get("label", 1)
    pad = settings.get("padDistance", 5)
    target = np.array(settings["resampledPixelSpacing"], dtype=float)
    mask_spacing = np.array(mask.GetSpacing())
    image_spacing = np.array(image.GetSpacing())
    nd = mask.GetDimension()
    if len(target) != nd:
        raise InvalidInputError(f"resampledPixelSpacing has {len(target)} values but the image is {nd}D", name)
    target = np.where(target == 0, mask_spacing, target)
    _check_roi_inside(image, mask, label, name)
    bb = roi_bounds(sitk.GetArrayViewFromImage(mask), label)
    lo = bb.lower[::-1].astype(float)
    sz = bb.size[::-1].astype(float)
    target = np.where(sz != 1, target, mask_spacing)
    if np.allclose(image_spacing, target):
        mask = sitk.Resample(mask, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0, mask.GetPixelID())
        bb2 = roi_bounds(sitk.GetArrayViewFromImage(mask), label)
        return crop(image, mask, bb2, pad)
    ratio = mask_spacing / target
    new_lo = np.floor((lo - 0.5) * ratio - pad)
    new_hi = np.ceil((lo + sz - 0.5) * ratio + pad)
    max_hi = np.ceil(np.array(mask.GetSize()) * ratio) - 1
    new_lo = np.where(new_lo < 0, 0, new_lo)
    new_hi = np.where(new_hi > max_hi, max_hi, new_hi)
    new_size = np.array(new_hi - new_lo + 1, dtype=int).tolist()
    origin_index = 0.5 * (target - mask_spacing) / mask_spacing + new_lo / ratio
    new_origin = mask.TransformContinuousIndexToPhysicalPoint(origin_index.tolist())
    rif = sitk.ResampleImageFilter()
    rif.SetOutputSpacing(target.tolist())
    rif.SetOutputDirection(mask.GetDirection())
    rif.SetSize(new_size)
    rif.SetOutputOrigin(new_origin)
    rif.SetOutputPixelType(image.GetPixelID())
    rif.SetInterpolator(_interpolator(settings.get("interpolator", "sitkBSpline")))
    new_image = rif.Execute(image)
    rif.SetOutputPixelType(mask.GetPixelID())
    rif.SetInterpolator(sitk.sitkNearestNeighbor)
    new_mask = rif.Execute(mask)
    return new_image, new_mask


def resegment(image: Any, mask: Any, settings: dict[str, Any], name: str) -> Any:
    """Keep only ROI voxels inside ``resegmentRange`` (absolute, relative to the max, or in SDs)."""
    import SimpleITK as sitk

    rng = settings["resegmentRange"]
    mode = settings.get("resegmentMode", "absolute")
    label = settings.get("label", 1)
    im = sitk.GetArrayViewFromImage(image)
    roi = sitk.GetArrayFromImage(mask) == label
    values = im[roi]
    if mode == "absolute":
        thresholds = sorted(rng)
    elif mode == "relative":
        thresholds = [values.max() * t for t in sorted(rng)]
    elif mode == "sigma":
        mean, sd = values.mean(), values.std()
        thresholds = [mean + sd * t for t in sorted(rng)]
    else:  # validated earlier; kept for direct callers
        raise InvalidInputError(f"unknown resegmentMode {mode!r}", name)
    keep = values >= thresholds[0]
    if len(thresholds) == 2:
        keep &= values <= thresholds[1]
    roi[roi] = keep
    kept = int(roi.sum())
    if kept <= 1:
        raise InvalidInputError(f"resegmentation kept {kept} voxel(s) of label {label}; cannot extract features",
                                name)
    out = np.zeros(roi.shape, dtype=np.int32)
    out[roi] = label
    new = sitk.GetImageFromArray(out)
    new.CopyInformation(mask)
    return new


def bin_edges(values: np.ndarray, settings: dict[str, Any]) -> np.ndarray:
    """Bin edges exactly as PyRadiomics: fixed bin count, or fixed bin width aligned at 0.

    With ``binWidth``, PyRadiomics computes ``max + 2 * binWidth`` in the image's integer type;
    under numpy 2 that wraps around for 8-bit images whose ROI maximum exceeds
    ``255 - 2 * binWidth`` (and likewise for other integer types), leaving about two grey levels.
    By default the same happens here (PyRadiomics-identical) with a warning; the setting
    ``binEdgesFloat64: true`` computes the edges in float64, as intended (identical wherever
    nothing overflows).

    Example:
        >>> bin_edges(np.array([3, 27, 60]), {"binWidth": 25}).tolist()
        [0, 25, 50, 75, 100]
    """
    bin_count = settings.get("binCount")
    if bin_count is not None:
        edges = np.histogram(values, bin_count)[1]
        edges[-1] += 1
        return edges
    width = settings.get("binWidth", 25)
    lo, hi = values.min(), values.max()
    edges = _width_edges(lo, hi, width)
    if np.issubdtype(values.dtype, np.integer) and isinstance(width, int):
        info = np.iinfo(values.dtype)
        if int(hi) + 2 * width > info.max or int(lo) - int(lo) % width < info.min:
            intended = _width_edges(np.float64(lo), np.float64(hi), width)
            if settings.get("binEdgesFloat64", False):
                return intended
            ours = np.unique(np.digitize(values, edges))
            wanted = np.unique(np.digitize(values, intended))
            if not np.array_equal(ours, wanted):
                logger.warning(
                    "binWidth %s: the bin edges overflow %s (ROI range %d..%d) and wrap around as in PyRadiomics: "
                    "%d grey levels instead of %d; set binEdgesFloat64: true for the intended edges",
                    width, values.dtype, int(lo), int(hi), len(ours), len(wanted))
    return edges


def _width_edges(lo: Any, hi: Any, width: float) -> np.ndarray:
    """PyRadiomics' fixed-width edges, in the type of ``lo`` and ``hi`` (integer types may wrap around)."""
    with np.errstate(over="ignore"):  # the wrap-around is PyRadiomics' behaviour, kept on purpose
        low = lo - (lo % width)
        high = hi + 2 * width
        edges = np.arange(low, high, width)
    if len(edges) == 1:
        edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
    return edges


def discretize(array: np.ndarray, roi: np.ndarray, settings: dict[str, Any]) -> np.ndarray:
    """Grey levels 1..Ng inside the ROI (0 outside), from :func:`bin_edges` and ``np.digitize``.

    The result has the smallest integer type that holds the levels (int16 usually), which
    halves or quarters the memory traffic of the texture matrices.
    """
    values = array[roi]
    levels = np.digitize(values, bin_edges(values, settings))
    top = int(levels.max()) if levels.size else 0
    out = np.zeros(array.shape, dtype=np.int16 if top < 2 ** 15 - 1 else np.int64)
    out[roi] = levels
    return out
