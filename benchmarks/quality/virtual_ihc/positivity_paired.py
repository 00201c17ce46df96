"""Paired real test of the positivity-aware pix2pix: DeepLIIF haematoxylin -> Ki-67 IHC, 4-fold tile-level CV,
and (``--final``) the bundled model trained on all tiles.

Data: ``shared/data/ki67/deepliif_sample/train/{Bladder1,Lung1}.png`` (real, pixel-registered; non-commercial
terms). Each 512 px haematoxylin panel is first reduced to its deconvolved haematoxylin
(``positivity.haematoxylin_view``, the view the model also gets from an H&E at inference), then cut with the IHC
and the mask into 16 tiles of 128 px (32 tiles). Fold k tests the tiles with (row + col) % 4 == k (the folds of
``deepliif_paired.py``; neighbouring tiles are correlated, so this is optimistic); of the other tiles every
sixth is validation (best epoch by validation positivity BCE; the DAB threshold is the validation nucleus
pixels' quantile that calls as many pixels positive as the training tiles have, so no test tile and no
validation label chooses anything), the rest train.

Model (``positivity_recipe.yaml``, trained by the package: ``biomedai.methods.virtual_ihc.paired_training``, the
same code as ``biomedai train virtual_ihc -c positivity_recipe.yaml``): Table 2 generator (width 16, 2 residual
units) with a 4th output (positivity logit), pix2pix loss (LSGAN x ``lambda_gan`` + 100 x L1 on RGB; 30 epochs
of 20 steps of 4 tiles, the last 15 decaying) + ``lambda_positivity`` x BCE (pos_weight 5) on the positive-nucleus
mask; DAB of OD 0.09 drawn above the threshold. Compared with "all negative" (the haematoxylin panel: an IHC
without DAB), the same model's RGB without DAB, and (``--plain``) the same pix2pix without the head.

Scores over the 32 test tiles pooled: per-nucleus positivity (mask nuclei, positive when the generated image's
mean DAB exceeds the Ki-67 quantifier's 0.04) as Cohen's kappa, positive F1 and accuracy; the Ki-67
quantifier's positive ratio on the generated tiles against the mask's; SSIM / PSNR against the real IHC;
95 % intervals by a bootstrap over tiles (``biomedai.metrics.bootstrap_ci``).

    python benchmarks/quality/virtual_ihc/positivity_paired.py 
    python benchmarks/quality/virtual_ihc/positivity_paired.py --final runs/vihc_final   # = biomedai train ... -c
    python benchmarks/quality/virtual_ihc/positivity_paired.py --finish runs/vihc_final/model \
        --to src/biomedai/methods/virtual_ihc/models/default       # + card data, fp16 when it changes nothing
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from biomedai.methods.virtual_ihc.config import VirtualIHCConfig
from biomedai.methods.virtual_ihc.cyclegan import Pix2Pix
from biomedai.methods.virtual_ihc.evaluation import score_generated
from biomedai.methods.virtual_ihc.paired_training import fit_paired, generate_paired, load_paired_tiles, train_paired
from biomedai.metrics import binary_agreement_from_counts
from biomedai.metrics.bootstrap import bootstrap_ci

ROOT = Path(os.environ.get("BIOMEDAI_SHARED_DATA", Path(__file__).resolve().parents[3].parent / "shared" / "data")
            ) / "ki67" / "deepliif_sample"
TILE, NUCLEUS_PX = 128, 20.0
HEAD = "positivity pix2pix (ours)"
RECIPE = Path(__file__).with_name("positivity_recipe.yaml")


def model_config(seed: int, minutes: float, head: bool = True, **overrides: object) -> VirtualIHCConfig:
    """The bundled recipe (``positivity_recipe.yaml``, the same file ``biomedai train -c`` reads) for one fit."""
    base = VirtualIHCConfig.from_file(RECIPE)
    return base.replace(seed=seed, train_seconds=minutes * 60.0, mode="pix2pix", condition="none",
                        positivity_head=head, **overrides)


def load_tiles(root: Path) -> dict[str, np.ndarray]:
    return load_paired_tiles(root, TILE, "hematoxylin")


def fit(data: dict[str, np.ndarray], train: np.ndarray, val: np.ndarray, cfg: VirtualIHCConfig
        ) -> tuple[Pix2Pix, float, dict[str, object]]:
    return fit_paired(data, train, val, cfg)


def generate(model: Pix2Pix, view: np.ndarray, threshold: float, draw: bool = True) -> np.ndarray:
    return generate_paired(model, view, threshold, draw)


def summarise(rows: list[dict[str, object]]) -> dict[str, object]:
    counts = np.array([[r["n_nuclei"], r["true_positive_nuclei"], r["called_positive_nuclei"],
                        r["both_positive_nuclei"]] for r in rows], np.float64)
    q = np.array([[r["quantifier_n_cells"], r["quantifier_n_positive"]] for r in rows], np.float64)
    true_ratio = counts[:, 1].sum() / counts[:, 0].sum()

    def ratio_error(c: np.ndarray, qq: np.ndarray) -> float:
        return abs(qq[:, 1].sum() / max(qq[:, 0].sum(), 1.0) - c[:, 1].sum() / max(c[:, 0].sum(), 1.0))

    def ci(metric, *arrays) -> list[float]:
        r = bootstrap_ci(metric, *arrays, n_resamples=2000, seed=0)
        return [round(r.estimate, 4), round(r.low, 4), round(r.high, 4)]

    ssim = np.array([r["ssim"] for r in rows])
    psnr = np.array([r["psnr"] for r in rows])
    return {"n_tiles": len(rows), "n_nuclei": int(counts[:, 0].sum()), "true_ratio": round(true_ratio, 4),
            "kappa": ci(lambda c: binary_agreement_from_counts(c)["kappa"], counts),
            "f1_positive": ci(lambda c: binary_agreement_from_counts(c)["f1_positive"], counts),
            "accuracy": ci(lambda c: binary_agreement_from_counts(c)["accuracy"], counts),
            "called_positive_nuclei": int(counts[:, 2].sum()), "both_positive_nuclei": int(counts[:, 3].sum()),
            "quantifier_ratio": round(q[:, 1].sum() / max(q[:, 0].sum(), 1.0), 4),
            "abs_ratio_error_quantifier": ci(ratio_error, counts, q),
            "ssim": ci(np.mean, ssim), "psnr_db": ci(np.mean, psnr)}


def paired_difference(rows_a: list[dict[str, object]], rows_b: list[dict[str, object]], key: str) -> list[float]:
    """Bootstrap over tiles of mean(a) - mean(b) for a per-tile score (the same tiles in both)."""
    a = np.array([r[key] for r in rows_a], np.float64)
    b = np.array([r[key] for r in rows_b], np.float64)
    r = bootstrap_ci(lambda x, y: float(np.mean(x - y)), a, b, n_resamples=2000, seed=0)
    return [round(r.estimate, 4), round(r.low, 4), round(r.high, 4)]


def cross_validate(args: argparse.Namespace, data: dict[str, np.ndarray]) -> dict[str, object]:
    rows: dict[str, list[dict[str, object]]] = {}
    fits: dict[str, list[dict[str, object]]] = {}
    for fold in args.folds:
        train = np.flatnonzero(data["fold"] != fold)
        test = np.flatnonzero(data["fold"] == fold)
        val, train = train[::6], np.setdiff1d(train, train[::6])
        variants = [(HEAD, True)] + ([("pix2pix without head (same view and steps)", False)] if args.plain else [])
        outputs = {"all negative (haematoxylin panel)": data["hema"][test]}
        for name, head in variants:
            cfg = model_config(fold, args.minutes_per_fold, head, lambda_gan=args.lambda_gan,
                               lambda_positivity=args.lambda_positivity)
            model, threshold, info = fit(data, train, val, cfg)
            fits.setdefault(name, []).append({"fold": fold, **info})
            print(f"fold {fold} {name}: {info}", flush=True)
            outputs[name] = generate(model, data["view"][test], threshold)
            if head:
                outputs["ours without DAB (RGB branch only)"] = generate(model, data["view"][test], threshold, False)
        for name, gen in outputs.items():
            for k, g in zip(test, gen):
                s = score_generated(g, data["ihc"][k], data["seg"][k], NUCLEUS_PX)
                rows.setdefault(name, []).append({"fold": fold, "tile": int(k), "image": str(data["image"][k]), **s})
    return {"summary": summary_of(rows), "fits": fits, "rows": rows}


def summary_of(rows: dict[str, list[dict[str, object]]]) -> dict[str, dict[str, object]]:
    summary = {name: summarise(r) for name, r in rows.items()}
    neg = rows["all negative (haematoxylin panel)"]
    for name, r in rows.items():
        if name != "all negative (haematoxylin panel)":
            summary[name]["ssim_minus_all_negative"] = paired_difference(r, neg, "ssim")
            summary[name]["psnr_minus_all_negative"] = paired_difference(r, neg, "psnr")
    return summary


def merge(paths: list[Path]) -> dict[str, object]:
    """Pool the rows of several runs over different folds (e.g. folds 0-1 and 2-3 run as two queue jobs)."""
    records = [json.loads(p.read_text()) for p in paths]
    rows: dict[str, list[dict[str, object]]] = {}
    fits: dict[str, list[dict[str, object]]] = {}
    for rec in records:
        for name, r in rec["rows"].items():
            rows.setdefault(name, []).extend(r)
        for name, f in rec["fits"].items():
            fits.setdefault(name, []).extend(f)
    folds = sorted({int(r["fold"]) for r in next(iter(rows.values()))})
    return {"merged_from": [{"file": p.name, "command": r["command"], "date": r["date"],
                             "load_average_at_start": r["load_average_at_start"],
                             "load_average_at_end": r["load_average_at_end"], "wall_s": r["wall_s"]}
                            for p, r in zip(paths, records)],
            "folds": folds, "summary": summary_of(rows), "fits": fits, "rows": rows}


def train_final(args: argparse.Namespace, data: dict[str, np.ndarray]) -> dict[str, object]:
    """The bundled model: the package's train action (``paired_training.train_paired``: all 32 tiles, every sixth
    for validation) into ``--final`` (model folder ``--final/model``, checkpoints and metrics.jsonl beside it)."""
    cfg = model_config(args.seed, args.minutes, True, lambda_gan=args.lambda_gan,
                       lambda_positivity=args.lambda_positivity)
    folder, result = train_paired(args.root, cfg.replace(model="positivity"), args.final)
    print(f"final: {result['fit']}", flush=True)
    return {"folder": str(folder), **result}


def finish(args: argparse.Namespace, data: dict[str, np.ndarray]) -> dict[str, object]:
    """Re-save the ``--final`` model into ``--to`` with its terms and the cross-validated test numbers of its
    recipe (``--cv``), in float16 when that changes no validation number."""
    import copy

    from biomedai.methods.virtual_ihc.model_io import load_virtual_ihc, save_virtual_ihc

    model, info = load_virtual_ihc(args.finish)
    cv = json.loads(args.cv.read_text())
    idx = np.arange(len(data["view"]))
    val = idx[::6]
    wrapper = Pix2Pix(model.config)
    wrapper.G.load_state_dict(model.generator.state_dict())

    def val_numbers(pix: Pix2Pix) -> dict[str, object]:
        gen = generate(pix, data["view"][val], model.config.positivity_threshold)
        s = summarise([score_generated(g, data["ihc"][k], data["seg"][k], NUCLEUS_PX) for k, g in zip(val, gen)])
        return {k: s[k] for k in ("kappa", "f1_positive", "quantifier_ratio", "ssim", "psnr_db")}

    fp32 = val_numbers(wrapper)
    half = copy.deepcopy(wrapper)
    half.G.load_state_dict({k: v.half().float() for k, v in wrapper.G.state_dict().items()})
    fp16 = val_numbers(half)
    same = all(np.allclose(fp32[k], fp16[k], atol=5e-3) for k in fp32)
    ours = cv["summary"][HEAD]
    neg = cv["summary"]["all negative (haematoxylin panel)"]
    keys = ("kappa", "f1_positive", "accuracy", "abs_ratio_error_quantifier", "ssim", "psnr_db")
    info.training_data.update(non_commercial=True, licence="DeepLIIF sample: Apache 2.0 with Commons Clause, "
                              "non-commercial academic use only; the weights inherit these terms")
    info.licence = "non-commercial academic use only (training-data terms)"
    info.metrics = {"test_" + k: {"estimate": ours[k][0], "ci95": ours[k][1:]} for k in keys}
    info.metrics.update({"all_negative_" + k: neg[k][0] for k in keys})
    info.metrics_data = (f"4-fold tile-level cross-validation on the DeepLIIF sample (32 tiles of 128 px, "
                         f"{ours['n_nuclei']} mask nuclei, {ours['true_ratio']} positive): models of this recipe "
                         "trained without the test tiles; the bundled model itself was trained on all tiles; "
                         "95 % intervals by a bootstrap over tiles")
    info.extra["fp16_changes_no_validation_number"] = bool(same)
    info.extra["validation_fp32"], info.extra["validation_fp16"] = fp32, fp16
    folder = save_virtual_ihc(args.to, model, info, half=bool(same))
    return {"folder": str(folder), "fp16": bool(same), "validation_fp32": fp32, "validation_fp16": fp16}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=ROOT)
    ap.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--minutes-per-fold", type=float, default=3.5, help="wall-time cap per model and fold")
    ap.add_argument("--plain", action="store_true", help="also train the same pix2pix without the head")
    ap.add_argument("--lambda-gan", type=float, default=1.0)
    ap.add_argument("--lambda-positivity", type=float, default=10.0)
    ap.add_argument("--final", type=Path, default=None, help="train the bundled model into this folder instead")
    ap.add_argument("--minutes", type=float, default=3.5, help="--final: wall-time cap")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--half", action="store_true", help="--final: store fp16 weights")
    ap.add_argument("--finish", type=Path, default=None, help="a --final model folder (FINAL/model) to re-save with its card data")
    ap.add_argument("--cv", type=Path, default=Path(__file__).with_name("results_positivity_paired.json"))
    ap.add_argument("--to", type=Path, default=None, help="--finish: destination model folder")
    ap.add_argument("--merge", type=Path, nargs="+", default=None, help="pool the rows of these CV result files")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.merge:
        merged = merge(args.merge)
        out = args.out or Path(__file__).with_name("results_positivity_paired.json")
        out.write_text(json.dumps(merged, indent=1, default=float))
        print(json.dumps(merged["summary"], indent=1, default=float))
        return
    data = load_tiles(args.root)
    t0 = time.time()
    load0 = os.getloadavg()
    if args.finish:
        print(json.dumps(finish(args, data), indent=1, default=float))
        return
    result = train_final(args, data) if args.final else cross_validate(args, data)
    record = {"data": "DeepLIIF sample train/{Bladder1,Lung1} (real, registered; non-commercial), 32 tiles of 128 px"
                      + ("" if args.final else ", 4-fold tile-level CV"),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "wall_s": round(time.time() - t0, 1),
              "load_average_at_start": load0, "load_average_at_end": os.getloadavg(), "threads": 1,
              "command": "python " + " ".join(sys.argv), **result}
    out = args.out or Path(__file__).with_name("results_positivity_final.json" if args.final
                                               else "results_positivity_paired.json")
    out.write_text(json.dumps(record, indent=1, default=float))
    print(json.dumps(record.get("summary", record.get("validation")), indent=1, default=float))


if __name__ == "__main__":
    main()
