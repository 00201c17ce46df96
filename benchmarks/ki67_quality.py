"""Ki-67 on real data (DeepLIIF sample): the two tables of issue 4.

1. IHC quantification vs ground truth, per tile: positive / negative counts, labelling index, area
   Rpos, per-cell F1 of positive / negative calls (against the masks and ``val/metrics.json``).
2. Ki-67 from morphology: the Table 2 ResNet18 trained on haematoxylin-panel cells of the train tiles
   (labels from the IHC mask), tested on the test tiles: patch accuracy vs the majority-class rate,
   per-class recall, and Pearson r of FCN-predicted vs true Rpos across test tiles.

    python benchmarks/ki67_quality.py --ihc-only                 # table 1 only (seconds)
    python benchmarks/ki67_quality.py --epochs 20 --json q.json   # both (GPU: ~1 min; CPU: long)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

DEFAULT_DATA = Path(os.environ.get("BIOMEDAI_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
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


def morphology_table(result: dict) -> str:
    lines = ["| test view | patches (neg/pos/bg) | accuracy | majority rate | recall neg | recall pos | recall bg "
             "| Pearson r Rpos (4 tiles) |", "|" + "---|" * 8]
    for view, v in result["views"].items():
        c = v["test_counts"]
        lines.append(f"| {view} | {v['test_patches']} ({c['negative']}/{c['positive']}/{c['background']}) "
                     f"| {_f(v['accuracy'])} | {_f(v['majority_rate'])} | {_f(v['recall']['negative'])} "
                     f"| {_f(v['recall']['positive'])} | {_f(v['recall']['background'])} | {_f(v['pearson_Rpos'])} |")
    lines.append("")
    for view, v in result["views"].items():
        tiles = ", ".join(f"{t['tile']} {_f(t['pred_Rpos'], 2)} vs {_f(t['true_Rpos'], 2)}" for t in v["tiles"])
        lines.append(f"- {view}: FCN Rpos vs true Rpos per tile: {tiles}; confusion (rows true neg/pos/bg, "
                     f"cols predicted) {v['confusion_rows_true_cols_pred']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--ihc-only", action="store_true")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--balance", action="store_true", help="oversample classes to --per-class each")
    parser.add_argument("--per-class", type=int, default=400, help="balanced training patches per class")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for training outputs (weights.pt); without it the last epoch is used, not the best")
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
    if not args.ihc_only:
        cfg = config.replace(epochs=args.epochs, lr_step_epochs=max(1, args.epochs // 2), device=args.device,
                             balance_classes=args.balance)
        start = time.perf_counter()
        morph = morphology_experiment(args.data, cfg, args.out, per_class=args.per_class)
        morph.pop("model")
        morph["seconds"] = time.perf_counter() - start
        morph["device"] = torch.cuda.get_device_name(0) if cfg.device != "cpu" and torch.cuda.is_available() else "cpu"
        morph["epochs_requested"] = args.epochs
        morph["balance_classes"] = args.balance
        report["morphology"] = morph
        print(f"\n## Ki-67 from morphology (ResNet18, {args.epochs} epochs, balanced={args.balance}, {morph['device']}, "
              f"{morph['seconds']:.0f} s)\n")
        print(f"train cells/background: {morph['train_cells_and_background']}; "
              f"training patches {morph['train_patches']}; validation patches {morph['val_patches']} "
              f"(best {morph['monitor']} {_f(morph['best_metric'])} at epoch {morph['best_epoch']})\n")
        print(morphology_table(morph))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
