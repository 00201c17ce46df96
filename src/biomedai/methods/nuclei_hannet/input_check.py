"""What the nuclei method can read: an H&E image (pink/purple), not IHC (DAB brown) nor a grey picture."""
from __future__ import annotations

from pathlib import Path

from ...data.content import corner_brightness, is_slide, look_at, stain_colours
from ...errors import BiomedaiError

#: more DAB brown than this (of the thumbnail) is an IHC stain; H&E tiles of GBM40/MoNuSeg-style sets have ~0
MAX_BROWN = 0.01
#: brightfield slides are bright at the corners; a fundus photograph is black there
DARK_CORNERS = 0.1


def he_input_problem(path: Path) -> str | None:
    """Why ``path`` is not an H&E image, or None when it is one (WSIs are accepted unread)."""
    if is_slide(path):
        return None
    try:
        look = look_at(path)
    except BiomedaiError as exc:
        return f"cannot read the image ({exc})"
    colours = stain_colours(look)
    if corner_brightness(look) < DARK_CORNERS:
        return "dark all round the picture (as a fundus photograph): not a brightfield H&E slide"
    if colours.coloured < 0.05:
        return "grey or nearly colourless image: the nuclei model reads H&E-stained tissue"
    if colours.brown > MAX_BROWN:
        return f"DAB (brown) stain on {colours.brown:.0%} of pixels: an IHC image, the nuclei model reads H&E"
    if colours.pink_purple < max(colours.blue, 0.5 * colours.coloured):
        return (f"mostly not pink/purple ({colours.pink_purple:.0%} of pixels): not H&E (the nuclei model reads "
                "H&E-stained tissue)")
    return None
