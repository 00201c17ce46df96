"""Export a result's masks as a DICOM Segmentation (highdicom) that joins its source series.

Which result files are masks: label maps or probability maps that a method lists in its
result, named ``<stem>_<mask|masks|labels|label|labelmap|seg|segmentation|instances|prob|
probability>.<png|tif|tiff|nii|nii.gz|nrrd|mha|npy>`` (see :func:`mask_files`). Each is read
with :func:`biomedai.io.read_image` and must have the geometry of the DICOM input the job ran on:
``[rows, columns]`` for one single-frame image, ``[frames, rows, columns]`` for a series (slices in
the order :func:`biomedai.io.read_image` reads the series: by position along the slice normal) or
a multi-frame instance; masks that carry a physical spacing in mm must match the source's.

* Integer (or integer-valued) masks are label maps: one BINARY segment per non-zero label. Names
  come from the result's ``metrics["segments"]`` (``{"1": "liver", ...}`` for every mask, or
  ``{"<mask file name>": {"1": "liver"}}`` per file); otherwise ``label <k>``.
* A mask named ``*_instances`` or with more than :data:`MAX_LABELS` labels and no names is an
  instance mask (e.g. nuclei): one segment, its foreground, named ``<stem> (<n> instances)``.
* A float mask with values in [0, 1] that are not all 0/1 is a probability map: a FRACTIONAL
  (PROBABILITY) segmentation, one segment per map.

The SEG has the source's StudyInstanceUID, patient and study attributes and FrameOfReferenceUID,
and references every source instance; its UIDs are derived from the result, so exporting the same
result twice gives the same instance (a PACS replaces it instead of storing a duplicate).
Studies without a DICOM source, results without masks and masks of another geometry are refused
with :class:`~biomedai.errors.InvalidInputError`.
"""
from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from .store import Store

log = logging.getLogger(__name__)

MASK_SUFFIXES = (".nii.gz", ".nii", ".tif", ".tiff", ".png", ".nrrd", ".mha", ".npy")
_MASK_NAME = re.compile(r"(?:^|[_\-.])(masks?|labels?|labelmap|seg|segmentation|instances|prob|probabilit(?:y|ies))$",
                        re.IGNORECASE)
#: more distinct labels than this (and no names) make a mask an instance mask (one foreground segment)
MAX_LABELS = 64
#: SNOMED CT "Anatomical Structure", the segmented property category of every segment
_CATEGORY = ("91723000", "SCT", "Anatomical Structure")


@dataclass
class MaskLayer:
    """One mask file as frames ``[F, R, C]`` and the segments it contributes."""

    name: str
    frames: np.ndarray
    fractional: bool = False
    segments: list[tuple[str, np.ndarray]] = field(default_factory=list)  # (label, [F, R, C] bool or float)


def _split_suffix(name: str) -> tuple[str, str]:
    lower = name.lower()
    for suffix in MASK_SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)], suffix
    return name, ""


def mask_files(files: list[str]) -> list[str]:
    """The result files that are masks (by name, see the module docstring), in listed order.

    Example:
        >>> mask_files(["r/a_overlay.png", "r/ct_labels.nii.gz", "r/x_mask.png", "r/result.json"])
        ['r/ct_labels.nii.gz', 'r/x_mask.png']
    """
    chosen = []
    for path in files:
        stem, suffix = _split_suffix(Path(path).name)
        if suffix and _MASK_NAME.search(stem):
            chosen.append(path)
    return chosen


def read_mask(path: Path) -> tuple[np.ndarray, Any]:
    """A mask file's array and its :class:`~biomedai.io.Image` (``None`` for ``.npy``)."""
    if path.name.lower().endswith(".npy"):
        try:
            return np.load(path, allow_pickle=False), None
        except (OSError, ValueError) as exc:
            raise InvalidInputError(f"cannot read the mask: {exc}", path.name) from None
    from ..io import read_image

    image = read_image(path)
    if image.channel_axis is not None:
        raise InvalidInputError(f"a mask must be one channel, this has {image.n_channels}", path.name)
    return np.asarray(image.array), image


