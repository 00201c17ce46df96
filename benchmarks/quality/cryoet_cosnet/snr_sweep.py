"""Where does one-shot learning beat template matching? An SNR sweep on subtomograms SIMULATED FROM REAL STRUCTURES.

For each SNR (``--snrs``, from noise-free down to 0.01) the same simulator settings (SNR definition,
and with ``--realistic`` crowding, membranes, gold fiducials and dose weighting) produce subtomograms
of the 26 PolNet structures; every method is scored on the SAME n-way-1-shot episodes over the 10
unseen classes:

- COS-Net (DuSE-SCNN with decoder), trained on the 16 training classes within ``--seconds-per-model``;
- the supervised 3-D CNN baseline (same encoder and budget, cosine nearest neighbour on its embedding);
- plain template matching: NCC maximised over ``--rotations`` rotations of the support;
- missing-wedge-aware template matching: constrained correlation in the particle's band.

Each row gives accuracy [95 % bootstrap CI over episodes], COS-Net's Dice, training seconds and
inference milliseconds per subtomogram. The FSC of two aligned half-set averages (one training class)
calibrates each SNR against what subtomogram averaging would measure on real data.

CPU (reduced):  python benchmarks/quality/cryoet_cosnet/snr_sweep.py --out runs/cryoet_snr_sweep
GPU (full):     benchmarks/device/cryoet_snr_sweep.sh
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "src"))

REALISTIC = {"crowding": 2, "membrane_probability": 0.3, "fiducial_probability": 0.1, "dose_per_tilt": 3.0}


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--templates", default=os.environ.get("CRYOET_TEMPLATES", str(ROOT.parent / "shared" / "data" /
                                                                                   "cryoet" / "templates_10A")))
    ap.add_argument("--out", default="runs/cryoet_snr_sweep")
    ap.add_argument("--snrs", default="inf,1,0.5,0.1,0.05,0.01")
    ap.add_argument("--snr-definition", default="projection_band", choices=("projection_band", "projection", "volume"))
    ap.add_argument("--realistic", action="store_true", help=f"add {REALISTIC}")
    ap.add_argument("--n-per-class", type=int, default=40)
    ap.add_argument("--width", type=int, default=8)
    ap.add_argument("--embedding-dim", type=int, default=128)
    ap.add_argument("--seconds-per-model", type=float, default=60.0)
    ap.add_argument("--eval-episodes", type=int, default=300)
    ap.add_argument("--support-pool", type=int, default=10)
    ap.add_argument("--rotations", type=int, default=60)
    ap.add_argument("--dice-targets-per-class", type=int, default=10)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args()


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def fsc_calibration(data, class_index: int, band: tuple[float, float]) -> dict:
    """Half-set FSC of one class aligned with its true poses: mean FSC and per-particle SSNR in the band."""
    from biomedai.data.cryoet_snr import half_set_fsc, resolution_at, ssnr_from_fsc

    idx = np.flatnonzero(data.labels == class_index)
    freq, fsc, n_half = half_set_fsc(data.volumes[idx], data.rotations[idx])
    inside = (freq >= band[0]) & (freq <= band[1])
    return {"class": data.class_names[class_index], "particles_per_half": n_half,
            "fsc_mean_in_band": float(fsc[inside].mean()),
            "ssnr_per_particle_in_band": float(ssnr_from_fsc(fsc[inside], n_half).mean()),
            "fsc_0143_cycles_per_voxel": resolution_at(freq, fsc, 0.143),
            "fsc": [round(float(v), 4) for v in fsc]}


def main() -> int:
    args = parse_args()
    import torch

    from biomedai.data import cryoet_sim as sim
    from biomedai.methods.cryoet_cosnet.config import TEST_CLASSES, TRAIN_CLASSES, CosNetConfig
    from biomedai.methods.cryoet_cosnet.core import (cosine_scores, embed_volumes, evaluate_model, ncc_rotation_scores,
                                                     plan_episodes, scores_table, train_cosnet, train_supervised)
    from biomedai.methods.cryoet_cosnet.matching import constrained_correlation_scores

    if args.threads:
        torch.set_num_threads(args.threads)
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else (
        "cpu" if args.device == "auto" else args.device)
    machine = (torch.cuda.get_device_name(0) if device.startswith("cuda")
               else f"CPU ({platform.processor() or 'x86'}, {torch.get_num_threads()} threads)")
    paths = sorted(Path(args.templates).glob("*.mrc"))
    if len(paths) < len(TRAIN_CLASSES) + len(TEST_CLASSES):
        print(f"need the 26 templates in {args.templates}; found {len(paths)}")
        return 2
    templates = sim.load_structures(paths)
    settings = sim.SimulationSettings(snr_definition=args.snr_definition, **(REALISTIC if args.realistic else {}))
    band = settings.band or (1.0 / settings.box, 0.5)
    tilt_range = (settings.tilt_min, settings.tilt_max)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    report = {"machine": machine, "load_average_at_start": round(load, 1), "args": vars(args),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "data": "subtomograms SIMULATED from real structures (PolNet 10 A maps), not experimental",
              "simulator": settings.to_dict(), "snr": {}}
    md = [f"# Cryo-ET SNR sweep ({report['date']}, {machine}, load {load:.1f})", "",
          f"SIMULATED subtomograms from 26 real structures; SNR definition **{args.snr_definition}**"
          + (f"; realistic boxes {REALISTIC}" if args.realistic else "; isolated particles") + ".",
          f"{args.n_per_class} per class; 16 training / 10 unseen test classes; {args.eval_episodes} episodes per "
          f"n-way, the same for every method; networks: width {args.width}, {args.seconds_per_model:g} s of training "
          f"each; template matching over {args.rotations} rotations.", "",
          "| SNR | method | 2-way | 4-way | 6-way | 8-way | Dice | train s | ms / subtomogram |",
          "|---|---|---|---|---|---|---|---|---|"]
    for snr_text in args.snrs.split(","):
        snr = float(snr_text)
        data, sim_s = timed(lambda: sim.simulate_subtomograms(templates, args.n_per_class, snr, settings,
                                                              seed=args.seed + 17))
        train_set, test_set = data.subset(list(TRAIN_CLASSES)), data.subset(list(TEST_CLASSES))
        cfg = CosNetConfig(width=args.width, embedding_dim=args.embedding_dim, steps=100000, steps_per_epoch=1,
                           train_seconds=args.seconds_per_model, device=device, eval_episodes=args.eval_episodes,
                           support_pool=args.support_pool, seed=args.seed,
                           dice_targets_per_class=args.dice_targets_per_class)
        plan = plan_episodes(test_set.labels, cfg.eval_ways, cfg.eval_episodes, cfg.support_pool, args.seed)
        n_test = len(test_set.labels)
        entry = {"simulate_seconds": round(sim_s, 1), "effective_snr_mean": float(np.mean(data.effective_snr)),
                 "calibration": fsc_calibration(train_set, 0, band) if math.isfinite(snr) else None, "methods": {}}
        model, info = train_cosnet(cfg, train_set)
        res, infer_s = timed(lambda: evaluate_model(model, test_set, cfg, plan, device=device))
        entry["methods"]["COS-Net (DuSE-SCNN w Decoder)"] = {
            **res, "train_seconds": info["train_seconds"], "steps": info["steps"], "ms_per_subtomogram": 1e3 * infer_s / n_test}
        sup, sinfo = train_supervised(cfg, train_set)
        feats, embed_s = timed(lambda: embed_volumes(sup, test_set.volumes, cfg.batch_size)[0])
        entry["methods"]["Supervised 3D CNN + NN"] = {
            "accuracy": scores_table(lambda s, t: cosine_scores(feats[plan.pool_idx], feats[plan.target_idx]),
                                     test_set, plan, cfg.eval_ways, args.seed),
            "train_seconds": sinfo["train_seconds"], "steps": sinfo["steps"], "ms_per_subtomogram": 1e3 * embed_s / n_test}
        scorers = {"Template matching, NCC": lambda s, t: ncc_rotation_scores(s, t, args.rotations, args.seed, device),
                   "Template matching, wedge-aware": lambda s, t: constrained_correlation_scores(
                       s, t, args.rotations, tilt_range, band, args.seed)}
        n_pairs = len(plan.pool_idx) * len(plan.target_idx)
        for name, scorer in scorers.items():
            acc, tm_s = timed(lambda: scores_table(scorer, test_set, plan, cfg.eval_ways, args.seed))
            entry["methods"][name] = {"accuracy": acc, "train_seconds": 0.0,
                                      "ms_per_subtomogram": 1e3 * tm_s / len(plan.target_idx),
                                      "ms_per_support_target_pair": 1e3 * tm_s / n_pairs}
        report["snr"][snr_text] = entry
        for name, r in entry["methods"].items():
            cells = [f"{r['accuracy'][f'{n}way']['mean']:.3f} [{r['accuracy'][f'{n}way']['ci_low']:.2f}, "
                     f"{r['accuracy'][f'{n}way']['ci_high']:.2f}]" for n in cfg.eval_ways]
            dice = f"{r['dice_mean_crf']:.2f}" if "dice_mean_crf" in r else ""
            md.append(f"| {snr_text} | {name} | " + " | ".join(cells) +
                      f" | {dice} | {r['train_seconds']:.0f} | {r['ms_per_subtomogram']:.1f} |")
        cal = entry["calibration"]
        if cal:
            md.append(f"| {snr_text} | *calibration* | half-set FSC in band {cal['fsc_mean_in_band']:.3f} "
                      f"({cal['particles_per_half']} per half, {cal['class']}); SSNR per particle "
                      f"{cal['ssnr_per_particle_in_band']:.3g}; effective SNR {entry['effective_snr_mean']:.3g} | | | | | | |")
        print(f"SNR {snr_text}: " + "; ".join(f"{k}: 2-way {v['accuracy']['2way']['mean']:.3f}"
                                             for k, v in entry["methods"].items()), flush=True)
        (out / "results.json").write_text(json.dumps(report, indent=1, default=float))
        (out / "tables.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
