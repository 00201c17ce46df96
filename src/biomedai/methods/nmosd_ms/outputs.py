"""Per-subject outputs of the WMH step: the lesion mask as NIfTI, an axial PNG overlay and the statistics row."""
from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from biomedai.utils import atomic_path
from biomedai.viz import overlay_labels, save_png

from .volumes import Volume, to_series_frames


def case_name(path: Path) -> str:
    """File name without ``.nii``/``.nii.gz``."""
    name = path.name
    for suffix in (".nii.gz", ".nii"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def write_mask_nifti(mask: np.ndarray, like: Volume, path: Path) -> Path:
    """The lesion mask (uint8 0/1) on the FLAIR's RAS+ grid."""
    data = nib.Nifti1Image(mask.astype(np.uint8), like.affine).to_bytes()
    with atomic_path(path) as tmp:
        tmp.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def _overlay_slice(flair: np.ndarray, mask: np.ndarray, k: int) -> np.ndarray:
    img = np.rot90(flair[:, :, k])
    lo, hi = np.percentile(img, [1, 99.5]) if img.any() else (0.0, 1.0)
    grey = (np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1) * 255).astype(np.uint8)
    return overlay_labels(grey, np.rot90(mask[:, :, k]).astype(np.int32))


def write_overlay_png(flair: np.ndarray, mask: np.ndarray, path: Path) -> Path:
    """The axial slice with the most lesion voxels (the middle one if none), lesions outlined over the FLAIR."""
    counts = mask.sum(axis=(0, 1))
    k = int(np.argmax(counts)) if counts.any() else flair.shape[2] // 2
    return save_png(_overlay_slice(flair, mask, k), path)


def overlay_slices(mask: np.ndarray, n: int = 4) -> list[int]:
    """``n`` axial slice indices: the 1/(n+1) .. n/(n+1) quantiles of the lesion voxels' z (evenly through the
    volume when the mask is empty), without repeats."""
    z = np.nonzero(mask)[2]
    if z.size:
        picks = np.quantile(z, np.arange(1, n + 1) / (n + 1))
    else:
        picks = np.linspace(0, mask.shape[2] - 1, n + 2)[1:-1]
    return sorted(dict.fromkeys(int(round(p)) for p in picks))


def write_overlay_strip(flair: np.ndarray, mask: np.ndarray, path: Path, n: int = 4) -> Path:
    """``n`` axial slices (``overlay_slices``) side by side, lesions outlined over the FLAIR, inferior to superior."""
    tiles = [_overlay_slice(flair, mask, k) for k in overlay_slices(mask, n)]
    gap = np.full((tiles[0].shape[0], 4, 3), 255, np.uint8)
    parts = [t if t.ndim == 3 else np.stack([t] * 3, -1) for t in tiles]
    return save_png(np.concatenate([x for t in parts for x in (t, gap)][:-1], axis=1), path)


def stats_row(case: str, stats: dict[str, Any], source: str) -> dict[str, Any]:
    """One CSV row (Table 1 quantities) with where the mask came from."""
    return {"case": case, "mask_source": source, **{k: stats[k] for k in
            ("wmh_ml", "lesion_count", "icv_ml", "wmh_percent_icv", "empty_lesion_mask")}}


def write_wmh_dicom_seg(mask: np.ndarray, volume: Volume, path: Path, method: str = "nmosd_ms") -> Path:
    """The lesion mask as a DICOM SEG (one BINARY segment) joined to ``volume``'s source DICOM series
    (through ``biomedai.workflow.dicom_seg``); the frames follow the series' slice order."""
    from biomedai.io.dicom import series_headers
    from biomedai.workflow.dicom_seg import mask_layer, segmentation_from_layers

    headers = series_headers(volume.path)
    frames = to_series_frames(mask.astype(np.uint8), volume)
    seed = [str(getattr(headers[0], "SeriesInstanceUID", path.name)), method, path.name]
    layer = mask_layer(frames, path.name, {1: "white matter hyperintensity"})
    seg = segmentation_from_layers(headers, [layer], method, seed)
    with atomic_path(path) as tmp:
        seg.save_as(tmp)
    return path
