"""``biomedai tool dce_nact ...``: one verb per step of spec 4.9, plus ``simulate`` and ``pk-maps``.

Patient verbs take a patient folder (``baseline/`` and ``followup/``, each a 4-D NIfTI ``dce.nii.gz`` + ``dce.json``
of times, a folder of NIfTI phases + ``times.json``, or DICOM; optional ``mask.nii.gz`` / ``seed_box.json``).
Cohort verbs take a cohort folder (``clinical.csv`` + patient folders) and share the output folder ``-o``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from biomedai.errors import InvalidInputError

from . import analysis
from .cohort import process_cohort, read_clinical
from .config import MODEL_SETS
from .features import delta_rad
from .patient import VISITS, find_visit_input, prepare_visit, process_patient
from .pkmaps import pk_maps, write_maps
from .series import load_dce_series
from .synthetic import DATA_NOTE, simulate_cohort

PATIENT_VERBS = {"preprocess": "N4, phase choice, subtraction images, resampling -> <visit>_subtraction.nii.gz",
                 "segment": "SFCM in the seed box (or the imported mask) -> <visit>_mask.nii.gz",
                 "register": "follow-up -> baseline B-spline: warped image, displacement, jacobian.nii.gz, QC PNGs"}
COHORT_VERBS = {"extract": "image steps for every patient + radiomics -> features_{baseline,followup,jacobian}.csv",
                "delta": "deltaRAD (Eq. 2) -> features_delta.csv (from the baseline and follow-up tables)",
                "univariate": "Mann-Whitney / Wilcoxon comparisons and box plots (Figs. 3-6)",
                "model": "SVM-RFE + RBF-SVM, 10-fold CV grid search on development, refit, test once",
                "evaluate": "all model sets: Table 3 (AUC, CI, Youden, sens/spec/PPV/NPV, DeLong), ROC overlay",
                "cohort-table": "Table 2: ANOVA, Yates chi-square, Fisher tests"}


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Fan et al. breast DCE-MRI NACT-response steps (spec 4.9).")
    sub = parser.add_subparsers(dest="tool", required=True)

    def config_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("-c", "--config", help="YAML config (see config.py)")
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")

    for verb, text in PATIENT_VERBS.items():
        p = sub.add_parser(verb, help=text)
        p.add_argument("patient", help="patient folder with baseline/ and followup/")
        p.add_argument("-o", "--output", required=True)
        config_args(p)
    for verb, text in COHORT_VERBS.items():
        p = sub.add_parser(verb, help=text)
        p.add_argument("data", help="cohort folder with clinical.csv (or the CSV)")
        p.add_argument("-o", "--output", required=True, help="output folder shared by the cohort verbs")
        config_args(p)
        if verb == "model":
            p.add_argument("--model-set", dest="model_set", choices=MODEL_SETS, action="append",
                           help="model set(s) to fit (default: all)")
    p = sub.add_parser("pk-maps", help="Tofts / extended Tofts / Patlak + semi-quantitative maps of one series")
    p.add_argument("series", help="dce.nii.gz (+ dce.json) or a series folder")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--mask", help="mask NIfTI (default: whole volume)")
    p.add_argument("--model", choices=["tofts", "extended_tofts", "patlak"], default="tofts")
    p.add_argument("--flip-angle", type=float, required=True, help="degrees")
    p.add_argument("--tr", type=float, required=True, help="repetition time, seconds")
    p.add_argument("--t10", type=float, default=1.4, help="fixed pre-contrast T1, seconds")
    p.add_argument("--t10-map", help="T10 map NIfTI (s) on the series grid, e.g. from a VFA fit; overrides --t10")
    p.add_argument("--aif-csv", help="measured AIF: CSV with columns time_s, conc_mM (default: Parker population AIF)")
    p.add_argument("--relaxivity", type=float, default=4.5, help="/mM/s")
    p.add_argument("--aif-delay", type=float, default=0.0, help="Parker AIF delay, seconds")
    p = sub.add_parser("simulate", help="write a SIMULATED longitudinal cohort (clinical.csv + 4-D NIfTI)")
    p.add_argument("folder")
    p.add_argument("--n-dev", type=int, default=61)
    p.add_argument("--n-test", type=int, default=53)
    p.add_argument("--seed", type=int, default=0)
    return parser


def _config(method: Any, args: argparse.Namespace) -> Any:
    from biomedai.config import parse_overrides

    config = method.config_class.from_file(args.config) if getattr(args, "config", None) else method.config
    if getattr(args, "set", None):
        config = config.replace(**parse_overrides(args.set))
    return config


def _patient_verb(args: argparse.Namespace, config: Any) -> list[Path]:
    import SimpleITK as sitk

    from biomedai.utils import write_json_atomic

    patient, out = Path(args.patient), Path(args.output)
    if args.tool == "register":
        res = process_patient(patient, out, config)
        write_json_atomic(out / "registration.json", res.summary)
        return sorted(out.glob("*.nii.gz")) + sorted(out.glob("qc_*.png")) + [out / "registration.json"]
    out.mkdir(parents=True, exist_ok=True)
    written, info = [], {}
    for visit in VISITS:
        vi = prepare_visit(find_visit_input(patient, visit), config)
        if args.tool == "preprocess":
            for name, img in (("post", vi.post), ("subtraction", vi.subtraction)):
                written.append(out / f"{visit}_{name}.nii.gz")
                sitk.WriteImage(img, str(written[-1]))
            info[visit] = {"phase": vi.phase, "reason": vi.phase_reason, "times_s": vi.series.times.tolist()}
        else:
            written.append(out / f"{visit}_mask.nii.gz")
            sitk.WriteImage(vi.mask, str(written[-1]))
            info[visit] = {"source": vi.mask_source, "voxels": int(sitk.GetArrayFromImage(vi.mask).sum())}
    written.append(write_json_atomic(out / f"{args.tool}.json", info))
    return written


def _cohort_verb(args: argparse.Namespace, config: Any) -> list[Path]:
    from biomedai.utils import write_csv_atomic

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    cohort = read_clinical(args.data)
    images = out / "images"
    note = (cohort.folder / "README.txt").read_text(encoding="utf-8").strip() \
        if (cohort.folder / "README.txt").is_file() else f"cohort {cohort.path}"
    if args.tool == "extract":
        return list(process_cohort(cohort.path, images, config).values())
    if args.tool == "delta":
        base = analysis.read_table(images / "features_baseline.csv")
        follow = {r["patient_id"]: r for r in analysis.read_table(images / "features_followup.csv")}
        rows = []
        for r in base:
            fb = {k: float(v) for k, v in r.items() if k.startswith("original_")}
            ff = {k: float(v) for k, v in follow[r["patient_id"]].items() if k.startswith("original_")}
            rows.append({k: r[k] for k in ("patient_id", "cohort", "responder", "MP_grade", "subtype")}
                        | delta_rad(fb, ff, epsilon=config.delta_epsilon))
        return [write_csv_atomic(images / "features_delta.csv", rows)]
    if args.tool == "cohort-table":
        analysis.cohort_table(cohort.path, out)
        return [out / "cohort_table.csv"]
    tables = analysis.load_tables(images)
    if args.tool == "univariate":
        analysis.univariate(tables, out)
        return [out / "univariate.csv"] + sorted(out.glob("box_*.png"))
    sets = tuple(args.model_set) if args.tool == "model" and args.model_set else MODEL_SETS
    fits = {m: analysis.fit_model_set(tables, m, config, out) for m in sets}
    if args.tool == "model":
        rows = [{"patient_id": pid, "model_set": m, "decision": float(s), "responder": int(y)}
                for m, f in fits.items() for pid, s, y in zip(f["test_ids"], f["test_scores"], f["y_test"])]
        return [write_csv_atomic(out / "test_predictions.csv", rows)] + [
            out / f"model_{m.replace('+', '_')}.json" for m in sets]
    table3 = analysis.evaluate_sets(fits, config, out, note)
    for row in table3:
        sys.stdout.write(f"{row['images']:<16} AUC {row['auc']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}] "
                         f"sens {row['sensitivity']:.3f} spec {row['specificity']:.3f} "
                         f"DeLong p {row['delong_p_vs_reference']}\n")
    return [write_csv_atomic(out / "table3.csv", table3), out / "roc_overlay.png"]


def _pk_verb(args: argparse.Namespace) -> list[Path]:
    import SimpleITK as sitk

    series = load_dce_series(args.series, min_post=1)
    mask = None
    if args.mask:
        m = sitk.ReadImage(args.mask)
        if m.GetSize() != series.phases[0].GetSize():
            raise InvalidInputError(f"mask size {m.GetSize()} does not match the series {series.phases[0].GetSize()}",
                                    args.mask)
        mask = sitk.GetArrayFromImage(m) > 0
    t10: Any = args.t10
    if args.t10_map:
        t10 = sitk.GetArrayFromImage(sitk.ReadImage(args.t10_map)).astype(float)
    aif = None
    if args.aif_csv:
        import numpy as np

        try:
            table = np.loadtxt(args.aif_csv, delimiter=",", skiprows=1, ndmin=2)
        except (OSError, ValueError) as exc:
            raise InvalidInputError(f"cannot read the AIF CSV ({exc})", args.aif_csv) from None
        if table.shape[1] < 2:
            raise InvalidInputError("the AIF CSV needs two columns: time_s, conc_mM", args.aif_csv)
        aif = (table[:, 0], table[:, 1])
    maps = pk_maps(series, mask, flip_angle_deg=args.flip_angle, tr_s=args.tr, t10_s=t10,
                   relaxivity=args.relaxivity, model=args.model, aif_delay_s=args.aif_delay, measured_aif=aif)
    return write_maps(maps, series.phases[0], Path(args.output))


def run(method: Any, args: argparse.Namespace) -> int:
    if args.tool == "simulate":
        if args.n_dev < 4 or args.n_test < 2:
            raise InvalidInputError("need --n-dev >= 4 and --n-test >= 2")
        path = simulate_cohort(args.folder, args.n_dev, args.n_test, seed=args.seed)
        sys.stdout.write(f"wrote {args.n_dev + args.n_test} patients and {path}\n{DATA_NOTE}\n")
        return 0
    if args.tool == "pk-maps":
        written = _pk_verb(args)
    else:
        config = _config(method, args)
        written = _patient_verb(args, config) if args.tool in PATIENT_VERBS else _cohort_verb(args, config)
    sys.stdout.write(f"{args.tool}: wrote {len(written)} file(s)\n" + "".join(f"  {p}\n" for p in written))
    return 0
