"""The CRC radiomics nomogram (Cai et al.): CT radiomics -> LASSO-Cox Rad-score -> cut-off -> KM, Cox tables,
nomogram with TNM, calibration, C-index and time-dependent AUC. Tools: one verb per step and ``run``."""
from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from biomedai.errors import InvalidInputError
from biomedai.methods.base import Method, RunResult
from biomedai.methods.registry import register

from .config import CrcNomogramConfig
from .model import RadiomicsNomogramModel, paper_preset
from .report import write_html_report
from .scoring import is_feature_table, read_feature_rows, score_feature_rows
from .study import NomogramStudy, single_thread_blas
from .synthetic import oracle_cindex, simulate_cohort

logger = logging.getLogger(__name__)

STEPS = ("extract", "preprocess", "select", "score", "cutoff", "survival", "cox", "baseline", "nomogram",
         "calibrate", "evaluate")
STEP_HELP = {
    "extract": "107 PyRadiomics 'original' features per patient -> features.csv",
    "preprocess": "z-score and the 80%% 'higher signal' filter -> features_z.csv",
    "select": "LASSO-Cox with 10-fold CV on the primary cohort -> coefficients, plots, model.json",
    "score": "Rad-score per patient -> radscore.csv (use --preset cai2020 for the paper's formula)",
    "cutoff": "time-dependent ROC at 5 years, Youden cut-off (-0.077 with the preset)",
    "survival": "KM curves per Rad-score group and cohort, log-rank P, HR, numbers at risk",
    "cox": "univariable and multivariable Cox tables (Table 2 layout)",
    "baseline": "Table 1: clinical variables by risk group, chi-square / t-test, complete case",
    "nomogram": "Cox(Rad-score + TNM) on the primary cohort, nomogram figure, points per patient",
    "calibrate": "calibration at 3 and 5 years (bootstrap in primary, external in validation)",
    "evaluate": "C-index with 95%% CI and time-dependent AUC: nomogram vs TNM vs Rad-score",
}
DATA_NOTE_SIMULATED = ("Simulated cohort: 3-D lesion phantoms whose size and texture drive a known hazard "
                       "(not patient data).")


