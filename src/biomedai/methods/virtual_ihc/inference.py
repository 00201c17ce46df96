"""From an H&E image to a synthetic Ki-67 image with a loaded model: input checks, tile classification,
generation and stitching (Fig. 1 of the paper, applied tile by tile over a large image).

Input checks: a grey image (2-D, or RGB without colour) and an image without tissue are refused with
``InvalidInputError``; an image with DAB-brown pixels (an IHC given where H&E is expected) gives a warning.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from biomedai.errors import InvalidInputError

from .conditioning import condition_values, with_condition
from .config import VirtualIHCConfig
from .mil import tumour_probability
from .model_io import VirtualIHCModel
from .positivity import draw_dab, haematoxylin_view
from .quantify import brown_fraction
from .stitch import translate_image
from .tiler import tissue_mask

logger = logging.getLogger(__name__)


@dataclass
class Translation:
    synthetic: np.ndarray
    tile_probabilities: np.ndarray
    warnings: list[str] = field(default_factory=list)


def check_he_input(rgb: np.ndarray, config: VirtualIHCConfig, source: Path | None = None) -> list[str]:
    """Refuse grey or tissue-free images; return warnings (an IHC-looking input)."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[-1] < 3:
        raise InvalidInputError(f"an H&E image must be RGB [y, x, 3]; got shape {rgb.shape} (a grey image?)", source)
    chroma = rgb[..., :3].astype(np.int16).max(-1) - rgb[..., :3].astype(np.int16).min(-1)
    if float(np.percentile(chroma, 99)) < 8:
        raise InvalidInputError("the image has no colour (a grey image): H&E input is needed", source)
    if not tissue_mask(rgb).any():
        raise InvalidInputError("no tissue found (Otsu tissue mask is empty)", source)
    warnings = []
    brown = brown_fraction(rgb)
    if brown > config.brown_warning_fraction:
        warnings.append(f"{100 * brown:.1f} % of the pixels are DAB-brown: this looks like an IHC image, not H&E; "
                        "the synthetic Ki-67 will not be meaningful")
    return warnings


def translate_he(model: VirtualIHCModel, rgb: np.ndarray, config: VirtualIHCConfig,
                 device: torch.device | str = "cpu") -> Translation:
    """Classify each tile (when the model has a classifier), generate it with its condition, and blend.

    A model with ``input_view="hematoxylin"`` sees the image's deconvolved haematoxylin only (whole image,
    before tiling); one with the positivity head draws DAB where its positivity probability is high."""
    mcfg = model.config
    if mcfg.input_view == "hematoxylin":
        rgb = haematoxylin_view(rgb)
    tile = mcfg.tile_size  # the tile size the generator was trained and saved with
    model = model.to(device).eval()

    def classify(batch: np.ndarray) -> np.ndarray:
        if model.classifier is None:
            return np.full(len(batch), np.nan)
        return tumour_probability(model.classifier, torch.from_numpy(batch), mcfg.mil_input_size)

    def generate(batch: np.ndarray, probs: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(batch).to(device)
        cond = None
        if mcfg.condition != "none":
            cond = condition_values(torch.as_tensor(np.nan_to_num(probs, nan=0.0)), mcfg.condition_source)
        with torch.no_grad():
            out = model.generator(with_condition(x, cond, mcfg.condition))
            if mcfg.positivity_head:
                out = draw_dab(out, mcfg.positivity_threshold, mcfg.dab_od)
            return out.cpu().numpy()

    synthetic, probs = translate_image(rgb, generate, classify, tile=tile, overlap=config.tile_overlap,
                                      blend=config.blend, batch_size=config.batch_tiles)
    return Translation(synthetic, probs)
