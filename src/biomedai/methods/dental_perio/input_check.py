"""What the dental method can read: a panoramic X-ray (DICOM PX, or a grey film of a panoramic's shape)."""
from __future__ import annotations

from pathlib import Path

from ...data.content import dicom_header, look_at, mirror_symmetry, stain_colours
from ...errors import BiomedaiError

#: body parts a dental DX/CR film may name (an empty BodyPartExamined is judged by the picture)
DENTAL_PARTS = ("JAW", "MOUTH", "TMJ", "HEAD", "SKULL", "FACE", "TOOTH", "TEETH", "MANDIBLE", "MAXILLA")
#: a panoramic is mirror-symmetric: 360 of 365 UFBA-425 films score >= 0.45 (median 0.75); the coins photo 0.41
MIN_SYMMETRY = 0.45
#: panoramics are landscape (about 2:1) or resized square; portrait pictures are not
MIN_ASPECT, MAX_ASPECT = 0.9, 3.3


def panoramic_input_problem(path: Path) -> str | None:
    """Why ``path`` is not a panoramic dental X-ray, or None when it looks like one."""
    header = dicom_header(path)
    if header is not None:
        modality = str(getattr(header, "Modality", "")).upper()
        part = str(getattr(header, "BodyPartExamined", "")).upper()
        if modality == "PX":
            return None
        if part and part not in DENTAL_PARTS:
            return f"a {modality or 'DICOM'} film of the {part.lower()}, not a panoramic dental X-ray"
    try:
        look = look_at(path)
    except BiomedaiError as exc:
        return f"cannot read the image ({exc})"
    if stain_colours(look).coloured >= 0.01:
        return "a colour picture: the dental method reads panoramic X-rays (grey)"
    if not MIN_ASPECT <= look.aspect <= MAX_ASPECT:
        return f"width/height {look.aspect:.2f}: a panoramic X-ray is landscape (about 2:1) or square when resized"
    symmetry = mirror_symmetry(look)
    if symmetry < MIN_SYMMETRY:
        return (f"left-right symmetry {symmetry:.2f} < {MIN_SYMMETRY}: does not look like a panoramic X-ray "
                "(jaws mirror each other)")
    return None
