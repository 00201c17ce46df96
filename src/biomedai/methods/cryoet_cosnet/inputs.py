"""Reading the method's inputs: MRC subtomograms, folders of support examples, boxes cut from a tomogram."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from biomedai.errors import InvalidInputError

MRC_SUFFIXES = (".mrc", ".map", ".rec", ".mrcs")


# ----------------------------------------------------------------------------- file helpers
def read_subtomogram(path: Path, box: int) -> np.ndarray:
    """One subtomogram from an MRC file, checked to be a ``box``^3 volume, z-scored."""
    from biomedai.data.cryoet_sim import zscore
    from biomedai.io.mrc import read_mrc

    data = read_mrc(path).array
    if data.ndim != 3:
        raise InvalidInputError(f"a subtomogram must be 3D, got shape {data.shape}", path)
    if len(set(data.shape)) != 1:
        raise InvalidInputError(f"subtomogram box is not cubic: {'x'.join(map(str, data.shape))}", path)
    if data.shape[0] != box:
        raise InvalidInputError(f"subtomogram box is {data.shape[0]}^3; this model takes {box}^3 "
                                "(re-extract with --box or resample)", path)
    if not np.all(np.isfinite(data)):
        raise InvalidInputError("subtomogram contains NaN or infinity", path)
    return zscore(data[None].astype(np.float32))[0]


def collect_files(inputs: Sequence[str | Path], suffixes: Sequence[str], what: str) -> list[Path]:
    """Files given directly, or those with ``suffixes`` inside given folders (sorted per folder)."""
    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            files += sorted(p for p in item.iterdir() if p.suffix.lower() in suffixes)
        elif item.is_file():
            files.append(item)
        else:
            raise InvalidInputError("no such file or folder", item)
    if not files:
        raise InvalidInputError(f"no {what} in {', '.join(map(str, inputs))}")
    return files


def list_mrc(inputs: Sequence[str | Path]) -> list[Path]:
    """MRC files given directly or inside given folders, sorted within each folder."""
    return collect_files(inputs, MRC_SUFFIXES, "MRC subtomograms")


def read_support_folder(folder: Path, box: int) -> tuple[list[str], list[np.ndarray]]:
    """A support set: ``NAME.mrc`` (1 shot) or ``NAME/*.mrc`` (K shots) per class -> (names, [K, box^3] arrays)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidInputError("support set must be a folder of one MRC (or one sub-folder of MRCs) per class",
                                folder)
    names, shots = [], []
    for item in sorted(folder.iterdir()):
        if item.is_dir():
            files = sorted(p for p in item.iterdir() if p.suffix.lower() in MRC_SUFFIXES)
            if files:
                names.append(item.name)
                shots.append(np.stack([read_subtomogram(p, box) for p in files]))
        elif item.suffix.lower() in MRC_SUFFIXES:
            names.append(item.stem)
            shots.append(read_subtomogram(item, box)[None])
    if len(names) < 2:
        raise InvalidInputError(f"support set has {len(names)} class(es) ({', '.join(names) or 'none'}); "
                                "one-shot classification needs at least 2", folder)
    return names, shots


def extract_boxes(tomogram: np.ndarray, xyz: np.ndarray, box: int, source: Path | None = None) -> np.ndarray:
    """``box``^3 crops centred at voxel coordinates (x, y, z); parts outside the tomogram are its mean."""
    shape = np.array(tomogram.shape)  # z, y, x
    zyx = np.rint(np.asarray(xyz, dtype=float)[:, ::-1]).astype(int)
    outside = np.flatnonzero(np.any((zyx < 0) | (zyx >= shape), axis=1))
    if len(outside):
        i = int(outside[0])
        raise InvalidInputError(f"particle {i} at (x, y, z) = {tuple(np.round(xyz[i], 2))} is outside the tomogram "
                                f"(x, y, z size {tuple(shape[::-1])}); {len(outside)} such", source)
    half = box // 2
    pad = float(tomogram.mean())
    padded = np.pad(tomogram.astype(np.float32), half + 1, constant_values=pad)
    start = zyx - half + half + 1
    return np.stack([padded[z:z + box, y:y + box, x:x + box] for z, y, x in start])
