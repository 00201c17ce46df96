"""What virtual_ihc can translate: an RGB H&E image or whole slide with tissue, large enough to hold tissue.

* :func:`check_he_input` - the checks on pixels in hand (an image, or a slide's thumbnail): a grey image and an
  image without tissue raise ``InvalidInputError``; DAB-brown pixels (an IHC given where H&E is expected) give a
  warning.
* :func:`he_input_problem` - the workflow router's question (:meth:`Method.check_input`): the same checks on a
  thumbnail (:mod:`biomedai.data.content`; a slide is never decoded whole), plus the size and the slide level,
  answered as a reason in words or None. Here an IHC-looking input is refused, since the router would otherwise
  send every brightfield image here.

Example:
    >>> he = np.full((96, 96, 3), 235, np.uint8); he[20:80, 20:80] = (190, 90, 170)
    >>> check_he_input(he, VirtualIHCConfig())
    []
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from biomedai.data.content import corner_brightness, look_at, look_at_slide
from biomedai.data.tissue import tissue_mask
from biomedai.errors import BiomedaiError, InvalidInputError
from biomedai.io.wsi import is_slide_file

from .config import VirtualIHCConfig
from .quantify import brown_fraction

#: an image (or the slide level run) shorter than this on a side is refused: half the smallest generator tile
#: we train (128 px), so at least a quarter of every tile run would be image (ours; the paper takes 224 px tiles)
MIN_SIDE_PX = 64
#: longer side of the thumbnail the router's check looks at (a speck under 64 px of it is not tissue)
CHECK_THUMBNAIL_PX = 512
#: brightfield images are bright at the corners (glass or pale tissue); a fundus photograph is black there (as the
#: ki67 and nuclei_hannet checks)
DARK_CORNERS = 0.1
#: the 99th percentile of the per-pixel channel spread below which an RGB image has no colour (grey levels)
MIN_CHROMA = 8


def check_he_input(rgb: np.ndarray, config: VirtualIHCConfig, source: Path | None = None,
                   close_px: int = 0) -> list[str]:
    """Refuse grey or tissue-free images; return warnings (an IHC-looking input). ``close_px``: see
    :func:`~biomedai.data.tissue.tissue_mask` (a slide's thumbnail)."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[-1] < 3:
        raise InvalidInputError(f"an H&E image must be RGB [y, x, 3]; got shape {rgb.shape} (a grey image?)", source)
    if not tissue_mask(rgb, close_px=close_px).any():  # first: bare glass is also nearly colourless
        raise InvalidInputError("no tissue found (Otsu tissue mask is empty)", source)
    chroma = rgb[..., :3].astype(np.int16).max(-1) - rgb[..., :3].astype(np.int16).min(-1)
    if float(np.percentile(chroma, 99)) < MIN_CHROMA:
        raise InvalidInputError("the image has no colour (a grey image): H&E input is needed", source)
    warnings = []
    brown = brown_fraction(rgb)
    if brown > config.brown_warning_fraction:
        warnings.append(f"{100 * brown:.1f} % of the pixels are DAB-brown: this looks like an IHC image, not H&E; "
                        "the synthetic Ki-67 will not be meaningful")
    return warnings


def he_input_problem(path: Path, config: VirtualIHCConfig) -> str | None:
    """Why virtual_ihc cannot translate ``path``, or None: not RGB, too small, dark corners (not brightfield), no
    tissue, no colour, or IHC-looking, judged on a thumbnail of at most ``CHECK_THUMBNAIL_PX`` px (a slide: on its
    pyramid or on windows sampled over it)."""
    path = Path(path)
    try:
        if is_slide_file(path, config.slide_min_pixels):
            look = look_at_slide(path, CHECK_THUMBNAIL_PX)
            levels = look.metadata["level_dimensions"]
            level = 0 if config.slide_level == "auto" else config.slide_level
            if level >= len(levels):
                return f"slide_level {level} does not exist; the slide has levels 0..{len(levels) - 1}"
            width, height = levels[level]
        else:
            look = look_at(path, CHECK_THUMBNAIL_PX)
            height, width = look.shape
    except BiomedaiError as exc:
        return f"cannot read the image ({exc})"
    if not look.rgb:
        return "a grey (one-channel) image: virtual_ihc translates RGB H&E images"
    if min(width, height) < MIN_SIDE_PX:
        return f"{width} x {height} pixels: too small (virtual_ihc needs at least {MIN_SIDE_PX} px a side)"
    if corner_brightness(look) < DARK_CORNERS:
        return "dark all round the picture (as a fundus photograph): not a brightfield H&E image"
    thumbnail = (np.clip(look.pixels, 0.0, 1.0) * 255).round().astype(np.uint8)
    try:
        warnings = check_he_input(thumbnail, config, path)
    except InvalidInputError as exc:
        return exc.problem
    return warnings[0] if warnings else None
