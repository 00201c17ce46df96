"""Ki-67 on real data (DeepLIIF sample): the two tables of issue 4.

1. IHC quantification vs ground truth, per tile: positive / negative counts, labelling index, area
   Rpos, per-cell F1 of positive / negative calls (against the masks and ``val/metrics.json``).
2. Ki-67 from morphology: the patch classifier (padding-free ``resnet18_valid`` and Table 2's padded
   ``resnet18``, same training budget) trained on haematoxylin-panel cells of the train tiles (labels
   from the IHC mask), tested on the test tiles: patch accuracy vs the majority-class rate, per-class
   recall and F1, balanced accuracy, and Pearson r of FCN-predicted vs true Rpos across test tiles,
   per seed and as mean +- sd over seeds.
3. A diagnostic: per tile and view, the ROC AUC of one number (the darkest grey in each true nucleus)
   for positive vs negative nuclei, i.e. how much IHC information a "haematoxylin" view carries.

    python benchmarks/quality/ki67/quality.py --ihc-only                 # table 1 only (seconds)
    python benchmarks/quality/ki67/quality.py --epochs 20 --seeds 0,1,2 --json q.json   # all (GPU: ~2 min; CPU: long)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SRC = Path(__file__).resolve().parents[3] / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

DEFAULT_DATA = Path(os.environ.get("BIOMEDAI_SHARED_DATA", Path(__file__).resolve().parents[4] / "shared" / "data")
                    ) / "ki67" / "deepliif_sample"


def _f(v, digits=3):
    return "n/a" if v is None else (f"{v:.{digits}f}" if isinstance(v, float) else str(v))


def ihc_table(result: dict) -> str:
    lines = ["| tile | split | true pos/neg | ours pos/neg | metrics.json pos/neg | true LI % | ours LI % "
             "| true Rpos | ours Rpos | cell F1 | F1 pos | F1 neg |", "|" + "---|" * 12]
    for r in result["rows"]:
        mj = f"{r['metrics_json_pos']}/{r['metrics_json_neg']}" if "metrics_json_pos" in r else "-"
        lines.append(f"| {r['tile']} | {r['split']} | {r['true_pos']}/{r['true_neg']} | {r['pred_pos']}/{r['pred_neg']} "
                     f"| {mj} | {_f(r['true_LI_pct'], 1)} | {_f(r['pred_LI_pct'], 1)} | {_f(r['true_Rpos'])} "
                     f"| {_f(r['pred_Rpos'])} | {_f(r['cell_f1'])} | {_f(r['f1_positive'])} | {_f(r['f1_negative'])} |")
    s = result["summary"]
    lines.append("")
    lines.append(f"Test tiles: mean cell F1 {_f(s['mean_cell_f1_test'])}, mean F1 positive "
                 f"{_f(s['mean_f1_positive_test'])}, mean F1 negative {_f(s['mean_f1_negative_test'])}, mean |LI error| "
                 f"{_f(s['mean_abs_LI_error_pct_test'], 1)} points. Pearson r over all {s['tiles']} tiles: "
                 f"LI {_f(s['pearson_LI_all_tiles'])}, Rpos {_f(s['pearson_Rpos_all_tiles'])}.")
    return "\n".join(lines)


MORPH_COLUMNS = ("accuracy", "majority_rate", "balanced_accuracy", "cell_balanced_accuracy")


def morphology_table(runs: list[dict]) -> str:
    """One row per (architecture, seed, view), then mean +- sd per (architecture, view)."""
    head = ("| network | seed | test view | patches (neg/pos/bg) | accuracy | majority | bal. acc. (3 cl.) "
            "| bal. acc. pos/neg | recall neg/pos/bg | F1 neg/pos/bg | Pearson r Rpos | val bal. acc. |")
    lines = [head, "|" + "---|" * 12]
    for run in runs:
        for view, v in run["views"].items():
            c, r, f = v["test_counts"], v["recall"], v["f1"]
            lines.append(f"| {run['architecture']} | {run['seed']} | {view} | {v['test_patches']} ({c['negative']}/"
                         f"{c['positive']}/{c['background']}) | {_f(v['accuracy'])} | {_f(v['majority_rate'])} "
                         f"| {_f(v['balanced_accuracy'])} | {_f(v['cell_balanced_accuracy'])} "
                         f"| {_f(r['negative'], 2)}/{_f(r['positive'], 2)}/{_f(r['background'], 2)} "
                         f"| {_f(f['negative'], 2)}/{_f(f['positive'], 2)}/{_f(f['background'], 2)} "
                         f"| {_f(v['pearson_Rpos'], 2)} | {_f(run['best_metric'])} |")
    lines += ["", "Mean +- sd over seeds:", "",
              "| network | test view | accuracy | bal. acc. (3 cl.) | bal. acc. pos/neg | recall pos | F1 pos "
              "| Pearson r Rpos |", "|" + "---|" * 8]
    for (arch, view), vs in _group(runs).items():
        def ms(key):
            vals = [key(v) for v in vs if key(v) is not None]
            return f"{np.mean(vals):.3f} +- {np.std(vals):.3f}" if vals else "n/a"
        lines.append(f"| {arch} | {view} | {ms(lambda v: v['accuracy'])} | {ms(lambda v: v['balanced_accuracy'])} "
                     f"| {ms(lambda v: v['cell_balanced_accuracy'])} | {ms(lambda v: v['recall']['positive'])} "
                     f"| {ms(lambda v: v['f1']['positive'])} | {ms(lambda v: v['pearson_Rpos'])} |")
    lines.append("")
    for run in runs:
        for view, v in run["views"].items():
            tiles = ", ".join(f"{t['tile']} {_f(t['pred_Rpos'], 2)} vs {_f(t['true_Rpos'], 2)}" for t in v["tiles"])
            lines.append(f"- {run['architecture']} seed {run['seed']} {view}: FCN Rpos vs true Rpos per tile: {tiles}; "
                         f"confusion (rows true neg/pos/bg, cols predicted) {v['confusion_rows_true_cols_pred']}")
    return "\n".join(lines)


def _group(runs: list[dict]) -> dict:
    groups: dict = {}
    for run in runs:
        for view, v in run["views"].items():
            groups.setdefault((run["architecture"], view), []).append(v)
    return groups


def darkness_table(rows: list[dict]) -> str:
    lines = ["| tile | split | view | AUC of the darkest nuclear pixel, positive vs negative |", "|---|---|---|---|"]
    lines += [f"| {r['tile']} | {r['split']} | {r['view']} | {_f(r['auc_darkest_pixel'], 2)} |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--ihc-only", action="store_true")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--architectures", default="resnet18_valid,resnet18")
    parser.add_argument("--seeds", default="0", help="comma-separated training seeds")
    parser.add_argument("--class-balance", default=None, choices=("none", "weighted_loss", "sampler"),
                        help="default: the method's config default")
    parser.add_argument("--augmentation", default=None, choices=("none", "flips", "dihedral"))
    parser.add_argument("--colour-jitter", type=float, default=None)
    parser.add_argument("--balance", action="store_true", help="oversample classes to --per-class each")
    parser.add_argument("--per-class", type=int, default=400, help="balanced training patches per class")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None,
                        help="keep training outputs (ARCH_seedN/weights.pt) here; otherwise in a temporary folder")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    import torch

    from biomedai.methods.ki67.config import Ki67Config
    from biomedai.methods.ki67.evaluation import evaluate_ihc_quantifier, morphology_experiment

    torch.set_num_threads(args.threads)
    config = Ki67Config(seed=args.seed)
    report: dict = {"data": str(args.data)}
    start = time.perf_counter()
    ihc = evaluate_ihc_quantifier(args.data, config)
    report["ihc"] = {"rows": ihc["rows"], "summary": ihc["summary"], "seconds": time.perf_counter() - start}
    print("## IHC quantification vs ground truth (DeepLIIF sample)\n")
    print(ihc_table(ihc))
    channel = evaluate_ihc_quantifier(args.data, config.replace(ihc_map_mode="channel_filter"))
    report["ihc_channel_filter_Rpos"] = {r["tile"]: r["pred_Rpos"] for r in channel["rows"]}
    report["ihc_channel_filter_pearson_Rpos"] = channel["summary"]["pearson_Rpos_all_tiles"]
    print("\nRpos by the public notebook's BGR channel filter (the paper's IHC side): "
          + ", ".join(f"{t} {_f(v)}" for t, v in report["ihc_channel_filter_Rpos"].items())
          + f"; Pearson r vs true Rpos over all tiles {_f(report['ihc_channel_filter_pearson_Rpos'])}")
    from biomedai.methods.ki67.evaluation import nuclear_darkness_auc

    report["nuclear_darkness_auc"] = nuclear_darkness_auc(args.data)
    print("\n## What the haematoxylin views carry: one-number separability of positive vs negative nuclei\n")
    print(darkness_table(report["nuclear_darkness_auc"]))
    from biomedai.methods.ki67.evaluation import label_dab_check, nuclear_intensity_baseline

    report["label_dab_check"] = label_dab_check(args.data)
    print("\n## Label check: mean DAB OD of the mask's nuclei on the IHC image\n")
    print("| tile | split | median DAB pos | median DAB neg | pos above thr. | neg above thr. |\n" + "|---" * 6 + "|")
    for r in report["label_dab_check"]:
        print(f"| {r['tile']} | {r['split']} | {_f(r['median_dab_positive'])} | {_f(r['median_dab_negative'])} "
              f"| {r['positive_above']}/{r['positive']} | {r['negative_above']}/{r['negative']} |")
    print(f"(threshold {report['label_dab_check'][0]['threshold']}, the quantifier's dab_threshold)")

    report["nuclear_intensity_baseline"] = nuclear_intensity_baseline(args.data)
    print("\nReference: class-balanced logistic regression on (darkest, mean) grey of each TRUE nucleus, trained "
          "on the train panel, tested on the test cells: " + "; ".join(
              f"{view}: recall pos {_f(v['recall_positive'], 2)}, neg {_f(v['recall_negative'], 2)}, "
              f"balanced accuracy {_f(v['balanced_accuracy'], 3)} ({v['cells']} cells)"
              for view, v in report["nuclear_intensity_baseline"].items()))
    if not args.ihc_only:
        changes = {k: v for k, v in (("class_balance", args.class_balance), ("augmentation", args.augmentation),
                                     ("colour_jitter", args.colour_jitter)) if v is not None}
        runs = []
        for arch in args.architectures.split(","):
            for seed in (int(x) for x in args.seeds.split(",")):
                cfg = config.replace(epochs=args.epochs, lr_step_epochs=max(1, args.epochs // 2), device=args.device,
                                     balance_classes=args.balance, architecture=arch, seed=seed, **changes)
                start = time.perf_counter()
                with tempfile.TemporaryDirectory() as tmp:  # a folder is needed to keep the best epoch
                    out_dir = args.out / f"{arch}_seed{seed}" if args.out else Path(tmp)
                    morph = morphology_experiment(args.data, cfg, out_dir, per_class=args.per_class)
                morph.pop("model")
                morph.update(seconds=time.perf_counter() - start, architecture=arch, seed=seed,
                             load_average=os.getloadavg(), class_balance=cfg.class_balance,
                             augmentation=cfg.augmentation, colour_jitter=cfg.colour_jitter,
                             device=torch.cuda.get_device_name(0) if cfg.device != "cpu" and torch.cuda.is_available()
                             else "cpu")
                runs.append(morph)
                print(f"\n{arch} seed {seed}: {morph['seconds']:.0f} s on {morph['device']}, load average "
                      f"{morph['load_average'][0]:.1f}; train cells/background {morph['train_cells_and_background']}; "
                      f"training patches {morph['train_patches']}, validation {morph['val_patches']} (best "
                      f"{morph['monitor']} {_f(morph['best_metric'])} at epoch {morph['best_epoch']})", flush=True)
        report["morphology"] = {"epochs": args.epochs, "balance_classes": args.balance, "runs": runs}
        print(f"\n## Ki-67 from morphology ({args.epochs} epochs, class balance {runs[0]['class_balance']}, "
              f"augmentation {runs[0]['augmentation']}, colour jitter {runs[0]['colour_jitter']}, "
              f"oversampling={args.balance})\n")
        print(morphology_table(runs))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
