"""Wang et al. NMOSD vs MS: the WMH (lesion) step on 3-D FLAIR with per-subject lesion statistics (Table 1).

``predict`` segments each FLAIR with the open coarse-to-fine morphology (or imports a given lesion mask) and writes
the mask NIfTI, an overlay PNG and the statistics CSV; ``evaluate`` scores the segmenter on a folder laid out as
``flair_mni/*.nii.gz`` + ``lesion_masks_mni/*.nii.gz`` (the shared MS data). The NMOSD/MS classifier networks are in
``networks``; no trained classifier is bundled, so ``predict`` does not classify (see README).
"""
from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import ConfigError, InvalidInputError
from biomedai.methods.base import Method, RunResult
from biomedai.methods.registry import register
from biomedai.provenance import RunRecorder
from biomedai.train.model_folder import (ModelInfo, default_model_folder, load_model_folder, load_weights_into,
                                         read_model_info, save_model_folder)
from biomedai.utils import lazy_import, read_csv_rows, write_csv_atomic

from .config import NmosdMsConfig
from .dataset import is_simulated, read_cohort, subject_input
from .preprocess import classifier_input, normalise_flair, shift_flip
from .protocol import binary_scores, validation_split
from .location import LOCATIONS, is_mni_grid, location_summary_mni
from .outputs import case_name, stats_row, write_mask_nifti, write_overlay_png, write_overlay_strip, write_wmh_dicom_seg
from .phantom import flair_phantom
from .report import write_html_report
from .volumes import Volume, estimate_brain_mask, read_mask, read_volume
from .wmh import lesion_statistics, lesion_wise_scores, segment_wmh_morphology
from .input_check import flair_input_problem

classify = lazy_import(".classify", __package__)  # torch: imported on first use
networks = lazy_import(".networks", __package__)
explain = lazy_import(".explain", __package__)
wmh_net = lazy_import(".wmh_net", __package__)

logger = logging.getLogger(__name__)

#: the bundled WMH network (``models/wmh_default``), used by ``segmenter=network`` without ``wmh_model``
WMH_DEFAULT_MODEL = "wmh_default"


