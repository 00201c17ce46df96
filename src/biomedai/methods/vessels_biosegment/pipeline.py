"""The registered method: ``biomedai train|predict|evaluate vessels_biosegment``."""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.methods.base import Method, RealSample, RunResult
from biomedai.methods.registry import register
from biomedai.provenance import RunRecorder
from biomedai.utils import lazy_import, write_csv_atomic, write_json_atomic
from biomedai.viz import save_png

from .aggregate import per_sample_and_group, sample_and_group
from .compare import agreement_summary, cross_validation_table
from .config import VesselsConfig
from .corrections import correction_items, save_correction
from .datasets import IMAGE_SUFFIXES, find_cases
from .imaging import load_vessel_image
from .polylines import polylines_from_dict, write_polylines
from .report import density_bar_chart, write_html_report
from .input_check import vessel_input_problem

if TYPE_CHECKING:
    from .analysis import ImageAnalysis, VesselModels

# torch: imported on first use, so that discovering the method stays light
image_analysis = lazy_import(".analysis", __package__)
evaluation = lazy_import(".evaluation", __package__)
training = lazy_import(".training", __package__)
detector_training = lazy_import(".detector_training", __package__)

logger = logging.getLogger(__name__)

_MEASURES = ("total_length", "length_density", "vessel_area_fraction", "junctions", "end_points", "branches",
             "mean_branch_length", "tortuosity", "lacunarity")