def source_datasets(store: Store, job_inputs: list[str]) -> list[Any]:
    """Headers of the DICOM images a job ran on, in the order a method sees them (one series)."""
    import pydicom

    from ..io.dicom import series_headers

    if len(job_inputs) != 1:
        raise InvalidInputError(f"a DICOM SEG needs one DICOM input per job, this job had {len(job_inputs)}")
    path = store.storage.resolve(job_inputs[0])
    if path.is_dir():
        return series_headers(path)
    try:
        header = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception:  # noqa: BLE001 - not DICOM: refused below with the reason
        header = None
    if header is None or "Rows" not in header:
        raise InvalidInputError("the job's input is not a DICOM image: a DICOM SEG needs DICOM source images",
                                Path(job_inputs[0]).name)
    return [header]


def _as_frames(array: np.ndarray, sources: list[Any], image: Any, name: str) -> np.ndarray:
    n_frames = sum(int(ds.get("NumberOfFrames", 1) or 1) for ds in sources)
    rows, cols = int(sources[0].Rows), int(sources[0].Columns)
    frames = array[None] if array.ndim == 2 else array
    if frames.shape != (n_frames, rows, cols):
        raise InvalidInputError(f"mask shape {tuple(array.shape)} does not match the source "
                                f"({n_frames} frame(s) of {rows}x{cols}: expected {(n_frames, rows, cols)})", name)
    spacing = sources[0].get("PixelSpacing")
    if image is not None and image.spacing_unit == "mm" and spacing is not None:
        if not np.allclose(image.spacing[-2:], [float(v) for v in spacing], rtol=1e-3):
            raise InvalidInputError(f"mask pixel spacing {tuple(image.spacing[-2:])} mm differs from the source's "
                                    f"{tuple(float(v) for v in spacing)} mm", name)
    return frames


def _names_for(metrics: dict[str, Any], file_name: str) -> dict[int, str]:
    spec = metrics.get("segments") if isinstance(metrics, dict) else None
    if not isinstance(spec, dict):
        return {}
    if isinstance(spec.get(file_name), dict):
        spec = spec[file_name]
    names = {}
    for key, value in spec.items():
        if str(key).isdigit() and isinstance(value, str) and value.strip():
            names[int(key)] = value.strip()[:64]
    return names


def mask_layer(frames: np.ndarray, file_name: str, names: dict[int, str]) -> MaskLayer:
    """Segments of one mask (label map, instance mask or probability map), see the module docstring."""
    stem = _split_suffix(file_name)[0]
    if frames.dtype.kind == "b":
        frames = frames.astype(np.uint8)
    if frames.dtype.kind == "f":
        if not np.all(np.isfinite(frames)):
            raise InvalidInputError("mask has NaN or infinite values", file_name)
        if np.any(frames != np.round(frames)):
            if frames.min() < 0 or frames.max() > 1:
                raise InvalidInputError(f"a non-integer mask must be a probability map in [0, 1], values span "
                                        f"[{frames.min():g}, {frames.max():g}]", file_name)
            label = names.get(1, stem)
            return MaskLayer(file_name, frames, fractional=True, segments=[(label, frames.astype(np.float32))])
        frames = frames.astype(np.int64)
    if frames.dtype.kind not in "iu":
        raise InvalidInputError(f"unsupported mask type {frames.dtype}", file_name)
    if frames.min() < 0:
        raise InvalidInputError("mask has negative labels", file_name)
    values = [int(v) for v in np.unique(frames) if v != 0]
    if not values:
        raise InvalidInputError("mask is empty (no labelled pixels)", file_name)
    layer = MaskLayer(file_name, frames)
    instances = stem.lower().endswith("instances") or (len(values) > MAX_LABELS and not names)
    if instances:
        layer.segments.append((f"{stem} ({len(values)} instances)"[:64], frames > 0))
    elif len(values) == 1 and not names:
        layer.segments.append((stem[:64], frames > 0))  # a binary mask (0/1 or 0/255): one segment
    else:
        layer.segments.extend((names.get(v, f"label {v}"), frames == v) for v in values)
    return layer


