"""What the COVID CT method can read: a chest CT (air-filled lungs inside the body), or a PNG/JPEG slice."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...data.content import dicom_header
from ...errors import BiomedaiError
from .config import CovidCTConfig
from .lungs import air_in_body, body_mask

#: body parts of a CT that is not of the chest (an empty or chest-like BodyPartExamined is judged by the pixels)
NOT_CHEST = ("HEAD", "BRAIN", "SKULL", "NECK", "ABDOMEN", "PELVIS", "HIP", "KNEE", "LEG", "ARM", "HAND", "FOOT",
             "SPINE", "LSPINE", "CSPINE", "EXTREMITY")
#: lungs fill a good part of a chest slice's body outline; a few % of air inside the body is bowel gas
MIN_LUNG_FRACTION = 0.05


def _middle_file(path: Path) -> Path:
    if not path.is_dir():
        return path
    files = sorted(p for p in path.iterdir() if p.is_file())
    return files[len(files) // 2] if files else path


def chest_ct_problem(path: Path, config: CovidCTConfig | None = None) -> str | None:
    """Why ``path`` is not a chest CT (judged on its header and its middle slice), or None."""
    from ...io import read_image

    path = Path(path)
    if path.is_file() and path.suffix.lower() in (".png", ".jpg", ".jpeg"):
        return None  # a slice picture for the classifier
    header = dicom_header(path)
    part = str(getattr(header, "BodyPartExamined", "") or "").upper() if header is not None else ""
    if part in NOT_CHEST:
        return f"a CT of the {part.lower()}, not of the chest"
    try:
        image = read_image(_middle_file(path))
    except BiomedaiError as exc:
        return f"cannot read the CT ({exc})"
    hu = np.asarray(image.array, dtype=np.float32)
    while hu.ndim > 2:
        hu = hu[hu.shape[0] // 2]
    if hu.min() >= 0 and not image.metadata.get("rescaled", True):
        return "no Hounsfield units (no rescale): not a CT the method can measure"
    try:
        body = body_mask(hu[None])
    except BiomedaiError:
        return "no body in the middle slice (nothing above -500 HU)"
    air = air_in_body(hu[None], body, (config or CovidCTConfig()).lung_max_hu)
    fraction = float(air.sum()) / max(1, int(body.sum()))
    if fraction < MIN_LUNG_FRACTION:
        return (f"air fills {fraction:.1%} of the body in the middle slice (lungs fill far more): not a chest CT"
                f"{f' (BodyPartExamined {part})' if part else ''}")
    return None
