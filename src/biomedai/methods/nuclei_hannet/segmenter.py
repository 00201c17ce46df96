"""A trained Han-Net and everything that turns an RGB image into nucleus instances: stain normalisation as at
training time, tiled probabilities, post-processing, blocks with seam merging for large images; and the
architecture file (``hannet_model.json``) saved beside the weights."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.data.blocks import paste_blocks, segment_in_blocks
from biomedai.errors import InvalidInputError, WeightsError
from biomedai.utils import lazy_import

from .config import HanNetConfig
from .inference import tiled_probabilities
from .postprocess import instances_from_probabilities, relabel_sequential

hannet = lazy_import(".model", __package__)  # the network (torch), imported on first use

logger = logging.getLogger(__name__)

ARCH_FILE = "hannet_model.json"


class NucleiSegmenter:
    """A trained network plus everything needed to turn an RGB image into nucleus instances."""

    def __init__(self, model: Any, cfg: HanNetConfig, arch: dict[str, Any], info: Any = None) -> None:
        self.model, self.cfg, self.arch = model.eval(), cfg, arch
        #: the ``ModelInfo`` of a model folder (bundled or saved), None for a bare weights file
        self.info = info

    # ---------------------------------------------------------------- building
    @staticmethod
    def build_network(arch: dict[str, Any]) -> Any:
        return hannet.build_model(arch["variant"], arch["base_channels"], dense_layers=arch["dense_layers"],
                           growth_rate=arch["growth_rate"], dilations=tuple(arch["dilations"]),
                           drop_rate=arch["drop_rate"], attention_kernels=tuple(arch["attention_kernels"]),
                           se_reduction=arch["se_reduction"],
                           norm=arch.get("norm", "batch"))  # weights saved before the option: batch norm

    @classmethod
    def from_weights(cls, weights: Path | None, cfg: HanNetConfig) -> NucleiSegmenter:
        """Load ``weights`` (a ``weights.pt`` or checkpoint) with the architecture stored beside it."""
        from biomedai.train import load_weights, resolve_device

        if weights is None:
            raise WeightsError("nuclei_hannet needs trained weights: pass --weights RUN/weights.pt "
                               "(train with: biomedai train nuclei_hannet --data DATA -o RUN)")
        weights = Path(weights)
        from biomedai.train.model_folder import is_model_folder, load_model_folder

        if is_model_folder(weights):  # weights.pt + model.json (the bundled model): checksum-verified
            _, info = load_model_folder(weights, method="nuclei_hannet")
            arch = dict(info.architecture)
            model = cls.build_network(arch)
            load_model_folder(weights, model, method="nuclei_hannet")
            _apply_postprocessing(cfg, info.preprocessing)
            return cls(model.to(resolve_device(cfg.device)), cfg, arch, info)
        arch = read_arch(weights) or arch_from_config(cfg)
        model = cls.build_network(arch)
        load_weights(model, weights)
        return cls(model.to(resolve_device(cfg.device)), cfg, arch)

    # ---------------------------------------------------------------- per image
    def prepare(self, rgb: np.ndarray) -> np.ndarray:
        """Stain-normalise as at training time (uint8 RGB in and out)."""
        mode = self.arch.get("stain_normalization", "none")
        if mode == "reinhard":
            from biomedai.data.stain import ReinhardStats, reinhard_normalize

            stats = self.arch["reinhard_target"]
            return reinhard_normalize(rgb, ReinhardStats(tuple(stats["mean"]), tuple(stats["std"])))
        if mode == "macenko":
            from biomedai.data.stain import macenko_normalize

            try:
                return macenko_normalize(rgb)
            except InvalidInputError:  # a blank block: nothing to normalise
                return rgb
        return rgb

    def probabilities(self, rgb: np.ndarray) -> np.ndarray:
        c = self.cfg
        return tiled_probabilities(self.model, self.prepare(rgb), c.tile_size, c.tile_overlap, c.infer_batch_size,
                                   tta=c.tta)

    def instances_from(self, probs: np.ndarray) -> np.ndarray:
        c = self.cfg
        return instances_from_probabilities(probs, c.postprocess, c.min_object_size, c.grow_radius,
                                            split_h=c.split_h, split_sigma=c.split_sigma)

    def segment(self, rgb: np.ndarray) -> np.ndarray:
        """Instance labels of an in-memory RGB image of any size (blocks with seam merging when large)."""
        if rgb.shape[0] * rgb.shape[1] <= self.cfg.max_whole_image_pixels:
            return self.instances_from(self.probabilities(rgb))
        blocks = segment_in_blocks(lambda b: rgb[b.slices], self.segment_small, rgb.shape[:2], self.cfg.block_size,
                                   self.cfg.block_margin)
        return relabel_sequential(paste_blocks(blocks, rgb.shape[:2]))

    def segment_small(self, rgb: np.ndarray) -> np.ndarray:
        return self.instances_from(self.probabilities(rgb))


def _apply_postprocessing(cfg: HanNetConfig, stored: dict[str, Any]) -> None:
    """Post-processing settings stored with a model (chosen on its validation tiles) are used unless the
    user changed them from the defaults."""
    default = HanNetConfig()
    for key, value in (stored.get("postprocessing") or {}).items():
        if hasattr(cfg, key) and getattr(cfg, key) == getattr(default, key):
            setattr(cfg, key, value)


def arch_from_config(cfg: HanNetConfig) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.to_dict().items() if k in cfg.ARCH_KEYS}


def read_arch(weights: Path) -> dict[str, Any] | None:
    """The architecture JSON stored beside ``weights`` (or one folder up, for checkpoints/best.pt)."""
    for folder in (weights.parent, weights.parent.parent):
        path = folder / ARCH_FILE
        if path.is_file():
            try:
                return json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise WeightsError(f"{path}: not valid JSON ({exc})") from exc
    logger.warning("no %s beside %s; using the architecture of the current config", ARCH_FILE, weights)
    return None
