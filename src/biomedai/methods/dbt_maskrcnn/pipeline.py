"""The registered method ``dbt_maskrcnn``: train on a DBT cohort folder, predict on DBT views, evaluate with the
paper's FROC protocol, and a demo on SIMULATED data (spec ``breast-neuro.md`` section 1)."""
from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError, WeightsError
from biomedai.methods.base import Method, RunResult
from biomedai.methods.registry import register
from biomedai.provenance import RunRecorder
from biomedai.utils import lazy_import, read_csv_rows, write_csv_atomic

from .config import DbtMaskRcnnConfig, DbtSimConfig

cohort = lazy_import(".cohort", __package__)
data = lazy_import(".data", __package__)
evaluate_mod = lazy_import(".evaluate", __package__)
froc_mod = lazy_import(".froc", __package__)
outputs = lazy_import(".outputs", __package__)
predict_mod = lazy_import(".predict", __package__)
reader = lazy_import(".reader", __package__)
report_mod = lazy_import(".report", __package__)
training = lazy_import(".training", __package__)
inference = lazy_import(".inference", __package__)
simulator = lazy_import(".simulator", __package__)

logger = logging.getLogger(__name__)

WEIGHTS_HINT = ("no trained weights: train with `biomedai train dbt_maskrcnn COHORT_DIR` (a cohort folder as written "
                "by benchmarks/quality/dbt_maskrcnn/make_cohort.py) and pass --weights MODEL_FOLDER")


def _cohort_note(folder: Path) -> tuple[str, bool]:
    manifest = folder / "cohort.json"
    if manifest.is_file():
        info = json.loads(manifest.read_text())
        if info.get("simulated"):
            return f"SIMULATED DBT cohort ({info.get('simulator_version')}, seed {info.get('seed')}) at {folder}", True
    return f"DBT cohort at {folder}", False


