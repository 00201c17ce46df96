"""The ``virtual_ihc`` method: synthetic Ki-67 IHC from H&E (Xu et al. 2020), counted by the Ki-67 quantifier.

* ``predict he.png|slide.svs ...`` - (classify tiles ->) generate -> stitch: a full-size synthetic Ki-67 PNG (a
  pyramidal tiled TIFF for slides, generated tile by tile on tissue only, ``slide.py``), the figure H&E |
  synthetic Ki-67 (| real Ki-67 when ``real_ihc`` is set), positive-cell ratios in CSV and result.json, and
  with a MIL classifier (the model's or ``mil_model``) the per-tile tumour-probability heat map and CSV.
* ``evaluate FOLDER`` - a DeepLIIF-style folder (``train/*.png`` six-panel images): the generator on the
  haematoxylin panel scored against the registered IHC and its nucleus mask; or ``he/`` + ``ihc/`` folders with
  matching names: synthetic vs real positive ratios.
* ``train FOLDER`` - ``--set model=positivity|pix2pix|cyclegan|conditional_cyclegan|mil`` (``recipes``):
  a model folder ``predict`` loads (a MIL folder gives the per-tile tumour-probability heat map).
* ``demo`` - predict on a SIMULATED H&E image.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError, WeightsError
from biomedai.methods.base import Method, RunResult
from biomedai.methods.registry import register
from biomedai.train.model_folder import training_mpp_of
from biomedai.utils import lazy_import, write_csv_atomic

from .config import VirtualIHCConfig
from .input_check import check_he_input, he_input_problem
from .realdata import IMAGE_SUFFIXES, paired_panels, read_rgb
from .report import probability_heatmap, side_by_side_figure
from .simulate import simulate_set
from .stitch import tile_probability_rows

inference = lazy_import(".inference", __package__)  # torch: imported on first use
slides = lazy_import(".slide", __package__)
mil_model = lazy_import(".mil_model", __package__)
model_io = lazy_import(".model_io", __package__)
quantify = lazy_import(".quantify", __package__)
evaluation = lazy_import(".evaluation", __package__)
training = lazy_import(".training", __package__)
recipes = lazy_import(".recipes", __package__)
cyclegan = lazy_import(".cyclegan", __package__)

logger = logging.getLogger(__name__)


@register
class VirtualIHCMethod(Method):
    name = "virtual_ihc"
    title = "Virtual Ki-67 IHC from H&E (conditional CycleGAN + MIL)"
    modality = "histopathology (H&E -> Ki-67 IHC)"
    task = "image-to-image translation; positive-cell ratio of the synthetic IHC"
    paper = ("Xu et al. 2020, Effective Immunohistochemistry Pathology Microscopy Image Generation Using CycleGAN, "
             "Front. Mol. Biosci. 7:571180")
    config_class = VirtualIHCConfig
    input_kinds = ("image/rgb", "wsi")
    #: positivity-aware pix2pix trained on the DeepLIIF haematoxylin/IHC panels (non-commercial terms, README)
    default_model = "default"
    tools_module = "tools"
    headline_metrics = ("synthetic_positive_ratio", "real_positive_ratio", "n_images")

    def _recorder(self, output_dir: Path, action: str) -> Any:
        from biomedai.provenance import RunRecorder

        return RunRecorder(Path(output_dir), self.name, action, seed=self.config.seed, config=self.config.to_dict())

    def _load(self, weights: Path | None) -> tuple[Any, Any, Path]:
        folder = self.resolve_weights(weights)
        if folder is None:
            raise WeightsError("virtual_ihc needs a trained generator: pass --weights MODEL_FOLDER (from "
                               "'biomedai train virtual_ihc'); the bundled default model is missing")
        # the overlap is checked against the model's own tile size (check_tile_settings, naming the input)
        model, info = model_io.load_virtual_ihc(Path(folder), self.config.replace(tile_overlap=0))
        return model, info, Path(folder)

    # ------------------------------------------------------------------------------------- predict
    def check_input(self, path: Path) -> str | None:
        """Why this method cannot read ``path``, or None (an RGB H&E image or slide with tissue; input_check.py)."""
        return he_input_problem(Path(path), self.config)

    def predict(self, inputs: Sequence[Path], output_dir: Path, weights: Path | None = None) -> RunResult:
        """Images and whole slides; every input (and ``real_ihc``) is read and checked before anything is written."""
        output_dir = Path(output_dir)
        inputs = [Path(p) for p in inputs]
        if not inputs:
            raise InvalidInputError("no input images given")
        cfg = self.config
        checked = []  # (path, rgb array or slide.SlideInput, warnings)
        target_mpp = training_mpp_of(self.resolve_weights(weights))  # slides are read at the model's microns per pixel
        for p in inputs:
            if slides.is_slide_input(p, cfg):
                s_in = slides.inspect_slide(p, cfg, target_mpp=target_mpp)
                checked.append((p, s_in, s_in.warnings))
            else:
                rgb = read_rgb(p)
                checked.append((p, rgb, check_he_input(rgb, cfg, p)))
        real: Any = None
        if cfg.real_ihc:
            if len(inputs) != 1:
                raise InvalidInputError("real_ihc pairs with exactly one H&E input")
            real_path = Path(cfg.real_ihc)
            real = slides.inspect_slide(real_path, cfg, he=False, target_mpp=target_mpp) \
                if slides.is_slide_input(real_path, cfg) \
                else read_rgb(real_path)
        model, info, folder = self._load(weights)
        classifier, mil_size, mil_note = self._mil_classifier(model)
        for p, item, _ in checked:
            inference.check_tile_settings(model, cfg, p)
            if isinstance(item, slides.SlideInput):
                slides.check_slide_size(item, model.config.tile_size)
        rec = self._recorder(output_dir, "predict")
        rec.add_inputs(inputs + ([Path(cfg.real_ihc)] if real is not None else []))
        rec.notes["model"] = {"folder": str(folder), "usage": info.usage_note(), "mode": info.extra.get("mode", "")}
        if mil_note:
            rec.notes["mil_model"] = mil_note
        if model.config.condition != "none" and classifier is None and model.classifier is None:
            self._warn(rec, "model", "a conditional generator without a MIL classifier: every tile is conditioned "
                                     "as normal (0); give one with --set mil_model=FOLDER")
        device = model_io.resolve_device(cfg.device)
        rows = []
        with rec.timer("predict"):
            if isinstance(real, slides.SlideInput):  # counted at the model's resolution too: say how it was read
                for w in real.warnings:
                    self._warn(rec, real.path.name, w)
                rec.notes.setdefault("slide_level", {})[real.path.name] = real.choice.to_dict()
            for path, item, warnings in checked:
                for w in warnings:
                    self._warn(rec, path.name, w)
                mil = (classifier, mil_size)
                if isinstance(item, slides.SlideInput):
                    rows.append(self._predict_slide(model, item, real, output_dir, rec, device, mil))
                else:
                    rows.append(self._predict_one(model, path, item, real, output_dir, rec, device, mil))
        rec.add_file(write_csv_atomic(output_dir / "positive_ratios.csv", rows))
        rec.metrics = {"n_images": len(rows), "images": rows,
                       "synthetic_positive_ratio": _pooled(rows, "synthetic"),
                       "real_positive_ratio": _pooled(rows, "real") if real is not None else None,
                       "counted_by": "biomedai.methods.ki67.ihc.quantify_ihc (nucleus_diameter_px="
                                     f"{model.config.nucleus_diameter_px})"}
        rec.write()
        return RunResult(output_dir, rec.metrics, [output_dir / f for f in rec.files])

    @staticmethod
    def _warn(rec: Any, name: str, text: str) -> None:
        logger.warning("%s: %s", name, text)
        rec.notes.setdefault("warnings", []).append(f"{name}: {text}")

    def _mil_classifier(self, model: Any) -> tuple[Any, int | None, dict[str, Any] | None]:
        """The MIL classifier of ``mil_model`` (None: the model's own, if any), its input size and a note."""
        if not self.config.mil_model:
            return None, None, None
        folder = Path(self.config.mil_model)
        classifier, size, info = mil_model.load_mil_classifier(folder)
        role = "heat map and condition" if model.config.condition != "none" else \
            "heat map only (the generator takes no condition)"
        return classifier, size, {"folder": str(folder), "usage": info.usage_note(), "role": role}

    def _predict_one(self, model: Any, path: Path, rgb: np.ndarray, real: Any, output_dir: Path,
                     rec: Any, device: Any, mil: tuple[Any, int | None]) -> dict[str, Any]:
        from biomedai.viz import save_png

        result = inference.translate_he(model, rgb, self.config, device, classifier=mil[0], mil_input_size=mil[1])
        stem = path.stem
        rec.add_file(save_png(result.synthetic, output_dir / f"{stem}_synthetic_ki67.png"))
        nucleus = model.config.nucleus_diameter_px
        synth_q = quantify.positive_ratio(result.synthetic, nucleus)
        real_q, real_view = self._real_counts(real, nucleus)
        if np.isfinite(result.tile_probabilities).any():
            rec.add_file(save_png(probability_heatmap(result.tile_probabilities),
                                  output_dir / f"{stem}_tumour_probability.png"))
            tiles = tile_probability_rows(rgb.shape[:2], model.config.tile_size, self.config.tile_overlap,
                                          result.tile_probabilities)
            rec.add_file(write_csv_atomic(output_dir / f"{stem}_tiles.csv", tiles))
        rec.add_file(side_by_side_figure(output_dir / f"{stem}_side_by_side.png", rgb, result.synthetic, real_view,
                                         synth_q["ratio"], real_q["ratio"] if real_q else None,
                                         "synthetic image from a trained generator; research use only"))
        row = {"image": path.name, "kind": "image", "synthetic_n_cells": synth_q["n_cells"],
               "synthetic_n_positive": synth_q["n_positive"], "synthetic_ratio": synth_q["ratio"]}
        if real_q is not None:
            row.update(real_n_cells=real_q["n_cells"], real_n_positive=real_q["n_positive"], real_ratio=real_q["ratio"])
        probs = result.tile_probabilities[np.isfinite(result.tile_probabilities)]
        row["tumour_tiles"] = int((probs >= 0.5).sum()) if probs.size else None
        return row

    def _real_counts(self, real: Any, nucleus: float) -> tuple[dict[str, Any] | None, np.ndarray | None]:
        """Counts of the real Ki-67 (an image, or a slide counted block by block) and the picture for the figure."""
        if real is None:
            return None, None
        if isinstance(real, slides.SlideInput):
            counts = slides.count_positive_cells(real.path, nucleus, self.config.slide_count_block,
                                                 mask=real.mask, choice=real.choice)
            return counts, real.thumbnail
        return quantify.positive_ratio(real, nucleus), real

    def _predict_slide(self, model: Any, s_in: Any, real: Any, output_dir: Path, rec: Any, device: Any,
                       mil: tuple[Any, int | None]) -> dict[str, Any]:
        from biomedai.viz import save_png

        stem = s_in.path.stem
        out = output_dir / f"{stem}_synthetic_ki67.tif"
        output_dir.mkdir(parents=True, exist_ok=True)
        logger.info("%s: level %d, %d x %d px; generating %d px tiles", s_in.path.name, s_in.level, s_in.width,
                    s_in.height, model.config.tile_size)
        result = slides.translate_slide(model, s_in, out, self.config, device, classifier=mil[0],
                                        mil_input_size=mil[1])
        rec.add_file(out)
        rec.notes.setdefault("slide_level", {})[s_in.path.name] = s_in.choice.to_dict()
        nucleus = model.config.nucleus_diameter_px
        synth_q = slides.count_positive_cells(out, nucleus, self.config.slide_count_block, 0, s_in.mask)
        real_q, real_view = self._real_counts(real, nucleus)
        rec.add_file(write_csv_atomic(output_dir / f"{stem}_tiles.csv", result.tile_rows,
                                      columns=["row", "col", "x", "y", "width", "height", "x_level0", "y_level0",
                                               "tissue_fraction", "p_tumour"]))
        if np.isfinite(result.probabilities).any():
            scale = max(1, min(8, 1024 // max(result.probabilities.shape)))
            rec.add_file(save_png(probability_heatmap(result.probabilities, scale=scale),
                                  output_dir / f"{stem}_tumour_probability.png"))
        thumb = slides.slide_thumbnail(out, self.config.slide_thumbnail_px)
        rec.add_file(side_by_side_figure(output_dir / f"{stem}_side_by_side.png", s_in.thumbnail, thumb, real_view,
                                         synth_q["ratio"], real_q["ratio"] if real_q else None,
                                         "whole slide at thumbnail scale; synthetic image from a trained generator; "
                                         "research use only"))
        probs = np.array([r["p_tumour"] for r in result.tile_rows if r["p_tumour"] is not None], float)
        row = {"image": s_in.path.name, "kind": "slide", "level": s_in.level, "width": s_in.width,
               "height": s_in.height, "mpp": s_in.mpp[0] if s_in.mpp else None,
               "tiles_total": result.tiles_total, "tiles_run": result.tiles_run, "seconds": round(result.seconds, 1),
               "synthetic_n_cells": synth_q["n_cells"], "synthetic_n_positive": synth_q["n_positive"],
               "synthetic_ratio": synth_q["ratio"]}
        if real_q is not None:
            row.update(real_n_cells=real_q["n_cells"], real_n_positive=real_q["n_positive"], real_ratio=real_q["ratio"])
        row["tumour_tiles"] = int((probs >= 0.5).sum()) if probs.size else None
        return row

    # ------------------------------------------------------------------------------------- evaluate
    def evaluate(self, data: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        data, output_dir = Path(data), Path(output_dir)
        if not data.is_dir():
            raise InvalidInputError("evaluate needs a folder (DeepLIIF-style train/*.png, or he/ + ihc/)", data)
        model, info, folder = self._load(weights)
        rec = self._recorder(output_dir, "evaluate")
        rec.add_inputs([data])
        rec.notes["model"] = {"folder": str(folder), "usage": info.usage_note()}
        device = model_io.resolve_device(self.config.device)
        with rec.timer("evaluate"):
            rows = self._paired_rows(model, data, device) if (data / "train").is_dir() else \
                self._ratio_rows(model, data, device)
        rec.add_file(write_csv_atomic(output_dir / "evaluation.csv", rows))
        ratio_err = [abs(r["synthetic_ratio"] - r["real_ratio"]) for r in rows
                     if r.get("synthetic_ratio") is not None and r.get("real_ratio") is not None]
        rec.metrics = {"data": str(data), "n_images": len(rows), "rows": rows,
                       "mean_abs_ratio_error": float(np.mean(ratio_err)) if ratio_err else None}
        for key in ("accuracy", "ssim", "psnr"):
            vals = [r[key] for r in rows if r.get(key) is not None]
            if vals:
                rec.metrics[f"mean_{key}"] = float(np.mean(vals))
        rec.write()
        return RunResult(output_dir, rec.metrics, [output_dir / f for f in rec.files])

    def _paired_rows(self, model: Any, data: Path, device: Any) -> list[dict[str, Any]]:
        """DeepLIIF six-panel images: the haematoxylin panel in, scored against the registered IHC and mask."""
        rows = []
        for tile in paired_panels(data):
            synth = inference.translate_he(model, tile.hematoxylin, self.config, device).synthetic
            s = evaluation.score_generated(synth, tile.ihc, tile.seg, model.config.nucleus_diameter_px)
            real_q = quantify.positive_ratio(tile.ihc, model.config.nucleus_diameter_px)
            rows.append({"image": tile.name, "input": "haematoxylin panel", **s,
                         "synthetic_ratio": s["quantifier_ratio"], "real_ratio": real_q["ratio"]})
        return rows

    def _ratio_rows(self, model: Any, data: Path, device: Any) -> list[dict[str, Any]]:
        he_dir, ihc_dir = data / "he", data / "ihc"
        if not he_dir.is_dir():
            raise InvalidInputError("no train/ (DeepLIIF) and no he/ folder", data)
        rows = []
        for path in sorted(p for p in he_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            rgb = read_rgb(path)
            synth = inference.translate_he(model, rgb, self.config, device).synthetic
            q = quantify.positive_ratio(synth, model.config.nucleus_diameter_px)
            row: dict[str, Any] = {"image": path.name, "synthetic_ratio": q["ratio"], "synthetic_n_cells": q["n_cells"]}
            match = [p for p in ihc_dir.glob(path.stem + ".*") if p.suffix.lower() in IMAGE_SUFFIXES] \
                if ihc_dir.is_dir() else []
            if match:
                r = quantify.positive_ratio(read_rgb(match[0]), model.config.nucleus_diameter_px)
                row.update(real_ratio=r["ratio"], real_n_cells=r["n_cells"])
            rows.append(row)
        if not rows:
            raise InvalidInputError("no images in he/", data)
        return rows

    # ------------------------------------------------------------------------------------- train
    def train(self, data: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        """Train ``config.model`` on ``data`` (``recipes``: positivity | pix2pix on DeepLIIF-style panels,
        cyclegan | conditional_cyclegan on ``he/`` + ``ihc/``, mil on labelled bags) into ``OUTPUT/model``."""
        data, output_dir = Path(data), Path(output_dir)
        if not data.is_dir():
            raise InvalidInputError("train needs a data folder (layout: README 'Train')", data)
        rec = self._recorder(output_dir, "train")
        rec.add_inputs([data])
        with rec.timer("train"):
            folder, metrics = recipes.train_model_kind(self.config, data, output_dir)
        rec.add_file(folder / "weights.pt")
        rec.notes["model_folder"] = str(folder)
        rec.metrics = {"model": self.config.model, **metrics}
        rec.write()
        return RunResult(output_dir, rec.metrics, [output_dir / f for f in rec.files])

    # ------------------------------------------------------------------------------------- demo
    @classmethod
    def example_inputs(cls, folder: Path) -> list[Path]:
        """A SIMULATED 256 x 256 H&E image (tumour tiles left, normal right)."""
        from biomedai.viz import save_png

        pairs = simulate_set(16, seed=7)
        rows = [np.concatenate([p.he for p in pairs[r * 4:(r + 1) * 4]], axis=1) for r in range(4)]
        return [save_png(np.concatenate(rows, axis=0), Path(folder) / "simulated_he.png")]

    def demo(self, output_dir: Path) -> RunResult:
        """SIMULATED end to end: a small plain CycleGAN trained for a few steps on simulated unpaired tiles
        (no bundled model ships, see README), then ``predict`` on a simulated H&E image."""
        output_dir = Path(output_dir)
        cfg = self.config.replace(tile_size=64, tile_overlap=16, gen_width=8, gen_res_blocks=1, disc_width=8,
                                  condition="none", gan_loss="lsgan", lr=2e-4, epochs=4, decay_epochs=2,
                                  batch_size=4, steps_per_epoch=10, nucleus_diameter_px=8.0)
        he = np.stack([p.he for p in simulate_set(64, seed=cfg.seed + 1)])
        ihc = np.stack([p.ihc for p in simulate_set(64, seed=cfg.seed + 2)])
        threads = model_io.torch.get_num_threads()
        model_io.torch.set_num_threads(1)  # a tiny network: one thread is fastest, and on a busy machine much faster
        try:
            gan = cyclegan.CycleGAN(cfg)
            result = training.train_cyclegan(gan, he[:-8], ihc[:-8], None, None, he[-8:], ihc[-8:])
        finally:
            model_io.torch.set_num_threads(threads)
        model = model_io.VirtualIHCModel(cfg, with_classifier=False)
        model.generator.load_state_dict(gan.G.state_dict())
        from biomedai.train.model_folder import ModelInfo

        info = ModelInfo(method=self.name, name="demo", simulated=True,
                         training_data={"name": "SIMULATED tiles (biomedai.methods.virtual_ihc.simulate)"},
                         metrics={"best_val_cycle_l1": result.best_score}, metrics_data="8 simulated tiles per domain",
                         extra={"mode": f"demo: plain CycleGAN, {result.steps} steps on SIMULATED tiles"})
        folder = model_io.save_virtual_ihc(output_dir / "demo_model", model, info)
        inputs = self.example_inputs(output_dir / "input")
        out = VirtualIHCMethod(self.config.replace(device="cpu")).predict(inputs, output_dir, weights=folder)
        import json

        from biomedai.utils import write_json_atomic

        data = json.loads((output_dir / "result.json").read_text(encoding="utf-8"))
        data["action"] = "demo"
        data["notes"]["demo"] = (f"SIMULATED input and a demo generator trained for {result.steps} steps on SIMULATED "
                                 "tiles: shows the pipeline (tiles -> generator -> tent-blended stitching -> Ki-67 "
                                 "quantifier), the numbers are not a result")
        write_json_atomic(output_dir / "result.json", data)
        return out


def _pooled(rows: list[dict[str, Any]], prefix: str) -> float | None:
    n = sum(int(r.get(f"{prefix}_n_cells") or 0) for r in rows)
    pos = sum(int(r.get(f"{prefix}_n_positive") or 0) for r in rows)
    return pos / n if n else None
