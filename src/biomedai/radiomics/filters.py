"""Derived image types ("imageType" in a params file): each yields ``(array, name)`` pairs.

Names follow PyRadiomics (``original``, ``log-sigma-1-0-mm-3D``, ``wavelet-LLH``, ``square``, ...)
and so do the filters: SimpleITK's normalised Laplacian of Gaussian and gradient magnitude,
PyWavelets' stationary wavelet transform, and the intensity mappings.
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


def original(image: Any, settings: dict[str, Any]) -> Iterator[tuple[np.ndarray, str]]:
    yield _array(image), "original"


def log(image: Any, settings: dict[str, Any]) -> Iterator[tuple[np.ndarray, str]]:
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
        yield _array(f.Execute(image)), "log-sigma-%s-mm-3D" % str(sigma).replace(".", "-")


def wavelet(image: Any, settings: dict[str, Any]) -> Iterator[tuple[np.ndarray, str]]:
    """Undecimated (stationary) wavelet decompositions: every H/L combination of the axes, then the approximation."""
    import pywt

    arr = _array(image)
    nd = arr.ndim
    axes = list(range(nd - 1, -1, -1))
    if settings.get("force2D", False) and nd == 3:
        axes.remove(settings.get("force2Ddimension", 0))
    axes_t = tuple(axes)
    wav = pywt.Wavelet(settings.get("wavelet", "coif1"))
    level = settings.get("level", 1)
    start = settings.get("start_level", 0)
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
            yield band[crop], ("wavelet-%s" % name if idx == 1 else "wavelet%s-%s" % (idx, name))
    lname = "L" * len(axes_t)
    yield data[crop], ("wavelet-%s" % lname if n_levels == 1 else "wavelet%s-%s" % (n_levels, lname))


def square(image: Any, settings: dict[str, Any]) -> Iterator[tuple[np.ndarray, str]]:
    im = _array(image).astype(np.float64)
    coeff = 1 / np.sqrt(np.max(np.abs(im)))
    yield (coeff * im) ** 2, "square"


def square_root(image: Any, settings: dict[str, Any]) -> Iterator[tuple[np.ndarray, str]]:
    im = _array(image).astype(np.float64)
    coeff = np.max(np.abs(im))
    pos, neg = im > 0, im < 0
    im[pos] = np.sqrt(im[pos] * coeff)
    im[neg] = -np.sqrt(-im[neg] * coeff)
    yield im, "squareroot"


def logarithm(image: Any, settings: dict[str, Any]) -> Iterator[tuple[np.ndarray, str]]:
    im = _array(image).astype(np.float64)
    im_max = np.max(np.abs(im))
    pos, neg = im > 0, im < 0
    im[pos] = np.log(im[pos] + 1)
    im[neg] = -np.log(-(im[neg] - 1))
    im = im * (im_max / np.max(np.abs(im)))
    yield im, "logarithm"


def exponential(image: Any, settings: dict[str, Any]) -> Iterator[tuple[np.ndarray, str]]:
    im = _array(image).astype(np.float64)
    im_max = np.max(np.abs(im))
    coeff = np.log(im_max) / im_max
    yield np.exp(coeff * im), "exponential"


def gradient(image: Any, settings: dict[str, Any]) -> Iterator[tuple[np.ndarray, str]]:
    import SimpleITK as sitk

    f = sitk.GradientMagnitudeImageFilter()
    f.SetUseImageSpacing(settings.get("gradientUseSpacing", True))
    yield _array(f.Execute(image)), "gradient"


def lbp2d(image: Any, settings: dict[str, Any]) -> Iterator[tuple[np.ndarray, str]]:
    """Local binary pattern per slice (scikit-image), along ``force2Ddimension`` for volumes."""
    from skimage.feature import local_binary_pattern

    radius = settings.get("lbp2DRadius", 1)
    samples = settings.get("lbp2DSamples", 8)
    method = settings.get("lbp2DMethod", "uniform")
    arr = _array(image)
    if arr.ndim == 3:
        if not settings.get("force2D", False):
            logger.warning("LBP2D on a volume is computed slice by slice; set force2D to choose the axis")
        axis = settings.get("force2Ddimension", 0)
        moved = arr.swapaxes(0, axis)
        for i in range(moved.shape[0]):  # loop over slices, not voxels
            moved[i] = local_binary_pattern(moved[i], P=samples, R=radius, method=method)
    else:
        arr = local_binary_pattern(arr, P=samples, R=radius, method=method)
    yield arr, "lbp-2D"


_FILTERS = {"Original": original, "LoG": log, "Wavelet": wavelet, "Square": square, "SquareRoot": square_root,
            "Logarithm": logarithm, "Exponential": exponential, "Gradient": gradient, "LBP2D": lbp2d}
SUPPORTED_IMAGE_TYPES = tuple(_FILTERS)


def filtered_images(image: Any, image_type: str, settings: dict[str, Any]) -> Iterator[tuple[np.ndarray, str]]:
    """Arrays (numpy order) of one image type; unsupported types (LBP3D) are skipped with a warning."""
    fn = _FILTERS.get(image_type)
    if fn is None:
        logger.warning("image type %s is not implemented; skipped", image_type)
        return iter(())
    return fn(image, settings)
