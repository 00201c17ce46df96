"""Patch data set of Liu et al. (section 1.3): 64x64 patches around point-annotated cells plus background.

Cells come as points with a class (Labelme JSON, QuPath GeoJSON or CSV ``x,y,label``, read through
:func:`biomedai.io.read_annotations`; polygons count by their centroid). Background boxes are random
``patch x patch`` boxes that overlap no cell box (Fig. 3).

Example:
    >>> import numpy as np
    >>> image = np.zeros((200, 200, 3), np.uint8)
    >>> pts = np.array([[50.0, 50.0], [150.0, 60.0]]); cls = np.array([1, 0])
    >>> p, y = cell_patches(image, pts, cls, 64)
    >>> p.shape, y.tolist()
    ((2, 64, 64, 3), [1, 0])
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from biomedai.errors import InvalidInputError

from .config import BACKGROUND, NEGATIVE, POSITIVE, Ki67Config

#: image files and the cell-point annotation files read beside them (same stem)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
ANNOTATION_SUFFIXES = (".json", ".geojson", ".csv")

#: label names accepted for each class (case-insensitive); QuPath's "Positive"/"Negative" included
LABEL_ALIASES: Mapping[str, int] = {
    "positive": POSITIVE, "pos": POSITIVE, "ki67+": POSITIVE, "ki-67 positive": POSITIVE, "1": POSITIVE,
    "negative": NEGATIVE, "neg": NEGATIVE, "ki67-": NEGATIVE, "ki-67 negative": NEGATIVE, "0": NEGATIVE,
    "background": BACKGROUND, "bg": BACKGROUND, "2": BACKGROUND,
}


def read_cell_points(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``(xy [n, 2], classes [n])`` from a Labelme / GeoJSON / CSV annotation file.

    Raises ``InvalidInputError`` naming the file when it holds no annotation or an unknown label.
    """
    from biomedai.io import read_annotations

    annotations = read_annotations(path)
    if not annotations:
        raise InvalidInputError("annotation file holds no cell points", path)
    xy, classes = [], []
    for index, ann in enumerate(annotations):
        name = (ann.label or "").strip().lower()
        if name not in LABEL_ALIASES:
            raise InvalidInputError(f"annotation {index} has label {ann.label!r}; expected one of "
                                    "positive / negative / background", path)
        xy.append(ann.centroid)
        classes.append(LABEL_ALIASES[name])
    return np.asarray(xy, float).reshape(-1, 2), np.asarray(classes, np.int64)


def check_points_inside(xy: np.ndarray, shape: tuple[int, ...], source: str | Path | None = None) -> None:
    """Refuse points outside ``[0, width) x [0, height)``, naming how many and the first one."""
    xy = np.asarray(xy, float).reshape(-1, 2)
    outside = (xy[:, 0] < 0) | (xy[:, 1] < 0) | (xy[:, 0] >= shape[1]) | (xy[:, 1] >= shape[0])
    if outside.any():
        first = xy[np.flatnonzero(outside)[0]]
        raise InvalidInputError(f"{int(outside.sum())} of {len(xy)} points lie outside the {shape[1]}x{shape[0]} "
                                f"image (first at x={first[0]:.1f}, y={first[1]:.1f})", source)


