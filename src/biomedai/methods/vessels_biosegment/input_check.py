"""What the vessel method can read: a fundus photograph (red, dark outside the round field) or a
fluorescence image of vessels (grey, dark background); not photographs, slides or films."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...data.content import corner_brightness, look_at
from ...errors import BiomedaiError

#: fundus photographs: DRIVE R/G 1.6-2.2 and corners <= 0.03, the bundled retina 2.5 and 0.00; IHC 1.1 and 0.71
MIN_RED_OVER_GREEN, MAX_CORNERS = 1.4, 0.1
#: fluorescence: VesselNN median 0.03-0.06 of the range; the coins photo 0.35, a panoramic film 0.39
MAX_GREY_MEDIAN = 0.15


def vessel_input_problem(path: Path) -> str | None:
    """Why ``path`` is not a fundus photograph or a fluorescence vessel image, or None."""
    try:
        look = look_at(path)
    except BiomedaiError as exc:
        return f"cannot read the image ({exc})"
    pixels = look.pixels
    corners = corner_brightness(look)
    if look.rgb:
        red, green = pixels[..., 0].mean(), pixels[..., 1].mean()
        ratio = float(red / max(green, 1e-3))
        if ratio >= MIN_RED_OVER_GREEN and corners <= MAX_CORNERS:
            return None
        return (f"not a fundus photograph (red/green {ratio:.2f}, corners {corners:.2f}: a fundus is red "
                "inside a dark round field)")
    median = float(np.median(pixels))
    if median <= MAX_GREY_MEDIAN or corners <= MAX_CORNERS:
        return None
    return (f"not a fluorescence vessel image (median brightness {median:.2f} of the range; vessels are bright "
            "on a dark background)")