@register
class DbtMaskRcnnMethod(Method):
    name = "dbt_maskrcnn"
    title = "Mass detection and segmentation in digital breast tomosynthesis: 3-D Mask R-CNN (Fan et al.)"
    modality = "DBT volumes (DICOM Breast Tomosynthesis multi-frame or one file per slice, NIfTI, MHA)"
    task = "3-D mass detection (boxes with a mass probability) and segmentation; lesion/breast FROC evaluation"
    paper = ("Fan M. et al. (2020) Mass detection and segmentation in digital breast tomosynthesis using 3D-mask "
             "region-based convolutional neural network: a comparative analysis. Front. Mol. Biosci. 7:599333")
    config_class = DbtMaskRcnnConfig
    input_kinds = ("volume/nifti", "dicom/MG")
    needs_weights = True  # predict runs the trained Mask R-CNN: without one the service says "not configured"
    tools_module = "tools"
    headline_metrics = ("AUFC_breast", "AUFC_lesion", "mask_AP50", "dice_mean")
    #: the light model trained on the SIMULATED cohort (models/default/MODEL.md): research use only
    default_model = "default"

    # ------------------------------------------------------------------ train
    def train(self, data_dir: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        """Train on the ``train`` split of a cohort folder (boxes.csv, clinical.csv, volumes/, masks/)."""
        cfg = self.config.effective()  # type: ignore[attr-defined]
        folder, out = Path(data_dir), Path(output_dir)
        note, simulated = _cohort_note(folder)
        rec = RunRecorder(out, self.name, "train", seed=cfg.seed, config=cfg.to_dict())
        rec.add_inputs([folder])
        records = data.load_cohort(folder, cfg.spacing, ("train",))
        breasts = sorted({r.breast_id for r in records})
        rng = np.random.default_rng(cfg.seed)
        n_val = max(1, int(round(cfg.val_fraction * len(breasts))))
        val_ids = set(rng.choice(breasts, size=n_val, replace=False).tolist())
        fit = [r for r in records if r.breast_id not in val_ids]
        val = [r for r in records if r.breast_id in val_ids]
        if not fit or not val:
            raise InvalidInputError(f"need at least two training breasts to hold one out for validation, got "
                                    f"{len(breasts)}", folder)
        with rec.timer("train"):
            model, result = training.train_mask_rcnn(fit, val, cfg, out / "training", cfg.max_minutes or None)
        metrics = {"best_val_aufc_lesion": result.best_metric, "best_epoch": result.best_epoch}
        model_dir = training.save_trained_model(
            out / "model", model, cfg, {"name": note, "split": f"train split: {len(fit)} views fit, {len(val)} views "
                                        "validation (by breast)", "licence": "simulated" if simulated else "see data"},
            metrics, f"validation views of {note} (lesion-based AUFC, 0-3 FPs per view)", simulated)
        rec.add_file(model_dir / "model.json")
        rec.metrics = {"data": note, "simulated": simulated, "n_fit_views": len(fit), "n_val_views": len(val),
                       **metrics, "epochs": result.epochs_completed, "model_folder": str(model_dir)}
        rec.write()
        return RunResult(out, rec.metrics, [out / f for f in rec.files])

    # ------------------------------------------------------------------ model
    def _model(self, weights: Path | None) -> tuple[Any, DbtMaskRcnnConfig, Any]:
        folder = self.resolve_weights(weights)
        if folder is None:
            raise WeightsError(WEIGHTS_HINT)
        if not Path(folder).exists():
            raise WeightsError(f"{folder}: no such model folder; {WEIGHTS_HINT}")
        return training.load_trained_model(folder, self.config.effective())  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ predict
    def check_input(self, path: Path) -> str | None:
        """Why this method cannot read ``path`` (no CC/MLO view and laterality: not a DBT view), or None."""
        return reader.input_problem(Path(path))

    def predict(self, inputs: Sequence[Path], output_dir: Path, weights: Path | None = None) -> RunResult:
        """Detect and segment masses in each DBT view; detections CSV, label NIfTI, DICOM SEG, montage."""
        return self._predict([Path(p) for p in inputs], Path(output_dir), weights, "predict")

    def _predict(self, inputs: list[Path], out: Path, weights: Path | None, action: str,
                 notes: dict[str, str] | None = None) -> RunResult:
        if not inputs:
            raise InvalidInputError("no DBT inputs given")
        for path in inputs:
            if not path.exists():
                raise InvalidInputError("no such file or folder", path)
        views = [reader.read_dbt(p) for p in inputs]  # every input is checked before anything is written
        model, cfg, info = self._model(weights)
        rec = RunRecorder(out, self.name, action, seed=cfg.seed, config=cfg.to_dict())
        rec.add_inputs(inputs)
        rows: list[dict[str, Any]] = []
        per_view: dict[str, Any] = {}
        for dbt in views:
            with rec.timer("detect"):
                pred = predict_mod.predict_view(model, dbt, cfg.patch, cfg.margin, cfg.spacing, cfg.nms_iou,
                                                cfg.max_detections)
            vid = dbt.view_id
            rows += outputs.detection_rows(vid, dbt.breast_id, dbt.view, pred.found_input, dbt.image.spacing)
            rec.add_file(outputs.write_mask_nifti(out / f"{vid}_labels.nii.gz", pred.labels, dbt.image.spacing))
            if dbt.image.metadata.get("format") == "DICOM" and pred.labels.any():
                rec.add_file(outputs.write_dicom_seg(out / f"{vid}_seg.dcm", pred.labels, dbt.path))
            rec.add_file(outputs.write_overlay_montage(out / f"{vid}_montage.png", pred.model_volume, pred.found,
                                                       title=f"{vid} (model grid)"))
            per_view[vid] = {"n_detections": len(pred.found), "mass_probability": pred.mass_probability,
                             "view": dbt.view, "laterality": dbt.laterality, "breast_id": dbt.breast_id}
        rec.add_file(outputs.write_detections_csv(out / "detections.csv", rows))
        rec.metrics = {"views": per_view, "model": str(info.name), "model_simulated": bool(info.simulated)}
        rec.notes["model"] = (f"trained on {info.training_data.get('name', '?')}"
                              + (" (SIMULATED data)" if info.simulated else ""))
        rec.notes["mass_probability"] = "highest detection score of the view (spec 1.3 decision)"
        rec.notes.update(notes or {})
        rec.write()
        return RunResult(out, rec.metrics, [out / f for f in rec.files])

    # ------------------------------------------------------------------ evaluate
    def evaluate(self, data_dir: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        """FROC (lesion and breast), FPs at Table 2 sensitivities, AUFC, mask AP@0.5/FNR/Dice on the test split."""
        folder, out = Path(data_dir), Path(output_dir)
        model, cfg, info = self._model(weights)
        records = data.load_cohort(folder, cfg.spacing, ("test",))  # at the model's voxel spacing
        note, simulated = _cohort_note(folder)
        rec = RunRecorder(out, self.name, "evaluate", seed=cfg.seed, config=cfg.to_dict())
        rec.add_inputs([folder])
        found = {}
        for r in records:
            with rec.timer("detect"):
                found[r.view_id] = inference.detect_volume(model, r.volume, cfg.patch, cfg.margin, cfg.nms_iou,
                                                           cfg.max_detections)
        views = evaluate_mod.to_view_detections(records, found)
        name = "3D-Mask RCNN"
        t2 = evaluate_mod.table2({name: views})
        t4 = evaluate_mod.table4(records, {name: found})
        rec.add_file(write_csv_atomic(out / "table2_fps_at_sensitivity.csv", t2))
        rec.add_file(write_csv_atomic(out / "table4_segmentation.csv", t4))
        for p in report_mod.write_froc({name: views}, out, note):
            rec.add_file(p)
        rows = []
        for vid, det in found.items():
            r = next(x for x in records if x.view_id == vid)
            rows += outputs.detection_rows(vid, r.breast_id, r.view, det, r.spacing)
        rec.add_file(outputs.write_detections_csv(out / "detections.csv", rows))
        seg_all = t4[0]
        rec.metrics = {"data": f"{note}, test split ({len(records)} views)", "simulated": simulated,
                       "AUFC_breast": froc_mod.aufc(froc_mod.froc(views, "breast")),
                       "AUFC_lesion": froc_mod.aufc(froc_mod.froc(views, "lesion")),
                       "fps_at_sensitivity": t2, "mask_AP50": seg_all[f"{name} AP"],
                       "fnr_mean": seg_all[f"{name} FNR"], "dice_mean": seg_all[f"{name} Dice"],
                       "model_simulated": bool(info.simulated)}
        rec.write()
        return RunResult(out, rec.metrics, [out / f for f in rec.files])

    # ------------------------------------------------------------------ demo
    @classmethod
    def example_inputs(cls, folder: Path) -> list[Path]:
        """A small SIMULATED DBT view as a multi-frame DICOM Breast Tomosynthesis file."""
        view = simulator.simulate_view((16, 64, 64), (1.0, 0.6, 0.6), 2, "round_oval", 10.0, np.random.default_rng(0), n_iter=1)
        return [reader.write_dbt_dicom(view.volume, view.spacing, Path(folder) / "simulated_dbt_LCC.dcm", "CC", "L",
                                       "SIM0001")]

    def demo(self, output_dir: Path) -> RunResult:
        """SIMULATED cohort; the bundled model or (without one) a few minutes of training; predict on test views."""
        cfg = self.config.effective()  # type: ignore[attr-defined]
        out = Path(output_dir)
        sim = DbtSimConfig(n_train_breasts=max(cfg.demo_breasts, 3), n_test_breasts=2, seed=cfg.seed)
        cohort.write_cohort(out / "cohort", sim)
        weights = self.resolve_weights(None)
        notes = {"data": "SIMULATED DBT (dbt-sim phantoms); not patient data"}
        if weights is None:
            demo_cfg = DbtMaskRcnnConfig.from_dict({**cfg.to_dict(), "variant": "light",
                                                    "max_minutes": cfg.demo_minutes})
            trained = type(self)(demo_cfg).train(out / "cohort", out / "train")
            weights = Path(trained.metrics["model_folder"])
            notes["model"] = (f"a {cfg.demo_minutes:g}-minute demo training on the simulated cohort: it shows the "
                              "workflow, its detections are not a result")
        test_ids = [r["view_id"] for r in data_rows(out / "cohort") if r["split"] == "test"]
        inputs = [out / "cohort" / "volumes" / f"{vid}.nii.gz" for vid in test_ids]
        first = reader.read_dbt(inputs[0])
        dicom = reader.write_dbt_dicom(first.image.array, first.image.spacing, out / "inputs" / f"{test_ids[0]}.dcm",
                                       first.view, first.laterality, first.breast_id)
        return self._predict([dicom] + inputs[1:], out / "predict", weights, "demo", notes)


def data_rows(folder: Path) -> list[dict[str, str]]:
    """boxes.csv joined with the split of clinical.csv."""
    clinical = read_csv_rows(folder / "clinical.csv", required=("breast_id", "split"))
    split = {r["breast_id"]: r["split"] for r in clinical}
    rows = read_csv_rows(folder / "boxes.csv", required=("breast_id",))
    unknown = sorted({r["breast_id"] for r in rows} - set(split))
    if unknown:
        raise InvalidInputError(f"breast {unknown[0]} is not in clinical.csv ({len(unknown)} unknown)",
                                folder / "boxes.csv")
    return [{**r, "split": split[r["breast_id"]]} for r in rows]
