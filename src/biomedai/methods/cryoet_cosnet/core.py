"""COS-Net training, inference and the one-shot evaluation protocol (used by the Method, tools and benchmark)."""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from biomedai.data.cryoet_sim import SubtomogramSet, zscore
from biomedai.errors import InvalidInputError, WeightsError
from biomedai.train import Trainer
from biomedai.train.schedules import budget_cosine
from biomedai.train.model_folder import ModelInfo, is_model_folder, load_model_folder, read_model_info, save_model_folder

from .config import CosNetConfig
from .crf import dense_crf3d
from .matching import ncc_scores
from .model import CosNet, SupervisedCnn, episode_loss

logger = logging.getLogger(__name__)

ARCH_KEYS = ("box", "width", "duse", "decoder", "duse_fusion", "embedding_dim", "head_activation",
             "input_binning")


# ----------------------------------------------------------------------------- data
def load_dataset(path: str | Path) -> SubtomogramSet:
    """A simulated set: an ``.npz`` written by ``SubtomogramSet.save`` or a folder holding ``dataset.npz``."""
    path = Path(path)
    if path.is_dir():
        path = path / "dataset.npz"
    return SubtomogramSet.load(path)


def select_classes(data: SubtomogramSet, names: Sequence[str], what: str) -> SubtomogramSet:
    data = data.subset(list(names)) if names else data
    if len(data.class_names) < 2:
        raise InvalidInputError(f"{what} needs at least 2 classes, got {data.class_names}")
    return data


#: 180-degree rotations about z, y and x as axis flips of a (z, y, x) volume; each keeps the missing wedge
#: (tilt axis y), so an augmented box looks like one the microscope could have recorded
WEDGE_PRESERVING_FLIPS: tuple[tuple[int, ...], ...] = ((), (1, 2), (0, 2), (0, 1))


def rotate_180(volumes: np.ndarray, choice: np.ndarray) -> np.ndarray:
    """Apply ``WEDGE_PRESERVING_FLIPS[choice[i]]`` to ``volumes[i]`` ([n, z, y, x]); a new array."""
    out = np.empty_like(volumes)
    for i, k in enumerate(choice):
        axes = WEDGE_PRESERVING_FLIPS[int(k)]
        out[i] = np.flip(volumes[i], axes) if axes else volumes[i]
    return out


