"""Per-volume outputs: detections CSV, the detection masks as NIfTI and DICOM SEG (workflow layer), an overlay
montage of the slice through each detection (truth box green, detections yellow, spec Figs. 7-10)."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.io import write_image
from biomedai.io.image import Image
from biomedai.utils import atomic_path, write_csv_atomic
from biomedai.viz import pyplot, save_figure

from .inference import VolumeDetections, full_masks

logger = logging.getLogger(__name__)

__all__ = ["DETECTION_COLUMNS", "detection_rows", "write_detections_csv", "label_volume", "write_mask_nifti",
           "write_dicom_seg", "write_overlay_montage"]

DETECTION_COLUMNS = ["view_id", "breast_id", "view", "rank", "score", "z0", "y0", "x0", "z1", "y1", "x1",
                     "z0_mm", "y0_mm", "x0_mm", "z1_mm", "y1_mm", "x1_mm", "mask_voxels"]


def detection_rows(view_id: str, breast_id: str, view: str, found: VolumeDetections,
                   spacing: Sequence[float]) -> list[dict[str, object]]:
    """One row per detection, by decreasing score: box in voxels and in mm from the first voxel's corner."""
    order = np.argsort(-found.scores, kind="mergesort")
    mm = np.tile(np.asarray(spacing, float), 2)
    rows = []
    for rank, k in enumerate(order, start=1):
        box = found.boxes[k].astype(float)
        rows.append({"view_id": view_id, "breast_id": breast_id, "view": view, "rank": rank,
                     "score": round(float(found.scores[k]), 5), **{c: round(v, 2) for c, v in zip(DETECTION_COLUMNS[5:11], box)},
                     **{c: round(v, 2) for c, v in zip(DETECTION_COLUMNS[11:17], box * mm)},
                     "mask_voxels": int(found.masks[k].sum()) if found.masks else 0})
    return rows


def write_detections_csv(path: str | Path, rows: list[dict[str, object]]) -> Path:
    """The detections of one or more volumes as CSV (header only when nothing was found)."""
    return write_csv_atomic(Path(path), rows, DETECTION_COLUMNS)


def label_volume(found: VolumeDetections, shape: Sequence[int]) -> np.ndarray:
    """Detection masks as one uint8 label volume: label k+1 for the k-th detection by score (higher wins)."""
    stack = full_masks(found, shape)
    out = np.zeros(tuple(int(s) for s in shape), np.uint8)
    order = np.argsort(-found.scores, kind="mergesort")[:255]
    for label in range(len(order), 0, -1):  # paint low scores first so high scores end on top
        out[stack[order[label - 1]]] = label
    return out


def write_mask_nifti(path: str | Path, labels: np.ndarray, spacing: Sequence[float]) -> Path:
    """The label volume as NIfTI with the volume's spacing."""
    return write_image(Image(labels, spacing=tuple(spacing), spacing_unit="mm"), Path(path))


def write_dicom_seg(path: str | Path, labels: np.ndarray, source: str | Path, method: str = "dbt_maskrcnn") -> Path:
    """The label volume as a DICOM Segmentation referencing the DBT source (a multi-frame file or a slice folder)."""
    import pydicom

    from biomedai.workflow.dicom_seg import mask_layer, segmentation_from_layers

    source = Path(source)
    files = sorted(p for p in source.iterdir() if p.is_file()) if source.is_dir() else [source]
    datasets = [pydicom.dcmread(p) for p in files]
    if len(datasets) > 1:
        datasets.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))
    if not labels.any():
        raise InvalidInputError("no detection mask to write as DICOM SEG", source)
    names = {k: f"mass detection {k}" for k in range(1, int(labels.max()) + 1)}
    seg = segmentation_from_layers(datasets, [mask_layer(labels, "detections_labels.nii.gz", names)], method,
                                   [str(source), method])
    path = Path(path)
    with atomic_path(path) as tmp:
        seg.save_as(tmp)
    return path


def _grey(plane: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(plane, [1, 99.5])
    return np.clip((plane - lo) / max(hi - lo, 1e-6), 0, 1)


def write_overlay_montage(path: str | Path, volume: np.ndarray, found: VolumeDetections,
                          truth: np.ndarray | None = None, max_panels: int = 4, title: str = "") -> Path:
    """Slices through the top detections (and the true mass), boxes drawn: truth green, detections yellow."""
    centres = [int((b[0] + b[3]) / 2) for b in found.boxes[np.argsort(-found.scores)][:max_panels]]
    if truth is not None and len(truth):
        centres = [int((truth[0][0] + truth[0][3]) / 2)] + [c for c in centres if c != int((truth[0][0] + truth[0][3]) / 2)]
    centres = (centres or [volume.shape[0] // 2])[:max_panels]
    plt = pyplot()
    fig, axes = plt.subplots(1, len(centres), figsize=(3.2 * len(centres), 3.4), squeeze=False)
    for ax, z in zip(axes[0], centres):
        ax.imshow(_grey(volume[z]), cmap="gray")
        for boxes, colour in (((truth if truth is not None else np.zeros((0, 6))), "lime"), (found.boxes, "yellow")):
            for k, b in enumerate(boxes):
                if b[0] <= z < b[3]:
                    ax.add_patch(plt.Rectangle((b[2] - 0.5, b[1] - 0.5), b[5] - b[2], b[4] - b[1], fill=False,
                                               edgecolor=colour, linewidth=1.2))
                    if colour == "yellow":
                        ax.text(b[2], b[1] - 1, f"{found.scores[k]:.2f}", color=colour, fontsize=7)
        ax.set_title(f"slice {z}", fontsize=8)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=8)
    return save_figure(fig, Path(path))
