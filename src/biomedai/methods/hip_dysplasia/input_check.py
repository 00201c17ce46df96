"""What the hip method can read: an AP pelvis film (DICOM body part PELVIS/HIP, or a grey symmetric film)."""
from __future__ import annotations

from pathlib import Path

from ...data.content import dicom_header, look_at, mirror_symmetry, stain_colours
from ...errors import BiomedaiError

PELVIS_PARTS = ("PELVIS", "HIP", "HIPS", "LOWER LIMB", "LEG")
#: an AP pelvis is mirror-symmetric; the bar is the one measured for panoramic films (coins photo: 0.41)
MIN_SYMMETRY = 0.45
#: AP pelvis films are landscape or square (35 x 43 cm cassettes, either way round): about 0.8 to 1.6
MIN_ASPECT, MAX_ASPECT = 0.75, 1.6


def pelvis_input_problem(path: Path) -> str | None:
    """Why ``path`` is not an AP pelvis film, or None when it may be one; annotation files pass unread."""
    if Path(path).suffix.lower() == ".json":
        return None
    header = dicom_header(path)
    if header is not None:
        part = str(getattr(header, "BodyPartExamined", "")).upper()
        if part:
            return None if part in PELVIS_PARTS else f"a film of the {part.lower()}, not of the pelvis"
    try:
        look = look_at(path)
    except BiomedaiError as exc:
        return f"cannot read the image ({exc})"
    if stain_colours(look).coloured >= 0.01:
        return "a colour picture: the hip method reads pelvis radiographs (grey)"
    if not MIN_ASPECT <= look.aspect <= MAX_ASPECT:
        return (f"width/height {look.aspect:.2f}: an AP pelvis film is about 1.0-1.5 (a wider film, e.g. a "
                "panoramic dental X-ray, is not one)")
    symmetry = mirror_symmetry(look)
    if symmetry < MIN_SYMMETRY:
        return f"left-right symmetry {symmetry:.2f} < {MIN_SYMMETRY}: does not look like an AP pelvis film"
    return None
