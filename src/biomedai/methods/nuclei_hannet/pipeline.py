"""Han-Net nuclear segmentation as a biomedai ``Method``: train, predict (images and whole slides),
evaluate and demo."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.data.blocks import ClaimedPixels, segment_in_blocks, unclaimed_instances
from biomedai.errors import InvalidInputError
from biomedai.io.wsi import is_slide_file
from biomedai.methods.base import Method, RealSample, RunResult
from biomedai.methods.registry import register
from biomedai.provenance import RunRecorder
from biomedai.utils import lazy_import, write_json_atomic

from .config import HanNetConfig
from .data import SET_TERMS, held_out_tiles, load_split_file, load_tiles, read_labels, read_rgb, split_table
from .demo import run_demo
from .evaluation import evaluate_tiles, score_tile
from .input_check import he_input_problem
from .report import contour_overlay, nucleus_annotations, nucleus_table, write_nucleus_csv
from .segmenter import ARCH_FILE, NucleiSegmenter, arch_from_config

training = lazy_import(".training", __package__)  # torch: imported on first use

logger = logging.getLogger(__name__)


@register
class HanNetMethod(Method):
    name = "nuclei_hannet"
    title = "Han-Net nuclear segmentation (H&E)"
    modality = "histopathology (H&E)"
    task = "nucleus instance segmentation"
    paper = "He et al., Han-Net: hybrid-attention nested UNet for nuclear segmentation"
    config_class = HanNetConfig
    input_kinds = ("image/rgb", "wsi")
    default_model = "default"
    headline_metrics = ("n_nuclei_total", "n_nuclei")

    # ------------------------------------------------------------------------------------------ train
    def train(self, data: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
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
                       "time_budget_spent": result.time_budget_spent,
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
        result = training.train_network(model, prepared, val_score, output_dir, cfg)
        return result, arch

    # ------------------------------------------------------------------------------------------ real samples
    def real_samples(self, data_root: Path) -> list[RealSample]:
        """One held-out test tile of each shared set (MICCAI 2015, GBM40) of the bundled model's split."""
        samples = []
        for name, tile, image, labels in held_out_tiles(data_root):
            title, terms = SET_TERMS.get(name, (name, "see the data set's README"))
            samples.append(RealSample((image,), f"{title}, held-out test tile {tile} (split all_sources)", terms,
                                      non_commercial=True, ground_truth=labels))
        return samples

    def score_real_sample(self, sample: RealSample, result: RunResult) -> dict[str, Any]:
        """AJI, object F1, PQ and nucleus counts of the predicted instances against the tile's label map."""
        from biomedai.io import read_image

        stem = Path(sample.inputs[0]).stem
        predicted = np.asarray(read_image(Path(result.output_dir) / f"{stem}_labels.tif").array)
        scores = score_tile(read_labels(sample.ground_truth), predicted)
        return {k: scores[k] for k in ("aji", "f1", "pq", "n_pred", "n_true") if k in scores}

    # ------------------------------------------------------------------------------------------ predict
    def check_input(self, path: Path) -> str | None:
        """Why this method cannot read ``path``, or None (the nuclei model reads H&E images; input_check.py)."""
        return he_input_problem(Path(path))

    def predict(self, inputs: Sequence[Path], output_dir: Path, weights: Path | None = None) -> RunResult:
        from biomedai.io.annotations import write_geojson
        from biomedai.viz import save_png

        cfg: HanNetConfig = self.config
        output_dir = Path(output_dir)
        if not inputs:
            raise InvalidInputError("no input files given")
        seg = NucleiSegmenter.from_weights(self.resolve_weights(weights), cfg)
        rec = RunRecorder(output_dir, self.name, "predict", seed=cfg.seed, config=cfg.to_dict())
        rec.add_inputs(inputs)
        rec.notes["architecture"] = seg.arch
        if seg.info is not None:
            rec.notes["model"] = seg.info.usage_note()
        counts: dict[str, int] = {}
        for path in map(Path, inputs):
            with rec.timer("predict"):
                if is_slide_file(path):
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
        rec.metrics["n_nuclei_total"] = int(sum(counts.values()))
        rec.metrics["n_nuclei"] = counts
        rec.write()
        return RunResult(output_dir, rec.metrics, [output_dir / f for f in rec.files])

    def _predict_wsi(self, seg: NucleiSegmenter, path: Path, output_dir: Path, rec: RunRecorder) -> int:
        """Whole slide at the model's microns per pixel (``wsi_level: auto``) or at ``wsi_level``: blocks with
        seam merging -> GeoJSON + CSV in level-0 pixels."""
        from biomedai.io import open_wsi
        from biomedai.io.annotations import write_geojson
        from biomedai.io.wsi import ResampledSlide, level_for_mpp
        from biomedai.viz import save_png

        cfg = self.config
        annotations, rows_all = [], []
        with open_wsi(path) as slide:
            choice = level_for_mpp(slide, seg.info.training_mpp if seg.info is not None else None, cfg.wsi_level,
                                   setting="wsi_level")
            if choice.warning:
                logger.warning("%s: %s", path.name, choice.warning)
                rec.notes.setdefault("warnings", []).append(f"{path.name}: {choice.warning}")
            resampled = ResampledSlide(slide, choice)
            width, height = choice.width, choice.height
            ds = choice.downsample  # level-0 pixels per pixel the model sees
            full = np.zeros((height, width), np.uint32) if width * height <= cfg.max_whole_image_pixels else None
            picture = None

            def read(b: Any) -> np.ndarray:
                region = resampled.read_region((int(round(b.x0 * ds)), int(round(b.y0 * ds))), 0,
                                               (b.x1 - b.x0, b.y1 - b.y0))
                return np.asarray(region)[..., :3]

            next_id = 1
            claims = ClaimedPixels(width, cfg.block_size)  # a seam nucleus two blocks both own is kept once
            for b, labels in segment_in_blocks(read, seg.segment_small, (height, width), cfg.block_size,
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
        rec.notes.setdefault("wsi", {})[path.name] = {"level": choice.level, "downsample": ds,
                                                      "level_choice": choice.to_dict(),
                                                      "coordinates": "level-0 pixels",
                                                      "label_tiff_grid": "the pixels the model ran on (level-0 "
                                                                         "pixels / downsample)",
                                                      "label_tiff": full is not None}
        return len(rows_all)

    # ------------------------------------------------------------------------------------------ evaluate
    def evaluate(self, data: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        cfg: HanNetConfig = self.config
        weights = self.resolve_weights(weights)
        seg = NucleiSegmenter.from_weights(weights, cfg)
        split = cfg.split
        model_split = (seg.info.training_data.get("split_name") if seg.info is not None else None)
        if model_split and split == "default" and model_split != split:
            logger.info("evaluating on the %r split the model was trained with (its test tiles)", model_split)
            split = model_split
        tiles = load_tiles(data, cfg.eval_part, load_split_file(split))
        if not tiles:
            raise InvalidInputError(f"no tiles in the {cfg.eval_part!r} part of the split", data)
        rec = RunRecorder(Path(output_dir), self.name, "evaluate", seed=cfg.seed, config=cfg.to_dict())
        rec.add_inputs([data])
        rec.add_inputs([weights])
        with rec.timer("evaluate"):
            metrics, files = evaluate_tiles(seg.segment, tiles, Path(output_dir), f"{self.name} ({cfg.eval_part})")
        rec.metrics = {**metrics, "data": str(data), "part": cfg.eval_part, "split": split}
        if seg.info is not None:
            rec.notes["model"] = seg.info.usage_note()
        for f in files:
            rec.add_file(f)
        rec.notes["protocol"] = "see methods/nuclei_hannet/evaluation.py and README.md"
        rec.write()
        return RunResult(Path(output_dir), rec.metrics, files)

    # ------------------------------------------------------------------------------------------ demo
    def demo(self, output_dir: Path) -> RunResult:
        return run_demo(self, Path(output_dir))


def _write_labels_tiff(labels: np.ndarray, path: Path) -> Path:
    from biomedai.io import write_image

    labels = labels.astype(np.uint16) if labels.max(initial=0) < 65536 else labels.astype(np.uint32)
    return write_image(labels, path)