class EpisodeStream:
    """An iterable of ``steps`` training batches; each holds ``episodes_per_step`` n-way-1-shot episodes.

    Every episode draws n classes and, for each, two different samples: one for support set A, one for
    support set B (B shuffled). Seeded: the k-th pass over the stream uses ``default_rng([seed, k])``.
    With ``augment`` every volume (and its mask) gets a random wedge-preserving 180-degree rotation.
    """

    def __init__(self, data: SubtomogramSet, ways: int, episodes: int, steps: int, seed: int = 0,
                 augment: bool = False) -> None:
        self.volumes, self.masks, self.labels = data.volumes, data.masks, data.labels
        self.by_class = [np.flatnonzero(data.labels == c) for c in range(len(data.class_names))]
        if min(len(i) for i in self.by_class) < 2:
            raise InvalidInputError("every training class needs at least 2 subtomograms")
        self.ways = min(ways, len(self.by_class))
        self.episodes, self.steps, self.seed, self.passes, self.augment = episodes, steps, seed, 0, augment

    def __len__(self) -> int:
        return self.steps

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.passes])
        self.passes += 1
        for _ in range(self.steps):
            yield self.batch(rng)

    def _take(self, array: np.ndarray, index: np.ndarray, flips: np.ndarray | None) -> np.ndarray:
        part = array[index.ravel()]
        return rotate_180(part, flips) if flips is not None else part

    def batch(self, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        e, n = self.episodes, self.ways
        ia, ib, match = np.empty((e, n), int), np.empty((e, n), int), np.zeros((e, n, n), np.float32)
        for k in range(e):
            classes = rng.choice(len(self.by_class), n, replace=False)
            perm = rng.permutation(n)
            for i, c in enumerate(classes):
                pair = rng.choice(self.by_class[c], 2, replace=False)
                ia[k, i], ib[k, perm[i]] = pair
                match[k, i, perm[i]] = 1
        fa, fb = ((rng.integers(0, len(WEDGE_PRESERVING_FLIPS), e * n) for _ in range(2)) if self.augment
                  else (None, None))
        shape = (e, n, 1) + self.volumes.shape[1:]
        return {"a": torch.from_numpy(self._take(self.volumes, ia, fa)).view(shape),
                "b": torch.from_numpy(self._take(self.volumes, ib, fb)).view(shape),
                "ma": torch.from_numpy(self._take(self.masks, ia, fa)).view(shape),
                "mb": torch.from_numpy(self._take(self.masks, ib, fb)).view(shape),
                "match": torch.from_numpy(match)}


class AugmentedVolumes(torch.utils.data.Dataset):
    """(volume [1, z, y, x], label) pairs for the supervised baseline, optionally with random 180-degree turns."""

    def __init__(self, data: SubtomogramSet, augment: bool = False, seed: int = 0) -> None:
        self.volumes, self.labels, self.augment = data.volumes, data.labels, augment
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        vol = self.volumes[i]
        if self.augment:
            vol = rotate_180(vol[None], self.rng.integers(0, len(WEDGE_PRESERVING_FLIPS), 1))[0]
        return torch.from_numpy(np.ascontiguousarray(vol))[None], torch.as_tensor(self.labels[i])


def budget_schedule(cfg: CosNetConfig) -> Callable[[Any, Any], Any] | None:
    """An LR-scheduler factory ``(optimizer, trainer)`` for ``cfg.lr_schedule``: after a 20-step warm-up, cosine
    from ``lr`` to 2 % of it over the engine's time budget (``trainer.budget_fraction()``, the tighter of
    ``train_seconds`` and ``train_cpu_seconds``) or, without one, over ``cfg.steps``; None for a constant LR."""
    if cfg.lr_schedule == "constant":
        return None
    over_steps = None if cfg.train_seconds or cfg.train_cpu_seconds else cfg.steps
    return lambda optimizer, trainer: budget_cosine(optimizer, trainer.budget_fraction, over_steps,
                                                    warmup_steps=20, floor=0.02)


# ----------------------------------------------------------------------------- models
def build_model(cfg: CosNetConfig) -> CosNet:
    return CosNet(cfg.box, cfg.width, cfg.duse, cfg.decoder, cfg.duse_fusion, cfg.embedding_dim,
                  cfg.head_activation, cfg.input_binning)


def _trainer_kwargs(cfg: CosNetConfig, output_dir: Path | None, steps_per_epoch: int) -> dict[str, Any]:
    """The engine settings shared by COS-Net and the supervised baseline: the same wall and CPU budgets
    (training stops at the step that spends either), the same schedule."""
    epochs = max(1, -(-cfg.steps // steps_per_epoch))
    return dict(output_dir=output_dir, epochs=epochs, lr=cfg.lr, weight_decay=cfg.weight_decay, device=cfg.device,
                amp=cfg.amp, seed=cfg.seed, progress=False, grad_clip_norm=5.0,
                max_minutes=cfg.train_seconds / 60 if cfg.train_seconds else None,
                max_cpu_minutes=cfg.train_cpu_seconds / 60 if cfg.train_cpu_seconds else None,
                scheduler=budget_schedule(cfg), scheduler_interval="step")


def _fit(trainer: Trainer) -> tuple[Any, float, float]:
    """Train; returns the result, wall seconds and CPU seconds of this process."""
    start, cpu = time.perf_counter(), time.process_time()
    result = trainer.fit()
    if result.weights:  # the exported best-on-validation (or best-loss) weights, so the model matches the file
        from biomedai.train import load_weights

        load_weights(trainer.model, result.weights, map_location=trainer.device)
    return result, time.perf_counter() - start, time.process_time() - cpu


def episode_validator(data: SubtomogramSet, ways: int, episodes: int = 300, pool: int = 4,
                      seed: int = 0, batch_size: int = 64) -> Callable[[torch.nn.Module, Any], dict[str, float]]:
    """A Trainer ``validate`` function: mean ``ways``-way-1-shot accuracy on fixed episodes of ``data``
    (held-out samples; supports from each class's first ``pool``), scored the way the model scores."""
    plan = plan_episodes(data.labels, (ways,), episodes, pool, seed)

    def validate(model: torch.nn.Module, loader: Any) -> dict[str, float]:
        feats, _ = embed_volumes(model, data.volumes, batch_size, with_masks=False)
        if isinstance(model, CosNet):
            scores = cosnet_scores(model, feats[plan.pool_idx], feats[plan.target_idx])
        else:
            scores = cosine_scores(feats[plan.pool_idx], feats[plan.target_idx])
        return {"val_acc": float(episode_accuracies(scores, plan, ways).mean())}

    return validate


def _validation_kwargs(val_data: SubtomogramSet | None, cfg: CosNetConfig) -> dict[str, Any]:
    if val_data is None:
        return {}
    ways = min(8, len(val_data.class_names))
    return dict(val_data=[None], validate=episode_validator(val_data, ways, seed=cfg.seed, batch_size=cfg.batch_size),
                monitor="val_acc", mode="max")


def train_cosnet(cfg: CosNetConfig, data: SubtomogramSet, output_dir: Path | None = None,
                 val_data: SubtomogramSet | None = None) -> tuple[CosNet, dict[str, Any]]:
    """Episodic n-way-1-shot training (two support sets per episode, Eqs. 14-16) with the shared Trainer.

    With ``val_data`` (held-out subtomograms) the checkpoint with the best 8-way validation accuracy
    (checked every ``steps_per_epoch`` steps) is kept; that needs ``output_dir``.
    """
    data = select_classes(data, cfg.train_classes, "training")
    per_epoch = min(cfg.steps_per_epoch, cfg.steps)
    stream = EpisodeStream(data, cfg.train_ways, cfg.episodes_per_step, per_epoch, cfg.seed, cfg.augment)
    eps = cfg.dice_eps
    trainer = Trainer(lambda: build_model(cfg), stream, batch_to_loss=lambda m, b: episode_loss(m, b, eps),
                      run_config=cfg, **_validation_kwargs(val_data, cfg), **_trainer_kwargs(cfg, output_dir, per_epoch))
    result, seconds, cpu_seconds = _fit(trainer)
    info = {"steps": trainer.global_step, "epochs": result.epochs_completed, "train_seconds": seconds,
            "train_cpu_seconds": cpu_seconds,
            "first": result.history[0] if result.history else {},
            "final": result.history[-1] if result.history else {}, "train_classes": data.class_names,
            "best_epoch": result.best_epoch, "best_metric": result.best_metric, "monitor": result.monitor,
            "weights": str(result.weights) if result.weights else None}
    if output_dir is not None and result.weights:
        save_model_folder(output_dir, trainer.model, ModelInfo(
            method="cryoet_cosnet", architecture={k: getattr(cfg, k) for k in ARCH_KEYS},
            preprocessing={"box": cfg.box, "normalisation": "z-score per subtomogram"},
            training_data={"name": "simulated subtomograms", "classes": data.class_names,
                           "snr": data.snr, "simulator": data.settings}, simulated=True,
            extra={"steps": trainer.global_step}))
    return trainer.model.eval(), info


def train_supervised(cfg: CosNetConfig, data: SubtomogramSet, output_dir: Path | None = None,
                     val_data: SubtomogramSet | None = None) -> tuple[SupervisedCnn, dict[str, Any]]:
    """Baseline: a plain 3D CNN trained with cross-entropy on the training classes (same budget); with
    ``val_data`` and ``output_dir`` the checkpoint with the best one-shot validation accuracy is kept."""
    data = select_classes(data, cfg.train_classes, "training")
    n = len(data.class_names)
    batch = cfg.episodes_per_step * cfg.train_ways * 2            # same number of volumes per step as COS-Net
    ds = AugmentedVolumes(data, cfg.augment, cfg.seed)
    per_epoch = max(1, min(len(ds) // batch, cfg.steps_per_epoch if val_data is not None else len(ds)))
    kwargs = _trainer_kwargs(cfg, output_dir, per_epoch)
    if val_data is not None:  # validate every ``steps_per_epoch`` steps: epochs of that many batches
        sampler = torch.utils.data.RandomSampler(ds, replacement=True, num_samples=per_epoch * batch,
                                                 generator=torch.Generator().manual_seed(cfg.seed))
        train_data: Any = torch.utils.data.DataLoader(ds, batch_size=batch, sampler=sampler, drop_last=True)
    else:
        train_data = ds
    trainer = Trainer(lambda: SupervisedCnn(n, cfg.box, cfg.width, cfg.embedding_dim, cfg.input_binning), train_data,
                      loss_fn=torch.nn.functional.cross_entropy, batch_size=batch, drop_last=True,
                      **_validation_kwargs(val_data, cfg), **kwargs)
    result, seconds, cpu_seconds = _fit(trainer)
    return trainer.model.eval(), {"steps": trainer.global_step, "epochs": result.epochs_completed,
                                  "train_seconds": seconds, "train_cpu_seconds": cpu_seconds, "best_epoch": result.best_epoch,
                                  "best_metric": result.best_metric}


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def load_model(weights: str | Path, cfg: CosNetConfig, device: str = "cpu") -> CosNet:
    """A CosNet from a model folder (``model.json`` + ``weights.pt``, checksum-verified) or, as written before
    model folders, from ``weights.pt`` with an architecture-only ``model.json`` beside it."""
    from biomedai.train import load_weights

    weights = Path(weights)
    if is_model_folder(weights):
        info = read_model_info(weights)
        cfg = cfg.replace(**{k: v for k, v in info.architecture.items() if k in ARCH_KEYS})
        model = build_model(cfg)
        load_model_folder(weights, model, method="cryoet_cosnet")
        return model.to(device).eval()
    arch_file = weights.parent / "model.json"
    if arch_file.is_file():
        try:
            cfg = cfg.replace(**json.loads(arch_file.read_text()))
        except (json.JSONDecodeError, TypeError) as exc:
            raise WeightsError(f"{arch_file}: not a valid architecture file ({exc})") from None
    model = build_model(cfg)
    load_weights(model, weights)
    return model.to(device).eval()


@torch.no_grad()
def embed_volumes(model: CosNet | SupervisedCnn, volumes: np.ndarray, batch_size: int = 64,
                  with_masks: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Embeddings [M, D] and, for COS-Net with a decoder, foreground probabilities [M, ...]."""
    model.eval()
    device = model_device(model)
    feats, probs = [], []
    for start in range(0, len(volumes), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(volumes[start:start + batch_size], np.float32))[:, None].to(device)
        f, logits = model.embed(x)
        feats.append(f.float().cpu().numpy())
        if logits is not None and with_masks:
            probs.append(torch.sigmoid(logits.float())[:, 0].cpu().numpy())
    return np.concatenate(feats), (np.concatenate(probs) if probs else None)


@torch.no_grad()
def cosnet_scores(model: CosNet, support_feats: np.ndarray, target_feats: np.ndarray) -> np.ndarray:
    """Pair scores [S, T] = P_final(|F_S2 - F_T2|) (softmax over the supports gives F_out)."""
    device = model_device(model)
    s = torch.from_numpy(support_feats).to(device)
    out = []
    for start in range(0, len(target_feats), 256):
        t = torch.from_numpy(target_feats[start:start + 256]).to(device)
        out.append(model.pair_scores(s, t).float().T.cpu().numpy())
    return np.concatenate(out, axis=1)


def cosine_scores(support_feats: np.ndarray, target_feats: np.ndarray) -> np.ndarray:
    a = support_feats / np.maximum(np.linalg.norm(support_feats, axis=1, keepdims=True), 1e-12)
    b = target_feats / np.maximum(np.linalg.norm(target_feats, axis=1, keepdims=True), 1e-12)
    return a @ b.T


def ncc_rotation_scores(supports: np.ndarray, targets: np.ndarray, n_rotations: int = 60, seed: int = 0,
                        device: str = "cpu") -> np.ndarray:
    """Template-matching baseline: max over rotations of the support of its NCC with the target [S, T]."""
    return ncc_scores(supports, targets, n_rotations, seed, device)


# ----------------------------------------------------------------------------- evaluation protocol
@dataclass
class EpisodePlan:
    """Fixed evaluation episodes: supports from each class's first ``pool`` samples, targets from the rest."""

    pool_idx: np.ndarray          # indices (into the data) of support candidates
    target_idx: np.ndarray        # indices of targets
    episodes: dict[int, list[tuple[np.ndarray, np.ndarray]]]  # ways -> [(support positions in pool, target positions)]


def plan_episodes(labels: np.ndarray, ways: Sequence[int], n_episodes: int, pool: int, seed: int = 0) -> EpisodePlan:
    """n-way-1-shot test episodes: n classes, one support each, one target per class (never the support)."""
    classes = np.unique(labels)
    if len(classes) < max(ways):
        raise InvalidInputError(f"{max(ways)}-way episodes need {max(ways)} classes, the data have {len(classes)}")
    pool_idx, target_idx = [], []
    for c in classes:
        idx = np.flatnonzero(labels == c)
        if len(idx) <= pool:
            raise InvalidInputError(f"class {c} has {len(idx)} samples; need more than support_pool={pool}")
        pool_idx.append(idx[:pool])
        target_idx.append(idx[pool:])
    pool_pos = {c: np.arange(k * pool, (k + 1) * pool) for k, c in enumerate(classes)}
    starts = np.cumsum([0] + [len(t) for t in target_idx])
    target_pos = {c: np.arange(starts[k], starts[k + 1]) for k, c in enumerate(classes)}
    rng = np.random.default_rng(seed)
    plan: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
    for n in ways:
        plan[n] = []
        for _ in range(n_episodes):
            chosen = rng.choice(classes, n, replace=False)
            plan[n].append((np.array([rng.choice(pool_pos[c]) for c in chosen]),
                            np.array([rng.choice(target_pos[c]) for c in chosen])))
    return EpisodePlan(np.concatenate(pool_idx), np.concatenate(target_idx), plan)


def episode_accuracies(scores: np.ndarray, plan: EpisodePlan, ways: int) -> np.ndarray:
    """Per-episode accuracy from a score matrix [pool, targets]; target k's true support is support k."""
    acc = []
    for sup, tgt in plan.episodes[ways]:
        block = scores[np.ix_(sup, tgt)]            # [n supports, n targets]
        acc.append(np.mean(block.argmax(0) == np.arange(len(sup))))
    return np.array(acc)


def _mean_ci(values: np.ndarray, seed: int = 0) -> list[float]:
    from biomedai.metrics.bootstrap import bootstrap_ci

    ci = bootstrap_ci(np.mean, values, n_resamples=1000, seed=seed)
    return [float(ci.low), float(ci.high)]


def summarise_accuracy(acc: np.ndarray, seed: int = 0) -> dict[str, float]:
    from biomedai.metrics.bootstrap import bootstrap_ci

    ci = bootstrap_ci(np.mean, acc, n_resamples=1000, seed=seed)
    return {"mean": float(acc.mean()), "ci_low": ci.low, "ci_high": ci.high, "episodes": int(len(acc))}


def refine_masks(probs: np.ndarray, volumes: np.ndarray, cfg: CosNetConfig, device: str = "cpu",
                 chunk: int = 64) -> np.ndarray:
    """Binary masks: the CRF-refined probabilities (or the raw ones) thresholded at ``cfg.threshold``."""
    if not cfg.crf:
        return probs >= cfg.threshold
    out = np.empty(probs.shape, bool)
    for start in range(0, len(probs), chunk):
        p = torch.from_numpy(probs[start:start + chunk]).to(device)
        v = torch.from_numpy(np.ascontiguousarray(volumes[start:start + chunk], np.float32)).to(device)
        q = dense_crf3d(p, v, cfg.crf_iterations, cfg.crf_w_appearance, cfg.crf_w_smoothness, cfg.crf_sigma_alpha,
                        cfg.crf_sigma_beta, cfg.crf_sigma_gamma, cfg.crf_levels)
        out[start:start + chunk] = q.cpu().numpy() >= cfg.threshold
    return out


def dice_per_sample(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Dice of each (true, predicted) mask pair along the first axis (both empty: 1.0)."""
    from biomedai.metrics import dice

    return np.array([dice(t, p) for t, p in zip(truth, pred)], dtype=float)


def evaluate_model(model: CosNet, data: SubtomogramSet, cfg: CosNetConfig, plan: EpisodePlan | None = None,
                   device: str = "cpu") -> dict[str, Any]:
    """Table 1 (accuracy per n-way with 95% bootstrap CI) and Tables 2-3 (per-class Dice) for one model."""
    plan = plan or plan_episodes(data.labels, cfg.eval_ways, cfg.eval_episodes, cfg.support_pool, cfg.seed)
    feats, probs = embed_volumes(model, data.volumes, cfg.batch_size)
    scores = cosnet_scores(model, feats[plan.pool_idx], feats[plan.target_idx])
    result: dict[str, Any] = {"accuracy": {f"{n}way": summarise_accuracy(episode_accuracies(scores, plan, n), cfg.seed)
                                           for n in cfg.eval_ways}}
    if probs is not None:
        t = np.concatenate([plan.target_idx[data.labels[plan.target_idx] == c][:cfg.dice_targets_per_class]
                            for c in range(len(data.class_names))])
        raw = dice_per_sample(data.masks[t], probs[t] >= cfg.threshold)
        crf = dice_per_sample(data.masks[t], refine_masks(probs[t], data.volumes[t], cfg, device)) if cfg.crf else raw
        labels = data.labels[t]
        result["dice"] = {name: {"crf_mean": float(crf[labels == c].mean()), "crf_sd": float(crf[labels == c].std()),
                                 "raw_mean": float(raw[labels == c].mean()), "raw_sd": float(raw[labels == c].std()),
                                 "n": int((labels == c).sum())}
                          for c, name in enumerate(data.class_names)}
        result["dice_mean_crf"], result["dice_mean_raw"] = float(crf.mean()), float(raw.mean())
        result["dice_crf_ci95"], result["dice_raw_ci95"] = _mean_ci(crf, cfg.seed), _mean_ci(raw, cfg.seed)
        result["dice_targets"] = int(len(crf))
    return result


def scores_table(scorer: Callable[[np.ndarray, np.ndarray], np.ndarray], data: SubtomogramSet, plan: EpisodePlan,
                 ways: Sequence[int], seed: int = 0) -> dict[str, dict[str, float]]:
    """Accuracy per n-way for any scorer(support volumes, target volumes) -> [S, T] (baselines)."""
    scores = scorer(data.volumes[plan.pool_idx], data.volumes[plan.target_idx])
    return {f"{n}way": summarise_accuracy(episode_accuracies(scores, plan, n), seed) for n in ways}
