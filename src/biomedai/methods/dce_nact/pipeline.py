"""Breast DCE-MRI response to neoadjuvant chemotherapy (Fan et al.): SFCM tumour ROI, follow-up -> baseline
B-spline registration and the Jacobian map, radiomics + deltaRAD, SVM-RFE + RBF-SVM model sets (Table 3).
Tools: one verb per step of spec 4.9 (``biomedai tool dce_nact --help``)."""
from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from biomedai.errors import InvalidInputError
from biomedai.methods.base import Method, RunResult
from biomedai.methods.registry import register

from .analysis import design_matrix, load_tables, run_analysis
from .cohort import process_cohort, read_clinical
from .config import DceNactConfig
from .model import SvmModel
from .patient import process_patient
from .pkmaps import pk_maps, write_maps
from .series import load_dce_series
from .synthetic import AIF_DELAY_S, DATA_NOTE, FLIP_DEG, TR_S, TUMOUR_T10, simulate_patient

logger = logging.getLogger(__name__)


def _record(method: Method, out: Path, action: str, inputs: Sequence[Path], metrics: dict, files: list[Path],
            note: str | None = None) -> RunResult:
    from biomedai.provenance import RunRecorder

    rec = RunRecorder(out, method.name, action, seed=method.config.seed, config=method.config.to_dict())
    rec.add_inputs([p for p in inputs if Path(p).is_file()])
    for f in files:
        f = Path(f) if Path(f).is_absolute() else out / f
        if f.is_file():
            rec.add_file(f)
    rec.metrics = metrics
    if note:
        rec.notes["data_note"] = note
    rec.write()
    return RunResult(out, rec.metrics, [out / f for f in rec.files])


