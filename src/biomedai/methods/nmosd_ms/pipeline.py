"""Wang et al. NMOSD vs MS: the WMH (lesion) step on 3-D FLAIR with per-subject lesion statistics (Table 1).

``predict`` segments each FLAIR with the open coarse-to-fine morphology (or imports a given lesion mask) and writes
the mask NIfTI, an overlay PNG and the statistics CSV; ``evaluate`` scores the segmenter on a folder laid out as
``flair_mni/*.nii.gz`` + ``lesion_masks_mni/*.nii.gz`` (the shared MS data). The NMOSD/MS classifier networks are in
``networks``; no trained classifier is bundled, so ``predict`` does not classify (see README).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.methods.base import Method, RunResult
from biomedai.methods.registry import register
from biomedai.provenance import RunRecorder
from biomedai.utils import write_csv_atomic

from .config import NmosdMsConfig
from .outputs import case_name, stats_row, write_mask_nifti, write_overlay_png
from .phantom import flair_phantom
from .volumes import Volume, estimate_brain_mask, read_mask, read_volume
from .wmh import lesion_statistics, lesion_wise_scores, segment_wmh_morphology
from .input_check import flair_input_problem

logger = logging.getLogger(__name__)


@register
class NmosdMsMethod(Method):
    name = "nmosd_ms"
    title = "NMOSD vs MS from 3-D FLAIR: white-matter lesion segmentation and lesion load (Wang et al.)"
    modality = "brain MRI, 3-D T2-FLAIR (NIfTI or DICOM series)"
    task = "WMH segmentation + lesion statistics (classifier networks in the package, not bundled)"
    paper = ("Wang Z. et al. (2022) CNN differentiating NMOSD from MS on 3D T2-FLAIR using automated white matter "
             "hyperintensities segmentations")
    config_class = NmosdMsConfig
    input_kinds = ("volume/nifti", "dicom/MR")

    def train(self, data: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        raise NotImplementedError("training the NMOSD/MS classifier through the CLI is not written yet; "
                                  "see benchmarks/quality/nmosd_ms/ (README)")

    def check_input(self, path: Path) -> str | None:
        """Why this method cannot read ``path``, or None (it reads NIfTI FLAIR; input_check.py)."""
        return flair_input_problem(Path(path))

    def predict(self, inputs: Sequence[Path], output_dir: Path, weights: Path | None = None) -> RunResult:
        """Segment (or import) the lesions of each FLAIR and write mask, overlay and statistics."""
        return self._run([Path(p) for p in inputs], Path(output_dir), "predict")

    def _run(self, inputs: list[Path], out: Path, action: str, notes: dict[str, str] | None = None) -> RunResult:
        cfg: NmosdMsConfig = self.config  # type: ignore[assignment]
        if not inputs:
            raise InvalidInputError("no FLAIR inputs given")
        if (cfg.brain_mask or cfg.lesion_mask) and len(inputs) != 1:
            raise InvalidInputError("brain_mask / lesion_mask name one subject's masks: give exactly one FLAIR")
        rec = RunRecorder(out, self.name, action, seed=cfg.seed, config=cfg.to_dict())
        rec.add_inputs(inputs)
        rows: list[dict[str, Any]] = []
        for path in inputs:
            with rec.timer("read"):
                vol = read_volume(path)
                brain = read_mask(cfg.brain_mask, vol, "brain mask") if cfg.brain_mask else estimate_brain_mask(vol.array)
            with rec.timer("wmh"):
                if cfg.lesion_mask:
                    lesion, source = read_mask(cfg.lesion_mask, vol, "lesion mask"), "imported"
                else:
                    lesion, source = segment_wmh_morphology(vol.array, brain), "morphology"
            name = case_name(path)
            rec.add_file(write_mask_nifti(lesion, vol, out / f"{name}_wmh.nii.gz"))
            rec.add_file(write_overlay_png(vol.array, lesion, out / f"{name}_overlay.png"))
            stats = lesion_statistics(lesion, brain, vol.voxel_volume_ml)
            if stats["empty_lesion_mask"]:
                logger.warning("%s: no lesion found; the lesion image is empty (flagged in the CSV)", path)
            rows.append(stats_row(name, stats, source))
        rec.add_file(write_csv_atomic(out / "lesions.csv", rows))
        rec.metrics["subjects"] = {r["case"]: {k: v for k, v in r.items() if k != "case"} for r in rows}
        rec.notes["orientation"] = "volumes reoriented to RAS+ (nibabel closest canonical)"
        rec.notes["icv"] = "ICV is the brain mask's volume (given, or estimated from the skull-stripped FLAIR)"
        rec.notes["classifier"] = "not run: no trained NMOSD/MS classifier is bundled"
        rec.notes.update(notes or {})
        rec.write()
        return RunResult(out, rec.metrics, [out / f for f in rec.files])

    def evaluate(self, data: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        """Morphology WMH segmenter vs reference masks: Dice, lesion-wise F1, absolute volume difference."""
        data, out = Path(data), Path(output_dir)
        flairs = sorted((data / "flair_mni").glob("*.nii*"))
        if not flairs:
            raise InvalidInputError("expected flair_mni/*.nii.gz and lesion_masks_mni/*.nii.gz", data)
        rec = RunRecorder(out, self.name, "evaluate", seed=self.config.seed, config=self.config.to_dict())
        rec.add_inputs([data])
        rows = []
        for path in flairs:
            vol = read_volume(path)
            truth = read_mask(data / "lesion_masks_mni" / path.name, vol, "lesion mask")
            pred = segment_wmh_morphology(vol.array, estimate_brain_mask(vol.array))
            scores = lesion_wise_scores(truth, pred)
            scores["abs_volume_diff_ml"] = scores.pop("abs_volume_diff_voxels") * vol.voxel_volume_ml
            rows.append({"case": case_name(path), "segmenter": "morphology", **scores})
        rec.add_file(write_csv_atomic(out / "segmentation_scores.csv", rows))
        rec.metrics = {"data": str(data), "n_subjects": len(rows),
                       "dice_mean": float(np.mean([r["dice"] for r in rows])),
                       "lesion_f1_mean": float(np.mean([r["lesion_f1"] for r in rows]))}
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
