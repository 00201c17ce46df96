"""Helpers for the IO tests: files shipped inside installed packages and corrupt variants of any file."""
from __future__ import annotations

from pathlib import Path

import pytest


def pydicom_file(name: str) -> Path:
    """A test file bundled in the pydicom wheel (never downloaded); skip if this pydicom lacks it."""
    from pydicom.data import get_testdata_file

    try:
        found = get_testdata_file(name, download=False)
    except Exception:  # noqa: BLE001 - older pydicom without the download flag or the file
        found = None
    if not found:
        pytest.skip(f"pydicom does not ship {name}")
    return Path(found)


def skimage_file(name: str) -> Path:
    """An image shipped inside scikit-image's data folder (no pooch download)."""
    import skimage

    path = Path(skimage.__file__).parent / "data" / name
    if not path.is_file():
        pytest.skip(f"scikit-image does not ship {name}")
    return path


def corrupt_variants(source: Path, directory: Path) -> dict[str, Path]:
    """Three broken copies with the source's suffix: first half only, zero bytes, random bytes."""
    import numpy as np

    data = source.read_bytes()
    suffix = "".join(source.suffixes[-2:]) if source.name.endswith(".nii.gz") else source.suffix
    variants = {
        "truncated": data[: len(data) // 2],
        "empty": b"",
        "garbage": np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
    }
    paths = {}
    for kind, payload in variants.items():
        path = directory / f"{kind}_{source.stem.split('.')[0]}{suffix}"
        path.write_bytes(payload)
        paths[kind] = path
    return paths