def cell_patches(image: np.ndarray, xy: np.ndarray, classes: np.ndarray, patch: int = 64,
                 border_policy: str = "pad", source: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``patch x patch`` crops centred on each point, ``([n, patch, patch, 3] uint8, classes [n])``.

    ``border_policy="pad"`` reflects the image at its border; ``"drop"`` skips points nearer than
    ``patch/2`` to it. Points outside the image raise ``InvalidInputError``.
    """
    xy = np.asarray(xy, float).reshape(-1, 2)
    classes = np.asarray(classes, np.int64).reshape(-1)
    if len(xy) != len(classes):
        raise InvalidInputError(f"{len(xy)} points but {len(classes)} classes", source)
    check_points_inside(xy, image.shape, source)
    half = patch // 2
    if border_policy == "pad":
        padded = np.pad(image, ((half, half), (half, half), (0, 0)), mode="reflect")
        offset = half
    elif border_policy == "drop":
        padded, offset = image, 0
    else:
        raise InvalidInputError(f"border_policy must be 'pad' or 'drop', got {border_policy!r}")
    out, kept = [], []
    for k, (x, y) in enumerate(np.floor(xy).astype(int)):
        y0, x0 = y - half + offset, x - half + offset
        if y0 < 0 or x0 < 0 or y0 + patch > padded.shape[0] or x0 + patch > padded.shape[1]:
            continue
        out.append(padded[y0:y0 + patch, x0:x0 + patch])
        kept.append(classes[k])
    if not out:
        return np.zeros((0, patch, patch, image.shape[2]), image.dtype), np.zeros(0, np.int64)
    return np.stack(out), np.asarray(kept, np.int64)


def background_centres(shape: tuple[int, ...], cell_xy: np.ndarray, n: int, patch: int = 64,
                       cell_box: int = 64, rng: np.random.Generator | None = None,
                       max_tries: int = 20000) -> np.ndarray:
    """Up to ``n`` centres ``(x, y)`` of ``patch`` boxes inside the image overlapping no cell box.

    Boxes overlap when their centres are closer than ``(patch + cell_box) / 2`` in both x and y
    (axis-aligned squares). Fewer than ``n`` come back when the tissue is too crowded.
    """
    rng = rng or np.random.default_rng(0)
    height, width = shape[:2]
    half = patch // 2
    if height < patch or width < patch or n <= 0:
        return np.zeros((0, 2))
    cell_xy = np.asarray(cell_xy, float).reshape(-1, 2)
    reach = (patch + cell_box) / 2.0
    chosen: list[tuple[float, float]] = []
    for _ in range(max_tries):
        if len(chosen) >= n:
            break
        x = float(rng.integers(half, width - half + 1))
        y = float(rng.integers(half, height - half + 1))
        if len(cell_xy) and np.any((np.abs(cell_xy[:, 0] - x) < reach) & (np.abs(cell_xy[:, 1] - y) < reach)):
            continue
        chosen.append((x, y))
    return np.asarray(chosen, float).reshape(-1, 2)


def build_patch_set(image: np.ndarray, xy: np.ndarray, classes: np.ndarray, patch: int = 64,
                    n_background: int | None = None, cell_box: int = 64, border_policy: str = "pad",
                    rng: np.random.Generator | None = None,
                    source: str | Path | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cell patches plus sampled background patches: ``(patches, classes, centres xy)``.

    Points labelled background in the file are used as given; ``n_background`` more are sampled
    (default: none).
    """
    xy = np.asarray(xy, float).reshape(-1, 2)
    classes = np.asarray(classes, np.int64).reshape(-1)
    check_points_inside(xy, image.shape, source)
    cells = xy[classes != BACKGROUND]
    extra = background_centres(image.shape, cells, n_background or 0, patch, cell_box, rng)
    all_xy = np.concatenate([xy, extra])
    all_cls = np.concatenate([classes, np.full(len(extra), BACKGROUND, np.int64)])
    keep = np.ones(len(all_xy), bool)
    if border_policy == "drop":
        half = patch // 2
        keep = ((all_xy[:, 0] >= half) & (all_xy[:, 1] >= half) & (all_xy[:, 0] + half <= image.shape[1])
                & (all_xy[:, 1] + half <= image.shape[0]))
    patches, labels = cell_patches(image, all_xy[keep], all_cls[keep], patch, border_policy, source)
    return patches, labels, all_xy[keep]


def balance_by_jitter(patches_source: list[tuple[np.ndarray, np.ndarray, np.ndarray]], config: Ki67Config,
                      rng: np.random.Generator, per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """Oversample each class to ``per_class`` patches, re-cutting at centres jittered by up to 1/8 patch.

    ``patches_source`` holds ``(image, xy, classes)`` per tile. Jittered re-cuts (not copies) keep the
    oversampled minority class from being memorised pixel for pixel [decide: the paper's classes were
    balanced by construction, 5,900 / 6,086 / 6,776].
    """
    pool = [(i, k) for i, (_, _, cls) in enumerate(patches_source) for k in range(len(cls))]
    out_x, out_y = [], []
    jitter = config.patch_size // 8
    for c in (NEGATIVE, POSITIVE, BACKGROUND):
        members = [(i, k) for i, k in pool if patches_source[i][2][k] == c]
        if not members:
            continue
        if per_class <= len(members):  # subsample without replacement, no jitter
            picks = rng.permutation(len(members))[:per_class]
        else:  # every member once as is, then jittered re-cuts of random members
            picks = np.concatenate([np.arange(len(members)), rng.integers(0, len(members), per_class - len(members))])
        for j, m in enumerate(picks):
            i, k = members[m]
            image, xy, _ = patches_source[i]
            shift = 0 if j < len(members) else rng.integers(-jitter, jitter + 1, 2)
            centre = np.clip(xy[k] + shift, 0, np.array(image.shape[1::-1]) - 1)
            p, _ = cell_patches(image, centre[None], np.array([c]), config.patch_size, "pad")
            out_x.append(p[0])
            out_y.append(c)
    return np.stack(out_x), np.asarray(out_y, np.int64)