@register
class DceNact(Method):
    name = "dce_nact"
    title = "Breast DCE-MRI: early prediction of NACT response from Jacobian and radiomic heterogeneity (Fan et al.)"
    modality = "breast DCE-MRI at baseline and after two NACT cycles + clinical data"
    task = "response prediction (registration, Jacobian map, deltaRAD, SVM-RFE); PK maps"
    paper = ("Fan M, et al. Joint prediction of breast cancer response to neoadjuvant chemotherapy from tumor "
             "heterogeneity in longitudinal DCE-MRI (spec: ../shared/specs/breast-neuro.md section 4)")
    config_class = DceNactConfig
    input_kinds = ("volume/MR-DCE", "table/clinical-csv")
    tools_module = "tools"

    def train(self, data: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        """Whole pipeline on a cohort folder (clinical.csv + one folder per patient): models chosen on the
        development patients, tested once on the test patients; writes model_<set>.json and table3.csv."""
        return self._cohort(Path(data), Path(output_dir), "train")

    def evaluate(self, data: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        """With ``weights`` (a model_<set>.json): score the cohort's test patients with it. Without: as train."""
        if weights is None:
            return self._cohort(Path(data), Path(output_dir), "evaluate")
        from biomedai.stats.roc import auc_with_ci, binary_metrics_at

        out = Path(output_dir)
        model = self._load_model(weights)
        process_cohort(data, out / "images", self.config)
        tables = load_tables(out / "images")
        x, names = design_matrix(tables, model.info.get("model_set", "fusion+subtype"))
        test = [r["cohort"] == "test" for r in tables["baseline"]]
        idx = [names.index(f) for f in model.features]
        import numpy as np

        xt = x[np.array(test)][:, idx]
        y = np.array([int(r["responder"]) for r, t in zip(tables["baseline"], test) if t])
        s = model.decision(xt)
        metrics = {**{f"test_{k}": v for k, v in auc_with_ci(y, s).as_dict().items()},
                   **{f"test_{k}": v for k, v in binary_metrics_at(y, s, model.threshold).items()}}
        return _record(self, out, "evaluate", [Path(data) / "clinical.csv", Path(weights)], metrics, [])

    def _cohort(self, data: Path, out: Path, action: str, note: str | None = None) -> RunResult:
        cohort = read_clinical(data)
        note = note or (Path(cohort.folder / "README.txt").read_text(encoding="utf-8").strip()
                        if (cohort.folder / "README.txt").is_file() else f"cohort {cohort.path}")
        process_cohort(cohort.path, out / "images", self.config)
        result = run_analysis(cohort.path, out / "images", out, self.config, data_note=note)
        metrics = {f"{r['model_set']}_test_auc": r["auc"] for r in result["table3"]}
        metrics.update({f"{r['model_set']}_test_auc_ci": [r["ci_low"], r["ci_high"]] for r in result["table3"]})
        files = sorted(p for p in out.iterdir() if p.is_file() and p.suffix in (".csv", ".png", ".json")
                       and p.name != "result.json")
        return _record(self, out, action, [cohort.path], metrics, files, note)

    @staticmethod
    def _load_model(weights: Path):
        path = Path(weights)
        if path.is_dir():
            path = path / "model.json"
        if not path.is_file():
            raise InvalidInputError("model file not found (train writes model_<set>.json)", path)
        try:
            return SvmModel.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"not JSON ({exc})", path) from None

    def predict(self, inputs: Sequence[Path], output_dir: Path, weights: Path | None = None) -> RunResult:
        """One output folder per patient folder (``baseline/`` + ``followup/``): the image steps, features,
        Jacobian summary and, with ``weights`` (a model_<set>.json from train), the response call. A model
        using the molecular subtype reads it from ``<patient>/clinical.json`` ({"subtype": ...}).
        No model is bundled: the only cohort here is simulated."""
        import numpy as np

        from biomedai.utils import write_json_atomic

        if not inputs:
            raise InvalidInputError("no patient folders given (each with baseline/ and followup/)")
        out = Path(output_dir)
        if not inputs:
            raise InvalidInputError("no patient folder given (each needs baseline/ and followup/)")
        model = self._load_model(weights) if weights is not None else None
        rows, files = [], []
        for patient in inputs:
            patient = Path(patient)
            folder = out / patient.name if len(inputs) > 1 else out
            res = process_patient(patient, folder, self.config)
            row = dict(res.summary)
            if model is not None:
                feats = dict(res.features)
                clinical = patient / "clinical.json"
                if any(f.startswith("subtype__") for f in model.features):
                    if not clinical.is_file():
                        raise InvalidInputError("the model uses the molecular subtype: add clinical.json "
                                                "with {\"subtype\": ...}", patient)
                    sub = json.loads(clinical.read_text(encoding="utf-8")).get("subtype")
                    feats.update({f"subtype__{s}": float(s == sub) for s in ("luminal_A", "luminal_B", "HER2",
                                                                               "basal_like")})
                missing = [f for f in model.features if f not in feats]
                if missing:
                    raise InvalidInputError(f"the model needs features this patient lacks: {missing[:3]}", patient)
                score = float(model.decision(np.array([[feats[f] for f in model.features]]))[0])
                row.update({"decision": score, "threshold": model.threshold, "predicted_responder": score >= model.threshold,
                            "model_set": model.info.get("model_set")})
            write_json_atomic(folder / "prediction.json", row)
            write_json_atomic(folder / "features.json", res.features)
            files += sorted(folder.glob("*.png")) + sorted(folder.glob("*.nii.gz")) + [folder / "prediction.json",
                                                                                        folder / "features.json"]
            rows.append(row)
        metrics = {"n_patients": len(rows), "jacobian_mean_in_tumour": [r["jacobian_mean_in_tumour"] for r in rows],
                   "folding_fraction": [r["folding_fraction"] for r in rows]}
        if model is not None:
            metrics["predicted_responder"] = [bool(r["predicted_responder"]) for r in rows]
        return _record(self, out, "predict", [Path(p) for p in inputs] + ([Path(weights)] if weights else []),
                       metrics, files)

    @classmethod
    def example_inputs(cls, folder: Path) -> list[Path]:
        """One small SIMULATED patient folder (baseline/ + followup/), for the conformance suite."""
        import numpy as np

        patient = Path(folder) / "SIM_example"
        simulate_patient(patient, np.random.default_rng(0), responder=True, shape=(14, 40, 40))
        return [patient]

    def demo(self, output_dir: Path) -> RunResult:
        """One SIMULATED patient through the image steps (registration, Jacobian, QC, features) and its
        baseline Tofts / semi-quantitative maps."""
        import numpy as np
        import SimpleITK as sitk

        out = Path(output_dir)
        patient = out / "simulated_patient"
        simulate_patient(patient, np.random.default_rng(self.config.seed), responder=True)
        cfg = self.config.replace(n4=False, resample_spacing_mm=None, registration_metric="ms",
                                  registration_iterations=30, registration_levels=(2, 1))
        res = process_patient(patient, out, cfg)
        series = load_dce_series(patient / "baseline" / "dce.nii.gz")
        mask = sitk.GetArrayFromImage(sitk.ReadImage(str(patient / "baseline" / "mask.nii.gz"))) > 0
        maps = pk_maps(series, mask, flip_angle_deg=FLIP_DEG, tr_s=TR_S, t10_s=TUMOUR_T10, aif_delay_s=AIF_DELAY_S)
        files = write_maps(maps, series.phases[0], out / "pk_maps")
        metrics = {k: v for k, v in res.summary.items() if isinstance(v, (int, float))}
        metrics["median_Ktrans_in_tumour_per_min"] = float(np.nanmedian(maps["Ktrans"]))
        pictures = sorted(out.glob("*.png"))
        return _record(self, out, "demo", [], metrics, pictures + files, DATA_NOTE)
