"""Stain normalisation of brightfield histology (H&E, IHC): Reinhard and Macenko.

Two classic ways to make slides from different labs look alike before a model sees them:

* **Reinhard** (Reinhard et al., IEEE CG&A 2001; used for H&E by FullNet and many others): match the
  per-channel mean and standard deviation of the image in CIE L*a*b* to a target's.
  :func:`fit_reinhard` measures a target, :func:`reinhard_normalize` applies it.
* **Macenko** (Macenko et al., ISBI 2009): estimate the two stain vectors (haematoxylin, eosin) from the
  optical-density (OD) distribution, unmix each pixel into stain concentrations and re-mix them with the
  target's stain vectors, with the 99th-percentile concentrations matched. :func:`fit_macenko` measures
  a :class:`MacenkoStains`; :func:`macenko_normalize` applies it; :data:`MACENKO_REFERENCE` is the
  reference of Macenko's published code. :func:`stain_concentrations` gives the H and E channels.
* **HED jitter** (stain augmentation, Tellez et al., Med. Image Anal. 2019): :func:`hed_jitter` scales
  and shifts each haematoxylin / eosin / DAB channel of the colour deconvolution (Ruifrok & Johnston)
  by a random factor, a training-time augmentation rather than a normalisation.

Images are RGB ``[y, x, 3]`` (an alpha channel is dropped), ``uint8`` or float in ``[0, 1]``; the
output has the input's dtype. Grey images and other shapes raise
:class:`~biomedai.errors.InvalidInputError`.

Example:
    >>> rng = np.random.default_rng(0)
    >>> image = rng.integers(60, 230, (32, 32, 3), dtype=np.uint8)
    >>> target = fit_reinhard(image)
    >>> out = reinhard_normalize(image, target)
    >>> out.dtype.name, int(np.abs(out.astype(int) - image).max()) <= 1
    ('uint8', True)
    >>> stains = fit_macenko(image)
    >>> stains.stain_matrix.shape
    (2, 3)
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from biomedai.errors import InvalidInputError

__all__ = [
    "ReinhardStats",
    "MacenkoStains",
    "MACENKO_REFERENCE",
    "fit_reinhard",
    "reinhard_normalize",
    "fit_macenko",
    "macenko_normalize",
    "stain_concentrations",
    "rgb_to_od",
    "od_to_rgb",
    "hed_jitter",
]

#: Background (white) light intensity used by Macenko's code; OD = -ln((I + 1) / IO).
DEFAULT_IO = 240.0


class ReinhardStats(NamedTuple):
    """Per-channel mean and standard deviation in CIE L*a*b* (L in [0, 100])."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]


class MacenkoStains(NamedTuple):
    """Stain vectors and maximum concentrations fitted on one image.

    Stain vectors (rows: haematoxylin, eosin; unit OD vectors over R, G, B) and the 99th-percentile
    concentration of each stain.
    """

    stain_matrix: np.ndarray
    max_concentrations: np.ndarray


#: The reference of Macenko's published code (``HERef``, ``maxCRef``), a typical H&E slide.
MACENKO_REFERENCE = MacenkoStains(
    stain_matrix=np.array([[0.5626, 0.7201, 0.4062], [0.2159, 0.8012, 0.5581]]),
    max_concentrations=np.array([1.9705, 1.0308]),
)


# ------------------------------------------------------------------------------------------- helpers
def _as_rgb(image: Any, what: str = "image") -> tuple[np.ndarray, np.dtype]:
    """Validate and return ``(float64 RGB in [0, 255], original dtype)``."""
    array = np.asarray(getattr(image, "array", image))
    if array.ndim != 3 or array.shape[-1] not in (3, 4):
        raise InvalidInputError(f"{what} must be an RGB image [y, x, 3] (RGBA allowed), got shape {array.shape}; "
                                "stain normalisation needs colour")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InvalidInputError(f"{what} is empty (shape {array.shape})")
    rgb = array[..., :3]
    if rgb.dtype == np.uint8:
        return rgb.astype(np.float64), rgb.dtype
    if rgb.dtype.kind == "f":
        if not np.all(np.isfinite(rgb)) or rgb.min() < 0 or rgb.max() > 1:
            raise InvalidInputError(f"{what}: a float image must hold finite values in [0, 1]")
        return rgb.astype(np.float64) * 255.0, rgb.dtype
    raise InvalidInputError(f"{what} must be uint8 or float in [0, 1], got {rgb.dtype} "
                            "(convert 16-bit images to 8 bits first)")


def _restore(rgb255: np.ndarray, dtype: np.dtype) -> np.ndarray:
    rgb255 = np.clip(rgb255, 0, 255)
    if dtype == np.uint8:
        return np.rint(rgb255).astype(np.uint8)
    return (rgb255 / 255.0).astype(dtype)