@register
class VesselsBioSegmentMethod(Method):
    name = "vessels_biosegment"
    title = "BioSegment: vessel length density by detection and linking, next to U-Net segmentation"
    modality = "microscopy / fundus"
    task = "vessel length density"
    paper = "Strobel et al., BioSegment (spec pathology.md section 4)"
    config_class = VesselsConfig
    input_kinds = ("image/grey", "image/rgb", "volume/zstack")
    tools_module = "tools"
    annotation_kind = "polylines"
    default_model = "default"

    # ------------------------------------------------------------------ models
    # ------------------------------------------------------------------ correction loop
    def editable_annotations(self, result_dir: Path) -> list[dict[str, str]]:
        """The ``NAME_polylines.json`` files of a predict result, each with the input image it was drawn on."""
        try:
            recorded = json.loads((Path(result_dir) / "result.json").read_text(encoding="utf-8"))
            inputs = [Path(i["path"]).name for i in recorded["provenance"]["inputs"]]
        except (OSError, ValueError, TypeError, KeyError):
            return []
        return correction_items(result_dir, inputs)

    def check_annotation(self, data: Any, source: str) -> dict[str, Any]:
        return polylines_from_dict(data, source).to_dict()

    def save_correction(self, folder: Path, image: Path, annotation: dict[str, Any]) -> Path:
        return save_correction(folder, image, annotation)

    def _model_folders(self, weights: Path | None) -> tuple[Path | None, Path | None]:
        """(segmentation folder, detector folder): a trained output folder holds model/ and detector/."""
        from biomedai.train.model_folder import default_model_folder

        if weights is not None and (Path(weights) / "model").is_dir():
            det = Path(weights) / "detector"
            return Path(weights) / "model", det if det.is_dir() else None
        seg = self.resolve_weights(weights)
        return seg, default_model_folder(self.name, "detector")

    def models(self, weights: Path | None = None) -> VesselModels:
        seg, det = self._model_folders(weights)
        return image_analysis.load_models(seg, det, self.config)

    # ------------------------------------------------------------------ train
    def train(self, data: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        cfg: VesselsConfig = self.config  # type: ignore[assignment]
        output_dir = Path(output_dir)
        root = Path(data) / "training" if (Path(data) / "training").is_dir() else Path(data)
        train, val = training.split_training_validation(find_cases(root))
        rec = RunRecorder(output_dir, self.name, "train", seed=cfg.seed, config=cfg.to_dict())
        rec.add_inputs([root])
        with rec.timer("segmentation"):
            seg = training.train_segmentation(train, val, cfg, output_dir / "unet_run")
            training.save_trained_model(output_dir / "model", seg, cfg, f"{root} (training split)", half=False)
        with rec.timer("detector"):
            train_dc = [detector_training.detector_case(training.prepare_case(c, cfg), cfg) for c in train]
            val_dc = [detector_training.detector_case(training.prepare_case(c, cfg), cfg) for c in val]
            det = detector_training.train_detector(
                train_dc, val_dc, cfg, output_dir / "detector_run", minutes=cfg.detector_minutes,
                epochs=cfg.detector_epochs, steps_per_epoch=cfg.detector_steps_per_epoch, width=cfg.detector_width)
            detector_training.save_detector_model(
                output_dir / "detector", det, cfg, [c.case_id for c in train], [c.case_id for c in val],
                f"{root} (training split)", half=False)
        rec.metrics = {"val_dice": seg["val_dice"], "threshold": seg["threshold"],
                       "detector_val_length_percent_error": det["result"].best_metric,
                       "validation_images": [c.case_id for c in val]}
        rec.add_file(output_dir / "model")
        rec.add_file(output_dir / "detector")
        rec.write()
        return RunResult(output_dir, rec.metrics, [output_dir / "model", output_dir / "detector"])

    # ------------------------------------------------------------------ predict
    def check_input(self, path: Path) -> str | None:
        """Why this method cannot read ``path``, or None (fundus or fluorescence; input_check.py)."""
        return vessel_input_problem(Path(path))

    def predict(self, inputs: Sequence[Path], output_dir: Path, weights: Path | None = None) -> RunResult:
        cfg: VesselsConfig = self.config  # type: ignore[assignment]
        output_dir = Path(output_dir)
        files = _input_files(inputs)
        models = self.models(weights)
        rec = RunRecorder(output_dir, self.name, "predict", seed=cfg.seed, config=cfg.to_dict())
        rec.add_inputs(files)
        rows, timing, overlays, notes = [], [], [], list(models.notes)
        for path, (sample, group) in zip(files, sample_and_group(files)):
            start = time.perf_counter()
            image = load_vessel_image(path, channel=cfg.channel, pixel_size_um=cfg.pixel_size_um)
            analysis = image_analysis.analyse_image(image, models, cfg)
            rows.append(_image_row(analysis, sample, group))
            overlays.append(_write_image_outputs(analysis, output_dir, rec))
            timing.append({"image": path.name, **{f"{k}_s": round(v, 4) for k, v in analysis.seconds.items()},
                           "total_s": round(time.perf_counter() - start, 4)})
            notes += [f"{path.name}: {n}" for n in image.notes]
        result = _write_tables(rows, timing, output_dir, rec)
        unit = rows[0]["density_unit"] if rows else ""
        chart = density_bar_chart(result["groups"], output_dir / "length_density_by_group.png", unit)
        rec.add_file(chart)
        rec.metrics = {"n_images": len(rows), "density_unit": unit,
                       "mean_seg_length_density": float(np.nanmean([r["seg_length_density"] for r in rows])),
                       "mean_det_length_density": float(np.nanmean([r.get("det_length_density", np.nan)
                                                                    for r in rows])),
                       "seconds_per_image": float(np.mean([t["total_s"] for t in timing]))}
        rec.notes = {"models": models.notes, "inputs": notes}
        report = write_html_report(output_dir, title=self.title, headline=[rec.metrics], per_image=rows,
                                   per_group=result["groups"], chart=chart, overlays=overlays, notes=notes)
        rec.add_file(report)
        rec.write()
        return RunResult(output_dir, rec.metrics, [output_dir / f for f in rec.files])

    # ------------------------------------------------------------------ evaluate
    def evaluate(self, data: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        cfg: VesselsConfig = self.config  # type: ignore[assignment]
        data, output_dir = Path(data), Path(output_dir)
        test_root = data / "test" if (data / "test").is_dir() else data
        cases = find_cases(test_root)
        models = self.models(weights)
        rec = RunRecorder(output_dir, self.name, "evaluate", seed=cfg.seed, config=cfg.to_dict())
        rec.add_inputs([test_root])
        threshold, notes = cfg.baseline_threshold, list(models.notes)
        if threshold is None and (data / "training").is_dir():
            with rec.timer("baseline_threshold_on_training"):
                threshold, train_dice = evaluation.choose_baseline_threshold(find_cases(data / "training"), cfg)
            notes.append(f"{cfg.baseline} threshold {threshold:.2f} chosen on {data / 'training'} "
                         f"(pooled training Dice {train_dice:.3f})")
        elif threshold is None:
            notes.append("no training/ folder and no baseline_threshold: the classical baseline was not run")
        rows = []
        for case in cases:
            image = load_vessel_image(case.image, channel=cfg.channel, pixel_size_um=cfg.pixel_size_um,
                                      fov_mask=case.fov)
            analysis = image_analysis.analyse_image(image, models, cfg, baseline_threshold=threshold)
            rows.append(evaluation.score_case(case, analysis, threshold))
            _write_image_outputs(analysis, output_dir, rec)
        rec.metrics = evaluation_summary(rows, cfg, str(test_root))
        rec.metrics["baseline_threshold"] = threshold
        rec.metrics["models"] = models.notes
        if models.decoding is not None:
            rec.metrics["detector_decoding"] = models.decoding.to_preprocessing()
        write_csv_atomic(output_dir / "per_image_scores.csv", rows)
        rec.add_file(output_dir / "per_image_scores.csv")
        rec.notes = {"notes": notes}
        report = write_html_report(output_dir, title=self.title + " (evaluation)",
                                   headline=[{k: v for k, v in rec.metrics.items() if not isinstance(v, (dict, list))}],
                                   per_image=rows, per_group=[], chart=None, overlays=[], notes=notes,
                                   extra_tables={"Percent error of length density (Tables 1-2 layout)":
                                                 rec.metrics.get("table", [])})
        rec.add_file(report)
        rec.write()
        return RunResult(output_dir, rec.metrics, [output_dir / f for f in rec.files])

    # ------------------------------------------------------------------ real samples (the demo's gallery)
    def real_samples(self, data_root: Path) -> list[RealSample]:
        """The first DRIVE test image present (``vessels/drive/test`` of the shared data; not used in training)."""
        test = Path(data_root) / "vessels" / "drive" / "test"
        images = sorted((test / "images").glob("*_test.png")) if (test / "images").is_dir() else []
        for image in images:
            number = image.name.split("_")[0]
            truth = test / "1st_manual" / f"{number}_manual1.png"
            if truth.is_file():
                return [RealSample((image,), f"DRIVE test image {number} (third-party copy)",
                                   "DRIVE: research use only after registration, no redistribution",
                                   non_commercial=True, ground_truth=truth)]
        return []

    def score_real_sample(self, sample: RealSample, result: RunResult) -> dict[str, Any]:
        """Dice and sensitivity of the vessel mask against the first observer's, inside the field of view."""
        from biomedai.io import read_image
        from biomedai.metrics import dice

        stem = Path(sample.inputs[0]).stem
        predicted = np.asarray(read_image(Path(result.output_dir) / f"{stem}_vessels.png").array) > 0
        truth = np.asarray(read_image(sample.ground_truth).array) > 0
        fov_path = Path(sample.ground_truth).parent.parent / "mask" / f"{stem}_mask.png"
        fov = np.asarray(read_image(fov_path).array) > 0 if fov_path.is_file() else np.ones_like(truth)
        predicted, truth = predicted[fov], truth[fov]
        return {"dice_in_fov": float(dice(truth, predicted)),
                "sensitivity_in_fov": float((predicted & truth).sum() / max(truth.sum(), 1))}


def evaluation_summary(rows: Sequence[dict[str, Any]], cfg: VesselsConfig, data_name: str) -> dict[str, Any]:
    """Means of the per-image scores of each path, agreement with the manual length densities, Tables 1-2."""
    summary: dict[str, Any] = {"data": data_name, "n_images": len(rows)}
    keys = sorted({k for r in rows for k in r if isinstance(r[k], (int, float)) and k != "case"})
    for k in keys:
        v = np.array([r.get(k, np.nan) for r in rows], float)
        summary[f"mean_{k}"] = float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
    manual = [r["manual_length_density"] for r in rows]
    table = {}
    for prefix in ("seg", "det", "base"):
        key = f"{prefix}_length_density"
        if all(key in r for r in rows):
            summary[f"{prefix}_agreement"] = agreement_summary(manual, [r[key] for r in rows], cfg.na_percent_error)
            table[prefix] = {"holdout": summary[f"{prefix}_agreement"]["percent_error"]}
    # one fold (the data's fixed split) per path; the evaluated images are the holdout partition
    summary["table"] = []
    for path, parts in table.items():
        row = cross_validation_table({path: parts}, ("holdout",))[0]
        summary["table"].append({"path": path, "holdout": row["holdout"]})
    return summary


def _input_files(inputs: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for item in inputs:
        item = Path(item)
        if item.is_dir():
            files += sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        elif item.is_file():
            files.append(item)
        else:
            raise InvalidInputError("no such file or folder", item)
    if not files:
        raise InvalidInputError("no image files found in the inputs", ", ".join(str(i) for i in inputs))
    return files


def _image_row(analysis: ImageAnalysis, sample: str, group: str) -> dict[str, Any]:
    image = analysis.image
    row: dict[str, Any] = {"image": image.path.name, "sample": sample, "group": group,
                           "pixel_size_um": image.pixel_size_um, "pixel_size_source": image.pixel_size_source,
                           "length_unit": analysis.seg_measures["length_unit"],
                           "density_unit": analysis.seg_measures["density_unit"]}
    row.update({f"seg_{k}": analysis.seg_measures[k] for k in _MEASURES})
    if analysis.detector_measures:
        row.update({f"det_{k}": analysis.detector_measures[k] for k in ("total_length", "length_density",
                                                                        "polylines")})
        row.update({f"det_{k}": v for k, v in analysis.link_counts.items()})
    return row


def _write_image_outputs(analysis: ImageAnalysis, output_dir: Path, rec: RunRecorder) -> tuple[str, str]:
    stem = analysis.image.path.stem
    overlay = rec.add_file(save_png(image_analysis.overlay_picture(analysis), output_dir / f"{stem}_overlay.png"))
    rec.add_file(save_png((analysis.mask * 255).astype(np.uint8), output_dir / f"{stem}_vessels.png"))
    if analysis.polylines is not None:
        rec.add_file(write_polylines(analysis.polylines, output_dir / f"{stem}_polylines.json"))
    return overlay.name, stem


def _write_tables(rows: list[dict[str, Any]], timing: list[dict[str, Any]], output_dir: Path,
                  rec: RunRecorder) -> dict[str, Any]:
    values = [k for k in ("seg_length_density", "det_length_density", "seg_total_length", "det_total_length",
                          "seg_vessel_area_fraction", "seg_junctions") if rows and k in rows[0]]
    samples, groups = per_sample_and_group(rows, values)
    for name, table in (("per_image.csv", rows), ("per_sample.csv", samples), ("per_group.csv", groups),
                        ("timing.csv", timing)):
        rec.add_file(write_csv_atomic(output_dir / name, table))
    write_json_atomic(output_dir / "per_group.json", groups)
    return {"samples": samples, "groups": groups}

