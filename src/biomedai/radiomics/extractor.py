"""The extraction pipeline: inputs -> checks -> preprocessing -> image types -> feature classes.

Mirrors the order of PyRadiomics' extractor so that results agree: mask selection, normalisation,
resampling (or pre-cropping), mask checks with ``correctMask``, resegmentation, shape features on
the original mask, then for each image type the texture and first-order classes on the ROI's
bounding box.
"""
from __future__ import annotations

import logging
import os
import platform
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from . import preprocessing as prep
from .features import firstorder, glcm, gldm, glrlm, glszm, ngtdm, shape
from .features._neighbours import label_zones
from .filters import filtered_images
from .params import DEPRECATED_FEATURES, FEATURE_NAMES, RadiomicsParams

logger = logging.getLogger(__name__)

__all__ = ["extract"]

_TEXTURE = {"glcm": glcm, "glrlm": glrlm, "glszm": glszm, "gldm": gldm, "ngtdm": ngtdm}


def _versions() -> dict[str, str]:
    import SimpleITK as sitk
    import pywt

    from .. import __version__

    return {"biomedai": __version__, "Numpy": np.__version__, "SimpleITK": sitk.Version_VersionString(),
            "PyWavelet": pywt.__version__, "Python": platform.python_version()}


def _sha1(image: Any) -> str:
    """SHA-1 of the voxel buffer: the same value as ``SimpleITK.Hash`` (and PyRadiomics' diagnostics)."""
    import hashlib

    import SimpleITK as sitk

    arr = np.ascontiguousarray(sitk.GetArrayViewFromImage(image))
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    return hashlib.sha1(arr.tobytes(), usedforsecurity=False).hexdigest()


def _image_info(image: Any, prefix: str) -> dict[str, Any]:
    import SimpleITK as sitk

    arr = sitk.GetArrayViewFromImage(image)
    return {f"{prefix}_Hash": _sha1(image), f"{prefix}_Dimensionality": f"{image.GetDimension()}D",
            f"{prefix}_Spacing": tuple(image.GetSpacing()), f"{prefix}_Size": tuple(image.GetSize()),
            f"{prefix}_Mean": float(arr.mean()), f"{prefix}_Minimum": float(arr.min()),
            f"{prefix}_Maximum": float(arr.max())}


def _mask_info(mask: Any, label: int, prefix: str, with_hash: bool = True) -> dict[str, Any]:
    import SimpleITK as sitk

    full = sitk.GetArrayViewFromImage(mask)
    out: dict[str, Any] = {}
    if with_hash:
        out[f"{prefix}_Hash"] = _sha1(mask)
    out[f"{prefix}_Spacing"] = tuple(mask.GetSpacing())
    out[f"{prefix}_Size"] = tuple(mask.GetSize())
    if np.any(full == label):
        bb = prep.roi_bounds(full, label)
        roi = full[bb.slices()] == label
        com = (np.argwhere(roi).mean(axis=0) + bb.lower)[::-1]
        out[f"{prefix}_BoundingBox"] = bb.itk()
        out[f"{prefix}_VoxelNum"] = int(roi.sum())
        # fully connected (26 in 3D), as PyRadiomics counts them
        out[f"{prefix}_VolumeNum"] = int(label_zones(roi.view(np.uint8), roi.ndim).max())
        out[f"{prefix}_CenterOfMassIndex"] = tuple(float(v) for v in com)
        out[f"{prefix}_CenterOfMass"] = tuple(mask.TransformContinuousIndexToPhysicalPoint(com.tolist()))
    return out


def _wanted(cls: str, requested: list[str] | None) -> tuple[list[str], bool]:
    """Features to report for a class, and whether deprecated ones were asked for."""
    if not requested:
        return list(FEATURE_NAMES[cls]), False
    for name in requested:
        if name in DEPRECATED_FEATURES[cls] and not DEPRECATED_FEATURES[cls][name]:
            logger.warning("%s_%s is deprecated and equal to another feature; not computed", cls, name)
    keep = [n for n in requested if n in FEATURE_NAMES[cls] or DEPRECATED_FEATURES[cls].get(n, False)]
    return keep, any(n in DEPRECATED_FEATURES[cls] for n in keep)