def rgb_to_od(image: Any, io: float = DEFAULT_IO) -> np.ndarray:
    """Optical density ``-ln((I + 1) / io)`` per channel, float64, clipped at 0 (Macenko's convention).

    >>> float(rgb_to_od(np.full((1, 1, 3), 239, np.uint8))[0, 0, 0])
    0.0
    """
    rgb, _ = _as_rgb(image)
    return np.maximum(-np.log((rgb + 1.0) / io), 0.0)


def od_to_rgb(od: np.ndarray, io: float = DEFAULT_IO) -> np.ndarray:
    """Inverse of :func:`rgb_to_od`: ``io * exp(-od) - 1`` as float64 in [0, 255]."""
    return np.clip(io * np.exp(-np.asarray(od, dtype=np.float64)) - 1.0, 0.0, 255.0)


# ------------------------------------------------------------------------------------------- Reinhard
def _lab(rgb255: np.ndarray) -> np.ndarray:
    from skimage.color import rgb2lab

    return rgb2lab(rgb255 / 255.0)


def fit_reinhard(image: Any, mask: np.ndarray | None = None) -> ReinhardStats:
    """L*a*b* mean and standard deviation of ``image`` (over ``mask`` when given, e.g. tissue only).

    >>> fit_reinhard(np.full((4, 4, 3), 255, np.uint8)).mean[0]
    100.0
    """
    rgb, _ = _as_rgb(image)
    lab = _lab(rgb)
    values = lab.reshape(-1, 3)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != rgb.shape[:2]:
            raise InvalidInputError(f"mask shape {mask.shape} does not match the image {rgb.shape[:2]}")
        if not mask.any():
            raise InvalidInputError("mask selects no pixel")
        values = values[mask.ravel()]
    return ReinhardStats(tuple(round(float(v), 6) for v in values.mean(axis=0)),  # type: ignore[arg-type]
                         tuple(round(float(v), 6) for v in values.std(axis=0)))  # type: ignore[arg-type]


def _reinhard_target(target_stats: Any) -> ReinhardStats:
    if isinstance(target_stats, ReinhardStats):
        return target_stats
    arr = np.asarray(getattr(target_stats, "array", target_stats))
    if arr.ndim == 3:  # an image: measure it
        return fit_reinhard(arr)
    if arr.shape == (2, 3) and np.all(np.isfinite(arr.astype(float))):
        return ReinhardStats(tuple(float(v) for v in arr[0]), tuple(float(v) for v in arr[1]))  # type: ignore
    raise InvalidInputError("target_stats must be ReinhardStats, a (mean, std) pair of 3-vectors or an RGB image")


def reinhard_normalize(image: Any, target_stats: ReinhardStats | Any, mask: np.ndarray | None = None) -> np.ndarray:
    """Reinhard colour transfer: ``(lab - mean) / std * target.std + target.mean`` per L*a*b* channel.

    ``target_stats`` is a :class:`ReinhardStats` (from :func:`fit_reinhard`), a ``(mean, std)`` pair of
    3-vectors, or a target RGB image. The source statistics are measured over ``mask`` when given.

    >>> img = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    >>> reinhard_normalize(img, fit_reinhard(img)).shape
    (16, 16, 3)
    """
    from skimage.color import lab2rgb

    target = _reinhard_target(target_stats)
    rgb, dtype = _as_rgb(image)
    source = fit_reinhard(rgb / 255.0, mask)
    lab = _lab(rgb)
    mean_s, std_s = np.array(source.mean), np.array(source.std)
    mean_t, std_t = np.array(target.mean), np.array(target.std)
    scale = np.where(std_s > 1e-6, std_t / np.maximum(std_s, 1e-6), 1.0)
    out = (lab - mean_s) * scale + mean_t
    out[..., 0] = np.clip(out[..., 0], 0.0, 100.0)
    return _restore(lab2rgb(out) * 255.0, dtype)


# ------------------------------------------------------------------------------------------- Macenko
def fit_macenko(image: Any, io: float = DEFAULT_IO, alpha: float = 1.0, beta: float = 0.15) -> MacenkoStains:
    """Estimate the H and E stain vectors and 99th-percentile concentrations (Macenko et al. 2009).

    Pixels with OD below ``beta`` in any channel are background and ignored. The plane of the two
    largest eigenvectors of the OD covariance is searched for the extreme angles (the ``alpha`` and
    ``100 - alpha`` percentiles); the vector with the larger red OD is haematoxylin.

    >>> stains = fit_macenko(np.random.default_rng(0).integers(40, 220, (24, 24, 3), dtype=np.uint8))
    >>> bool(np.allclose(np.linalg.norm(stains.stain_matrix, axis=1), 1.0))
    True
    """
    od = rgb_to_od(image, io).reshape(-1, 3)
    tissue = od[np.all(od > beta, axis=1)]
    if tissue.shape[0] < 10:
        raise InvalidInputError(f"too few stained pixels ({tissue.shape[0]}) to estimate stain vectors; "
                                "is the image blank or not brightfield?")
    _, eigvecs = np.linalg.eigh(np.cov(tissue, rowvar=False))
    plane = eigvecs[:, 1:3]  # eigh sorts ascending: the two largest
    if plane[:, 0].sum() < 0:
        plane[:, 0] *= -1
    if plane[:, 1].sum() < 0:
        plane[:, 1] *= -1
    projected = tissue @ plane
    angles = np.arctan2(projected[:, 1], projected[:, 0])
    lo, hi = np.percentile(angles, [alpha, 100.0 - alpha])
    v1 = plane @ np.array([np.cos(lo), np.sin(lo)])
    v2 = plane @ np.array([np.cos(hi), np.sin(hi)])
    he = np.stack([v1, v2] if v1[0] > v2[0] else [v2, v1])
    he = np.abs(he) / np.linalg.norm(he, axis=1, keepdims=True)
    conc = _unmix(tissue, he)
    max_c = np.percentile(conc, 99, axis=0)
    max_c = np.where(max_c > 1e-6, max_c, 1e-6)
    return MacenkoStains(he, max_c)