def result_masks(store: Store, result_id: int) -> tuple[dict[str, Any], list[str], list[str]]:
    """``(facts, job inputs, mask files)`` of a result; InvalidInputError if it does not exist."""
    from .models import Result

    with store.session() as s:
        result = s.get(Result, result_id)
        if result is None:
            raise InvalidInputError(f"no result {result_id}")
        facts = {"method": result.method, "metrics": result.metrics or {}, "study_id": result.study_id,
                 "study_uid": result.job.study.uid, "output_dir": result.output_dir, "job_id": result.job_id}
        return facts, list(result.job.inputs or []), mask_files(list(result.files or []))


def result_to_seg(store: Store, result_id: int) -> bytes:
    """The DICOM SEG (bytes) of one result's masks, joined to the DICOM series the job ran on."""
    facts, inputs, masks = result_masks(store, result_id)
    if not masks:
        raise InvalidInputError(f"result {result_id} lists no mask files (label or probability maps) to encode")
    if not inputs:
        raise InvalidInputError(f"result {result_id}: its job has no input to reference")
    sources = source_datasets(store, inputs)
    layers = []
    for rel in masks:
        name = Path(rel).name
        array, image = read_mask(store.storage.resolve(rel))
        frames = _as_frames(array, sources, image, name)
        layers.append(mask_layer(frames, name, _names_for(facts["metrics"], name)))
    seed = [facts["study_uid"], str(result_id), str(facts["job_id"]), facts["output_dir"]]
    seg = segmentation_from_layers(sources, layers, facts["method"], seed, series_number=800 + result_id % 100)
    buffer = io.BytesIO()
    seg.save_as(buffer)
    log.info("result %s: SEG with %d segment(s) over %d source instance(s)", result_id,
             len(seg.SegmentSequence), len(sources))
    return buffer.getvalue()


def segmentation_from_layers(sources: list[Any], layers: list[MaskLayer], method: str, seed: list[str], *,
                             series_number: int = 800) -> Any:
    """A highdicom ``Segmentation`` of ``layers`` (see :func:`mask_layer`) over the source datasets.

    ``seed`` strings make the UIDs reproducible (the same seed gives the same instance). Used by
    :func:`result_to_seg` and by methods that write a SEG next to their outputs.
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    from .. import __version__
    from .export import _PATIENT_STUDY_KEYS, _code

    for ds in sources:
        for key in _PATIENT_STUDY_KEYS:
            if getattr(ds, key, None) is None:
                setattr(ds, key, "")
    fractional = any(layer.fractional for layer in layers)
    algorithm = hd.AlgorithmIdentificationSequence(name=f"biomedai {method}"[:64], version=__version__,
                                                   family=codes.cid7162.ArtificialIntelligence)
    descriptions, planes = [], []
    for layer in layers:
        for label, plane in layer.segments:
            label = label if len(layers) == 1 else f"{_split_suffix(layer.name)[0]}: {label}"
            descriptions.append(hd.seg.SegmentDescription(
                segment_number=len(descriptions) + 1, segment_label=label[:64],
                segmented_property_category=hd.sr.CodedConcept(*_CATEGORY),
                segmented_property_type=_code(f"{method}:{label}", label),
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC, algorithm_identification=algorithm))
            planes.append(plane.astype(np.float32) if fractional else plane)
    pixels = np.stack(planes, axis=-1)
    kwargs: dict[str, Any] = {}
    if fractional:
        kwargs["fractional_type"] = hd.seg.SegmentationFractionalTypeValues.PROBABILITY
    kind = hd.seg.SegmentationTypeValues.FRACTIONAL if fractional else hd.seg.SegmentationTypeValues.BINARY
    return hd.seg.Segmentation(
        source_images=sources, pixel_array=pixels, segmentation_type=kind,
        segment_descriptions=descriptions, series_instance_uid=generate_uid(entropy_srcs=[*seed, "seg-series"]),
        series_number=series_number, sop_instance_uid=generate_uid(entropy_srcs=[*seed, "seg-instance"]),
        instance_number=1, manufacturer="biomedai", manufacturer_model_name=str(method)[:64],
        software_versions=__version__, device_serial_number="0", content_label="BIOMEDAI",
        content_description=f"biomedai {method}"[:64], series_description=f"biomedai {method} SEG"[:64], **kwargs)