def _shape_features(image: Any, mask: Any, bb: prep.BoundingBox, params: RadiomicsParams,
                    settings: dict[str, Any]) -> dict[str, float]:
    import SimpleITK as sitk

    label = settings.get("label", 1)
    roi = sitk.GetArrayViewFromImage(mask)[bb.slices()] == label
    spacing = np.array(image.GetSpacing()[::-1])
    out: dict[str, float] = OrderedDict()
    classes = params.feature_classes
    if roi.ndim == 2:  # a 2D input: shape2D directly, no 3D shape
        if "shape" in classes:
            logger.warning("shape (3D) features need a 3D input; use shape2D for 2D images")
        if "shape2D" in classes:
            names, dep = _wanted("shape2D", classes["shape2D"])
            values = shape.features2d(roi, spacing, deprecated=dep)
            out.update((f"original_shape2D_{n}", values[n]) for n in names)
        return out
    if "shape" in classes:
        names, dep = _wanted("shape", classes["shape"])
        values = shape.features3d(roi, spacing, deprecated=dep)
        out.update((f"original_shape_{n}", values[n]) for n in names)
    if "shape2D" in classes:
        dim = settings.get("force2Ddimension", 0)
        if not settings.get("force2D", False):
            logger.info("shape2D needs force2D: true (or a 2D input); skipped")
        elif roi.shape[dim] > 1:
            logger.warning("the ROI is %d voxels thick along force2Ddimension %d; shape2D skipped",
                           roi.shape[dim], dim)
        else:
            names, dep = _wanted("shape2D", classes["shape2D"])
            axes = [a for a in range(3) if a != dim]
            values = shape.features2d(np.take(roi, 0, axis=dim), spacing[axes], deprecated=dep)
            out.update((f"original_shape2D_{n}", values[n]) for n in names)
    return out


def _class_features(array: np.ndarray, roi: np.ndarray, prefix: str, params: RadiomicsParams,
                    settings: dict[str, Any], spacing: np.ndarray) -> dict[str, float]:
    if array.ndim == 2:  # a 2D input is a one-slice volume with in-plane neighbourhoods
        array, roi = array[None], roi[None]
        spacing = np.concatenate([[1.0], spacing])
        settings = {**settings, "force2D": True, "force2Ddimension": 0}
    out: dict[str, float] = OrderedDict()
    values = array[roi]
    levels = prep.discretize(array, roi, settings)
    gray_levels = np.flatnonzero(np.bincount(levels[roi]))  # sorted levels present (np.unique loads numpy.ma)
    for cls, requested in params.feature_classes.items():
        if cls.startswith("shape"):
            continue
        names, dep = _wanted(cls, requested)
        if cls == "firstorder":
            result = firstorder.features(values, levels[roi], settings, spacing, deprecated=dep)
        else:
            result = _TEXTURE[cls].features(levels, roi, settings, spacing, gray_levels)
        out.update((f"{prefix}_{cls}_{n}", result[n]) for n in names)
    return out


