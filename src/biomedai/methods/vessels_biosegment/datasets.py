"""Finding (image, manual segmentation, field-of-view mask) triples in a data folder.

Accepted layouts (2-D): DRIVE's (``images/NN_*.png``, ``1st_manual/NN_manual1.png``, ``mask/NN_*_mask.png``) and
the generic one (``images/``, ``labels/`` or ``manual/``, optional ``masks/``/``mask/``, matched by the
file name's leading token before the first ``_`` or by the whole stem).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.io import read_image

from .imaging import to_unit_range

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".gif")
_LABEL_DIRS = ("1st_manual", "labels", "manual")
_MASK_DIRS = ("mask", "masks")


@dataclass(frozen=True)
class VesselCase:
    """One image with its manual segmentation (or None) and field-of-view mask (or None)."""

    case_id: str
    image: Path
    manual: Path | None
    fov: Path | None


def _key(path: Path) -> str:
    return path.stem.split("_")[0]


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _first_dir(root: Path, names: tuple[str, ...]) -> Path | None:
    return next((root / n for n in names if (root / n).is_dir()), None)


def find_cases(root: Path | str, require_manual: bool = True) -> list[VesselCase]:
    """Every case under ``root`` (a folder holding ``images/`` and a label folder), sorted by id."""
    root = Path(root)
    images_dir = root / "images"
    if not images_dir.is_dir():
        raise InvalidInputError("no images/ folder (expected images/ plus 1st_manual/ or labels/)", root)
    label_dir = _first_dir(root, _LABEL_DIRS)
    mask_dir = _first_dir(root, _MASK_DIRS)
    if require_manual and label_dir is None:
        raise InvalidInputError(f"no manual segmentation folder (one of {', '.join(_LABEL_DIRS)})", root)
    labels = {_key(p): p for p in _files(label_dir)} if label_dir else {}
    masks = {_key(p): p for p in _files(mask_dir)} if mask_dir else {}
    cases = []
    for image in _files(images_dir):
        key = _key(image)
        manual = labels.get(key)
        if require_manual and manual is None:
            raise InvalidInputError(f"no manual segmentation for {image.name} in {label_dir}", root)
        cases.append(VesselCase(key, image, manual, masks.get(key)))
    if not cases:
        raise InvalidInputError("images/ holds no image files", images_dir)
    return cases


def drive_split(root: Path | str) -> dict[str, list[VesselCase]]:
    """DRIVE's ``training`` and ``test`` cases of a folder laid out as ``root/training``, ``root/test``."""
    root = Path(root)
    return {part: find_cases(root / part) for part in ("training", "test") if (root / part).is_dir()}


#: upstream vesselNN note: the santos2015 low-contrast stacks have no metadata; settings "similar to" santos2015_tumor
SANTOS_FALLBACK_UM = (5.0, 0.621)


@dataclass
class VolumeStack:
    """A two-photon stack in memory: intensities in [0, 1], boolean labels, voxel size in um (z, y, x)."""

    name: str
    image: np.ndarray
    label: np.ndarray
    spacing: tuple[float, float, float]
    spacing_source: str


def vesselnn_spacing(root: Path | str, name: str) -> tuple[tuple[float, float, float], str]:
    """Voxel size (z, y, x) in um from ``metadata/<name>_metadata.xml.txt`` (OME-XML), or the upstream fallback."""
    meta = Path(root) / "metadata" / f"{name}_metadata.xml.txt"
    if meta.is_file():
        text = meta.read_text(errors="replace")
        x = re.search(r'PhysicalSizeX="([0-9.]+)"', text)
        z = re.search(r'PhysicalSizeZ="([0-9.]+)"', text)
        if x is None or z is None:
            raise InvalidInputError("OME-XML metadata without PhysicalSizeX/PhysicalSizeZ", meta)
        return (float(z.group(1)), float(x.group(1)), float(x.group(1))), "OME-XML metadata"
    z_um, x_um = SANTOS_FALLBACK_UM
    return (z_um, x_um, x_um), "no metadata: santos2015_tumor's settings (upstream note)"


def find_vesselnn_stacks(root: Path | str) -> list[VolumeStack]:
    """Every (denoised stack, label stack) pair of a vesselNN folder (``denoised/``, ``labels/``, ``metadata/``)."""
    root = Path(root)
    if not (root / "denoised").is_dir() or not (root / "labels").is_dir():
        raise InvalidInputError("not a vesselNN folder (expected denoised/ and labels/)", root)
    stacks = []
    for image_path in sorted((root / "denoised").glob("*_BM4D_denoised.tif")):
        name = image_path.name.replace("_BM4D_denoised.tif", "")
        labels = sorted((root / "labels").glob(f"{name}_label*.tif"))
        if not labels:
            continue
        image = to_unit_range(np.asarray(read_image(image_path).array), image_path)
        label = np.asarray(read_image(labels[0]).array) > 0
        if image.shape != label.shape:
            raise InvalidInputError(f"label shape {label.shape} differs from the image's {image.shape}", labels[0])
        spacing, source = vesselnn_spacing(root, name)
        stacks.append(VolumeStack(name, image, label, spacing, source))
    if not stacks:
        raise InvalidInputError("no image/label stack pairs found", root)
    return stacks
