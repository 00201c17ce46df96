"""COS-Net one-shot benchmark on subtomograms SIMULATED FROM REAL STRUCTURES (PolNet's 26 maps at 10 A).

For each SNR: simulate ``--n-per-class`` subtomograms of all 26 structures; train the four Table 1
variants (SCNN / DuSE-SCNN, w/o / w decoder) on the 16 training classes with the same time budget;
evaluate n-way-1-shot accuracy (95% bootstrap CI over episodes) on the 10 unseen classes with the
SAME episodes for every method, per-class Dice (CRF-refined and raw); and two baselines measured in
the same run: nearest neighbour by NCC maximised over rotations of the support (template matching)
and a plain supervised 3D CNN (same encoder, cross-entropy on the training classes, cosine nearest
neighbour on its embedding). Writes ``results.json`` and ``tables.md`` into ``--out``.

CPU (reduced):  .venv/bin/python benchmarks/quality/cryoet_cosnet/oneshot.py --device cpu --width 8 --seconds-per-model 90
GPU:            see benchmarks/device/cryoet_cosnet.sh
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "src"))

VARIANTS = {"SCNN w/o Decoder": (False, False), "SCNN w Decoder": (False, True),
            "DuSE-SCNN w/o Decoder": (True, False), "DuSE-SCNN w Decoder": (True, True)}


def find_templates(given: str) -> Path:
    """The first existing of: the given folder, ./.device/templates_10A, ./shared/data/cryoet/templates_10A."""
    for candidate in (Path(given), ROOT / ".device" / "templates_10A", ROOT / "shared" / "data" / "cryoet" /
                      "templates_10A"):
        if candidate.is_dir():
            return candidate
    return Path(given)


def _read_mrc_numpy(path: Path) -> np.ndarray:
    """Minimal MRC reader (modes 1, 2; standard axis order) for machines without mrcfile."""
    header = np.fromfile(path, dtype=np.int32, count=256)
    nx, ny, nz, mode = (int(v) for v in header[:4])
    dtype = {1: np.int16, 2: np.float32}[mode]
    data = np.fromfile(path, dtype=dtype, offset=1024 + int(header[23]), count=nx * ny * nz)
    return data.reshape(nz, ny, nx).astype(np.float32)


def load_templates(paths: list[Path], sim) -> dict:
    try:
        import mrcfile  # noqa: F401
    except ImportError:
        return {p.stem: sim.prepare_template(_read_mrc_numpy(p), 32, p) for p in paths}  # maps are 10 A already
    return sim.load_structures(paths)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--templates", default=os.environ.get("CRYOET_TEMPLATES", str(ROOT.parent / "shared" / "data" /
                                                                                   "cryoet" / "templates_10A")))
    ap.add_argument("--out", default="cryoet_oneshot_out")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--snrs", default="inf,1000,0.5")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--n-per-class", type=int, default=120)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--embedding-dim", type=int, default=512)
    ap.add_argument("--seconds-per-model", type=float, default=60.0)
    ap.add_argument("--max-steps", type=int, default=100000)
    ap.add_argument("--train-ways", type=int, default=5)
    ap.add_argument("--episodes-per-step", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--eval-episodes", type=int, default=1000)
    ap.add_argument("--support-pool", type=int, default=10)
    ap.add_argument("--ncc-rotations", type=int, default=100)
    ap.add_argument("--dice-targets-per-class", type=int, default=30)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave as is)")
    ap.add_argument("--no-baselines", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import torch

    from biomedai.data import cryoet_sim as sim
    from biomedai.methods.cryoet_cosnet.config import TEST_CLASSES, TRAIN_CLASSES, CosNetConfig
    from biomedai.methods.cryoet_cosnet.core import (cosine_scores, embed_volumes, evaluate_model,
                                                     ncc_rotation_scores, plan_episodes, scores_table, train_cosnet,
                                                     train_supervised)
    from biomedai.methods.cryoet_cosnet.report import snr_key, tables_markdown

    if args.threads:
        torch.set_num_threads(args.threads)
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else (
        "cpu" if args.device == "auto" else args.device)
    machine = torch.cuda.get_device_name(0) if device.startswith("cuda") else f"CPU ({platform.processor() or 'x86'}, " \
                                                                               f"{torch.get_num_threads()} threads)"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paths = sorted(find_templates(args.templates).glob("*.mrc"))
    if len(paths) < len(TRAIN_CLASSES) + len(TEST_CLASSES):
        print(f"need the 26 templates in {args.templates}; found {len(paths)}")
        return 2
    templates = load_templates(paths, sim)
    report: dict = {"machine": machine, "device": device, "args": vars(args), "date": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                                                   time.gmtime()),
                    "data": "subtomograms simulated from real structures (PolNet 10 A maps), not experimental",
                    "train_classes": list(TRAIN_CLASSES), "test_classes": list(TEST_CLASSES), "snr": {}}
    md = [f"# COS-Net one-shot benchmark ({report['date']}, {machine})", "",
          "Data: subtomograms SIMULATED FROM REAL STRUCTURES (26 PolNet maps, 10 A/voxel, 32^3, tilt -60..60 step 3,"
          " CTF 300 kV / Cs 2.7 / defocus 3-5 um, sinc MTF, SNR = var(clean)/var(noise) per subtomogram).",
          f"Train: 16 classes; test: 10 unseen classes; {args.n_per_class} per class; width {args.width}; "
          f"{args.seconds_per_model:g} s training budget per model; {args.eval_episodes} episodes per n-way "
          f"(the same episodes for every method); supports from the first {args.support_pool} of each class.", ""]
    for snr_text in args.snrs.split(","):
        snr = float(snr_text)
        t0 = time.perf_counter()
        data = sim.simulate_subtomograms(templates, args.n_per_class, snr, seed=args.seed + 17)
        sim_s = time.perf_counter() - t0
        train_set, test_set = data.subset(list(TRAIN_CLASSES)), data.subset(list(TEST_CLASSES))
        entry = {"simulated": len(data.labels), "simulate_seconds": round(sim_s, 2),
                 "subtomograms_per_minute": round(len(data.labels) / sim_s * 60), "results": {}, "training": {}}
        print(f"SNR {snr_text}: simulated {len(data.labels)} in {sim_s:.1f} s "
              f"({entry['subtomograms_per_minute']}/min)", flush=True)
        base = CosNetConfig(width=args.width, embedding_dim=args.embedding_dim, train_ways=args.train_ways,
                            episodes_per_step=args.episodes_per_step, steps=args.max_steps, steps_per_epoch=10,
                            lr=args.lr, train_seconds=args.seconds_per_model, device=device,
                            eval_episodes=args.eval_episodes, support_pool=args.support_pool, seed=args.seed,
                            dice_targets_per_class=args.dice_targets_per_class)
        plan = plan_episodes(test_set.labels, base.eval_ways, base.eval_episodes, base.support_pool, args.seed)
        for name in args.variants.split(","):
            duse, decoder = VARIANTS[name]
            cfg = base.replace(duse=duse, decoder=decoder)
            model, info = train_cosnet(cfg, train_set)
            res = evaluate_model(model, test_set, cfg, plan, device=device)
            entry["results"][name] = res
            entry["training"][name] = {k: info[k] for k in ("steps", "train_seconds")}
            print(f"  {name}: {info['steps']} steps; " +
                  " ".join(f"{k}={v['mean']:.3f}" for k, v in res["accuracy"].items()) +
                  (f" dice_crf={res['dice_mean_crf']:.3f}" if "dice" in res else ""), flush=True)
            del model
        if not args.no_baselines:
            t0 = time.perf_counter()
            entry["results"]["NCC template matching"] = {"accuracy": scores_table(
                lambda s, t: ncc_rotation_scores(s, t, args.ncc_rotations, args.seed, device), test_set, plan,
                base.eval_ways, args.seed)}
            entry["training"]["NCC template matching"] = {"seconds": round(time.perf_counter() - t0, 1),
                                                          "rotations": args.ncc_rotations}
            sup, info = train_supervised(base, train_set)
            feats, _ = embed_volumes(sup, test_set.volumes, base.batch_size)
            entry["results"]["Supervised 3D CNN + NN"] = {"accuracy": scores_table(
                lambda s, t: cosine_scores(feats[plan.pool_idx], feats[plan.target_idx]), test_set, plan,
                base.eval_ways, args.seed)}
            entry["training"]["Supervised 3D CNN + NN"] = {k: info[k] for k in ("steps", "train_seconds")}
            for b in ("NCC template matching", "Supervised 3D CNN + NN"):
                print(f"  {b}: " + " ".join(f"{k}={v['mean']:.3f}" for k, v in entry["results"][b]["accuracy"].items()),
                      flush=True)
        report["snr"][snr_key(snr)] = entry
        md += [f"## SNR {snr_key(snr)}", "", tables_markdown(entry["results"], snr),
               "Training steps: " + ", ".join(f"{k}: {v.get('steps', '-')}" for k, v in entry["training"].items()),
               f"Simulator: {entry['subtomograms_per_minute']} subtomograms/min ({machine}).", ""]
        (out / "results.json").write_text(json.dumps(report, indent=1, default=float))
        (out / "tables.md").write_text("\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