def _unmix(od: np.ndarray, stain_matrix: np.ndarray) -> np.ndarray:
    """Least-squares concentrations ``(n, 2)`` of OD rows ``(n, 3)`` for stain rows ``(2, 3)``."""
    conc, *_ = np.linalg.lstsq(stain_matrix.T, od.T, rcond=None)
    return conc.T


def _macenko_target(target: Any, io: float) -> MacenkoStains:
    if isinstance(target, MacenkoStains):
        return target
    if target is None:
        return MACENKO_REFERENCE
    return fit_macenko(target, io)


def stain_concentrations(image: Any, stains: MacenkoStains | None = None, io: float = DEFAULT_IO) -> np.ndarray:
    """Haematoxylin and eosin concentrations of an RGB image.

    Haematoxylin and eosin concentrations ``[y, x, 2]`` (float64) of ``image`` for ``stains``
    (fitted on the image itself when None).

    >>> img = np.random.default_rng(2).integers(40, 220, (8, 8, 3), dtype=np.uint8)
    >>> stain_concentrations(img).shape
    (8, 8, 2)
    """
    stains = stains if stains is not None else fit_macenko(image, io)
    od = rgb_to_od(image, io)
    return _unmix(od.reshape(-1, 3), np.asarray(stains.stain_matrix)).reshape(od.shape[:2] + (2,))


def macenko_normalize(image: Any, target: MacenkoStains | Any = None, io: float = DEFAULT_IO,
                      alpha: float = 1.0, beta: float = 0.15,
                      source: MacenkoStains | None = None) -> np.ndarray:
    """Macenko stain normalisation of ``image`` towards ``target``.

    ``target`` is a :class:`MacenkoStains` (from :func:`fit_macenko`), a target RGB image, or None for
    :data:`MACENKO_REFERENCE`. ``source`` skips fitting the image itself (e.g. stains fitted once on a
    whole slide's thumbnail and applied tile by tile).

    >>> img = np.random.default_rng(3).integers(40, 220, (16, 16, 3), dtype=np.uint8)
    >>> macenko_normalize(img, fit_macenko(img)).dtype.name
    'uint8'
    """
    tgt = _macenko_target(target, io)
    rgb, dtype = _as_rgb(image)
    src = source if source is not None else fit_macenko(rgb / 255.0, io, alpha, beta)
    od = np.maximum(-np.log((rgb + 1.0) / io), 0.0)
    conc = _unmix(od.reshape(-1, 3), np.asarray(src.stain_matrix))
    conc *= np.asarray(tgt.max_concentrations) / np.asarray(src.max_concentrations)
    out_od = conc @ np.asarray(tgt.stain_matrix)
    return _restore(od_to_rgb(out_od, io).reshape(rgb.shape), dtype)


# ------------------------------------------------------------------------------------------- augmentation
def hed_jitter(image: Any, rng: np.random.Generator, sigma: float = 0.05, bias: float | None = None) -> np.ndarray:
    """Stain augmentation in HED space, drawn once per image (Tellez et al. 2019, "HED-light" at 0.05).

    Each HED channel ``c`` becomes ``c * a + b``, ``a ~ U(1 - sigma, 1 + sigma)``, ``b ~ U(-bias, bias)``
    (``bias`` defaults to ``sigma``).

    >>> img = np.full((4, 4, 3), 0.5)
    >>> bool(np.allclose(hed_jitter(img, np.random.default_rng(0), sigma=0.0), img, atol=1e-6))
    True
    """
    from skimage.color import hed_from_rgb, rgb_from_hed

    rgb, dtype = _as_rgb(image)
    bias = sigma if bias is None else bias
    od = -np.log(np.maximum(rgb / 255.0, 1e-6))  # no clipping of negative concentrations: exact round trip
    hed = od @ hed_from_rgb
    hed = hed * rng.uniform(1.0 - sigma, 1.0 + sigma, 3) + rng.uniform(-bias, bias, 3)
    out = np.exp(-(hed @ rgb_from_hed)) * 255.0
    return _restore(out, dtype)