def extract(image: Any, mask: Any, params: RadiomicsParams | dict | str | Path | None = None, *,
            label: int | None = None, label_channel: int | None = None, threads: int | None = None,
            voxel_based: bool = False, full_grid: bool = True, device: str | None = None
            ) -> dict[str, Any]:
    """Radiomic features of one ROI, named as PyRadiomics names them, plus ``diagnostics_*`` provenance.

    Args:
        image: a path (NRRD, NIfTI, MHA, DICOM folder, ...), a :class:`biomedai.io.image.Image`,
            a SimpleITK image or a numpy array (spacing 1).
        mask: the label map, same kinds as ``image``.
        params: a PyRadiomics params file/mapping or :class:`RadiomicsParams`; ``None``: defaults
            (Original image, all classes but shape2D, binWidth 25).
        label, label_channel: override the params' ``label`` / ``label_channel``.
        threads: threads for the feature classes of the image types (default: ``OMP_NUM_THREADS``
            when set, else one per CPU, at most 8; 1 to stay on one core, e.g. inside a process
            pool). Results do not depend on it.
        voxel_based: feature maps instead of ROI values (PyRadiomics' ``voxelBased=True``; settings
            ``kernelRadius``, ``maskedKernel``, ``initValue``, ``voxelBatch``): each feature is a
            float64 :class:`biomedai.io.image.Image`, ``initValue`` outside the ROI; no shape class.
        full_grid: voxel-based maps on the image's whole grid (after resampling: the resampled grid,
            cropped as in PyRadiomics); ``False``: on the ROI's box grown by ``kernelRadius``, as
            PyRadiomics returns them (far less memory for large images).
        device: run the voxel-based GLCM in torch on this device (``"cuda"``, ``"cpu"``); ``None``: numpy.

    Example:
        >>> vol = np.random.default_rng(0).integers(0, 100, (8, 8, 8))
        >>> roi = np.zeros((8, 8, 8), np.uint8); roi[2:6, 2:6, 2:6] = 1
        >>> f = extract(vol, roi, {"featureClass": {"firstorder": ["Mean"]}})
        >>> bool(abs(f["original_firstorder_Mean"] - vol[2:6, 2:6, 2:6].mean()) < 1e-9)
        True
    """
    import SimpleITK as sitk

    params = RadiomicsParams.coerce(params)
    settings = dict(params.settings)
    if label is not None:
        settings["label"] = label
    if label_channel is not None:
        settings["label_channel"] = label_channel
    lab = settings.get("label", 1)
    image_s, mask_s, mask_name = _load_inputs(image, mask, settings)
    info: dict[str, Any] = OrderedDict()
    if settings.get("additionalInfo", True):
        info.update(_general_info(image_s, mask_s, settings, params))
    image_s, mask_s, reseg, bb = _prepare(image_s, mask_s, settings, mask_name, info)

    features: dict[str, Any] = OrderedDict(info)
    if voxel_based:
        if reseg is not None:  # voxel-based: no shape, the resegmented mask for every class
            mask_s = reseg
        features.update(_voxel_maps(image_s, mask_s, bb, params, settings, threads, full_grid, device))
        return features
    shape_mask = reseg if (reseg is not None and settings.get("resegmentShape", False)) else mask_s
    features.update(_shape_features(image_s, shape_mask, bb, params, settings))
    if reseg is not None:
        mask_s = reseg
    if all(c.startswith("shape") for c in params.feature_classes):
        return features
    spacing = np.array(image_s.GetSpacing()[::-1])
    roi = sitk.GetArrayViewFromImage(mask_s)[bb.slices()] == lab
    jobs = []
    for image_type, custom in params.image_types.items():
        type_settings = {**settings, **custom}
        for array, name in filtered_images(image_s, image_type, type_settings, bb):
            jobs.append((array, roi, name, params, type_settings, spacing))
    for result in _map_threads(_class_features, jobs, threads):
        features.update(result)
    return features


def default_threads() -> int:
    """Threads of :func:`extract` when none are asked for.

    ``OMP_NUM_THREADS`` when set to a positive integer (numpy's BLAS, the project's batch workers
    and the team's CPU slots limit threads with it), else one per CPU, at most 8.
    """
    try:
        wanted = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        wanted = 0
    return wanted if wanted > 0 else min(os.cpu_count() or 1, 8)


def _map_threads(fn: Any, jobs: list[tuple], threads: int | None) -> list[Any]:
    """``fn(*job)`` for each job, on up to ``threads`` threads (numpy releases the GIL in its loops)."""
    n = threads if threads is not None else min(len(jobs), default_threads())
    if n <= 1 or len(jobs) <= 1:
        return [fn(*job) for job in jobs]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(lambda job: fn(*job), jobs))


def _load_inputs(image: Any, mask: Any, settings: dict[str, Any]) -> tuple[Any, Any, str]:
    """SimpleITK image and (label-checked, UInt32) mask, after the input checks."""
    image_name = prep.input_name(image, "image")
    mask_name = prep.input_name(mask, "mask")
    image_s = prep.to_sitk(image, "image")
    mask_s = prep.to_sitk(mask, "mask")
    prep.check_dimensions(image_s, mask_s, image_name, mask_name)
    if image_s.GetNumberOfComponentsPerPixel() > 1:
        raise InvalidInputError("the image has several components per voxel; radiomics needs a scalar image",
                                image_name)
    prep.check_finite(image_s, image_name)
    mask_s = prep.select_mask(mask_s, settings.get("label", 1), settings.get("label_channel", 0), mask_name)
    return image_s, mask_s, mask_name


def _general_info(image: Any, mask: Any, settings: dict[str, Any], params: RadiomicsParams) -> dict[str, Any]:
    info: dict[str, Any] = OrderedDict()
    for k, v in _versions().items():
        info[f"diagnostics_Versions_{k}"] = v
    info["diagnostics_Configuration_Settings"] = dict(settings)
    info["diagnostics_Configuration_EnabledImageTypes"] = params.image_types
    info.update(_image_info(image, "diagnostics_Image-original"))
    info.update(_mask_info(mask, settings.get("label", 1), "diagnostics_Mask-original"))
    return info


