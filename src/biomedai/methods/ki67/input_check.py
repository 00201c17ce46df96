"""What the Ki-67 method can read: an IHC image with DAB (brown) and haematoxylin (blue), not H&E or grey."""
from __future__ import annotations

from pathlib import Path

from ...data.content import corner_brightness, is_slide, look_at, stain_colours
from ...errors import BiomedaiError

#: at least this fraction of the thumbnail DAB-brown (a weakly positive DeepLIIF tile has 0.8 %)
MIN_BROWN = 0.002
#: or this much haematoxylin blue with less pink/purple than blue: a Ki-67-negative IHC field
MIN_BLUE = 0.05
#: brightfield slides are bright at the corners (the bundled IHC 0.71); a fundus photograph is black there (0.00)
DARK_CORNERS = 0.1


def ihc_input_problem(path: Path) -> str | None:
    """Why ``path`` is not a DAB/haematoxylin IHC image, or None when it is one (WSIs are accepted unread)."""
    if is_slide(path):
        return None
    try:
        look = look_at(path)
    except BiomedaiError as exc:
        return f"cannot read the image ({exc})"
    colours = stain_colours(look)
    if corner_brightness(look) < DARK_CORNERS:
        return "dark all round the picture (as a fundus photograph): not a brightfield IHC slide"
    if colours.coloured < 0.01:
        return "grey content (no stain colour): Ki-67 needs an IHC image with DAB (brown) and haematoxylin (blue)"
    if colours.brown >= MIN_BROWN:
        return None
    if colours.blue >= MIN_BLUE and colours.pink_purple < colours.blue:
        return None  # haematoxylin counterstain only: an IHC field without Ki-67-positive nuclei
    if colours.pink_purple > colours.blue:
        return (f"no DAB (brown) stain; pink/purple ({colours.pink_purple:.0%} of pixels) as in H&E: Ki-67 "
                "counts DAB-positive nuclei on IHC")
    return f"no DAB (brown) stain ({colours.brown:.2%} of pixels) and no haematoxylin counterstain: not an IHC image"
