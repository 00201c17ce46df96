"""Where does one-shot learning beat template matching? An SNR sweep on subtomograms SIMULATED FROM REAL STRUCTURES.

For each SNR (``--snrs``, from noise-free down to 0.01) the same simulator settings (SNR definition;
realistic boxes with crowding, membranes, gold fiducials and dose weighting unless ``--isolated``)
produce test subtomograms of the 10 unseen PolNet structures; every method is scored on the SAME
n-way-1-shot episodes:

- COS-Net (DuSE-SCNN with decoder). Either a trained model folder (``--cosnet-model``, e.g. the bundled
  model, trained once on a mix of SNRs by ``train_bundled_model.py``) evaluated at every SNR, or, without
  it, a fresh network trained per SNR within ``--seconds-per-model`` (the GPU script does that);
- the supervised 3-D CNN baseline (same encoder, cosine nearest neighbour on its embedding): with
  ``--cosnet-model`` trained ONCE on the same mixed-SNR bank as the bundled model (same seeds) for
  ``--supervised-minutes``, else per SNR like COS-Net;
- plain template matching: NCC maximised over ``--rotations`` rotations of the support;
- missing-wedge-aware template matching: constrained correlation in the particle's band.

Each row gives accuracy [95 % bootstrap CI over episodes], COS-Net's Dice [CI], training seconds and
inference milliseconds per subtomogram. The FSC of two aligned half-set averages (one training class)
calibrates each SNR against what subtomogram averaging would measure on real data.

CPU (reduced, one thread, ~40 min):
    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/quality/cryoet_cosnet/snr_sweep.py \
        --cosnet-model src/biomedai/methods/cryoet_cosnet/models/default --out runs/cryoet_snr_sweep
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sim_sets import REALISTIC, TRAIN_SEED, VAL_SEED, mixed_snr_set, parse_snrs, test_set  # noqa: E402


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--templates", default=os.environ.get("CRYOET_TEMPLATES", str(ROOT.parent / "shared" / "data" /
                                                                                   "cryoet" / "templates_10A")))
    ap.add_argument("--out", default="runs/cryoet_snr_sweep")
    ap.add_argument("--snrs", default="inf,1,0.5,0.1,0.05,0.01")
    ap.add_argument("--snr-definition", default="projection_band", choices=("projection_band", "projection", "volume"))
    ap.add_argument("--isolated", action="store_true", help=f"isolated particles instead of realistic boxes {REALISTIC}")
    ap.add_argument("--cosnet-model", help="trained COS-Net model folder: evaluated at every SNR, not retrained")
    ap.add_argument("--wait-for-model", type=float, default=0.0,
                    help="seconds to wait for --cosnet-model/model.json after the baseline is trained")
    ap.add_argument("--train-snrs", default="inf,0.5,0.1,0.03", help="mixed-SNR bank (with --cosnet-model)")
    ap.add_argument("--n-per-class", type=int, default=60, help="training subtomograms per class (and SNR)")
    ap.add_argument("--val-per-class", type=int, default=12, help="validation subtomograms per class and SNR")
    ap.add_argument("--test-per-class", type=int, default=24)
    ap.add_argument("--supervised-minutes", type=float, default=20.0)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--embedding-dim", type=int, default=256)
    ap.add_argument("--binning", type=int, default=2, help="input binning of the networks trained here")
    ap.add_argument("--seconds-per-model", type=float, default=60.0, help="per-SNR training (no --cosnet-model)")
    ap.add_argument("--eval-episodes", type=int, default=500)
    ap.add_argument("--support-pool", type=int, default=10)
    ap.add_argument("--rotations", type=int, default=30)
    ap.add_argument("--dice-targets-per-class", type=int, default=14)
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


def cell(summary: dict) -> str:
    return f"{summary['mean']:.3f} [{summary['ci_low']:.2f}, {summary['ci_high']:.2f}]"


def main() -> int:
    args = parse_args()
    import torch

    from biomedai.data import cryoet_sim as sim
    from biomedai.methods.cryoet_cosnet.config import TEST_CLASSES, TRAIN_CLASSES, CosNetConfig
    from biomedai.methods.cryoet_cosnet.core import (cosine_scores, embed_volumes, evaluate_model, load_model,
                                                     ncc_rotation_scores, plan_episodes, scores_table, train_cosnet,
                                                     train_supervised)
    from biomedai.methods.cryoet_cosnet.matching import constrained_correlation_scores
    from biomedai.train.model_folder import read_model_info

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
    settings = sim.SimulationSettings(snr_definition=args.snr_definition, **({} if args.isolated else REALISTIC))
    band = settings.band or (1.0 / settings.box, 0.5)
    tilt_range = (settings.tilt_min, settings.tilt_max)
    train_tpl = {k: templates[k] for k in TRAIN_CLASSES}
    test_tpl = {k: templates[k] for k in TEST_CLASSES}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    report = {"machine": machine, "load_average_at_start": round(load, 1), "args": vars(args),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "data": "subtomograms SIMULATED from real structures (PolNet 10 A maps), not experimental",
              "simulator": settings.to_dict(), "snr": {}}
    cfg = CosNetConfig(width=args.width, embedding_dim=args.embedding_dim, input_binning=args.binning, steps=100000,
                       steps_per_epoch=1, train_seconds=args.seconds_per_model, device=device,
                       eval_episodes=args.eval_episodes, support_pool=args.support_pool, seed=args.seed,
                       dice_targets_per_class=args.dice_targets_per_class)
    mixed = args.cosnet_model is not None
    cosnet = supervised = None
    if mixed:  # the supervised CNN trained once on the bank of the COS-Net model folder, then that model loaded
        snrs = parse_snrs(args.train_snrs)
        bank = mixed_snr_set(train_tpl, snrs, args.n_per_class, settings, TRAIN_SEED + args.seed)
        val = mixed_snr_set(train_tpl, snrs, args.val_per_class, settings, VAL_SEED + args.seed)
        scfg = cfg.replace(train_seconds=60 * args.supervised_minutes, steps_per_epoch=50, lr_schedule="cosine",
                           augment=True, amp=False)
        supervised, sup_train = train_supervised(scfg, bank, out / "supervised_run", val_data=val)
        del bank
        info_file = Path(args.cosnet_model) / "model.json"
        deadline = time.time() + args.wait_for_model
        while not info_file.is_file() and time.time() < deadline:   # the recipe may still be running
            time.sleep(20)
        info = read_model_info(args.cosnet_model)
        cosnet = load_model(args.cosnet_model, cfg, device)
        cosnet_train = {"train_seconds": 60 * float(info.extra.get("train_wall_minutes", float("nan"))),
                        "train_cpu_seconds": 60 * float(info.extra.get("train_cpu_minutes", float("nan"))),
                        "steps": info.extra.get("train_steps"), "trained_on": info.training_data.get("snrs")}
        report["training"] = {"cosnet": {**cosnet_train, "model": str(args.cosnet_model)},
                              "supervised": {**sup_train, "trained_on": snrs, "n_per_class_per_snr": args.n_per_class}}
        print(f"supervised CNN: {sup_train['steps']} steps in {sup_train['train_seconds'] / 60:.1f} min, best val "
              f"{sup_train['best_metric']:.3f}", flush=True)
    training_text = (f"COS-Net: the model folder `{args.cosnet_model}` (trained once on SNRs {args.train_snrs}); "
                     f"supervised CNN trained once on the same bank for {args.supervised_minutes:g} min"
                     if mixed else f"networks trained per SNR, {args.seconds_per_model:g} s each")
    md = [f"# Cryo-ET SNR sweep ({report['date']}, {machine}, load {load:.1f})", "",
          f"SIMULATED subtomograms from 26 real structures; SNR definition **{args.snr_definition}**"
          + ("; isolated particles" if args.isolated else f"; realistic boxes {REALISTIC}") + ".",
          f"{args.test_per_class} test subtomograms per class and SNR; 16 training / 10 unseen test classes; "
          f"{args.eval_episodes} episodes per n-way, the same for every method; {training_text}; template matching "
          f"over {args.rotations} rotations.", "",
          "| SNR | method | 2-way | 4-way | 6-way | 8-way | Dice decoder / with CRF [CI] | train s | ms / subtomogram |",
          "|---|---|---|---|---|---|---|---|---|"]
    for snr_text in parse_snrs(args.snrs):
        snr = float(snr_text)
        test, sim_s = timed(lambda: test_set(test_tpl, snr_text, args.test_per_class, settings))
        plan = plan_episodes(test.labels, cfg.eval_ways, cfg.eval_episodes, cfg.support_pool, args.seed)
        n_test = len(test.labels)
        entry = {"simulate_seconds": round(sim_s, 1), "effective_snr_mean": float(np.mean(test.effective_snr)),
                 "methods": {}}
        if math.isfinite(snr):
            calib = sim.simulate_subtomograms({TRAIN_CLASSES[0]: templates[TRAIN_CLASSES[0]]}, 24, snr, settings,
                                              seed=args.seed + 17)
            entry["calibration"] = fsc_calibration(calib, 0, band)
        if not mixed:
            per_snr = sim.simulate_subtomograms(train_tpl, args.n_per_class, snr, settings, seed=args.seed + 17)
            cosnet, info = train_cosnet(cfg, per_snr)
            cosnet_train = {"train_seconds": info["train_seconds"], "steps": info["steps"]}
            supervised, sup_train = train_supervised(cfg, per_snr)
        res, infer_s = timed(lambda: evaluate_model(cosnet, test, cfg, plan, device=device))
        entry["methods"]["COS-Net (DuSE-SCNN w Decoder)"] = {**res, **cosnet_train,
                                                            "ms_per_subtomogram": 1e3 * infer_s / n_test}
        feats, embed_s = timed(lambda: embed_volumes(supervised, test.volumes, cfg.batch_size)[0])
        entry["methods"]["Supervised 3D CNN + NN"] = {
            "accuracy": scores_table(lambda s, t: cosine_scores(feats[plan.pool_idx], feats[plan.target_idx]),
                                     test, plan, cfg.eval_ways, args.seed),
            **{k: sup_train[k] for k in ("train_seconds", "steps")}, "ms_per_subtomogram": 1e3 * embed_s / n_test}
        scorers = {"Template matching, NCC": lambda s, t: ncc_rotation_scores(s, t, args.rotations, args.seed, device),
                   "Template matching, wedge-aware": lambda s, t: constrained_correlation_scores(
                       s, t, args.rotations, tilt_range, band, args.seed)}
        n_pairs = len(plan.pool_idx) * len(plan.target_idx)
        for name, scorer in scorers.items():
            acc, tm_s = timed(lambda: scores_table(scorer, test, plan, cfg.eval_ways, args.seed))
            entry["methods"][name] = {"accuracy": acc, "train_seconds": 0.0,
                                      "ms_per_subtomogram": 1e3 * tm_s / len(plan.target_idx),
                                      "ms_per_support_target_pair": 1e3 * tm_s / n_pairs}
        report["snr"][snr_text] = entry
        for name, r in entry["methods"].items():
            cells = [cell(r["accuracy"][f"{n}way"]) for n in cfg.eval_ways]
            dice = (f"{r['dice_mean_raw']:.2f} [{r['dice_raw_ci95'][0]:.2f}, {r['dice_raw_ci95'][1]:.2f}] / "
                    f"{r['dice_mean_crf']:.2f} [{r['dice_crf_ci95'][0]:.2f}, {r['dice_crf_ci95'][1]:.2f}]"
                    if "dice_mean_crf" in r else "")
            md.append(f"| {snr_text} | {name} | " + " | ".join(cells) +
                      f" | {dice} | {r['train_seconds']:.0f} | {r['ms_per_subtomogram']:.1f} |")
        cal = entry.get("calibration")
        if cal:
            md.append(f"| {snr_text} | *calibration* | half-set FSC in band {cal['fsc_mean_in_band']:.3f} "
                      f"({cal['particles_per_half']} per half, {cal['class']}); SSNR per particle "
                      f"{cal['ssnr_per_particle_in_band']:.3g}; effective SNR {entry['effective_snr_mean']:.3g} | | | | | | |")
        print(f"SNR {snr_text}: " + "; ".join(f"{k}: 2-way {v['accuracy']['2way']['mean']:.3f}"
                                             for k, v in entry["methods"].items()), flush=True)
        report["load_average_now"] = round(os.getloadavg()[0], 1)
        (out / "results.json").write_text(json.dumps(report, indent=1, default=float))
        (out / "tables.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