def _prepare(image: Any, mask: Any, settings: dict[str, Any], mask_name: str, info: dict[str, Any]
             ) -> tuple[Any, Any, Any | None, prep.BoundingBox]:
    """Normalise, resample (or pre-crop), check and correct the mask, resegment; PyRadiomics' order."""
    lab = settings.get("label", 1)
    additional = settings.get("additionalInfo", True)
    if settings.get("normalize", False):
        image = prep.normalize_image(image, settings)
    if settings.get("interpolator") is not None and settings.get("resampledPixelSpacing") is not None:
        image, mask = prep.resample(image, mask, settings, mask_name)
        if additional:
            info.update(_image_info(image, "diagnostics_Image-interpolated"))
            info.update(_mask_info(mask, lab, "diagnostics_Mask-interpolated", with_hash=False))
    elif settings.get("preCrop", False):
        bb, corrected = prep.check_mask(image, mask, settings, mask_name)
        if corrected is not None:
            mask = corrected
        image, mask = prep.crop(image, mask, bb, settings.get("padDistance", 5))
    bb, corrected = prep.check_mask(image, mask, settings, mask_name)
    if corrected is not None:
        mask = corrected
        if additional:
            info.update(_mask_info(mask, lab, "diagnostics_Mask-corrected", with_hash=False))
    reseg = None
    if settings.get("resegmentRange") is not None:
        reseg = prep.resegment(image, mask, settings, mask_name)
        bb, _ = prep.check_mask(image, reseg, settings, mask_name)
        if additional:
            info.update(_mask_info(reseg, lab, "diagnostics_Mask-resegmented", with_hash=False))
    return image, mask, reseg, bb


def _voxel_maps(image: Any, mask: Any, bb: prep.BoundingBox, params: RadiomicsParams, settings: dict[str, Any],
                threads: int | None, full_grid: bool, device: str | None) -> dict[str, Any]:
    """Feature maps of every image type and class, on the ROI box grown by ``kernelRadius``."""
    import SimpleITK as sitk

    from ..io.image import Image
    from .voxel import VOXEL_CLASSES, class_maps

    radius = int(settings.get("kernelRadius", 1))
    size = np.array(image.GetSize())[::-1]
    grown = prep.BoundingBox(np.maximum(bb.lower - radius, 0), np.minimum(bb.upper + radius, size - 1))
    roi = sitk.GetArrayViewFromImage(mask)[grown.slices()] == settings.get("label", 1)
    kernel_mask = roi if settings.get("maskedKernel", True) else np.ones_like(roi)
    spacing = np.array(image.GetSpacing()[::-1])
    init = float(settings.get("initValue", 0))
    jobs = []
    for image_type, custom in params.image_types.items():
        type_settings = {**settings, **custom}
        for array, name in filtered_images(image, image_type, type_settings, grown):
            for cls, requested in params.feature_classes.items():
                if cls.startswith("shape"):
                    continue
                if cls not in VOXEL_CLASSES:  # pragma: no cover - all non-shape classes are voxel classes
                    continue
                names, _ = _wanted(cls, requested)
                jobs.append((cls, array, kernel_mask, roi, type_settings, spacing, names, device, name))

    def one(cls: str, array: np.ndarray, kmask: np.ndarray, r: np.ndarray, st: dict[str, Any], sp: np.ndarray,
            names: list[str], dev: str | None, prefix: str) -> list[tuple[str, np.ndarray, np.ndarray]]:
        coords, maps = class_maps(cls, array, kmask, r, st, sp, names, dev)
        return [(f"{prefix}_{cls}_{n}", coords, maps[n]) for n in names]

    origin_index = [int(v) for v in grown.lower[::-1]]
    out: dict[str, Any] = OrderedDict()
    for result in _map_threads(one, jobs, 1 if device else threads):
        for key, coords, values in result:
            if coords.shape[1] != roi.ndim:  # 2D input: class_maps added a unit axis
                coords = coords[:, 1:]
            box = np.full(roi.shape, init)
            box[tuple(coords.T)] = values
            if full_grid:
                arr = np.full(tuple(size), init)
                arr[grown.slices()] = box
                img = sitk.GetImageFromArray(arr)
                img.CopyInformation(image)
            else:
                img = sitk.GetImageFromArray(box)
                img.SetSpacing(image.GetSpacing())
                img.SetDirection(image.GetDirection())
                img.SetOrigin(image.TransformIndexToPhysicalPoint(origin_index))
            out[key] = Image.from_sitk(img)
    return out
