"""Recipe of the bundled COS-Net model (SIMULATED training data): train, score against template matching, save.

Trains DuSE-SCNN with decoder on subtomograms simulated from the 16 training structures at a mix of
SNRs (projection-band definition, realistic boxes: neighbours, membranes, fiducials, dose weighting),
within ``--minutes`` of training on the CPU; scores it on the 10 unseen structures at three SNRs with
the same episodes as wedge-aware template matching; writes the model folder (weights.pt + model.json)
and the numbers for MODEL.md.

    python benchmarks/quality/cryoet_cosnet/train_bundled_model.py \
        --out src/biomedai/methods/cryoet_cosnet/models/default --minutes 50
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from snr_sweep import REALISTIC  # noqa: E402  (same realistic settings as the sweep)


def concatenate(sets):
    first = sets[0]
    return dataclasses.replace(first, volumes=np.concatenate([s.volumes for s in sets]),
                               masks=np.concatenate([s.masks for s in sets]),
                               labels=np.concatenate([s.labels for s in sets]),
                               rotations=np.concatenate([s.rotations for s in sets]),
                               defocus_a=np.concatenate([s.defocus_a for s in sets]),
                               effective_snr=np.concatenate([s.effective_snr for s in sets]), snr=float("nan"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--templates", default=str(ROOT.parent / "shared" / "data" / "cryoet" / "templates_10A"))
    ap.add_argument("--out", default=str(ROOT / "src/biomedai/methods/cryoet_cosnet/models/default"))
    ap.add_argument("--minutes", type=float, default=50.0)
    ap.add_argument("--train-snrs", default="inf,1,0.3,0.1")
    ap.add_argument("--eval-snrs", default="inf,0.5,0.1")
    ap.add_argument("--n-per-class", type=int, default=30)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--embedding-dim", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import torch

    from biomedai.data import cryoet_sim as sim
    from biomedai.methods.cryoet_cosnet.config import TEST_CLASSES, TRAIN_CLASSES, CosNetConfig
    from biomedai.methods.cryoet_cosnet.core import ARCH_KEYS, evaluate_model, plan_episodes, scores_table, train_cosnet
    from biomedai.methods.cryoet_cosnet.matching import constrained_correlation_scores
    from biomedai.train.model_folder import ModelInfo, save_model_folder

    torch.set_num_threads(args.threads)
    paths = sorted(Path(args.templates).glob("*.mrc"))
    templates = sim.load_structures(paths)
    settings = sim.SimulationSettings(**REALISTIC)
    train_tpl = {k: templates[k] for k in TRAIN_CLASSES}
    sets = [sim.simulate_subtomograms(train_tpl, args.n_per_class, float(s), settings, seed=args.seed + i)
            for i, s in enumerate(args.train_snrs.split(","))]
    train = concatenate(sets)
    cfg = CosNetConfig(width=args.width, embedding_dim=args.embedding_dim, steps=1_000_000, steps_per_epoch=1,
                       train_seconds=60 * args.minutes, device="cpu", amp=False, seed=args.seed, eval_episodes=500)
    load_start = os.getloadavg()[0]
    model, info = train_cosnet(cfg, train)
    model = model.half().float().eval()   # score exactly the weights that ship (stored as float16)
    metrics, tables = {}, []
    test_tpl = {k: templates[k] for k in TEST_CLASSES}
    band = settings.band
    for j, snr_text in enumerate(args.eval_snrs.split(",")):
        test = sim.simulate_subtomograms(test_tpl, 30, float(snr_text), settings, seed=1000 + j)
        plan = plan_episodes(test.labels, cfg.eval_ways, cfg.eval_episodes, cfg.support_pool, args.seed)
        ours = evaluate_model(model, test, cfg, plan)
        tm = scores_table(lambda s, t: constrained_correlation_scores(s, t, 60, (settings.tilt_min, settings.tilt_max),
                                                                        band, args.seed), test, plan, cfg.eval_ways)
        for n in (2, 8):
            a, b = ours["accuracy"][f"{n}way"], tm[f"{n}way"]
            metrics[f"snr{snr_text}_{n}way_accuracy"] = {"mean": round(a["mean"], 3), "ci95": [round(a["ci_low"], 3),
                                                                                             round(a["ci_high"], 3)]}
            metrics[f"snr{snr_text}_{n}way_wedge_aware_template_matching"] = {
                "mean": round(b["mean"], 3), "ci95": [round(b["ci_low"], 3), round(b["ci_high"], 3)]}
        metrics[f"snr{snr_text}_dice_crf"] = round(ours.get("dice_mean_crf", float("nan")), 3)
        tables.append((snr_text, ours, tm))
    arch = {k: getattr(cfg, k) for k in ARCH_KEYS}
    info_json = ModelInfo(
        method="cryoet_cosnet", architecture=arch,
        preprocessing={"box": 32, "voxel_size_a": 10.0, "normalisation": "z-score per subtomogram"},
        training_data={"name": "subtomograms SIMULATED from 16 PolNet structures (10 A/voxel), biomedai.data.cryoet_sim",
                       "licence": "Apache-2.0 (PolNet density maps)", "non_commercial": False,
                       "split": "16 training structures; scored on 10 unseen structures",
                       "snrs": args.train_snrs, "snr_definition": settings.snr_definition,
                       "simulator_settings": settings.to_dict(), "n_per_class_per_snr": args.n_per_class},
        metrics=metrics, simulated=True, licence="Apache-2.0",
        metrics_data="10 unseen structures, simulated (30 per class, realistic boxes), 500 episodes per n-way",
        extra={"train_steps": info["steps"], "train_cpu_minutes": round(info["train_seconds"] / 60, 1),
               "load_average_at_start": round(load_start, 1), "recipe": "benchmarks/quality/cryoet_cosnet/"
               "train_bundled_model.py", "seed": args.seed, "torch_threads": args.threads})
    folder = save_model_folder(args.out, model, info_json, half=True)
    print(json.dumps({"folder": str(folder), "steps": info["steps"], "train_minutes": info["train_seconds"] / 60,
                      "metrics": metrics}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
