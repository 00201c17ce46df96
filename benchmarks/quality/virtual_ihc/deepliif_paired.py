"""Paired real test: DeepLIIF haematoxylin -> Ki-67 IHC, 4-fold tile-level cross-validation.

Data: ``shared/data/ki67/deepliif_sample/train/{Bladder1,Lung1}.png`` (non-commercial terms): pixel-registered
haematoxylin and IHC panels with a positive/negative nucleus mask. Each 512 px panel is cut into 16 tiles of
128 px (32 tiles); fold k holds the tiles with (row + col) % 4 == k (tiles of both images in every fold;
neighbouring tiles are correlated, so this is optimistic). Models (same Table-2 generator, width 16, 2 residual
units, LSGAN, trained on random 64 px crops of the training tiles for the same number of steps):
pix2pix (paired), CycleGAN (the crops shuffled: unpaired), conditional CycleGAN with an ORACLE condition (the
tile's true positive fraction >= 10 %, what a perfect classifier of "high-Ki-67" tiles would give; no MIL labels
exist for these tiles), and the trivial "all negative" output (the haematoxylin panel itself: an IHC without DAB).

Scores per test tile (``biomedai.methods.virtual_ihc.evaluation``): per-nucleus positivity agreement with the
mask, the Ki-67 quantifier's positive ratio against the mask's ratio, SSIM and PSNR against the real IHC.
No FID: it needs Inception weights we do not have.

    python benchmarks/quality/virtual_ihc/deepliif_paired.py --steps 300
    python benchmarks/quality/virtual_ihc/deepliif_paired.py --merge A.json B.json   # pool folds run apart
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from biomedai.methods.ki67.deepliif import seg_to_instances
from biomedai.methods.virtual_ihc.config import VirtualIHCConfig
from biomedai.methods.virtual_ihc.cyclegan import CycleGAN, Pix2Pix, to_tensor, to_uint8
from biomedai.methods.virtual_ihc.evaluation import score_generated
from biomedai.methods.virtual_ihc.realdata import grid_tiles, paired_panels, random_crops
from biomedai.methods.virtual_ihc.training import train_cyclegan, train_pix2pix

ROOT = Path(os.environ.get("BIOMEDAI_SHARED_DATA", Path(__file__).resolve().parents[3].parent / "shared" / "data")
            ) / "ki67" / "deepliif_sample"
TILE, CROP, NUCLEUS_PX = 128, 64, 20.0


def true_fraction(seg: np.ndarray) -> float:
    labels, classes = seg_to_instances(seg)
    return float(classes[1:].mean()) if labels.max() else 0.0


def crops_of(tiles: np.ndarray, n: int, seed: int) -> np.ndarray:
    return random_crops(list(tiles), n, CROP, seed)


def generate(model: torch.nn.Module, src: np.ndarray, cond: np.ndarray | None) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        c = None if cond is None else torch.as_tensor(cond, dtype=torch.float32)
        return to_uint8(model.translate(to_tensor(src), c))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=ROOT)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--folds", type=int, nargs="+", default=[0, 1], help="which of the 4 folds to run (all: 0 1 2 3)")
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("results_deepliif_paired.json"))
    ap.add_argument("--merge", type=Path, nargs="+", default=None, help="pool the rows of these result files")
    args = ap.parse_args()
    if args.merge:
        merged = merge(args.merge)
        args.out.write_text(json.dumps(merged, indent=1, default=float))
        print(json.dumps(merged["summary"], indent=1))
        return
    torch.set_num_threads(1)
    panels = paired_panels(args.root)
    hema = np.concatenate([grid_tiles(p.hematoxylin, TILE) for p in panels])
    ihc = np.concatenate([grid_tiles(p.ihc, TILE) for p in panels])
    seg = np.concatenate([grid_tiles(p.seg, TILE) for p in panels])
    per_side = 512 // TILE
    rc = [(k // per_side, k % per_side) for k in range(per_side ** 2)] * len(panels)
    fold_of = np.array([(r + c) % 4 for r, c in rc])
    frac = np.array([true_fraction(s) for s in seg])
    oracle = (frac >= 0.10).astype(np.float32)
    rows, cpu = [], {}
    for fold in args.folds:
        train, test = np.flatnonzero(fold_of != fold), np.flatnonzero(fold_of == fold)
        val, train = train[::6], np.setdiff1d(train, train[::6])
        epochs = 10
        base = dict(seed=fold, tile_size=CROP, gen_width=16, gen_res_blocks=2, disc_width=16, gan_loss="lsgan",
                    lr=2e-4, epochs=epochs, decay_epochs=epochs // 2, batch_size=4,
                    steps_per_epoch=max(args.steps // epochs, 1))
        n = 256
        src, tgt = crops_of(hema[train], n, fold), crops_of(ihc[train], n, fold)
        c_train = np.array([oracle[train][k % len(train)] for k in range(n)], np.float32)  # crop k is from tile k % n
        shuffle = np.random.default_rng(fold).permutation(n)
        outputs = {"all negative (haematoxylin panel)": hema[test]}
        for name, condition in (("pix2pix", "none"), ("CycleGAN", "none"), ("conditional CycleGAN (oracle)", "plane")):
            cfg = VirtualIHCConfig(**base, condition=condition, mode="pix2pix" if name == "pix2pix" else "cyclegan")
            torch.manual_seed(fold)
            t0 = time.process_time()
            if name == "pix2pix":
                model = Pix2Pix(cfg)
                train_pix2pix(model, src, tgt, None, hema[val], ihc[val])
                outputs[name] = generate(model, hema[test], None)
            else:
                model = CycleGAN(cfg)
                c_a = c_train if condition != "none" else None
                c_b = c_train[shuffle] if condition != "none" else None
                train_cyclegan(model, src, tgt[shuffle], c_a, c_b, hema[val], ihc[val],
                               oracle[val] if c_a is not None else None, oracle[val] if c_a is not None else None)
                outputs[name] = generate(model, hema[test], oracle[test] if condition != "none" else None)
            cpu.setdefault(name, []).append(round(time.process_time() - t0, 1))
            print(f"fold {fold} {name}: {cpu[name][-1]} s CPU", flush=True)
        for name, gen in outputs.items():
            for k, g in zip(test, gen):
                s = score_generated(g, ihc[k], seg[k], NUCLEUS_PX)
                rows.append({"fold": fold, "model": name, "tile": int(k), "oracle_label": float(oracle[k]), **s})
    record = {"data": "DeepLIIF sample train/{Bladder1,Lung1} (real, registered; non-commercial), 32 tiles of 128 px, "
                      "4-fold tile-level CV", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "load_average_at_end": os.getloadavg(), "threads": 1, "steps_per_model": args.steps,
              "command": "python " + " ".join(os.sys.argv), "fid": "not computed: needs Inception weights (absent)",
              "summary": summarise(rows, cpu), "rows": rows}
    args.out.write_text(json.dumps(record, indent=1, default=float))
    print(json.dumps(record["summary"], indent=1))


def summarise(rows: list[dict], cpu: dict[str, list[float]]) -> dict[str, dict]:
    """Pooled numbers per model over the folds present in ``rows``."""
    folds = sorted({r["fold"] for r in rows})
    summary = {}
    for name in dict.fromkeys(r["model"] for r in rows):
        sel = [r for r in rows if r["model"] == name]
        nn = sum(r["n_nuclei"] for r in sel)
        true_pos = sum(r["true_positive_nuclei"] for r in sel)
        called = sum(r["called_positive_nuclei"] for r in sel)
        q_cells = sum(r["quantifier_n_cells"] for r in sel)
        q_pos = sum(r["quantifier_n_positive"] for r in sel)
        fold_acc = [np.mean([r["accuracy"] for r in sel if r["fold"] == f and r["accuracy"] is not None])
                    for f in folds]
        summary[name] = {
            "nucleus_accuracy": round(float(np.mean([r["accuracy"] for r in sel if r["accuracy"] is not None])), 4),
            "nucleus_accuracy_per_fold": [round(float(a), 4) for a in fold_acc],
            "f1_positive_mean_over_tiles": round(float(np.mean([r["f1_positive"] for r in sel
                                                                if r["f1_positive"] is not None] or [0.0])), 4),
            "true_ratio": round(true_pos / nn, 4), "called_ratio_on_mask_nuclei": round(called / nn, 4),
            "quantifier_ratio": round(q_pos / q_cells, 4) if q_cells else None,
            "abs_ratio_error_quantifier": round(abs(q_pos / q_cells - true_pos / nn), 4) if q_cells else None,
            "ssim": round(float(np.mean([r["ssim"] for r in sel])), 4),
            "psnr_db": round(float(np.mean([r["psnr"] for r in sel])), 2),
            "folds": folds, "n_tiles": len(sel), "n_nuclei": nn,
            "train_cpu_s_per_fold": cpu.get(name)}
    return summary


def merge(paths: list[Path]) -> dict:
    """Pool the rows of runs over different folds (e.g. folds 0-1 and 2-3 run as two queue jobs)."""
    records = [json.loads(Path(p).read_text()) for p in paths]
    rows = [r for rec in records for r in rec["rows"]]
    cpu: dict[str, list[float]] = {}
    for rec in records:
        for name, s in rec["summary"].items():
            if s.get("train_cpu_s_per_fold"):
                cpu.setdefault(name, []).extend(s["train_cpu_s_per_fold"])
    return {"data": records[0]["data"], "fid": records[0]["fid"],
            "merged_from": [{"file": Path(p).name, "command": r["command"], "date": r["date"],
                             "load_average_at_end": r["load_average_at_end"], "steps_per_model": r["steps_per_model"]}
                            for p, r in zip(paths, records)],
            "summary": summarise(rows, cpu), "rows": rows}


if __name__ == "__main__":
    main()
