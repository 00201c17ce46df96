"""The Deetal-Perio method (Li et al. 2021): tooth segmentation and FDI numbering with two Mask R-CNNs and the
numbering calibration; the bone-loss and staging half lives in ``abl``/``bone``/``staging``."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from biomedai.errors import InvalidInputError, WeightsError
from biomedai.methods.base import Method, RealSample, RunResult
from biomedai.methods.registry import register
from biomedai.utils import lazy_import

from .abl import abl_vector, measure_abl
from .bone import load_bone_model, segment_bone
from .config import DentalPerioConfig
from .data import UFBADataset, read_panoramic, split_ids, write_coco_json
from .demo import run_demo
from .inference import (
    PAIR_TASKS,
    TOOTH_COLUMNS,
    TeethModels,
    image_warnings,
    pair_weights,
    save_pair_folder,
    tooth_rows,
)
from .input_check import panoramic_input_problem
from .numbering import numbering_accuracy, table1_metrics
from .overlay import save_numbered_overlay
from .report import abl_rows, write_patient_report
from .staging import STAGES, StagingModel

training = lazy_import(".training", __package__)  # torch: imported on first use

logger = logging.getLogger(__name__)

#: Table 1 of the paper (spec 4.7): mAP, Dice(all), Dice(single) per set
PAPER_TABLE1 = {
    "binary + calibration (Deetal-Perio)": {"suzhou": (0.863, 0.892, 0.809), "zhongshan": (0.927, 0.903, 0.819)},
    "multi-class Mask R-CNN": {"suzhou": (0.834, 0.830, 0.781), "zhongshan": (0.881, 0.869, 0.801)},
}
# --------------------------------------------------------------------------------------------- the method
@register
class DentalPerio(Method):
    """Li et al. 2021 (Deetal-Perio): teeth segmentation and FDI numbering (two Mask R-CNNs + calibration)."""

    name = "dental_perio"
    title = "Deetal-Perio: teeth numbering and periodontitis staging on panoramic X-rays (Li et al. 2021)"
    modality = "X-ray (dental panoramic)"
    task = "tooth instance segmentation, FDI numbering, alveolar bone loss, periodontitis stage"
    paper = "Li et al. (2021), Deetal-Perio: periodontitis severity from dental panoramic radiographs"
    config_class = DentalPerioConfig
    needs_weights = True  # predict on an image runs the trained model
    input_kinds = ("image/grey", "dicom/PX", "dicom/DX")
    tools_module = "tools"
    #: the bundled FDI U-Net (models/default, trained on UFBA films: research use only, non-commercial)
    default_model = "default"

    # ----------------------------------------------------------------------------------- train
    def train(self, data: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        """Train the binary and the 32-class model on ``data`` (``images/`` + ``labels/`` FDI label maps);
        the UFBA training part of the fixed split when ``data`` is that set, else every image. ``weights``: a
        previous training folder to fine-tune from (the paper's Suzhou -> Zhongshan protocol)."""
        from biomedai.provenance import RunRecorder

        cfg, output_dir = self.config, Path(output_dir)
        rec = RunRecorder(output_dir, self.name, "train", seed=cfg.seed, config=cfg.to_dict())
        rec.add_inputs([data])
        dataset = UFBADataset(data)
        ids, part = split_or_all(dataset, "train")
        init = pair_weights(weights)[0] if weights is not None else None
        steps: dict[str, Any] = {}
        models = {}
        for task in PAIR_TASKS:
            with rec.timer(f"train {task}"):
                torch_data = training.ToothDetectionDataset.from_ufba(dataset, ids, task, augment=cfg.augment,
                                                                      seed=cfg.seed)
                start = init[task] if init is not None else None
                result = training.train_tooth_model(cfg, torch_data, task, output_dir / task, init_weights=start)
                models[task] = training.best_model(result, cfg, task)
            steps[task] = {"steps": result.global_step, "final_train_loss": result.history[-1].get("train_loss")}
        save_pair_folder(output_dir, models["binary"], models["multiclass"], cfg,
                         training_data={"name": str(data), "split": part, "n_images": len(ids)},
                         metrics={f"{t}_final_train_loss": steps[t]["final_train_loss"] for t in PAIR_TASKS},
                         metrics_data="training images (final epoch loss; evaluate for test metrics)")
        rec.add_file(output_dir / "weights.pt")
        rec.add_file(output_dir / "model.json")
        rec.metrics.update({"n_train": len(ids), "images": part,
                            **{f"{t}_steps": steps[t]["steps"] for t in PAIR_TASKS},
                            **{f"{t}_final_train_loss": steps[t]["final_train_loss"] for t in PAIR_TASKS}})
        rec.write()
        return RunResult(output_dir, rec.metrics, [output_dir / f for f in rec.files])

    # ----------------------------------------------------------------------------------- predict
    def check_input(self, path: Path) -> str | None:
        """Why this method cannot read ``path``, or None (the dental method reads panoramic X-rays; input_check.py)."""
        return panoramic_input_problem(Path(path))

    def predict(self, inputs: Sequence[Path], output_dir: Path, weights: Path | None = None) -> RunResult:
        """Number the teeth of each radiograph: ``NAME_teeth.png`` (coloured instances with FDI numbers),
        ``NAME_calibration.json`` (every inference step), ``teeth.csv``, ``instances.coco.json``, ``result.json``.
        With ``bone_weights`` (and ``staging_model``) set: per-tooth bone loss, the stage and ``NAME_report/``."""
        from biomedai.provenance import RunRecorder
        from biomedai.utils import write_csv_atomic, write_json_atomic

        weights = self.resolve_weights(weights)
        if weights is None:
            raise WeightsError("predict needs --weights: the folder written by 'biomedai train dental_perio'")
        if not inputs:
            raise InvalidInputError("predict needs at least one radiograph")
        output_dir = Path(output_dir)
        films_in = [(Path(p), *read_panoramic(p)) for p in inputs]  # refuse bad files before loading models
        models = TeethModels(weights, self.config)
        cfg = models.config
        bone_model = None
        if cfg.bone_weights:
            bone_model = load_bone_model(cfg.bone_weights)
        rec = RunRecorder(output_dir, self.name, "predict", seed=cfg.seed, config=cfg.to_dict())
        rec.add_inputs(inputs)
        rows, coco_images, coco_teeth, films = [], [], [], {}
        for path, image, notes in films_in:
            with rec.timer("inference"):
                out = models.infer(image)
            teeth, calibration = out["numbered"], out["calibration"]
            stem = path.name.split(".")[0]
            rec.add_file(save_numbered_overlay(image, teeth, output_dir / f"{stem}_teeth.png"))
            rec.add_file(write_json_atomic(output_dir / f"{stem}_calibration.json", calibration.to_dict()))
            rows += tooth_rows(path.name, teeth, calibration)
            if cfg.bone_weights:
                with rec.timer("bone loss"):
                    films_abl = bone_loss_and_stage(image, teeth, cfg, output_dir, stem, bone_model)
                rec.files += films_abl.pop("files")
            coco_images.append((path.name, image.shape))
            coco_teeth.append(teeth)
            warnings = image_warnings(teeth, calibration)
            for w in warnings:
                logger.warning("%s: %s", path, w)
            films[path.name] = {"n_teeth": len(teeth), "n_numbered": int((teeth.fdi > 0).sum()),
                                "n_multiclass_detections": len(out["multi"]), "fdi": sorted(int(f) for f in teeth.fdi
                                                                                            if f),
                                "flags": calibration.flags, "warnings": warnings, "notes": notes,
                                "calibration_passes": calibration.passes,
                                **(films_abl if cfg.bone_weights else {})}
        rec.add_file(write_csv_atomic(output_dir / "teeth.csv", rows, columns=TOOTH_COLUMNS))
        rec.add_file(write_coco_json(output_dir / "instances.coco.json", coco_images, coco_teeth,
                                     info={"description": "dental_perio predictions (category_id = FDI number)"}))
        rec.metrics["films"] = films
        rec.metrics["model"] = {"kind": models.kind, "weights": str(weights)}
        rec.notes["model"] = models.describe()
        rec.write()
        return RunResult(output_dir, rec.metrics, [output_dir / f for f in rec.files])

    # ----------------------------------------------------------------------------------- evaluate
    def evaluate(self, data: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        """Table 1 metrics (mAP@0.5 over the FDI classes, Dice(all), Dice(single)) of the multi-class model
        alone and of binary + calibration, on the test part of the fixed split (or every image of ``data``)."""
        from biomedai.provenance import RunRecorder
        from biomedai.utils import write_csv_atomic

        weights = self.resolve_weights(weights)
        if weights is None:
            raise WeightsError("evaluate needs --weights: the folder written by 'biomedai train dental_perio'")
        output_dir = Path(output_dir)
        models = TeethModels(weights, self.config)
        cfg = models.config
        rec = RunRecorder(output_dir, self.name, "evaluate", seed=cfg.seed, config=cfg.to_dict())
        rec.add_inputs([data])
        dataset = UFBADataset(data)
        ids, part = split_or_all(dataset, "test")
        with rec.timer("evaluate"):
            table = evaluate_numbering(models, dataset, ids)
        rows = [{"method": name, **{k: v for k, v in m.items()}} for name, m in table["ours"].items()]
        rec.add_file(write_csv_atomic(output_dir / "table1.csv", rows))
        rec.metrics = {"data": f"{data} ({part})", "model": {"kind": models.kind, "note": models.describe()}, **table}
        rec.write()
        return RunResult(output_dir, rec.metrics, [output_dir / f for f in rec.files])

    # ----------------------------------------------------------------------------------- real samples
    def real_samples(self, data_root: Path) -> list[RealSample]:
        """The first test film of the fixed UFBA split (``teeth/ufba_subset`` of the shared data)."""
        root = Path(data_root) / "teeth" / "ufba_subset"
        if not (root / "images").is_dir():
            return []
        dataset = UFBADataset(root)
        name = split_ids(dataset, "test")[0]
        return [RealSample((dataset.image_path(name),), f"UFBA-425 panoramic film {name} (test part of "
                           "splits/ufba_split.json)", "images from UFBA-UESC for research, redistribution unclear",
                           non_commercial=True, ground_truth=dataset.label_path(name))]

    def score_real_sample(self, sample: RealSample, result: RunResult) -> dict[str, Any]:
        """Per-film mAP@0.5 over the FDI classes and Dice of the bundled model against the film's FDI label map."""
        dataset = UFBADataset(Path(sample.ground_truth).parent.parent)
        name = Path(sample.ground_truth).stem
        table = evaluate_numbering(TeethModels(self.resolve_weights(None), self.config), dataset, [name])
        (model, scores), = table["ours"].items() if len(table["ours"]) == 1 else list(table["ours"].items())[-1:]
        return {"model": model, **{k: v for k, v in scores.items() if isinstance(v, (int, float))},
                "numbering_accuracy_matched": table["numbering_accuracy_matched"]}

    # ----------------------------------------------------------------------------------- demo
    def demo(self, output_dir: Path) -> RunResult:
        """A simulated film (the bundled model needs a real film; none ships): classical tooth segmentation,
        sparse simulated multi-class numbers (one wrong), the calibration, and the bone-loss ratios when that half
        is present."""
        return run_demo(self, Path(output_dir))


def split_or_all(dataset: Any, part: str) -> tuple[list[str], str]:
    """The ``part`` ("train"/"test") of the fixed UFBA split, or every image of a folder that is not the UFBA set."""
    try:
        return list(split_ids(dataset, part)), f"{part} part of splits/ufba_split.json"
    except InvalidInputError:
        return list(dataset.ids), "all images (not the UFBA set)"


def evaluate_numbering(models: TeethModels, dataset: Any, ids: Sequence[str]) -> dict[str, Any]:
    """Table 1 metrics on ``ids``: for the Mask R-CNN pair the multi-class model alone and binary + calibration;
    for the FDI U-Net its numbered teeth."""
    truths, multis, numbered = [], [], []
    correct = matched = unresolved = 0
    for name in ids:
        image, truth = dataset.load(name)
        out = models.infer(image)
        truths.append(truth)
        multis.append(out["multi"])
        numbered.append(out["numbered"])
        c, m = numbering_accuracy(truth, out["numbered"])
        correct, matched, unresolved = correct + c, matched + m, unresolved + len(out["calibration"].unresolved)
    if models.kind == "fdi_unet":
        ours = {"FDI U-Net (not the paper's method)": table1_metrics(truths, numbered)}
        note = "one U-Net over the 32 FDI classes; teeth = connected components of each class"
    else:
        ours = {"multi-class Mask R-CNN": table1_metrics(truths, multis),
                "binary + calibration (Deetal-Perio)": table1_metrics(truths, numbered)}
        note = "Dice(all) of binary + calibration is the binary model's; numbering does not change masks"
    return {"ours": ours, "paper": PAPER_TABLE1,
            "numbering_accuracy_matched": correct / matched if matched else float("nan"),
            "n_matched_binary_teeth": matched, "n_unresolved": unresolved, "n_images": len(ids), "note": note}


def bone_loss_and_stage(image: Any, teeth: Any, config: DentalPerioConfig, output_dir: Path, stem: str,
                        bone_model: Any) -> dict[str, Any]:
    """Bone mask, per-tooth ABL ratio d, the 32-vector and (with a staging model) the stage and report."""
    import numpy as np

    from biomedai.utils import write_csv_atomic

    bone = segment_bone(bone_model, image)
    masks = {int(f): teeth.masks[k] for k, f in enumerate(teeth.fdi) if f}
    abl = measure_abl(masks, bone, line=config.abl_line, rng=config.seed)
    out: dict[str, Any] = {"abl_d": {int(f): round(float(r.d), 4) for f, r in abl.items()}, "files": []}
    if not abl:
        out["warnings_abl"] = "no numbered tooth touches the segmented bone: no bone-loss ratio"
        return out
    out["files"].append(str(write_csv_atomic(output_dir / f"{stem}_abl.csv", abl_rows(abl)).name))
    if config.staging_model:
        proba = StagingModel.load(config.staging_model).predict_proba(abl_vector({f: r.d for f, r in abl.items()})[None])[0]
        stage = int(np.argmax(proba))

        folder = output_dir / f"{stem}_report"
        save_numbered_overlay(image, teeth, folder / "teeth.png")
        report = write_patient_report(folder, image=image, abl=abl, stage=stage, probabilities=proba.tolist(),
                                      bone_mask=bone, patient_id=stem,
                                      extra_figures=[("teeth.png", "teeth and FDI numbers (binary + calibration)")])
        out.update({"stage": STAGES[stage], "stage_probabilities": [round(float(p), 4) for p in proba]})
        out["files"].append(str(report.relative_to(output_dir)))
    return out
