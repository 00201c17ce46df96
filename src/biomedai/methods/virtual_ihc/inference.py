"""From an H&E image to a synthetic Ki-67 image with a loaded model: input checks, tile classification,
generation and stitching (Fig. 1 of the paper, applied tile by tile over a large image).

The input checks (a grey image, no tissue, an IHC-looking image) are in :mod:`.input_check`.
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
from .positivity import draw_dab, haematoxylin_p99, haematoxylin_view
from .stitch import Classify, Generate, translate_image

logger = logging.getLogger(__name__)


@dataclass
class Translation:
    synthetic: np.ndarray
    tile_probabilities: np.ndarray
    warnings: list[str] = field(default_factory=list)


def tile_functions(model: VirtualIHCModel, device: torch.device | str = "cpu",
                   classifier: torch.nn.Module | None = None, mil_input_size: int | None = None,
                   view_p99: float | None = None) -> tuple[Classify, Generate]:
    """``(classify, generate)`` for batches of tiles ``[B, 3, t, t]`` in [-1, 1] (the raw RGB of the input).

    ``classify`` gives P(tumour) per tile from ``classifier`` (default: the model's own; NaN without one);
    ``generate`` gives the synthetic tiles, conditioned on those probabilities when the generator is
    conditional. A model with ``input_view="hematoxylin"`` gets each tile's haematoxylin view scaled with the
    whole image's ``view_p99`` (the MIL classifier still sees the H&E); one with the positivity head draws DAB.
    """
    mcfg = model.config
    model = model.to(device).eval()
    classifier = model.classifier if classifier is None else classifier.to(device).eval()
    size = mil_input_size or mcfg.mil_input_size

    def classify(batch: np.ndarray) -> np.ndarray:
        if classifier is None:
            return np.full(len(batch), np.nan)
        return tumour_probability(classifier, torch.from_numpy(batch), size)

    def generate(batch: np.ndarray, probs: np.ndarray) -> np.ndarray:
        if mcfg.input_view == "hematoxylin":
            rgb = ((np.moveaxis(batch, 1, -1) + 1.0) * 127.5).round().clip(0, 255).astype(np.uint8)
            view = np.stack([haematoxylin_view(t, p99=view_p99) for t in rgb])
            batch = np.moveaxis(view, -1, 1).astype(np.float32) / 127.5 - 1.0
        x = torch.from_numpy(np.ascontiguousarray(batch, np.float32)).to(device)
        cond = None
        if mcfg.condition != "none":
            cond = condition_values(torch.as_tensor(np.nan_to_num(probs, nan=0.0)), mcfg.condition_source)
        with torch.no_grad():
            out = model.generator(with_condition(x, cond, mcfg.condition))
            if mcfg.positivity_head:
                out = draw_dab(out, mcfg.positivity_threshold, mcfg.dab_od)
            return out.cpu().numpy()

    return classify, generate


def check_tile_settings(model: VirtualIHCModel, config: VirtualIHCConfig, source: Path | None = None) -> None:
    """Refuse an overlap the model's tile cannot take (the tile size comes from the model folder)."""
    tile = model.config.tile_size
    if tile % 4:
        raise InvalidInputError(f"the generator's tile size {tile} is not a multiple of 4 (two stride-2 stages)",
                                source)
    if not 0 <= config.tile_overlap < tile:
        raise InvalidInputError(f"tile_overlap {config.tile_overlap} does not fit the model's {tile} px tiles "
                                f"(it must lie in [0, {tile}))", source)


def translate_he(model: VirtualIHCModel, rgb: np.ndarray, config: VirtualIHCConfig,
                 device: torch.device | str = "cpu", classifier: torch.nn.Module | None = None,
                 mil_input_size: int | None = None) -> Translation:
    """Classify each tile (when there is a classifier), generate it with its condition, and blend.

    A model with ``input_view="hematoxylin"`` sees the image's deconvolved haematoxylin only (scaled over the
    whole image); one with the positivity head draws DAB where its positivity probability is high.
    ``classifier`` (a MIL classifier from another model folder) replaces the model's own."""
    mcfg = model.config
    check_tile_settings(model, config)
    p99 = haematoxylin_p99(rgb) if mcfg.input_view == "hematoxylin" else None
    classify, generate = tile_functions(model, device, classifier, mil_input_size, p99)
    synthetic, probs = translate_image(rgb, generate, classify, tile=mcfg.tile_size, overlap=config.tile_overlap,
                                      blend=config.blend, batch_size=config.batch_tiles)
    return Translation(synthetic, probs)
