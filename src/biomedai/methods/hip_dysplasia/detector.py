"""Training and running the landmark detector with the foundation engine, and its error against manual landmarks.

Data: a folder of films with manual annotations (``NAME.png|.dcm|...`` beside ``NAME.hip.json``, a
Labelme or GeoJSON file ``NAME.json``), or ``synthetic`` for simulated pelvis-like radiographs with
known landmarks (no real hip data ship with biomedai). The targets are the points the angles need
(H from the drawn head, L, T, S), measured from each annotation with :mod:`.geometry`.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from biomedai.errors import InvalidInputError

from .annotation import IMAGE_SUFFIXES, annotation_for
from .geometry import SIDES
from .measurement import measure_annotation
from .model import (POINTS, POSITIONS, LandmarkHeatmapNet, decode_heatmaps, gaussian_heatmaps, heatmap_loss,
                    sides_to_positional, spatial_softmax)
from .synthetic import random_targets, render_radiograph, synthetic_film

logger = logging.getLogger(__name__)



@dataclass
class LandmarkSample:
    """One film for the detector: the display picture (float32 [0, 1]), the 8 positional points in its pixels,
    the patient side on the image's left, and the row/column spacing."""

    name: str
    picture: np.ndarray
    points: np.ndarray  # (8, 2) positional, original pixels
    image_left_side: str
    spacing: tuple[float, float] = (1.0, 1.0)


def synthetic_samples(n: int, size: int, seed: int) -> list[LandmarkSample]:
    """Simulated films (labelled so): random angles, rotation +-10 degrees, mirroring, scale and shift."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        film = synthetic_film(random_targets(rng), size=size, rotation_deg=float(rng.uniform(-10, 10)),
                              mirror=bool(rng.random() < 0.5), scale=float(rng.uniform(0.85, 1.15)),
                              shift=(float(rng.uniform(-20, 20)) * size / 256, float(rng.uniform(-20, 20)) * size / 256),
                              seed=int(rng.integers(1 << 31)))
        picture = render_radiograph(film, seed=int(rng.integers(1 << 31)))
        points = sides_to_positional({s: film.landmarks[s] for s in SIDES})
        out.append(LandmarkSample(f"synthetic_{seed}_{i:04d}", picture, points, film.image_left_side))
    return out


def folder_samples(folder: str | Path, config: Any) -> list[LandmarkSample]:
    """Films with manual annotations from a folder (each image with its ``.hip.json``/``.json`` beside it)."""
    from biomedai.io import read_image
    from biomedai.viz import to_display

    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidInputError("not a folder of films with annotations (or use 'synthetic')", folder)
    images = sorted(p for p in folder.iterdir() if p.name.lower().endswith(IMAGE_SUFFIXES))
    out = []
    for image_path in images:
        ann = annotation_for(image_path)
        if ann is None:
            continue
        image = read_image(image_path)
        measurement, annotation, notes = measure_annotation(ann, image, image_path, config)
        marks = {s: {k: np.asarray(measurement.landmarks[s][k]) for k in ("H", "L", "T", "S")} for s in SIDES}
        picture = to_display(image).astype(np.float32) / 255.0
        if picture.ndim == 3:
            picture = picture.mean(axis=-1)
        h_x = {s: marks[s]["H"][0] for s in SIDES}
        image_left = "right" if h_x["right"] < h_x["left"] else "left"
        out.append(LandmarkSample(image_path.name, picture, sides_to_positional(marks), image_left,
                                  annotation.spacing))
    if not out:
        raise InvalidInputError("no image with an annotation beside it (NAME.hip.json or NAME.json)", folder)
    return out


def load_samples(data: str | Path, config: Any, n: int, seed: int) -> list[LandmarkSample]:
    if str(data) == "synthetic":
        return synthetic_samples(n, config.detector_size, seed)
    return folder_samples(data, config)


class HeatmapDataset(Dataset):
    """A torch dataset of (image [1, s, s], heat maps [8, s, s]) resized to the detector size."""

    def __init__(self, samples: Sequence[LandmarkSample], size: int, sigma: float) -> None:
        import torch

        self.items = []
        for sample in samples:
            pic, factor = resize_picture(sample.picture, size)
            pts = sample.points * factor
            self.items.append((torch.from_numpy(pic[None]), torch.from_numpy(gaussian_heatmaps(pts, size, sigma))))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Any:
        return self.items[index]


def resize_picture(picture: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Resize to ``size x size``; returns the picture and the (x, y) factor from original to resized pixels."""
    from skimage.transform import resize

    h, w = picture.shape[:2]
    if (h, w) == (size, size):
        return picture.astype(np.float32), np.array([1.0, 1.0])
    out = resize(picture, (size, size), order=1, anti_aliasing=True, preserve_range=True).astype(np.float32)
    return out, np.array([size / w, size / h])


