"""Dou et al. (2021): lung, lobe and lesion quantification of chest CT in HU, the COVID vs other viral
pneumonia group statistics, and (EXTENSION, not in the paper) a COVID-CT slice classifier."""
from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from biomedai.errors import InvalidInputError
from biomedai.methods.base import Method, RealSample, RunResult
from biomedai.methods.registry import register
from biomedai.provenance import RunRecorder
from biomedai.utils import lazy_import, write_csv_atomic

from .case import analyse_ct
from .config import CovidCTConfig
from .outputs import write_case
from .quantify import COLUMNS
from .report import quantification_report
from .study import run_study, simulated_cohort
from .synthetic import synthetic_chest
from .input_check import chest_ct_problem

slice_training = lazy_import(".slice_training", __package__)  # torch: imported on first use
slice_model = lazy_import(".slice_model", __package__)        # torch: imported on first use
slices = lazy_import(".slices", __package__)                  # torch: imported on first use

logger = logging.getLogger(__name__)

SLICE_SUFFIXES = (".png", ".jpg", ".jpeg")


def _is_slice_picture(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in SLICE_SUFFIXES


@register
class CovidCTMethod(Method):
    name = "covid_ct"
    title = "COVID-19 vs other viral pneumonia on chest CT: lung, lobe and lesion quantification in HU"
    modality = "chest CT (DICOM series, NIfTI, NRRD)"
    task = "quantification + group statistics (+ slice classifier, extension)"
    paper = "Dou et al. (2021), radiologists vs a computer CT analysis system, COVID-19 vs other viral pneumonia"
    config_class = CovidCTConfig
    input_kinds = ("dicom/CT", "volume/nifti", "volume/nrrd", "image/png")
    tools_module = "tools"
    default_model = "default"

    # ------------------------------------------------------------------ actions
    def train(self, data: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        """EXTENSION: train the slice CNN on a COVID-CT folder (labels.csv), split by source figure."""
        from biomedai.train.model_folder import ModelInfo, save_model_folder

        cfg = self.config
        out = Path(output_dir)
        rec = RunRecorder(out, self.name, "train", seed=cfg.seed, config=cfg.to_dict())
        rec.add_inputs([data])
        with rec.timer("train"):
            metrics = slice_training.train_slice_classifier(data, out / "run", cfg)
        state = metrics.pop("_state")
        metrics.pop("_test_files"), metrics.pop("_test_scores")
        info = ModelInfo(method=self.name, name="trained", architecture={"kind": "slice_cnn", "width": 16},
                         preprocessing={"grey": "ITU-R 601 luma", "size": cfg.image_size}, class_names=slices.CLASS_NAMES,
                         training_data={"name": str(data), "split": str(metrics["split_sizes"]),
                                        "licence": "as the training data", "non_commercial": True},
                         metrics={"test_auc": metrics["test"]}, metrics_data="test split by source figure")
        folder = save_model_folder(out / "model", state, info)
        rec.metrics = {"extension": "slice classifier, not in the paper", **metrics}
        rec.add_file(folder / "weights.pt")
        rec.add_file(folder / "model.json")
        rec.write()
        return RunResult(out, rec.metrics, [out / f for f in rec.files])

    def real_samples(self, data_root: Path) -> list[RealSample]:
        """The first COVID slice of the slice classifier's test split (grouped by source figure, the bundled
        model's seed) in ``covid_ct`` of the shared data."""
        root = Path(data_root) / "covid_ct"
        if not (root / "labels.csv").is_file():
            return []
        dataset = slices.read_slice_set(root)
        test = slices.grouped_split(dataset.groups, dataset.labels, seed=self.config.seed)["test"]
        k = next((int(i) for i in test if dataset.labels[int(i)] == 1), int(test[0]))
        truth = "COVID" if dataset.labels[k] == 1 else "NonCOVID"
        return [RealSample((root / dataset.files[k],), f"COVID-CT slice {dataset.files[k]} ({truth}; test split "
                           "by source figure)", "no licence stated, figure crops from papers: research use only",
                           non_commercial=True)]

    def score_real_sample(self, sample: RealSample, result: RunResult) -> dict[str, Any]:
        """The slice's COVID probability and whether it is on the right side of 0.5 (label from the file's folder)."""
        path = Path(sample.inputs[0])
        scores = result.metrics["slice_classifier"]
        probability = float(scores[str(path)] if str(path) in scores else scores[path.name])
        truth = path.parent.name == "CT_COVID"
        return {"covid_probability": probability, "true_label": "COVID" if truth else "NonCOVID",
                "correct_at_0.5": int((probability >= 0.5) == truth)}

    def check_input(self, path: Path) -> str | None:
        """Why this method cannot read ``path``, or None (it reads chest CT; input_check.py)."""
        return chest_ct_problem(Path(path), self.config)

    def predict(self, inputs: Sequence[Path], output_dir: Path, weights: Path | None = None) -> RunResult:
        """Quantify each CT (DICOM series folder or file, NIfTI, NRRD); PNG/JPEG slices go to the classifier."""
        cfg = self.config
        out = Path(output_dir)
        inputs = [Path(p) for p in inputs]
        if not inputs:
            raise InvalidInputError("no inputs given")
        if cfg.lobe_mask and len(inputs) != 1:
            raise InvalidInputError("lobe_mask names one lobe map: give exactly one CT with it")
        rec = RunRecorder(out, self.name, "predict", seed=cfg.seed, config=cfg.to_dict())
        rec.add_inputs(inputs)
        pictures = [p for p in inputs if _is_slice_picture(p)]
        cts = [p for p in inputs if not _is_slice_picture(p)]
        all_rows: list[dict[str, Any]] = []
        cases: dict[str, Any] = {}
        for path in cts:
            with rec.timer("quantify"):
                result = analyse_ct(path, cfg, cfg.lobe_mask or None, cfg.lobe_scheme)
            with rec.timer("write"):
                files, summary = write_case(result, out, cfg)
            for f in files:
                rec.add_file(f)
            cases[summary["case"]] = summary
            all_rows += [{"case": summary["case"], **row} for row in result.rows]
        if all_rows:
            rec.add_file(write_csv_atomic(out / "quantification.csv", all_rows, ["case", *COLUMNS]))
            rec.metrics["cases"] = cases
            rec.metrics["segments"] = {"1": "right lung", "2": "left lung"}
        if pictures:
            rec.metrics["slice_classifier"] = self._classify_slices(pictures, out, weights, rec)
        rec.notes["lesions"] = ("HU-threshold lesion mask with vessel suppression (no learned infection model); "
                                "bins right-closed: " + ", ".join(cfg.hu_bin_names))
        rec.write()
        self.report(out)
        return RunResult(out, rec.metrics, [out / f for f in rec.files])

    def _classify_slices(self, pictures: list[Path], out: Path, weights: Path | None, rec: RunRecorder
                         ) -> dict[str, Any]:
        folder = self.resolve_weights(weights)
        rows, note = slice_model.classify_pictures(pictures, folder, self.config)
        rec.add_file(write_csv_atomic(out / "slice_scores.csv", rows))
        rec.notes["slice_classifier"] = note
        return {row["file"]: row["covid_probability"] for row in rows}

    def evaluate(self, data: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        """A COVID-CT slice folder (labels.csv): the slice classifier's AUC; a study folder (cases.csv):
        quantification of every CT and the group statistics (Tables 1-3) with an HTML report."""
        data = Path(data)
        if (data / "cases.csv").is_file():
            return run_study(self, data, Path(output_dir))
        if (data / "labels.csv").is_file():
            return slice_model.evaluate_slices(self, data, Path(output_dir), self.resolve_weights(weights))
        raise InvalidInputError("expected cases.csv (a case/control study) or labels.csv (COVID-CT slices)", data)

    def report(self, output_dir: Path) -> Path:
        """The study report of evaluate/demo, or a per-case quantification report of predict."""
        out = Path(output_dir)
        result_path = out / "result.json"
        if not result_path.is_file():
            raise InvalidInputError("no result.json here; run predict/evaluate first", out)
        result = json.loads(result_path.read_text(encoding="utf-8"))
        if result.get("action") == "predict":
            return quantification_report(result, out, self.title)
        if (out / "report.html").is_file() and "tables" in (result.get("metrics") or {}):
            return out / "report.html"
        return super().report(out)

    @classmethod
    def example_inputs(cls, folder: Path) -> list[Path]:
        """A small SIMULATED chest CT (NIfTI, HU) with two lungs and a trachea."""
        from biomedai.io import Image, write_image

        hu, _ = synthetic_chest(shape=(24, 64, 96))
        image = Image(hu, spacing=(2.5, 1.5, 1.5), spacing_unit="mm")
        return [write_image(image, Path(folder) / "simulated_chest_ct.nii.gz")]

    def demo(self, output_dir: Path) -> RunResult:
        """The group statistics on a SIMULATED cohort shaped like the paper's tables (labelled simulated)."""
        out = Path(output_dir)
        folder = out / "simulated_study"
        folder.mkdir(parents=True, exist_ok=True)
        write_csv_atomic(folder / "cases.csv", simulated_cohort(self.config.seed).to_dict("records"))
        return run_study(self, folder, out, simulated=True, action="demo")
