"""Han-Net nuclear segmentation as a biomedai ``Method``: train, predict (images and whole slides),
evaluate and demo."""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError, WeightsError
from biomedai.methods.base import Method, RunResult
from biomedai.methods.registry import register
from biomedai.provenance import RunRecorder
from biomedai.utils import write_json_atomic

from .config import HanNetConfig

logger = logging.getLogger(__name__)

ARCH_FILE = "hannet_model.json"
WSI_SUFFIXES = (".svs", ".ndpi", ".mrxs", ".scn", ".vms", ".vmu", ".bif", ".svslide")


class NucleiSegmenter:
    """A trained network plus everything needed to turn an RGB image into nucleus instances."""

    def __init__(self, model: Any, cfg: HanNetConfig, arch: dict[str, Any]) -> None:
        self.model, self.cfg, self.arch = model.eval(), cfg, arch

    # ---------------------------------------------------------------- building
    @staticmethod
    def build_network(arch: dict[str, Any]) -> Any:
        from .model import build_model

        return build_model(arch["variant"], arch["base_channels"], dense_layers=arch["dense_layers"],
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
        from .inference import tiled_probabilities

        c = self.cfg
        return tiled_probabilities(self.model, self.prepare(rgb), c.tile_size, c.tile_overlap, c.infer_batch_size,
                                   tta=c.tta)

    def instances_from(self, probs: np.ndarray) -> np.ndarray:
        from .postprocess import instances_from_probabilities

        c = self.cfg
        return instances_from_probabilities(probs, c.postprocess, c.min_object_size, c.grow_radius,
                                            split_h=c.split_h, split_sigma=c.split_sigma)

    def segment(self, rgb: np.ndarray) -> np.ndarray:
        """Instance labels of an in-memory RGB image of any size (blocks with seam merging when large)."""
        if rgb.shape[0] * rgb.shape[1] <= self.cfg.max_whole_image_pixels:
            return self.instances_from(self.probabilities(rgb))
        from .inference import paste_blocks, segment_in_blocks

        blocks = segment_in_blocks(lambda b: rgb[b.y0:b.y1, b.x0:b.x1], self.segment_small, rgb.shape[0],
                                   rgb.shape[1], self.cfg.block_size, self.cfg.block_margin)
        from .postprocess import relabel_sequential

        return relabel_sequential(paste_blocks(blocks, rgb.shape[:2]))

    def segment_small(self, rgb: np.ndarray) -> np.ndarray:
        return self.instances_from(self.probabilities(rgb))


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


def _is_wsi(path: Path) -> bool:
    if path.suffix.lower() in WSI_SUFFIXES:
        return True
    if path.suffix.lower() in (".tif", ".tiff"):
        from biomedai.io import open_wsi

        try:
            with open_wsi(path) as slide:
                return slide.level_count > 1
        except Exception:  # noqa: BLE001 - not a readable slide: read_image reports what is wrong
            return False
    return False


@register
class HanNetMethod(Method):
    name = "nuclei_hannet"
    title = "Han-Net nuclear segmentation (H&E)"
    modality = "histopathology (H&E)"
    task = "nucleus instance segmentation"
    paper = "He et al., Han-Net: hybrid-attention nested UNet for nuclear segmentation"
    config_class = HanNetConfig
    input_kinds = ("image/rgb", "wsi")

    # ------------------------------------------------------------------------------------------ train
    def train(self, data: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        from .data import load_split_file, load_tiles, split_table

        cfg: HanNetConfig = self.config
        output_dir = Path(output_dir)
        split = load_split_file(cfg.split)
        rec = RunRecorder(output_dir, self.name, "train", seed=cfg.seed, config=cfg.to_dict())
        rec.add_inputs([data])
        train_tiles = load_tiles(data, None if cfg.train_on == "all" else "train", split)
        train_tiles = [t for t in train_tiles if t.labels is not None and t.labels.any()]
        val_tiles = load_tiles(data, "val", split)
        if not train_tiles:
            raise InvalidInputError("no labelled training tiles found (check the split and labels/)", data)
        if not val_tiles:
            logger.warning("no validation tiles: the best checkpoint is chosen by AJI on the training tiles")
            val_tiles = train_tiles[:2]
        result, arch = self.fit(train_tiles, val_tiles, output_dir, weights)
        rec.metrics = {"best_val_aji": result.best_metric, "best_epoch": result.best_epoch,
                       "epochs_completed": result.epochs_completed, "stopped_early": result.stopped_early,
                       "n_train_tiles": len(train_tiles), "n_val_tiles": len(val_tiles),
                       "train_tiles": [f"{t.dataset}/{t.name}" for t in train_tiles],
                       "val_tiles": [f"{t.dataset}/{t.name}" for t in val_tiles], "data": str(data),
                       "weights": "weights.pt", "weights_sha256": result.weights_sha256}
        rec.notes["split"] = split_table(data, split)
        rec.notes["train_on"] = cfg.train_on
        for f in ("weights.pt", ARCH_FILE, "metrics.jsonl"):
            if (output_dir / f).is_file():
                rec.add_file(output_dir / f)
        rec.write()
        return RunResult(output_dir, rec.metrics, [output_dir / f for f in rec.files])

    def fit(self, train_tiles: Sequence[Any], val_tiles: Sequence[Any], output_dir: Path,
            weights: Path | None = None) -> tuple[Any, dict[str, Any]]:
        """Train on tiles (objects with ``image``/``labels``); writes weights.pt and the architecture JSON."""
        from biomedai.train import load_weights, seed_everything

        from .evaluation import score_tile
        from .training import train_network

        cfg: HanNetConfig = self.config
        output_dir = Path(output_dir)
        arch = arch_from_config(cfg)
        if cfg.stain_normalization == "reinhard":
            from biomedai.data.stain import fit_reinhard

            stats = [fit_reinhard(t.image) for t in train_tiles]
            arch["reinhard_target"] = {"mean": np.mean([s.mean for s in stats], axis=0).round(4).tolist(),
                                       "std": np.mean([s.std for s in stats], axis=0).round(4).tolist()}
        seed_everything(cfg.seed)
        model = NucleiSegmenter.build_network(arch)
        if weights is not None:
            load_weights(model, weights)
        seg = NucleiSegmenter(model, cfg, arch)
        prepared = [(seg.prepare(t.image), t.labels) for t in train_tiles]

        def val_score(net: Any) -> dict[str, float]:
            seg.model = net
            scores = [score_tile(t.labels, seg.segment_small(t.image))["aji"] for t in val_tiles]
            return {"aji": float(np.mean(scores))}

        output_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(output_dir / ARCH_FILE, arch)
        result = train_network(model, prepared, val_score, output_dir, cfg)
        return result, arch

    # ------------------------------------------------------------------------------------------ predict
    def predict(self, inputs: Sequence[Path], output_dir: Path, weights: Path | None = None) -> RunResult:
        from biomedai.io.annotations import write_geojson
        from biomedai.viz import save_png

        from .data import read_rgb
        from .report import contour_overlay, nucleus_annotations, nucleus_table, write_nucleus_csv

        cfg: HanNetConfig = self.config
        output_dir = Path(output_dir)
        if not inputs:
            raise InvalidInputError("no input files given")
        seg = NucleiSegmenter.from_weights(weights, cfg)
        rec = RunRecorder(output_dir, self.name, "predict", seed=cfg.seed, config=cfg.to_dict())
        rec.add_inputs(inputs)
        rec.notes["architecture"] = seg.arch
        counts: dict[str, int] = {}
        for path in map(Path, inputs):
            with rec.timer("predict"):
                if _is_wsi(path):
                    counts[path.name] = self._predict_wsi(seg, path, output_dir, rec)
                    continue
                rgb = read_rgb(path)
                labels = seg.segment(rgb)
                stem = path.stem
                rows = nucleus_table(labels, rgb)
                rec.add_file(_write_labels_tiff(labels, output_dir / f"{stem}_labels.tif"))
                rec.add_file(save_png(contour_overlay(rgb, labels), output_dir / f"{stem}_overlay.png"))
                rec.add_file(write_nucleus_csv(rows, output_dir / f"{stem}_nuclei.csv"))
                rec.add_file(write_geojson(nucleus_annotations(labels, rows), output_dir / f"{stem}_nuclei.geojson"))
                counts[path.name] = len(rows)
        rec.metrics["n_nuclei"] = counts
        rec.write()
        return RunResult(output_dir, rec.metrics, [output_dir / f for f in rec.files])

    def _predict_wsi(self, seg: NucleiSegmenter, path: Path, output_dir: Path, rec: RunRecorder) -> int:
        """Whole slide at ``wsi_level``: blocks with seam merging -> GeoJSON + CSV in level-0 pixels."""
        from biomedai.io import open_wsi
        from biomedai.io.annotations import write_geojson
        from biomedai.viz import save_png

        from .inference import ClaimedPixels, segment_in_blocks, unclaimed_instances
        from .report import contour_overlay, nucleus_annotations, nucleus_table, write_nucleus_csv

        cfg = self.config
        annotations, rows_all = [], []
        with open_wsi(path) as slide:
            level = cfg.wsi_level
            if level >= slide.level_count:
                raise InvalidInputError(f"wsi_level {level} does not exist (levels 0..{slide.level_count - 1})", path)
            width, height = slide.level_dimensions[level]
            ds = slide.level_downsamples[level]
            full = np.zeros((height, width), np.uint32) if width * height <= cfg.max_whole_image_pixels else None
            picture = None

            def read(b: Any) -> np.ndarray:
                region = slide.read_region((int(round(b.x0 * ds)), int(round(b.y0 * ds))), level,
                                           (b.x1 - b.x0, b.y1 - b.y0))
                return np.asarray(region)[..., :3]

            next_id = 1
            claims = ClaimedPixels(width, cfg.block_size)  # a seam nucleus two blocks both own is kept once
            for b, labels in segment_in_blocks(read, seg.segment_small, height, width, cfg.block_size,
                                               cfg.block_margin):
                claimed = claims.view(b)
                labels = unclaimed_instances(labels, claimed)
                claimed |= labels > 0
                if not labels.any():
                    continue
                rgb = read(b)
                rows = nucleus_table(labels, rgb, offset=(b.x0, b.y0), scale=ds, first_id=next_id)
                next_id += len(rows)
                annotations += nucleus_annotations(labels, rows, offset=(b.x0, b.y0), scale=ds)
                rows_all += rows
                if full is not None:
                    view = full[b.y0:b.y1, b.x0:b.x1]
                    lut = np.zeros(int(labels.max()) + 1, np.uint32)
                    for r in rows:
                        lut[r["_label"]] = r["id"]
                    written = labels > 0
                    view[written] = lut[labels[written]]
                if picture is None:
                    picture = save_png(contour_overlay(rgb, labels), output_dir / f"{path.stem}_overlay.png")
                    rec.add_file(picture)
        stem = path.stem
        rec.add_file(write_nucleus_csv(rows_all, output_dir / f"{stem}_nuclei.csv"))
        rec.add_file(write_geojson(annotations, output_dir / f"{stem}_nuclei.geojson"))
        if full is not None:
            rec.add_file(_write_labels_tiff(full, output_dir / f"{stem}_labels.tif"))
        rec.notes.setdefault("wsi", {})[path.name] = {"level": cfg.wsi_level, "downsample": ds,
                                                      "coordinates": "level-0 pixels",
                                                      "label_tiff": full is not None}
        return len(rows_all)

    # ------------------------------------------------------------------------------------------ evaluate
    def evaluate(self, data: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        from .data import load_split_file, load_tiles

        cfg: HanNetConfig = self.config
        seg = NucleiSegmenter.from_weights(weights, cfg)
        tiles = load_tiles(data, cfg.eval_part, load_split_file(cfg.split))
        if not tiles:
            raise InvalidInputError(f"no tiles in the {cfg.eval_part!r} part of the split", data)
        rec = RunRecorder(Path(output_dir), self.name, "evaluate", seed=cfg.seed, config=cfg.to_dict())
        rec.add_inputs([data])
        rec.add_inputs([weights])
        with rec.timer("evaluate"):
            metrics, files = evaluate_tiles(seg.segment, tiles, Path(output_dir), f"{self.name} ({cfg.eval_part})")
        rec.metrics = {**metrics, "data": str(data), "part": cfg.eval_part}
        for f in files:
            rec.add_file(f)
        rec.notes["protocol"] = "see methods/nuclei_hannet/evaluation.py and README.md"
        rec.write()
        return RunResult(Path(output_dir), rec.metrics, files)

    # ------------------------------------------------------------------------------------------ demo
    def demo(self, output_dir: Path) -> RunResult:
        from .demo import run_demo

        return run_demo(self, Path(output_dir))


def _write_labels_tiff(labels: np.ndarray, path: Path) -> Path:
    from biomedai.io import write_image

    labels = labels.astype(np.uint16) if labels.max(initial=0) < 65536 else labels.astype(np.uint32)
    return write_image(labels, path)


def evaluate_tiles(segment: Any, tiles: Sequence[Any], output_dir: Path, title: str,
                   n_overlays: int = 6) -> tuple[dict[str, Any], list[Path]]:
    """Segment each tile, score it (per tile and mean per data set), write CSV, overlays and HTML."""
    import csv
    import io

    from biomedai.utils import write_text_atomic
    from biomedai.viz import save_png

    from .evaluation import METRICS, mean_scores, score_tile
    from .report import contour_overlay, metrics_table_html

    output_dir.mkdir(parents=True, exist_ok=True)
    rows, files, figures = [], [], []
    for k, t in enumerate(tiles):
        start = time.perf_counter()
        pred = segment(t.image)
        seconds = time.perf_counter() - start
        row = {"dataset": t.dataset, "tile": t.name, **score_tile(t.labels, pred), "seconds": round(seconds, 3)}
        rows.append(row)
        if k < n_overlays:
            png = save_png(contour_overlay(t.image, pred, truth=t.labels), output_dir / f"{t.dataset}_{t.name}.png")
            files.append(png)
            figures.append((png.name, f"{t.dataset}/{t.name} AJI {row['aji']:.3f}"))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    files.append(write_text_atomic(output_dir / "per_tile.csv", buffer.getvalue()))
    metrics: dict[str, Any] = {}
    summary_rows = []
    for name in sorted({r["dataset"] for r in rows}):
        mean = mean_scores([r for r in rows if r["dataset"] == name])
        metrics[name] = mean
        summary_rows.append({"dataset": name, **{k: round(v, 4) for k, v in mean.items()}})
        for key in ("aji", "f1", "dice", "pq", "hausdorff"):
            metrics[f"{name}_{key}"] = mean[key]
    metrics["metrics"] = list(METRICS)
    files.append(metrics_table_html(summary_rows + [{k: (round(v, 4) if isinstance(v, float) else v)
                                                      for k, v in r.items()} for r in rows],
                                    title, output_dir / "evaluation.html", figures))
    return metrics, files