def train_detector(config: Any, train: Sequence[LandmarkSample], val: Sequence[LandmarkSample], output_dir: Path,
                   init_weights: Path | None = None) -> Any:
    """Train :class:`~.model.LandmarkHeatmapNet` with :func:`biomedai.train.train_model`; best by val radial error."""
    import torch

    from biomedai.train import load_weights, move_to_device, train_model

    size, sigma = config.detector_size, config.heatmap_sigma
    train_ds, val_ds = HeatmapDataset(train, size, sigma), HeatmapDataset(val, size, sigma)

    def factory() -> torch.nn.Module:
        net = LandmarkHeatmapNet(features=config.detector_features)
        if init_weights is not None:
            load_weights(net, init_weights)
        return net

    def validate(model: torch.nn.Module, loader: Any) -> dict[str, float]:
        errors, losses = [], []
        device = next(model.parameters()).device
        for batch in loader:
            x, y = move_to_device(batch, device)
            out = model(x)
            losses.append(float(heatmap_loss(out.float(), y)))
            pred = decode_heatmaps(spatial_softmax(out))[..., :2]
            true = decode_heatmaps(y)[..., :2]
            errors.append(np.hypot(*(pred - true).reshape(-1, 2).T))
        return {"loss": float(np.mean(losses)), "radial_error_px": float(np.mean(np.concatenate(errors)))}

    return train_model(factory, train_ds, val_ds, loss_fn=heatmap_loss, validate=validate, output_dir=output_dir,
                       epochs=config.epochs, batch_size=config.batch_size, lr=config.lr, seed=config.seed,
                       monitor="val_radial_error_px", mode="min", progress=False, run_config=config,
                       scheduler=lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs))


def save_detector_folder(folder: str | Path, weights: Any, config: Any, training_data: dict[str, Any],
                         metrics: dict[str, Any] | None = None, metrics_data: str = "",
                         simulated: bool = False) -> Path:
    """Write the detector as a model folder (``weights.pt`` + ``model.json``, see :mod:`biomedai.train.model_folder`).

    ``weights`` is a trained network, a state dict or a weights file.
    """
    from biomedai.train import ModelInfo, load_weights, save_model_folder

    state = load_weights(None, weights) if isinstance(weights, (str, Path)) else weights
    info = ModelInfo(method="hip_dysplasia", name="landmark_detector",
                     architecture={"network": "LandmarkHeatmapNet", "features": list(config.detector_features)},
                     preprocessing={"detector_size": int(config.detector_size),
                                    "heatmap_sigma": float(config.heatmap_sigma), "picture": "8-bit grey, resized"},
                     class_names=[f"{position}:{point}" for position in POSITIONS for point in POINTS],
                     training_data=training_data, metrics=dict(metrics or {}), metrics_data=metrics_data,
                     simulated=simulated)
    return save_model_folder(folder, state, info)


def load_detector(weights: str | Path, config: Any) -> Any:
    """The trained detector from a model folder, or from a bare weights file (architecture from ``config``)."""
    from biomedai.train import load_weights
    from biomedai.train.model_folder import is_model_folder, load_model_folder, read_model_info

    if is_model_folder(weights):
        info = read_model_info(weights)
        net = LandmarkHeatmapNet(features=tuple(info.architecture.get("features", config.detector_features)))
        load_model_folder(weights, net, method="hip_dysplasia")
    else:  # a weights.pt written before model folders (or by the training engine): still loads
        net = LandmarkHeatmapNet(features=config.detector_features)
        load_weights(net, weights)
    net.eval()
    return net


def detect_landmarks(net: Any, pictures: Sequence[np.ndarray], size: int) -> np.ndarray:
    """``(n, 8, 3)``: positional points (x, y in each picture's own pixels) and their peak values."""
    import torch

    device = next(net.parameters()).device
    resized, factors = zip(*(resize_picture(p, size) for p in pictures))
    with torch.no_grad():
        out = net(torch.from_numpy(np.stack(resized)[:, None]).to(device))
    points = decode_heatmaps(spatial_softmax(out))
    points[..., :2] = points[..., :2] / np.asarray(factors)[:, None, :]
    return points


def agreement_report(true_angles: Sequence[dict[str, dict[str, float]]],
                     pred_angles: Sequence[dict[str, dict[str, float]]]) -> dict[str, Any]:
    """Per angle: MAE, ICC(2,1) (absolute agreement) and Bland-Altman (pred - manual), over all hips."""
    from biomedai.metrics.agreement import bland_altman, intraclass_correlation, mean_absolute_error

    out: dict[str, Any] = {}
    for name in ("ce", "sharp", "tonnis"):
        t = np.array([a[s][name] for a in true_angles for s in SIDES])
        p = np.array([a[s][name] for a in pred_angles for s in SIDES])
        ba = bland_altman(t, p)
        out[name] = {"mae_deg": mean_absolute_error(t, p), "icc_2_1": intraclass_correlation(np.c_[t, p], "2,1"),
                     "bland_altman_bias_deg": ba.bias, "bland_altman_loa_deg": [ba.lower, ba.upper], "n_hips": int(t.size)}
    return out