@register
class CrcRadiomicsNomogram(Method):
    name = "crc_radiomics_nomogram"
    title = "CT radiomics nomogram for disease-free survival in colorectal cancer (Cai et al.)"
    modality = "CT (portal-venous phase) + clinical data"
    task = "survival prediction (radiomics signature + nomogram)"
    paper = ("Cai D, Duan X, ..., Wu X-J, Gao F. A metabolism-related radiomics signature for predicting the "
             "prognosis of colorectal cancer. Front. Mol. Biosci. 2020, doi:10.3389/fmolb.2020.613918")
    config_class = CrcNomogramConfig
    input_kinds = ("volume/CT", "table/clinical-csv")

    # ------------------------------------------------------------------------------------------ actions
    @classmethod
    def example_inputs(cls, folder: Path) -> list[Path]:
        """A small simulated cohort folder (12 phantom patients), for the conformance suite."""
        simulate_cohort(Path(folder) / "cohort", n_primary=12, n_validation=0, seed=0)
        return [Path(folder) / "cohort"]

    def study(self, data: Path, output_dir: Path, preset: str | None = None) -> NomogramStudy:
        """The paper's steps over one output folder (see ``study.py``), with this method's config."""
        return NomogramStudy(Path(data), Path(output_dir), self.config, preset=preset)

    def _record(self, wf, action: str, inputs: Sequence[Path], note: str | None = None) -> RunResult:
        from biomedai.provenance import RunRecorder

        rec = RunRecorder(wf.out, self.name, action, seed=self.config.seed, config=self.config.to_dict())
        rec.add_inputs([p for p in inputs if Path(p).is_file()])
        for f in wf.files:
            rec.add_file(f)
        rec.metrics = dict(wf.metrics)
        if note:
            rec.notes["data_note"] = note
        if wf.preset:
            rec.notes["preset"] = wf.preset
        rec.write()
        report_path = write_html_report(wf.out, self.title)
        rec.add_file(report_path)
        rec.write()
        return RunResult(wf.out, rec.metrics, [wf.out / f for f in rec.files])

    def report(self, output_dir: Path) -> Path:
        """``report.html`` with every table and figure of a finished run."""
        if not (Path(output_dir) / "result.json").is_file():
            raise InvalidInputError("no result.json here; run the pipeline first", output_dir)
        return write_html_report(Path(output_dir), self.title)

    def train(self, data: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        """The whole pipeline on a cohort folder (clinical.csv + images/ + masks/); saves model.json."""
        wf = self.study(data, output_dir)
        wf.run(extract=True)
        return self._record(wf, "train", [wf.cohort.path])

    def predict(self, inputs: Sequence[Path], output_dir: Path, weights: Path | None = None) -> RunResult:
        """Score cohort folders (or clinical CSVs) with a saved model (``weights`` = model.json) or the
        paper's preset (no weights): Rad-score, risk group and, with a model, nomogram DFS predictions.
        A features table (CSV without outcome columns, or JSON) scores single patients (needs ``weights``)."""
        import csv

        import numpy as np

        if not inputs:
            raise InvalidInputError("no input given: pass cohort folders (clinical.csv, images/, masks/) or CSVs")
        output_dir = Path(output_dir)
        rows, wfs = [], []
        for k, data in enumerate(inputs):
            if is_feature_table(Path(data)):  # one patient's (or a few patients') features, no cohort
                model = RadiomicsNomogramModel.load(weights) if weights else paper_preset()
                rows += score_feature_rows(read_feature_rows(Path(data)), model, tuple(self.config.horizons),
                                           Path(data))
                continue
            wf = self.study(data, output_dir / f"input{k}" if len(inputs) > 1 else output_dir,
                            preset=None if weights else "cai2020")
            if weights:
                wf.__dict__["model"] = RadiomicsNomogramModel.load(weights)
            if not wf.has_features():
                wf.extract()
            groups = wf.model.risk_group(wf.scores)
            preds = {}
            if wf.model.cox is not None:
                for h in self.config.horizons:
                    clinical = {v: wf.cohort.clinical.get(v, np.full(wf.cohort.n, np.nan)) for v in wf.model.cox.covariates}
                    preds[h] = wf.model.survival(wf.scores, clinical, h)
            for i, pid in enumerate(wf.cohort.ids):
                rows.append({"id": pid, "radscore": f"{wf.scores[i]:.6g}", "risk_group": "high" if groups[i] else "low",
                             **{f"predicted_dfs_{h:g}": f"{p[i]:.4f}" for h, p in preds.items()}})
            wfs.append(wf)
        out_csv = output_dir / "predictions.csv"
        output_dir.mkdir(parents=True, exist_ok=True)
        with open(out_csv, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
            writer.writeheader()
            writer.writerows(rows)
        wf = wfs[-1] if wfs else self.study(output_dir, output_dir)
        wf.out = output_dir
        wf.files = [out_csv] + [f for w in wfs for f in w.files]
        wf.metrics = {"n_patients": len(rows), "model": str(weights) if weights else "Cai et al. preset (cai2020)",
                      "n_high_risk": sum(r.get("risk_group") == "high" for r in rows)}
        if len(rows) == 1:  # the headline numbers of a single patient
            wf.metrics.update({k: v for k, v in rows[0].items() if k != "id"})
        return self._record(wf, "predict", [Path(p) for p in inputs] + ([Path(weights)] if weights else []))

    def evaluate(self, data: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        """With ``weights``: apply a saved model to a cohort with outcomes (C-index, AUC, KM, calibration).
        Without: fit and evaluate the whole pipeline on the cohort (primary fits, validation tests)."""
        wf = self.study(data, output_dir)
        if not wf.has_features():
            wf.extract()
        if weights is None:
            wf.run(extract=False)
        else:
            wf.__dict__["model"] = RadiomicsNomogramModel.load(weights)
            wf.survival()
            wf.evaluate()
        return self._record(wf, "evaluate", [wf.cohort.path])

    def demo(self, output_dir: Path) -> RunResult:
        """The pipeline on a small simulated cohort (60 + 40 phantom patients): KM, nomogram, calibration."""
        output_dir = Path(output_dir)
        cfg = self.config.replace(calibration_boot=min(self.config.calibration_boot, 40),
                                  cindex_boot=min(self.config.cindex_boot, 200), n_lambda=30)
        method = type(self)(cfg)
        data = output_dir / "simulated_cohort"
        simulate_cohort(data, n_primary=100, n_validation=60, seed=cfg.seed)
        wf = method.study(data, output_dir)
        wf.run(extract=True)
        wf.metrics["oracle_cindex_simulation"] = oracle_cindex()
        return method._record(wf, "demo", [data / "clinical.csv"], note=DATA_NOTE_SIMULATED)

    # ------------------------------------------------------------------------------------------ tools
    @classmethod
    def tool_parser(cls, prog: str) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(prog=prog, description="Steps of the Cai et al. radiomics nomogram. "
                                         "DATA is a cohort folder (clinical.csv, images/, masks/) or its CSV; "
                                         "every step reads and writes the output folder -o.")
        sub = parser.add_subparsers(dest="tool", required=True)

        def common(p: argparse.ArgumentParser) -> None:
            p.add_argument("data", help="cohort folder with clinical.csv (or the CSV itself)")
            p.add_argument("-o", "--output", required=True, help="output folder (shared by the steps)")
            p.add_argument("-c", "--config", help="YAML config (see config.py)")
            p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
            p.add_argument("--preset", choices=["cai2020"], help="score with the paper's 5-feature formula")

        for step in STEPS:
            common(sub.add_parser(step, help=STEP_HELP[step]))
        p = sub.add_parser("run", help="the whole pipeline, then report.html")
        common(p)
        p.add_argument("--skip-extract", action="store_true", help="reuse features.csv if present")
        p = sub.add_parser("radiogenomics", help="Pearson r of the model's features with per-sample hallmark "
                           "scores (e.g. DeepCC, computed outside) -> heatmap (Fig. 5)")
        common(p)
        p.add_argument("--scores", help="CSV: id + one column per hallmark (default DATA/hallmark_scores.csv)")
        p = sub.add_parser("simulate", help="write a simulated cohort (phantom lesions with a known hazard)")
        p.add_argument("folder")
        p.add_argument("--n-primary", type=int, default=120)
        p.add_argument("--n-validation", type=int, default=80)
        p.add_argument("--seed", type=int, default=0)
        return parser

    def run_tool(self, args: argparse.Namespace) -> int:
        from biomedai.config import parse_overrides

        if args.tool == "simulate":
            if args.n_primary < 10 or args.n_validation < 0:
                raise InvalidInputError("need --n-primary >= 10 and --n-validation >= 0")
            simulate_cohort(args.folder, args.n_primary, args.n_validation, args.seed)
            print(f"wrote {args.n_primary + args.n_validation} patients to {args.folder}; "
                  f"C-index of the true hazard: {oracle_cindex():.3f}")
            return 0
        config = self.config
        if args.config:
            config = self.config_class.from_file(args.config)
        if args.set:
            config = config.replace(**parse_overrides(args.set))
        method = type(self)(config)
        wf = method.study(Path(args.data), Path(args.output), preset=args.preset)
        if args.tool == "run":
            wf.run(extract=not args.skip_extract)
            result = method._record(wf, "run", [wf.cohort.path])
            print(f"wrote {len(result.files)} files to {wf.out}; report: {wf.out / 'report.html'}")
            for key in sorted(k for k in wf.metrics if k.startswith(("cindex_", "cutoff", "n_selected", "km_hr"))):
                print(f"  {key}: {wf.metrics[key]}")
            return 0

        with single_thread_blas():
            path = wf.radiogenomics(args.scores) if args.tool == "radiogenomics" else getattr(wf, args.tool)()
        print(f"{args.tool}: wrote {path}")
        return 0
