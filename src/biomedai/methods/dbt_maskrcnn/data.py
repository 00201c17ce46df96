"""Views of a DBT cohort at the model's voxel spacing, and random training patches with their targets.

A cohort folder is what :func:`~.cohort.write_cohort` writes (or the same layout from real data): ``volumes/``,
``masks/`` (optional), ``boxes.csv`` and ``clinical.csv``. Volumes are resampled to the model's spacing by
block averaging (an integer factor per axis; masks by majority), standardised over the breast (voxels > 0).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from skimage.measure import block_reduce

from biomedai.errors import InvalidInputError
from biomedai.io import read_image
from biomedai.utils import file_named_by_table, read_csv_rows

logger = logging.getLogger(__name__)

__all__ = ["ViewRecord", "resample_factors", "downsample", "standardise", "load_cohort", "PatchDataset",
           "collate_patches"]


@dataclass
class ViewRecord:
    """One view at the model's spacing: volume, true mass mask and box, and its clinical row."""

    view_id: str
    breast_id: str
    view: str
    split: str
    volume: np.ndarray
    mask: np.ndarray
    box: np.ndarray
    spacing: tuple[float, float, float]
    clinical: dict[str, str]


def resample_factors(spacing: Sequence[float], target: Sequence[float], where: str = "volume") -> tuple[int, ...]:
    """Integer block-averaging factors that take ``spacing`` to ``target`` (each must divide exactly)."""
    factors = []
    for s, t in zip(spacing, target):
        f = t / s
        if f < 0.999 or abs(f - round(f)) > 0.02:
            raise InvalidInputError(f"{where}: spacing {tuple(spacing)} mm cannot be block-averaged to "
                                    f"{tuple(target)} mm (need integer factors >= 1)")
        factors.append(int(round(f)))
    return tuple(factors)


