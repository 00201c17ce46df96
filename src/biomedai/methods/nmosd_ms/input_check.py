"""What the NMOSD/MS method can read: a FLAIR volume as NIfTI (DICOM series are not read yet)."""
from __future__ import annotations

from pathlib import Path


def flair_input_problem(path: Path) -> str | None:
    """Why ``path`` is not an input the method reads, or None for a NIfTI volume."""
    name = Path(path).name.lower()
    if name.endswith((".nii", ".nii.gz")):
        return None
    return ("the method reads FLAIR volumes as NIfTI; convert the DICOM series first (e.g. dcm2niix) and "
            "upload the .nii.gz")
