"""Train the bundled H&E -> Ki-67 generator on REAL UNPAIRED tiles and write its model folder.

H&E: ``shared/data/nuclei/{miccai2015,gbm40}/images`` (research only); Ki-67 IHC: the DeepLIIF sample's IHC
images (``train/*`` panels and ``test_cli/*``; **non-commercial academic terms**, inherited by the weights).
Split by image with ``numpy.random.default_rng(0)``: H&E 80 % train, 10 % validation, 10 % test; IHC: the
``test_cli`` image 799_2 is held out for the test comparison, one other for validation.

No tumour/normal labels exist for these images, so no MIL classifier can be trained and the bundled model is
the PLAIN CycleGAN (condition "none", the paper's ablation). Training: Table-2 generator at width 16 with
2 residual units, LSGAN, Adam 2e-4 (beta1 0.5), random 64 px crops, batch 4; the epoch with the lowest
validation cycle L1 is kept. Test: the held-out H&E images are translated whole (tiles of 128 px,
32 px overlap, tent blending) and the synthetic positive ratio and DAB statistics are compared with the
held-out real IHC (different tissue: a plausibility check, not a paired test).

    python benchmarks/quality/virtual_ihc/train_default.py --steps 800 --out src/biomedai/methods/virtual_ihc/models/default
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from biomedai.methods.virtual_ihc.config import VirtualIHCConfig
from biomedai.methods.virtual_ihc.cyclegan import CycleGAN, to_tensor
from biomedai.methods.virtual_ihc.model_io import VirtualIHCModel, save_virtual_ihc
from biomedai.methods.virtual_ihc.quantify import brown_fraction, pooled_ratio, positive_ratio
from biomedai.methods.virtual_ihc.realdata import he_images, ihc_images, random_crops
from biomedai.methods.virtual_ihc.stitch import translate_image
from biomedai.methods.virtual_ihc.training import train_cyclegan
from biomedai.metrics.bootstrap import bootstrap_ci
from biomedai.train.model_folder import ModelInfo

SHARED = Path(os.environ.get("BIOMEDAI_SHARED_DATA", Path(__file__).resolve().parents[3].parent / "shared" / "data"))
CROP = 64


def split(names: list[str], seed: int = 0) -> tuple[list[int], list[int], list[int]]:
    order = np.random.default_rng(seed).permutation(len(names))
    n_val = n_test = max(1, round(0.1 * len(names)))
    return sorted(order[n_val + n_test:]), sorted(order[:n_val]), sorted(order[n_val:n_val + n_test])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--minutes", type=float, default=25.0, help="wall-time budget for training")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    he = he_images(SHARED / "nuclei")
    ihc = ihc_images(SHARED / "ki67" / "deepliif_sample")
    he_tr, he_va, he_te = split([n for n, _ in he])
    ihc_names = [n for n, _ in ihc]
    ihc_te = [ihc_names.index("test/799_2")]
    ihc_va = [ihc_names.index("test/6_2")]
    ihc_tr = [k for k in range(len(ihc)) if k not in ihc_te + ihc_va]
    epochs = 10
    cfg = VirtualIHCConfig(seed=0, tile_size=128, tile_overlap=32, gen_width=16, gen_res_blocks=2, disc_width=16,
                           condition="none", gan_loss="lsgan", lr=2e-4, epochs=epochs, decay_epochs=epochs // 2,
                           batch_size=4, steps_per_epoch=max(args.steps // epochs, 1), train_seconds=args.minutes * 60,
                           nucleus_diameter_px=20.0)
    a = random_crops([he[k][1] for k in he_tr], 800, CROP, 1)
    b = random_crops([ihc[k][1] for k in ihc_tr], 800, CROP, 2)
    va_a = random_crops([he[k][1] for k in he_va], 32, CROP, 3)
    va_b = random_crops([ihc[k][1] for k in ihc_va], 32, CROP, 4)
    torch.manual_seed(0)
    gan = CycleGAN(cfg)
    t0 = time.process_time()
    result = train_cyclegan(gan, a, b, None, None, va_a, va_b)
    cpu_s = time.process_time() - t0
    gan.eval()

    def generate(x: np.ndarray, c: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return gan.translate(torch.from_numpy(x)).numpy()

    rows = []
    for k in he_te:
        name, rgb = he[k]
        synth, _ = translate_image(rgb, generate, lambda x: np.zeros(len(x)), tile=cfg.tile_size,
                                   overlap=cfg.tile_overlap)
        q = positive_ratio(synth, cfg.nucleus_diameter_px)
        rows.append({"image": name, "n_cells": q["n_cells"], "n_positive": q["n_positive"], "ratio": q["ratio"],
                     "brown_fraction_synthetic": brown_fraction(synth),
                     "brown_fraction_he_input": brown_fraction(rgb)})
    real = [positive_ratio(ihc[k][1], cfg.nucleus_diameter_px) for k in ihc_te]
    cells = np.array([r["n_cells"] for r in rows], float)
    pos = np.array([r["n_positive"] for r in rows], float)
    ci = bootstrap_ci(lambda c, p: float(p.sum() / max(c.sum(), 1.0)), cells, pos, n_resamples=1000) \
        if len(rows) > 1 else None
    metrics = {"synthetic_positive_ratio_heldout_he": pooled_ratio(rows),
               "synthetic_positive_ratio_ci95_over_images": None if ci is None else [ci.low, ci.high],
               "real_positive_ratio_heldout_ihc": pooled_ratio(real),
               "brown_fraction_synthetic_mean": float(np.mean([r["brown_fraction_synthetic"] for r in rows])),
               "brown_fraction_he_input_mean": float(np.mean([r["brown_fraction_he_input"] for r in rows])),
               "brown_fraction_real_ihc": float(np.mean([brown_fraction(ihc[k][1]) for k in ihc_te])),
               "best_epoch": result.best_epoch, "best_val_cycle_l1": result.best_score, "steps": result.steps,
               "train_cpu_s": round(cpu_s, 1)}
    model = VirtualIHCModel(cfg, with_classifier=False)
    model.generator.load_state_dict(gan.G.state_dict())
    info = ModelInfo(
        method="virtual_ihc", name="default",
        preprocessing={"input": "H&E RGB uint8 scaled to [-1, 1]", "tile_px": cfg.tile_size,
                       "overlap_px": cfg.tile_overlap, "blend": cfg.blend,
                       "magnification": "as the training tiles (20x-40x); not normalised"},
        training_data={"name": "nuclei/miccai2015 + nuclei/gbm40 H&E (research only) and DeepLIIF sample Ki-67 IHC "
                               "(Apache-2.0 + Commons Clause: non-commercial academic only), unpaired",
                       "split": {"he_train": [he[k][0] for k in he_tr], "he_val": [he[k][0] for k in he_va],
                                 "he_test": [he[k][0] for k in he_te], "ihc_train": [ihc_names[k] for k in ihc_tr],
                                 "ihc_val": [ihc_names[k] for k in ihc_va], "ihc_test": [ihc_names[k] for k in ihc_te]},
                       "licence": "non-commercial academic only (DeepLIIF terms)", "non_commercial": True},
        metrics=metrics,
        metrics_data="held-out H&E images (synthetic) vs the held-out DeepLIIF IHC image test_cli/799_2 (different "
                     "tissue; unpaired plausibility check, not accuracy)",
        licence="non-commercial academic only (inherits the DeepLIIF terms)", simulated=False,
        extra={"mode": "plain CycleGAN (no MIL condition: no tumour/normal labels exist for these images)",
               "command": "python " + " ".join(os.sys.argv), "load_average_at_end": os.getloadavg(),
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())})
    save_virtual_ihc(args.out, model, info)
    (args.out / "heldout_rows.json").write_text(json.dumps({"rows": rows, "history": result.history}, indent=1))
    print(json.dumps(metrics, indent=1))


if __name__ == "__main__":
    main()
