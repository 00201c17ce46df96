"""Derived image types ("imageType" in a params file): each yields ``(array, name)`` pairs.

Names follow PyRadiomics (``original``, ``log-sigma-1-0-mm-3D``, ``wavelet-LLH``, ``square``, ...)
and so do the filters: SimpleITK's normalised Laplacian of Gaussian and gradient magnitude,
PyWavelets' stationary wavelet transform, and the intensity mappings.

Every filter returns only the ROI's bounding box. Local filters run on the box grown by a margin
that leaves the box's values unchanged: the filter's support for the wavelet, gradient and LBP
(the wavelet's circular wrap is kept by taking whole axes where the ROI comes near the border),
and 24 sigma for the recursive LoG, whose float32 output is then identical to the whole-image one.
Intensity mappings use the whole image's maximum, as PyRadiomics does.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["filtered_images", "SUPPORTED_IMAGE_TYPES"]


def _array(image: Any) -> np.ndarray:
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(image)


def _box(image: Any, bb: Any) -> np.ndarray:
    """The bounding box of the image as a float-safe copy (numpy order)."""
    import SimpleITK as sitk

    return np.array(sitk.GetArrayViewFromImage(image)[bb.slices()])


def _grown(image: Any, bb: Any, margin: np.ndarray, whole_axis_near_border: bool = False,
           from_origin: tuple[int, ...] = ()) -> tuple[Any, tuple[slice, ...]]:
    """The image cropped to the box grown by ``margin`` voxels (numpy order), and the box inside it.

    Along the axes in ``from_origin`` the crop starts at index 0, so that a filter whose rounding
    depends on the absolute index (scikit-image's LBP) sees the same indices as on the whole image.
    """
    size = np.array(image.GetSize())[::-1]
    lo = np.maximum(bb.lower - margin, 0)
    for axis in from_origin:
        lo[axis] = 0
    hi = np.minimum(bb.upper + margin, size - 1)
    if whole_axis_near_border:
        near = (lo == 0) | (hi == size - 1)
        lo = np.where(near, 0, lo)
        hi = np.where(near, size - 1, hi)
    if np.all(lo == 0) and np.all(hi == size - 1):
        sub = image
    else:
        sub = image[tuple(slice(int(a), int(b) + 1) for a, b in zip(lo[::-1], hi[::-1]))]
    inner = tuple(slice(int(l - a), int(u - a) + 1) for l, u, a in zip(bb.lower, bb.upper, lo))
    return sub, inner


def original(image: Any, settings: dict[str, Any], bb: Any) -> Iterator[tuple[np.ndarray, str]]:
    yield _box(image, bb), "original"


def log(image: Any, settings: dict[str, Any], bb: Any) -> Iterator[tuple[np.ndarray, str]]:
    """Laplacian of Gaussian (normalised across scale) for each ``sigma`` in mm."""
    import SimpleITK as sitk

    size = np.array(image.GetSize())
    spacing = np.array(image.GetSpacing())
    if np.min(size) < 4:
        logger.warning("image too small (%s) for the LoG filter; skipped", size.tolist())
        return
    sigmas = settings.get("sigma", [])
    if not sigmas:
        logger.warning("LoG enabled but no sigma given; nothing computed")
    for sigma in sigmas:
        if not np.all(size >= np.ceil(sigma / spacing) + 1):
            logger.warning("sigma %s mm is too large for the image (size %s, spacing %s); skipped",
                           sigma, size.tolist(), spacing.tolist())
            continue
        f = sitk.LaplacianRecursiveGaussianImageFilter()
        f.SetNormalizeAcrossScale(True)
        f.SetSigma(float(sigma))
        margin = np.ceil(24 * float(sigma) / spacing[::-1]).astype(int) + 2
        sub, inner = _grown(image, bb, margin)
        yield _array(f.Execute(sub))[inner], "log-sigma-%s-mm-3D" % str(sigma).replace(".", "-")


def wavelet(image: Any, settings: dict[str, Any], bb: Any) -> Iterator[tuple[np.ndarray, str]]:
    """Undecimated (stationary) wavelet decompositions: every H/L combination of the axes, then the approximation."""
    import pywt

    wav = pywt.Wavelet(settings.get("wavelet", "coif1"))
    level = settings.get("level", 1)
    start = settings.get("start_level", 0)
    nd = image.GetDimension()
    axes = list(range(nd - 1, -1, -1))
    if settings.get("force2D", False) and nd == 3:
        axes.remove(settings.get("force2Ddimension", 0))
    axes_t = tuple(axes)
    margin = np.full(nd, (start + level) * wav.dec_len + 2)
    sub, inner = _grown(image, bb, margin, whole_axis_near_border=True)
    arr = _array(sub)
    shape = arr.shape
    data = np.pad(arr.copy(), [(0, 1 if s % 2 else 0) for s in shape], mode="wrap")
    crop = tuple(slice(None, -1 if s % 2 else None) for s in shape)
    approx_key = "a" * len(axes_t)
    for _ in range(start):
        data = pywt.swtn(data, wav, level=1, start_level=0, axes=axes_t)[0][approx_key].copy()
    n_levels = 0
    for lvl in range(start, start + level):
        dec = pywt.swtn(data, wav, level=1, start_level=0, axes=axes_t)[0]
        data = dec[approx_key].copy()
        idx = lvl - start + 1
        n_levels += 1
        for key, band in dec.items():
            if key == approx_key:
                continue
            name = key.replace("a", "L").replace("d", "H")
            yield band[crop][inner], ("wavelet-%s" % name if idx == 1 else "wavelet%s-%s" % (idx, name))
    lname = "L" * len(axes_t)
    yield data[crop][inner], ("wavelet-%s" % lname if n_levels == 1 else "wavelet%s-%s" % (n_levels, lname))


def _abs_max(image: Any) -> float:
    import SimpleITK as sitk

    arr = sitk.GetArrayViewFromImage(image)
    return float(max(abs(float(arr.min())), abs(float(arr.max()))))


def square(image: Any, settings: dict[str, Any], bb: Any) -> Iterator[tuple[np.ndarray, str]]:
    im = _box(image, bb).astype(np.float64)
    coeff = 1 / np.sqrt(_abs_max(image))
    yield (coeff * im) ** 2, "square"


def square_root(image: Any, settings: dict[str, Any], bb: Any) -> Iterator[tuple[np.ndarray, str]]:
    im = _box(image, bb).astype(np.float64)
    coeff = _abs_max(image)
    pos, neg = im > 0, im < 0
    im[pos] = np.sqrt(im[pos] * coeff)
    im[neg] = -np.sqrt(-im[neg] * coeff)
    yield im, "squareroot"


def _signed_log(v: float) -> float:
    return float(np.log(v + 1)) if v > 0 else (-float(np.log(-(v - 1))) if v < 0 else 0.0)


def logarithm(image: Any, settings: dict[str, Any], bb: Any) -> Iterator[tuple[np.ndarray, str]]:
    import SimpleITK as sitk

    im = _box(image, bb).astype(np.float64)
    full = sitk.GetArrayViewFromImage(image)
    im_max = _abs_max(image)
    log_max = max(abs(_signed_log(float(full.min()))), abs(_signed_log(float(full.max()))))  # monotone map
    pos, neg = im > 0, im < 0
    im[pos] = np.log(im[pos] + 1)
    im[neg] = -np.log(-(im[neg] - 1))
    im = im * (im_max / log_max)
    yield im, "logarithm"


def exponential(image: Any, settings: dict[str, Any], bb: Any) -> Iterator[tuple[np.ndarray, str]]:
    im = _box(image, bb).astype(np.float64)
    im_max = _abs_max(image)
    coeff = np.log(im_max) / im_max
    yield np.exp(coeff * im), "exponential"


def gradient(image: Any, settings: dict[str, Any], bb: Any) -> Iterator[tuple[np.ndarray, str]]:
    import SimpleITK as sitk

    f = sitk.GradientMagnitudeImageFilter()
    f.SetUseImageSpacing(settings.get("gradientUseSpacing", True))
    sub, inner = _grown(image, bb, np.full(image.GetDimension(), 2))
    yield _array(f.Execute(sub))[inner], "gradient"


def lbp2d(image: Any, settings: dict[str, Any], bb: Any) -> Iterator[tuple[np.ndarray, str]]:
    """Local binary pattern per slice (scikit-image), along ``force2Ddimension`` for volumes.

    Identical to PyRadiomics, which filters the whole image: scikit-image samples the neighbours
    at ``(r + dr, c + dc)`` in float64 and interpolates bilinearly, so on flat regions the
    comparison "neighbour >= centre" is decided by rounding that depends on the absolute row and
    column. The crop therefore starts at row and column 0 of each slice (same indices as the whole
    image) and ends ``ceil(R) + 2`` pixels past the ROI box (the interpolation reads at most
    ``ceil(R)`` pixels away); slices are independent, so only the ROI's slices are filtered.
    """
    from skimage.feature import local_binary_pattern

    radius = settings.get("lbp2DRadius", 1)
    samples = settings.get("lbp2DSamples", 8)
    method = settings.get("lbp2DMethod", "uniform")
    nd = image.GetDimension()
    axis = settings.get("force2Ddimension", 0) if nd == 3 else None
    plane = tuple(a for a in range(nd) if a != axis)
    sub, inner = _grown(image, bb, np.full(nd, int(np.ceil(radius)) + 2), from_origin=plane)
    arr = _array(sub)
    if arr.ndim == 3:
        if not settings.get("force2D", False):
            logger.warning("LBP2D on a volume is computed slice by slice; set force2D to choose the axis")
        moved = arr.swapaxes(0, axis)
        for i in range(moved.shape[0]):  # loop over slices, not voxels
            moved[i] = local_binary_pattern(moved[i], P=samples, R=radius, method=method)
    else:
        arr = local_binary_pattern(arr, P=samples, R=radius, method=method)
    yield arr[inner], "lbp-2D"


def lbp3d(image: Any, settings: dict[str, Any], bb: Any) -> Iterator[tuple[np.ndarray, str]]:
    """Spherical-harmonics LBP in 3D (:mod:`biomedai.radiomics.lbp3d`): ``lbp-3D-m1`` .. and ``lbp-3D-k``."""
    from .lbp3d import SPLINE_MARGIN, lbp3d_images

    if image.GetDimension() != 3:
        logger.warning("LBP3D needs a 3D image, got %dD; skipped", image.GetDimension())
        return
    if settings.get("force2D", False):
        logger.warning("LBP3D is computed in 3D but features are extracted in 2D (force2D)")
    radius = float(settings.get("lbp3DIcosphereRadius", 1))
    margin = int(np.ceil(radius)) + 2 + SPLINE_MARGIN
    sub, inner = _grown(image, bb, np.full(3, margin))
    yield from lbp3d_images(_array(sub), inner, levels=settings.get("lbp3DLevels", 2), radius=radius,
                            subdivisions=settings.get("lbp3DIcosphereSubdivision", 1))


_FILTERS = {"Original": original, "LoG": log, "Wavelet": wavelet, "Square": square, "SquareRoot": square_root,
            "Logarithm": logarithm, "Exponential": exponential, "Gradient": gradient, "LBP2D": lbp2d,
            "LBP3D": lbp3d}
SUPPORTED_IMAGE_TYPES = tuple(_FILTERS)


def filtered_images(image: Any, image_type: str, settings: dict[str, Any], bb: Any
                    ) -> Iterator[tuple[np.ndarray, str]]:
    """Arrays (numpy order, cropped to the ROI's bounding box ``bb``) of one image type.

    Unknown types are skipped with a warning.
    """
    fn = _FILTERS.get(image_type)
    if fn is None:
        logger.warning("image type %s is not implemented; skipped", image_type)
        return iter(())
    return fn(image, settings, bb)
