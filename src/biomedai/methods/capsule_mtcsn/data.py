"""Frame data sets: the folder layout for ``train``/``evaluate``, simulated clips, and splits by clip/patient.

Folder layout (what ``biomedai tool capsule_mtcsn simulate-frames`` writes)::

    labels.csv      image,cd_class,group[,split]   group = patient or video/clip id (splits keep it whole)
    images/<image>  RGB frames (PNG/JPEG, any size; resized to the model's input)
    masks/<stem>.png  8-class palette RGB or index PNG (0-7, 255 = ignore), same size as the image

The paper's split was stratified by CD only, so frames of one clip could land in train and test (spec
2.10 #7); here a group is never split.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from biomedai.data.splits import split_by_group
from biomedai.errors import InvalidInputError
from biomedai.io import read_image
from biomedai.utils import file_named_by_table, read_csv_rows, write_csv_atomic

from .frames import to_rgb_uint8
from .overlay import resize_rgb, write_rgb
from .palette import CD_CLASSES, index_to_rgb, mask_to_index
from .simulator import render_frame, simulate_scene

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class FrameSet:
    """Frames with CD labels and tissue masks, all one size."""

    images: np.ndarray                 # [n, s, s, 3] uint8
    cd: np.ndarray                     # [n] int64 (index into CD_CLASSES)
    masks: np.ndarray                  # [n, s, s] uint8 (255 = ignore)
    groups: list[str]
    names: list[str]
    simulated: bool = False

    def __len__(self) -> int:
        return len(self.cd)

    def subset(self, index: list[int] | np.ndarray) -> FrameSet:
        index = np.asarray(index, dtype=np.intp)
        return FrameSet(self.images[index], self.cd[index], self.masks[index], [self.groups[i] for i in index],
                        [self.names[i] for i in index], self.simulated)


def simulate_clips(n_clips: int, frames_per_clip: int, size: int, seed: int = 0,
                   cd_mix: tuple[float, float, float] = (0.69, 0.22, 0.09), lesion_rate: float = 0.35) -> FrameSet:
    """SIMULATED clips: each clip one scene seen ``frames_per_clip`` times (other crops, other CD classes)."""
    rng = np.random.default_rng(seed)
    n = n_clips * frames_per_clip
    images, masks = np.empty((n, size, size, 3), np.uint8), np.empty((n, size, size), np.uint8)
    cds, groups, names = np.empty(n, np.int64), [], []
    i = 0
    for clip in range(n_clips):
        lesion = str(rng.choice(["ulcer", "erosion"])) if rng.random() < lesion_rate else None
        scene = simulate_scene(rng, size, lesion)
        span = scene.rgb.shape[0] - size
        for j in range(frames_per_clip):
            cd = str(rng.choice(CD_CLASSES, p=cd_mix))
            images[i], truth = render_frame(rng, scene, size, tuple(int(v) for v in rng.integers(0, span + 1, 2)), cd)
            masks[i], cds[i] = truth.mask, truth.cd_index
            groups.append(f"clip{clip:04d}")
            names.append(f"clip{clip:04d}_{j:02d}.png")
            i += 1
    return FrameSet(images, cds, masks, groups, names, simulated=True)


def write_frame_folder(folder: Path, frames: FrameSet) -> Path:
    folder = Path(folder)
    for image, mask, name in zip(frames.images, frames.masks, frames.names):
        write_rgb(image, folder / "images" / name)
        write_rgb(index_to_rgb(mask), folder / "masks" / f"{Path(name).stem}.png")
    write_csv_atomic(folder / "labels.csv", [{"image": n, "cd_class": CD_CLASSES[c], "group": g}
                                             for n, c, g in zip(frames.names, frames.cd, frames.groups)])
    if frames.simulated:
        (folder / "SIMULATED.txt").write_text("Simulated capsule-endoscopy frames (biomedai capsule_mtcsn "
                                              "simulator); not real patient data.\n", encoding="utf-8")
    return folder


def _resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    if mask.shape == (size, size):
        return mask
    rows = (np.arange(size) * mask.shape[0] / size).astype(np.intp)
    cols = (np.arange(size) * mask.shape[1] / size).astype(np.intp)
    return mask[rows][:, cols]


def load_frame_folder(folder: Path, size: int, ignore_index: int = 255) -> FrameSet:
    """Read a folder of the layout above, resizing frames (bilinear) and masks (nearest) to ``size``."""
    folder = Path(folder)
    table = folder / "labels.csv"
    if not table.is_file():
        raise InvalidInputError("no labels.csv (columns image,cd_class,group) in the data folder", folder)
    rows = read_csv_rows(table)
    if not rows or not {"image", "cd_class"} <= set(rows[0]):
        raise InvalidInputError("labels.csv needs the columns image, cd_class (and group)", table)
    images, masks, cds, groups, names = [], [], [], [], []
    for line, row in enumerate(rows, start=2):
        if row["cd_class"] not in CD_CLASSES:
            raise InvalidInputError(f"line {line}: cd_class {row['cd_class']!r} is not one of {CD_CLASSES}", table)
        image_path = file_named_by_table(folder / "images", row["image"], table, f"line {line}: image",
                                         where="the images folder")
        if image_path is None:
            raise InvalidInputError(f"line {line}: no image named", table)
        mask_path = folder / "masks" / f"{Path(row['image']).stem}.png"
        if not mask_path.is_file():
            raise InvalidInputError(f"line {line}: no mask {mask_path.name} for {row['image']}", mask_path)
        image = to_rgb_uint8(read_image(image_path).array, image_path)
        mask = mask_to_index(read_image(mask_path).array, mask_path, ignore_index)
        if mask.shape != image.shape[:2]:
            raise InvalidInputError(f"mask {mask.shape} and image {image.shape[:2]} differ in size", mask_path)
        images.append(resize_rgb(image, size))
        masks.append(_resize_mask(mask, size))
        cds.append(CD_CLASSES.index(row["cd_class"]))
        groups.append(row.get("group") or row["image"])
        names.append(row["image"])
    return FrameSet(np.stack(images), np.asarray(cds, np.int64), np.stack(masks), groups, names,
                    simulated=(folder / "SIMULATED.txt").is_file())


def split_frames(frames: FrameSet, val_fraction: float, test_fraction: float, seed: int = 0
                 ) -> dict[str, FrameSet]:
    """Train/val(/test) parts keeping every group (clip, patient) whole."""
    fractions = [1 - val_fraction - test_fraction, val_fraction] + ([test_fraction] if test_fraction > 0 else [])
    names = ("train", "val", "test")[:len(fractions)]
    split = split_by_group(list(range(len(frames))), frames.groups, fractions, seed=seed, names=names)
    return {name: frames.subset(sorted(int(i) for i in split[name])) for name in names}
