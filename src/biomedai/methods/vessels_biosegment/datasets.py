"""Finding (image, manual segmentation, field-of-view mask) triples in a data folder.

Accepted layouts: DRIVE's (``images/NN_*.png``, ``1st_manual/NN_manual1.png``, ``mask/NN_*_mask.png``) and
the generic one (``images/``, ``labels/`` or ``manual/``, optional ``masks/``/``mask/``, matched by the
file name's leading token before the first ``_`` or by the whole stem).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from biomedai.errors import InvalidInputError

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