def downsample(volume: np.ndarray, factors: Sequence[int], is_mask: bool = False) -> np.ndarray:
    """Block mean (volume) or majority (mask) over ``factors`` voxels per axis (trailing remainders dropped)."""
    if all(f == 1 for f in factors):
        return volume
    cut = tuple(slice(0, (n // f) * f) for n, f in zip(volume.shape, factors))
    reduced = block_reduce(volume[cut].astype(np.float32), tuple(factors), np.mean)
    return reduced >= 0.5 if is_mask else reduced.astype(np.float32)


def standardise(volume: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance over the breast (voxels > 0); background stays at the breast minimum."""
    breast = volume > 0
    if not breast.any():
        return np.zeros_like(volume, dtype=np.float32)
    mean, std = float(volume[breast].mean()), float(volume[breast].std()) + 1e-6
    out = (volume - mean) / std
    out[~breast] = float(out[breast].min())
    return out.astype(np.float32)


def _box_of(mask: np.ndarray) -> np.ndarray:
    idx = np.argwhere(mask)
    return np.concatenate([idx.min(0), idx.max(0) + 1]).astype(np.float32) if idx.size else np.zeros(6, np.float32)


def load_cohort(folder: str | Path, spacing: Sequence[float], splits: Sequence[str] = ("train", "test")) -> list[ViewRecord]:
    """Every view of the cohort in ``splits``, resampled to ``spacing`` and standardised."""
    root = Path(folder)
    for name in ("boxes.csv", "clinical.csv"):
        if not (root / name).is_file():
            raise InvalidInputError(f"{root / name}: missing (a cohort folder needs boxes.csv and clinical.csv)")
    clinical = {r["breast_id"]: r for r in read_csv_rows(root / "clinical.csv", required=("breast_id", "split"))}
    records = []
    for row in read_csv_rows(root / "boxes.csv", required=("breast_id", "view_id")):
        info = clinical.get(row["breast_id"])
        if info is None:
            raise InvalidInputError(f"{root / 'boxes.csv'}: breast {row['breast_id']} is not in clinical.csv")
        if info["split"] not in splits:
            continue
        volume = file_named_by_table(root / "volumes", f"{row['view_id']}.nii.gz", root / "boxes.csv", "view_id",
                                     where="the cohort's volumes folder")
        image = read_image(volume)
        factors = resample_factors(image.spacing, spacing, str(root / "volumes" / row["view_id"]))
        volume = standardise(downsample(image.array.astype(np.float32), factors))
        mask_path = root / "masks" / f"{row['view_id']}.nii.gz"
        if mask_path.is_file():
            mask = downsample(read_image(mask_path).array > 0, factors, is_mask=True)
            box = _box_of(mask)
        else:
            mask = np.zeros(volume.shape, bool)
            box = np.array([float(row[k]) for k in ("z0", "y0", "x0", "z1", "y1", "x1")]) / np.tile(factors, 2)
        records.append(ViewRecord(row["view_id"], row["breast_id"], row["view"], info["split"], volume, mask,
                                  box.astype(np.float32), tuple(float(s) for s in spacing), info))
    if not records:
        raise InvalidInputError(f"{root}: no views in splits {tuple(splits)}")
    return records


class PatchDataset(torch.utils.data.Dataset):
    """Random training crops of ``patch`` voxels, centred near the mass with probability ``p_lesion``.

    Each item is ``(image (1, z, y, x), {"boxes": (n, 6), "masks": (n, z, y, x)})``; masses cut by the crop keep
    their visible part, masses with under 30 % of their voxels inside are dropped. Flips along y and x.
    """

    def __init__(self, views: Sequence[ViewRecord], patch: Sequence[int], n_items: int, seed: int = 0,
                 p_lesion: float = 0.7, augment: bool = True) -> None:
        self.views = list(views)
        self.patch = tuple(int(p) for p in patch)
        self.n_items = int(n_items)
        self.seed = int(seed)
        self.p_lesion = float(p_lesion)
        self.augment = augment

    def __len__(self) -> int:
        return self.n_items

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        rng = np.random.default_rng((self.seed, index))
        v = self.views[int(rng.integers(len(self.views)))]
        shape = v.volume.shape
        start = []
        for axis, (n, p) in enumerate(zip(shape, self.patch)):
            if n <= p:
                start.append(0)
            elif rng.uniform() < self.p_lesion and v.mask.any():
                centre = (v.box[axis] + v.box[axis + 3]) / 2 + rng.uniform(-0.3, 0.3) * p
                start.append(int(np.clip(round(centre - p / 2), 0, n - p)))
            else:
                start.append(int(rng.integers(0, n - p + 1)))
        sl = tuple(slice(s, s + p) for s, p in zip(start, self.patch))
        image = np.full(self.patch, float(v.volume.min()), np.float32)
        mask = np.zeros(self.patch, bool)
        crop = v.volume[sl]
        region = tuple(slice(0, n) for n in crop.shape)
        image[region] = crop
        mask[region] = v.mask[sl]
        if self.augment:
            for axis in (1, 2):
                if rng.uniform() < 0.5:
                    image, mask = np.flip(image, axis), np.flip(mask, axis)
        keep = mask.sum() >= 0.3 * max(int(v.mask.sum()), 1) and mask.any()
        boxes = _box_of(mask)[None] if keep else np.zeros((0, 6), np.float32)
        masks = mask[None] if keep else np.zeros((0,) + self.patch, bool)
        return (torch.from_numpy(np.ascontiguousarray(image))[None],
                {"boxes": torch.from_numpy(boxes), "masks": torch.from_numpy(np.ascontiguousarray(masks))})


def collate_patches(items: list[tuple[torch.Tensor, dict[str, torch.Tensor]]]) -> tuple[torch.Tensor, list[dict]]:
    """Stack images; keep the targets as a list (one dict per patch)."""
    return torch.stack([i[0] for i in items]), [i[1] for i in items]
