"""Paired training on registered haematoxylin / Ki-67 IHC panels (DeepLIIF layout): the positivity-aware
pix2pix (the bundled model's recipe) and plain pix2pix. One implementation, used by ``biomedai train
virtual_ihc --set model=positivity|pix2pix`` and by ``benchmarks/quality/virtual_ihc/positivity_paired.py``.

* :func:`load_paired_tiles` - every registered panel set (``train/*.png``) cut into ``tile`` px tiles: the
  model's input view (the haematoxylin panel, or its deconvolved haematoxylin for ``input_view="hematoxylin"``),
  the raw haematoxylin panel, the IHC, the mask, per-pixel positive-nucleus and nucleus masks, a tile-level
  fold ``(row + col) % 4`` and the image name.
* :func:`fit_paired` - pix2pix through the project's engine (:func:`.training.train_pix2pix`); with the
  positivity head the DAB threshold is then set on the validation tiles without their labels: the quantile of
  the validation nucleus pixels' probabilities that calls the training tiles' positive share (``prior_threshold``).
* :func:`generate_paired`, :func:`validation_summary` - generated tiles and their pooled agreement numbers.
* :func:`train_paired` - all tiles, every sixth for validation, saved as a model folder ``predict`` loads.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from biomedai.metrics import binary_agreement_from_counts
from biomedai.train.model_folder import ModelInfo

from .config import VirtualIHCConfig
from .cyclegan import Pix2Pix, to_tensor, to_uint8
from .evaluation import score_generated
from .model_io import VirtualIHCModel, save_virtual_ihc
from .positivity import draw_dab, haematoxylin_view, positive_and_nucleus_masks, prior_threshold
from .realdata import grid_tiles, paired_panels
from .training import train_pix2pix

logger = logging.getLogger(__name__)

#: every sixth tile is validation (best epoch, DAB threshold); the rest train
VALIDATION_EVERY = 6
DEEPLIIF_TERMS = ("DeepLIIF sample: Apache 2.0 with Commons Clause, non-commercial academic use only; the weights "
                  "inherit these terms")


def load_paired_tiles(root: Path, tile: int, input_view: str = "hematoxylin") -> dict[str, np.ndarray]:
    """The registered panels of ``root`` (``train/*.png``) as aligned ``tile`` px tiles (see the module doc)."""
    panels = paired_panels(Path(root))
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("view", "hema", "ihc", "seg", "fold", "image")}
    for p in panels:
        view = haematoxylin_view(p.hematoxylin) if input_view == "hematoxylin" else p.hematoxylin[..., :3]
        tiles = {"view": grid_tiles(view, tile), "hema": grid_tiles(p.hematoxylin, tile),
                 "ihc": grid_tiles(p.ihc, tile), "seg": grid_tiles(p.seg, tile)}
        per_row = p.hematoxylin.shape[1] // tile
        n = len(tiles["view"])
        for key, value in tiles.items():
            out[key].append(value)
        out["fold"].append(np.array([(k // per_row + k % per_row) % 4 for k in range(n)]))
        out["image"].append(np.repeat(p.name, n))
    data = {k: np.concatenate(v) for k, v in out.items()}
    masks = [positive_and_nucleus_masks(s) for s in data["seg"]]
    data["positive"] = np.stack([m[0] for m in masks])
    data["nucleus"] = np.stack([m[1] for m in masks])
    return data


def split_train_validation(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(train, validation)`` indices of ``n`` tiles: every sixth is validation."""
    idx = np.arange(n)
    return np.setdiff1d(idx, idx[::VALIDATION_EVERY]), idx[::VALIDATION_EVERY]


@torch.no_grad()
def raw_output(model: Pix2Pix, view: np.ndarray) -> torch.Tensor:
    model.eval()
    device = next(model.parameters()).device
    return model.translate(to_tensor(view, device)).cpu()


def generate_paired(model: Pix2Pix, view: np.ndarray, threshold: float, draw: bool = True) -> np.ndarray:
    """uint8 generated IHC tiles; with the positivity head, DAB drawn above ``threshold`` (unless ``draw``
    is False: the RGB branch alone)."""
    out = raw_output(model, view)
    if model.config.positivity_head and draw:
        return to_uint8(draw_dab(out, threshold, model.config.dab_od))
    return to_uint8(out[:, :3])


def fit_paired(data: dict[str, np.ndarray], train: np.ndarray, val: np.ndarray, cfg: VirtualIHCConfig,
               output_dir: Path | None = None, progress: bool = False) -> tuple[Pix2Pix, float, dict[str, Any]]:
    """Train on ``train`` tiles, choose the epoch (and the DAB threshold) on ``val`` tiles."""
    torch.manual_seed(cfg.seed)
    model = Pix2Pix(cfg)
    t0 = time.process_time()
    head = cfg.positivity_head
    result = train_pix2pix(model, data["view"][train], data["ihc"][train], None, data["view"][val],
                           data["ihc"][val], None, data["positive"][train] if head else None,
                           data["positive"][val] if head else None, output_dir=output_dir, progress=progress)
    info: dict[str, Any] = {"cpu_s": round(time.process_time() - t0, 1), "steps": result.steps,
                            "best_epoch": result.best_epoch, "epochs_run": len(result.history),
                            "best_val_score": round(result.best_score, 4)}
    threshold = 0.5
    if head:
        prior = float(data["positive"][train][data["nucleus"][train]].mean())
        probs = torch.sigmoid(raw_output(model, data["view"][val])[:, 3]).numpy()
        threshold = prior_threshold(probs[data["nucleus"][val]], prior)
        info.update(prior_positive_pixel_share=round(prior, 4), threshold=threshold)
    return model, threshold, info


def validation_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Pooled per-nucleus kappa / positive F1 / accuracy, quantifier ratio and its error, mean SSIM / PSNR."""
    counts = np.array([[r["n_nuclei"], r["true_positive_nuclei"], r["called_positive_nuclei"],
                        r["both_positive_nuclei"]] for r in rows], np.float64)
    agreement = binary_agreement_from_counts(counts)
    cells = sum(r["quantifier_n_cells"] for r in rows)
    ratio = sum(r["quantifier_n_positive"] for r in rows) / cells if cells else None
    true_ratio = counts[:, 1].sum() / max(counts[:, 0].sum(), 1.0)
    return {"n_tiles": len(rows), "n_nuclei": int(counts[:, 0].sum()), "true_ratio": round(true_ratio, 4),
            "kappa": round(agreement["kappa"], 4), "f1_positive": round(agreement["f1_positive"], 4),
            "accuracy": round(agreement["accuracy"], 4),
            "quantifier_ratio": None if ratio is None else round(ratio, 4),
            "abs_ratio_error_quantifier": None if ratio is None else round(abs(ratio - true_ratio), 4),
            "ssim": round(float(np.mean([r["ssim"] for r in rows])), 4),
            "psnr_db": round(float(np.mean([r["psnr"] for r in rows])), 2)}


def score_tiles(data: dict[str, np.ndarray], idx: np.ndarray, generated: np.ndarray,
                nucleus_diameter_px: float) -> list[dict[str, Any]]:
    return [score_generated(g, data["ihc"][k], data["seg"][k], nucleus_diameter_px) for k, g in zip(idx, generated)]


def train_paired(root: Path, cfg: VirtualIHCConfig, output_dir: Path, progress: bool = False
                 ) -> tuple[Path, dict[str, Any]]:
    """Train on every registered panel of ``root`` (every sixth tile validation) and save ``output_dir/model``."""
    if cfg.mode != "pix2pix":
        cfg = cfg.replace(mode="pix2pix")
    data = load_paired_tiles(root, cfg.tile_size, cfg.input_view)
    train, val = split_train_validation(len(data["view"]))
    model, threshold, info = fit_paired(data, train, val, cfg, output_dir=output_dir, progress=progress)
    logger.info("paired training: %s", info)
    final_cfg = cfg.replace(positivity_threshold=threshold, train_seconds=None)
    bundle = VirtualIHCModel(final_cfg, with_classifier=False)
    bundle.generator.load_state_dict(model.G.state_dict())
    val_summary = validation_summary(score_tiles(data, val, generate_paired(model, data["view"][val], threshold),
                                                 cfg.nucleus_diameter_px))
    kind = "positivity-aware pix2pix" if cfg.positivity_head else "pix2pix"
    card = ModelInfo(
        method="virtual_ihc", name=Path(output_dir).name, simulated=False,
        training_data={"name": f"{root}: registered haematoxylin / IHC / mask panels "
                               f"({', '.join(sorted(set(map(str, data['image']))))})",
                       "licence": DEEPLIIF_TERMS, "non_commercial": True,
                       "split": f"{len(train)} training tiles of {cfg.tile_size} px, {len(val)} validation tiles "
                                f"(every {VALIDATION_EVERY}th)"},
        preprocessing={"input": ("RGB -> skimage rgb2hed haematoxylin OD, 99th percentile scaled to 0.175, rendered "
                                 "back to RGB (positivity.haematoxylin_view)") if cfg.input_view == "hematoxylin"
                       else "RGB as is", "tile": cfg.tile_size},
        class_names=["negative", "positive"] if cfg.positivity_head else [],
        licence="non-commercial academic use only (training-data terms)",
        metrics={"validation_" + k: v for k, v in val_summary.items()
                 if k in ("kappa", "f1_positive", "accuracy", "abs_ratio_error_quantifier", "ssim", "psnr_db")},
        metrics_data=f"{len(val)} validation tiles (used to choose the epoch and the DAB threshold; not a test result)",
        extra={"mode": f"{kind}, haematoxylin -> Ki-67 IHC", "fit": info,
               "never_checked_on": "H&E with real Ki-67 ground truth"})
    folder = save_virtual_ihc(Path(output_dir) / "model", bundle, card)
    return folder, {"fit": info, "validation": val_summary, "threshold": threshold}