@register
class NmosdMsMethod(Method):
    name = "nmosd_ms"
    title = "NMOSD vs MS from 3-D FLAIR: white-matter lesion segmentation and lesion load (Wang et al.)"
    modality = "brain MRI, 3-D T2-FLAIR (NIfTI or DICOM series)"
    task = "WMH segmentation + lesion statistics; NMOSD vs MS classifier (train on a labelled cohort; none bundled)"
    paper = ("Wang Z. et al. (2022) CNN differentiating NMOSD from MS on 3D T2-FLAIR using automated white matter "
             "hyperintensities segmentations")
    config_class = NmosdMsConfig
    input_kinds = ("volume/nifti", "dicom/MR")
    tools_module = "tools"

    def train(self, data: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        """Fit the classifier (``arch``) on a labelled cohort folder (dataset.py); a stratified 20 % of the
        subjects validates. Writes ``model/`` (model folder, marked simulated for a SIMULATED cohort)."""
        cfg: NmosdMsConfig = self.config  # type: ignore[assignment]
        data, out = Path(data), Path(output_dir)
        subjects = read_cohort(data)
        rec = RunRecorder(out, self.name, "train", seed=cfg.seed, config=cfg.to_dict())
        rec.add_inputs([data])
        with rec.timer("prepare"):
            volumes = np.stack([subject_input(s.flair, cfg, s.lesion_mask, s.brain_mask)[0] for s in subjects])
        labels = np.array([s.label for s in subjects])
        train_idx, val_idx = validation_split(labels, seed=cfg.seed)
        with rec.timer("train"):
            fit = classify.train_and_predict(volumes, labels, train_idx, val_idx, cfg, out / "run")
        scores = binary_scores(labels[val_idx], fit["pred"])
        simulated = is_simulated(data)
        info = ModelInfo(
            method=self.name, name="trained", architecture={"arch": cfg.arch, "crop_side": cfg.crop_side,
                                                            "dropout": cfg.dropout},
            preprocessing={"input_kind": cfg.input_kind, "resize_side": cfg.resize_side, "orientation": "RAS+",
                           "normalisation": "z-score in the brain mask"},
            class_names=["MS", "NMOSD"],
            training_data={"name": str(data), "subjects": len(subjects), "simulated": simulated,
                           "split": "stratified 80/20 by subject; validation " +
                                    ",".join(subjects[i].subject_id for i in val_idx)},
            metrics={f"val_{k}": v for k, v in scores.items()} | {"epochs": fit["epochs"]},
            metrics_data=f"{len(val_idx)} validation subjects of {data}" + (" (SIMULATED)" if simulated else ""),
            simulated=simulated)
        rec.add_file(save_model_folder(out / "model", fit["model"], info) / "model.json")
        rec.metrics = {"subjects": len(subjects), "validation": scores, "epochs": fit["epochs"],
                       "cpu_s_per_epoch": fit["cpu_s_per_epoch"], "simulated": simulated,
                       "learning_curve": [{k: h.get(k) for k in ("epoch", "train_loss", "val_loss")}
                                          for h in fit["history"]]}
        rec.write()
        return RunResult(out, rec.metrics, [out / f for f in rec.files])

    def check_input(self, path: Path) -> str | None:
        """Why this method cannot read ``path``, or None (it reads NIfTI FLAIR; input_check.py)."""
        return flair_input_problem(Path(path))

    def predict(self, inputs: Sequence[Path], output_dir: Path, weights: Path | None = None) -> RunResult:
        """Segment (or import) the lesions of each FLAIR and write mask, overlay and statistics; with ``weights``
        (a model folder from ``train``) also P(NMOSD) per subject and Grad-CAM / occlusion maps (NIfTI + PNG)."""
        return self._run([Path(p) for p in inputs], Path(output_dir), "predict", weights=weights)

    def _classifier(self, weights: Path) -> tuple[Any, Any]:
        state, info = load_model_folder(weights, method=self.name)
        arch = info.architecture
        model = networks.build_classifier(arch["arch"], input_side=int(arch["crop_side"]), dropout=float(arch["dropout"]))
        load_weights_into(model, state, weights)
        return model.eval(), info

    def _wmh_model_folder(self) -> Path:
        """``wmh_model`` when set, else the bundled WMH network ``models/wmh_default`` (logged with its terms)."""
        cfg: NmosdMsConfig = self.config  # type: ignore[assignment]
        if cfg.wmh_model:
            return Path(cfg.wmh_model)
        folder = default_model_folder(self.name, WMH_DEFAULT_MODEL)
        if folder is None:
            raise ConfigError("segmenter 'network' needs wmh_model: the model folder of a trained WMH network "
                              "(this installation bundles none)")
        logger.info("using the bundled WMH network: %s", read_model_info(folder).usage_note())
        return folder

    def _wmh_network(self, folder: Path) -> tuple[Any, ModelInfo]:
        """The trained WMH U-Net of a model folder (``architecture["wmh_net"]``)."""
        state, info = load_model_folder(folder, method=self.name)
        arch = info.architecture.get("wmh_net")
        if not isinstance(arch, dict):
            raise InvalidInputError("not a WMH network model folder (no architecture.wmh_net in model.json)", folder)
        model = wmh_net.build_wmh_net(**arch)
        load_weights_into(model, state, folder)
        return model.eval(), info

    def _segment(self, vol: Volume, brain: np.ndarray, network: tuple[Any, ModelInfo] | None) -> tuple[np.ndarray, str]:
        """The lesion mask of one FLAIR and its source: an imported mask, the network or the morphology."""
        cfg: NmosdMsConfig = self.config  # type: ignore[assignment]
        if cfg.lesion_mask:
            return read_mask(cfg.lesion_mask, vol, "lesion mask"), "imported"
        if network is not None:
            arch = network[1].architecture["wmh_net"]
            return wmh_net.segment_wmh_network(network[0], vol.array, brain, factor=float(arch.get("factor", 2)),
                                               patch=int(arch.get("patch", 64)),
                                               threshold=float(arch.get("threshold", 0.5))), "network"
        return segment_wmh_morphology(vol.array, brain), "morphology"

    def _run(self, inputs: list[Path], out: Path, action: str, notes: dict[str, str] | None = None,
             weights: Path | None = None) -> RunResult:
        cfg: NmosdMsConfig = self.config  # type: ignore[assignment]
        if not inputs:
            raise InvalidInputError("no FLAIR inputs given")
        if (cfg.brain_mask or cfg.lesion_mask) and len(inputs) != 1:
            raise InvalidInputError("brain_mask / lesion_mask name one subject's masks: give exactly one FLAIR")
        classifier = self._classifier(Path(weights)) if weights is not None else None
        network = self._wmh_network(self._wmh_model_folder()) if cfg.segmenter == "network" else None
        rec = RunRecorder(out, self.name, action, seed=cfg.seed, config=cfg.to_dict())
        rec.add_inputs(inputs)
        rows: list[dict[str, Any]] = []
        for path in inputs:
            with rec.timer("read"):
                vol = read_volume(path)
                brain = read_mask(cfg.brain_mask, vol, "brain mask") if cfg.brain_mask else estimate_brain_mask(vol.array)
            with rec.timer("wmh"):
                lesion, source = self._segment(vol, brain, network)
            name = case_name(path)
            rec.add_file(write_mask_nifti(lesion, vol, out / f"{name}_wmh.nii.gz"))
            if path.is_dir() and cfg.dicom_seg:
                if lesion.any():
                    with rec.timer("dicom_seg"):
                        rec.add_file(write_wmh_dicom_seg(lesion, vol, out / f"{name}_wmh_seg.dcm", self.name))
                else:
                    rec.notes[f"{name}_dicom_seg"] = "not written: the lesion mask is empty (a SEG needs a segment)"
            rec.add_file(write_overlay_png(vol.array, lesion, out / f"{name}_overlay.png"))
            rec.add_file(write_overlay_strip(vol.array, lesion, out / f"{name}_overlay_slices.png"))
            stats = lesion_statistics(lesion, brain, vol.voxel_volume_ml)
            if stats["empty_lesion_mask"]:
                logger.warning("%s: no lesion found; the lesion image is empty (flagged in the CSV)", path)
            row = stats_row(name, stats, source)
            if cfg.space == "mni" or (cfg.space == "auto" and is_mni_grid(vol.array.shape, vol.affine)):
                with rec.timer("location"):
                    row.update({f"loc_{k}": v for k, v in location_summary_mni(lesion, vol.affine).items()})
            if classifier is not None:
                model, info = classifier
                with rec.timer("classify"):
                    pre = info.preprocessing
                    x = classifier_input(normalise_flair(vol.array, brain), lesion, pre["input_kind"],
                                         int(pre["resize_side"]))
                    p = classify.predict_probability(model, x, int(info.architecture["crop_side"]))
                row.update({"p_nmosd": round(p, 4), "prediction": "NMOSD" if p >= 0.5 else "MS"})
                if cfg.explain:
                    crop = shift_flip(x, int(info.architecture["crop_side"]), None)
                    with rec.timer("explain"):
                        maps = explain.explanation_maps(model, crop, cfg.explanation_kinds())
                    for kind, heat in maps.items():
                        for f in explain.write_map(heat, crop, out / f"{name}_{kind}"):
                            rec.add_file(f)
            rows.append(row)
        rec.add_file(write_csv_atomic(out / "lesions.csv", rows))
        if any("loc_deep" in r for r in rows):
            rec.notes["location"] = (f"lesion location ({', '.join(LOCATIONS)}) from nilearn's MNI152 2 mm priors for "
                                     "FLAIRs in MNI space (location.py rules; crude, see README)")
        rec.metrics["subjects"] = {r["case"]: {k: v for k, v in r.items() if k != "case"} for r in rows}
        rec.notes["orientation"] = "volumes reoriented to RAS+ (nibabel closest canonical)"
        rec.notes["icv"] = "ICV is the brain mask's volume (given, or estimated from the skull-stripped FLAIR)"
        rec.notes["segmenter"] = ("imported lesion mask" if cfg.lesion_mask else
                                  f"WMH network {self._wmh_model_folder()}" if network is not None else "morphology (wmh.py)")
        if classifier is not None:
            rec.notes["classifier"] = classifier[1].usage_note()
            if classifier[1].simulated:
                rec.notes["simulated"] = "the classifier was trained on SIMULATED subjects: not for patients"
        else:
            rec.notes["classifier"] = "not run: give --weights (a model folder from 'biomedai train nmosd_ms')"
        rec.notes.update(notes or {})
        rec.add_file(write_html_report(out, rows, rec.notes, f"{self.title}: {action}"))
        rec.write()
        return RunResult(out, rec.metrics, [out / f for f in rec.files])

    def report(self, output_dir: Path) -> Path:
        """``report.html`` of a predict / demo folder (per-subject lesions, Table 1, locations, P(NMOSD),
        explanation maps), rebuilt from its ``lesions.csv`` and ``result.json``; other folders: the generic report."""
        out = Path(output_dir)
        if not (out / "lesions.csv").is_file():
            return super().report(out)
        rows = read_csv_rows(out / "lesions.csv")
        notes = json.loads((out / "result.json").read_text()).get("notes", {}) if (out / "result.json").is_file() else {}
        return write_html_report(out, rows, notes, f"{self.title}: report")

    def evaluate(self, data: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        """WMH segmenters vs reference masks: Dice, lesion-wise F1, absolute volume difference; the morphology
        baseline always, the network too with ``segmenter=network`` (``wmh_model``), side by side."""
        data, out = Path(data), Path(output_dir)
        flairs = sorted((data / "flair_mni").glob("*.nii*"))
        if not flairs:
            raise InvalidInputError("expected flair_mni/*.nii.gz and lesion_masks_mni/*.nii.gz", data)
        rec = RunRecorder(out, self.name, "evaluate", seed=self.config.seed, config=self.config.to_dict())
        rec.add_inputs([data])
        cfg: NmosdMsConfig = self.config  # type: ignore[assignment]
        network = self._wmh_network(self._wmh_model_folder()) if cfg.segmenter == "network" else None
        rows = []
        for path in flairs:
            vol = read_volume(path)
            truth = read_mask(data / "lesion_masks_mni" / path.name, vol, "lesion mask")
            brain = estimate_brain_mask(vol.array)
            preds = {"morphology": segment_wmh_morphology(vol.array, brain)}
            if network is not None:
                preds["network"] = self._segment(vol, brain, network)[0]
            for segmenter, pred in preds.items():
                scores = lesion_wise_scores(truth, pred)
                scores["abs_volume_diff_ml"] = scores.pop("abs_volume_diff_voxels") * vol.voxel_volume_ml
                rows.append({"case": case_name(path), "segmenter": segmenter, **scores})
        rec.add_file(write_csv_atomic(out / "segmentation_scores.csv", rows))
        rec.metrics = {"data": str(data), "n_subjects": len(flairs)}
        for segmenter in dict.fromkeys(r["segmenter"] for r in rows):
            mine = [r for r in rows if r["segmenter"] == segmenter]
            suffix = "" if segmenter == "morphology" else f"_{segmenter}"
            rec.metrics[f"dice_mean{suffix}"] = float(np.mean([r["dice"] for r in mine]))
            rec.metrics[f"lesion_f1_mean{suffix}"] = float(np.mean([r["lesion_f1"] for r in mine]))
            rec.metrics[f"abs_volume_diff_ml_mean{suffix}"] = float(np.mean([r["abs_volume_diff_ml"] for r in mine]))
        if network is not None:
            rec.notes["network"] = (f"{self._wmh_model_folder()}: {network[1].usage_note()}; a network trained on any of these "
                                    "patients is scored on its own training data here (see its model.json split)")
        rec.write()
        return RunResult(out, rec.metrics, [out / f for f in rec.files])

    @classmethod
    def example_inputs(cls, folder: Path) -> list[Path]:
        """A small SIMULATED FLAIR phantom (NIfTI) with six lesions."""
        import nibabel as nib

        flair, _, _ = flair_phantom()
        path = Path(folder) / "simulated_flair.nii.gz"
        nib.save(nib.Nifti1Image(flair, np.eye(4)), str(path))
        return [path]

    def demo(self, output_dir: Path) -> RunResult:
        """The WMH step on a SIMULATED FLAIR phantom (labelled simulated)."""
        out = Path(output_dir)
        inputs = self.example_inputs(out)
        return self._run(inputs, out, "demo", {"data": "SIMULATED FLAIR phantom (six known lesions)"})
