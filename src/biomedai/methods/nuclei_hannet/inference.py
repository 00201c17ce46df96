"""Prediction: 3-class probabilities of the network over Gaussian-blended tiles (optionally averaged over
the 8 flips and rotations). Images too large for one probability map are segmented block by block with
centroid ownership on seams by the shared engine, :mod:`biomedai.data.blocks`."""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------- network
_DIHEDRAL = [(k, flip) for flip in (False, True) for k in range(4)]


class ProbabilityModel:
    """Wraps a trained network: float batches ``(B, 3, y, x)`` in, softmax probabilities out (optionally
    averaged over the 8 flips/rotations)."""

    def __init__(self, model: Any, tta: bool = False) -> None:
        self.model, self.tta = model, tta

    def __call__(self, batch: Any) -> Any:
        import torch

        if not self.tta:
            return torch.softmax(self.model(batch).float(), dim=1)
        total = None
        for k, flip in _DIHEDRAL:
            x = torch.flip(batch, dims=(-1,)) if flip else batch
            x = torch.rot90(x, k, dims=(-2, -1))
            y = torch.softmax(self.model(x).float(), dim=1)
            y = torch.rot90(y, -k, dims=(-2, -1))
            y = torch.flip(y, dims=(-1,)) if flip else y
            total = y if total is None else total + y
        return total / len(_DIHEDRAL)


def normalise_for_network(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB ``[y, x, 3]`` -> float32 in [-1, 1] (the network's input scaling)."""
    return (np.asarray(rgb, np.float32) / 127.5) - 1.0


def tiled_probabilities(model: Any, rgb_prepared: np.ndarray, tile: int, overlap: int, batch_size: int,
                        device: Any = None, tta: bool = False) -> np.ndarray:
    """``(3, y, x)`` float32 probabilities of a stain-normalised uint8 RGB image, by Gaussian-blended tiles."""
    import torch

    from biomedai.data.tiling import predict_tiled

    if device is None:
        device = next(model.parameters()).device
    fn = ProbabilityModel(model, tta)
    with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=torch.device(device).type == "cuda"):
        probs = predict_tiled(normalise_for_network(rgb_prepared), fn, tile=tile, overlap=overlap,
                              batch_size=batch_size, channel_axis=-1, framework="torch", device=device,
                              pad_mode="reflect", progress=False)
    return np.moveaxis(probs, -1, 0)
