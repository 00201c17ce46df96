"""Tables 2-5 of Fan et al. on the SIMULATED DBT cohort: the light 3-D Mask R-CNN against the slice-wise 2-D Mask
R-CNN (both Table 2 modes) and a 3-D U-Net + connected components, all trained here on CPU within budgets.

Reduced protocol (said in every output): a simulated cohort (make_cohort.py), the light model, one validation
split of the training breasts (the paper's 10-fold CV inside the training set is not run), short budgets.

Usage:
    python benchmarks/quality/dbt_maskrcnn/run_tables.py COHORT_DIR OUT_DIR [--minutes-3d 14] [--minutes-2d 7]
        [--minutes-unet 5] [--boot 2000] [--seed 0]
"""
from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import platform
import resource
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from biomedai.methods.dbt_maskrcnn import baselines, evaluate, report
from biomedai.methods.dbt_maskrcnn.config import LIGHT_MODEL, DbtMaskRcnnConfig
from biomedai.methods.dbt_maskrcnn.data import PatchDataset, collate_patches, load_cohort
from biomedai.methods.dbt_maskrcnn.inference import detect_volume
from biomedai.methods.dbt_maskrcnn.training import save_trained_model, train_mask_rcnn
from biomedai.train import train_model
from biomedai.utils import write_json_atomic, write_text_atomic

log = logging.getLogger("dbt_tables")
DATA = "SIMULATED DBT cohort (dbt-sim phantoms, +/-10 deg 20-view SART), test split"


def split_validation(records: list, fraction: float, seed: int) -> tuple[list, list]:
    breasts = sorted({r.breast_id for r in records})
    rng = np.random.default_rng(seed)
    val = set(rng.choice(breasts, size=max(2, int(round(fraction * len(breasts)))), replace=False).tolist())
    return [r for r in records if r.breast_id not in val], [r for r in records if r.breast_id in val]


def train_2d(fit: list, val: list, minutes: float, out: Path, seed: int) -> torch.nn.Module:
    size = fit[0].volume.shape[1]
    model = baselines.build_mask_rcnn_2d(size)

    def step(m: torch.nn.Module, batch: Any) -> dict:
        images, targets = batch
        terms = m(images, targets)
        return {"loss": sum(terms.values()), **{k: v.detach() for k, v in terms.items()}}

    def validate(m: torch.nn.Module, loader: Any) -> dict:
        m.train()
        vals = [float(sum(m(i, t).values())) for i, t in loader]
        m.eval()
        scores = evaluate.validation_froc(val, lambda r: baselines.link_slices(baselines.detect_slices(m, r.volume),
                                                                                r.volume.shape))
        return {"val_loss": float(np.mean(vals)), **scores}

    tl = torch.utils.data.DataLoader(baselines.SliceDataset(fit, 160, seed), batch_size=4, shuffle=True,
                                     collate_fn=baselines.collate_slices)
    vl = torch.utils.data.DataLoader(baselines.SliceDataset(val, 48, seed + 1), batch_size=8,
                                     collate_fn=baselines.collate_slices)
    train_model(model, tl, vl, batch_to_loss=step, validate=validate, output_dir=out, epochs=300, seed=seed,
                device="cpu", max_minutes=minutes, progress=False, lr=1e-3, grad_clip_norm=5.0, monitor="val_aufc",
                mode="max",
                optimizer=lambda p: torch.optim.Adam(p, lr=1e-3))
    model.load_state_dict(torch.load(out / "weights.pt", map_location="cpu", weights_only=True))
    return model.eval()


def train_unet(fit: list, val: list, patch: tuple, minutes: float, out: Path, seed: int) -> torch.nn.Module:
    from monai.losses import DiceCELoss

    model = baselines.build_unet()
    dice_ce = DiceCELoss(sigmoid=True)

    def validate(m: torch.nn.Module, loader: Any) -> dict:
        losses = [float(dice_ce(m(x), y)) for x, y in loader]
        scores = evaluate.validation_froc(val, lambda r: baselines.unet_components(m, r.volume, patch))
        return {"val_loss": float(np.mean(losses)), **scores}

    tl = torch.utils.data.DataLoader(baselines.UNetPatchDataset(PatchDataset(fit, patch, 80, seed)), batch_size=2,
                                     shuffle=True)
    vl = torch.utils.data.DataLoader(baselines.UNetPatchDataset(PatchDataset(val, patch, 24, seed + 1,
                                                                             augment=False)), batch_size=2)
    train_model(model, tl, vl, loss_fn=dice_ce, validate=validate, output_dir=out, epochs=300, seed=seed,
                device="cpu", max_minutes=minutes, progress=False, monitor="val_aufc", mode="max",
                optimizer=lambda p: torch.optim.Adam(p, lr=1e-3))
    model.load_state_dict(torch.load(out / "weights.pt", map_location="cpu", weights_only=True))
    return model.eval()


def timed(fn: Callable[[Any], Any], items: list) -> tuple[dict, float]:
    results, start = {}, time.perf_counter()
    for r in items:
        results[r.view_id] = fn(r)
    return results, 1000 * (time.perf_counter() - start) / max(len(items), 1)


def _peak_child(fn: Callable[[], Any], queue: Any) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fn()
    queue.put((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024.0)


def peak_extra_mb(fn: Callable[[], Any]) -> float:
    """Peak resident memory added by ``fn`` (MB), measured in a forked child."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_peak_child, args=(fn, queue))
    proc.start()
    proc.join()
    return float(queue.get()) if not queue.empty() else float("nan")


def model_size(model: torch.nn.Module) -> tuple[int, float]:
    n = sum(p.numel() for p in model.parameters())
    return n, sum(t.numel() * t.element_size() for t in model.state_dict().values()) / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cohort")
    ap.add_argument("out")
    ap.add_argument("--minutes-3d", type=float, default=14.0)
    ap.add_argument("--minutes-2d", type=float, default=7.0)
    ap.add_argument("--minutes-unet", type=float, default=5.0)
    ap.add_argument("--boot", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-test-views", type=int, default=0, help="0: all (smoke runs use a few)")
    ap.add_argument("--paper-size", action="store_true",
                    help="the paper's ResNet-50-FPN (P2-P5) at the cohort's 0.6 mm in-plane (GPU script) instead of light")
    ap.add_argument("--device", default="cpu", help="device of the 3-D Mask R-CNN training (cuda on the GPU)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--deadline", help="UTC HH:MM by which the run must end: the training budgets shrink in proportion "
                    "when the run starts late (8 minutes are kept for evaluation)")
    ap.add_argument("--save-model", type=Path, help="write the trained 3-D model as a model folder (fp16) here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    cpu0, wall0 = time.process_time(), time.time()
    scaled = 1.0
    if args.deadline:
        hh, mm = (int(v) for v in args.deadline.split(":"))
        now = time.gmtime()
        left = (hh * 60 + mm) - (now.tm_hour * 60 + now.tm_min) - 8.0
        total = args.minutes_3d + args.minutes_2d + args.minutes_unet
        if left < total:
            scaled = max(left, 3.0) / total
            args.minutes_3d, args.minutes_2d, args.minutes_unet = (max(0.5, m * scaled) for m in
                                                                   (args.minutes_3d, args.minutes_2d, args.minutes_unet))
            log.info("started late: training budgets scaled by %.2f to end by %s", scaled, args.deadline)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = DbtMaskRcnnConfig.from_dict(dict(LIGHT_MODEL, seed=args.seed))
    if args.paper_size:  # ResNet-50-FPN P2-P5 with the spec's anchors, at the simulated cohort's own spacing
        cfg = DbtMaskRcnnConfig.from_dict({"seed": args.seed, "spacing": (1.0, 0.6, 0.6), "patch": (32, 96, 96),
                                           "margin": (0, 16, 16), "train_patch": (32, 64, 64), "batch_size": 4})
    train_all = load_cohort(args.cohort, cfg.spacing, ("train",))
    test = load_cohort(args.cohort, cfg.spacing, ("test",))
    if args.max_test_views:
        test = test[: args.max_test_views]
    fit, val = split_validation(train_all, 0.2, args.seed)
    log.info("views: fit %d, validation %d, test %d", len(fit), len(val), len(test))

    model3d, res3d = train_mask_rcnn(fit, val, cfg, out / "train_3d", args.minutes_3d, device=args.device)
    model2d = train_2d(fit, val, args.minutes_2d, out / "train_2d", args.seed)
    unet = train_unet(fit, val, cfg.train_patch, args.minutes_unet, out / "train_unet", args.seed)

    model3d = model3d.cpu() if args.device == "cpu" else model3d
    det3d, ms3d = timed(lambda r: detect_volume(model3d, r.volume, cfg.patch, cfg.margin, cfg.nms_iou), test)
    det2d, ms2d = timed(lambda r: baselines.link_slices(baselines.detect_slices(model2d, r.volume), r.volume.shape),
                        test)
    slice_of = {r.view_id: baselines.max_diameter_slice(r.mask, r.spacing) for r in test}

    def one_slice(r: Any) -> Any:
        z = slice_of[r.view_id]
        return baselines.link_slices([{"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "masks": None}] * z
                                     + baselines.detect_slices(model2d, r.volume, [z]), r.volume.shape)

    det2d_slice, _ = timed(one_slice, test)
    detunet, msunet = timed(lambda r: baselines.unet_components(unet, r.volume, cfg.train_patch), test)

    names = {"3D-Mask RCNN": det3d, "2D-Mask RCNN (3D DBT)": det2d, "3D U-Net+CC": detunet}
    views = {n: evaluate.to_view_detections(test, d) for n, d in names.items()}
    views_2d_mode = {"2D-Mask RCNN (2D DBT)": evaluate.to_view_detections(test, det2d_slice, slice_of)}
    t2 = evaluate.table2({**views, **views_2d_mode})
    tests = evaluate.aufc_tests("3D-Mask RCNN", views, n_resamples=args.boot, seed=args.seed)
    t3 = evaluate.table3(test, views, "3D-Mask RCNN", n_resamples=args.boot, seed=args.seed)
    sfcm = {r.view_id: baselines.sfcm_masks(r.volume, det3d[r.view_id]) for r in test}
    t4 = evaluate.table4(test, {**names, "SFCM (in 3-D boxes)": sfcm})
    report.write_froc({**views, **views_2d_mode}, out, "SIMULATED DBT test split")

    t5 = []
    probe = test[0]
    for name, model, fn, ms in (
            ("3D-Mask RCNN (light)", model3d, lambda: detect_volume(model3d, probe.volume, cfg.patch, cfg.margin), ms3d),
            ("2D-Mask RCNN (light, all slices)", model2d,
             lambda: baselines.link_slices(baselines.detect_slices(model2d, probe.volume), probe.volume.shape), ms2d),
            ("3D U-Net+CC", unet, lambda: baselines.unet_components(unet, probe.volume, cfg.train_patch), msunet)):
        n, mb = model_size(model)
        t5.append({"model": name, "size_MB_fp32": mb, "parameters": n, "ms_per_volume": ms,
                   "peak_extra_RSS_MB": peak_extra_mb(fn) if args.device == "cpu" else float("nan")})
    big = n_big = None
    try:
        from biomedai.methods.dbt_maskrcnn.model import MaskRCNN3d
        big = MaskRCNN3d(DbtMaskRcnnConfig())
        n_big, mb_big = model_size(big)
        t5.append({"model": "3D-Mask RCNN (paper size, untrained: size only)", "size_MB_fp32": mb_big,
                   "parameters": n_big, "ms_per_volume": float("nan"), "peak_extra_RSS_MB": float("nan")})
    finally:
        del big

    load = os.getloadavg()
    meta = {"data": DATA, "simulated": True, "cohort": json.loads((Path(args.cohort) / "cohort.json").read_text()),
            "n_test_views": len(test), "n_test_breasts": len({r.breast_id for r in test}),
            "train_3d": {"best_epoch": res3d.best_epoch, "epochs": res3d.epochs_completed,
                         "best_val_aufc": res3d.best_metric},
            "budgets_min": {"3d": args.minutes_3d, "2d": args.minutes_2d, "unet": args.minutes_unet},
            "budgets_scaled_by": scaled,
            "bootstrap_B": args.boot, "seed": args.seed, "cpu_s": time.process_time() - cpu0,
            "wall_s": time.time() - wall0, "load_avg_end": load, "machine": platform.platform(),
            "torch_threads": torch.get_num_threads(), "device_3d": args.device,
            "model_3d": "paper-size ResNet-50-FPN" if args.paper_size else "light", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    tables = {"meta": meta, "table2": t2, "aufc_tests": tests, "table3": t3, "table4": t4, "table5": t5}
    write_json_atomic(out / "tables.json", tables)
    md = [f"# Fan et al. DBT tables on {DATA} (reduced protocol)\n",
          f"{meta['date']}, {meta['machine']}, {args.threads} torch thread(s), 3-D model {meta['model_3d']} on {args.device}, load average at the end {load[0]:.1f}; CPU "
          f"{meta['cpu_s'] / 60:.1f} min, wall {meta['wall_s'] / 60:.1f} min; test: {len(test)} views of "
          f"{meta['n_test_breasts']} breasts; seed {args.seed}; bootstrap B = {args.boot}.\n",
          "## Table 2: mean FPs per lesion (L) and per breast (B) at given sensitivity (n.r.: not reached)\n",
          report.markdown_table(t2), "\n## Breast-based AUFC (0-3 FPs) and bootstrap tests\n",
          report.markdown_table(tests), "\n## Table 3: FPs per breast at 90 % sensitivity by subgroup\n",
          report.markdown_table(t3), "\n## Table 4: mask AP@0.5, FNR, Dice\n", report.markdown_table(t4),
          "\n## Table 5: model profile (ms per whole volume on the test split; peak RSS in a forked child, CPU only)\n", report.markdown_table(t5)]
    write_text_atomic(out / "TABLES.md", "\n".join(md))
    if args.save_model:
        ours = next(r for r in tests if r["system"] == "3D-Mask RCNN")
        at90 = next(r for r in t2 if r["sensitivity"] == 90)
        seg = t4[0]
        save_trained_model(args.save_model, model3d.cpu(), cfg,
                           {"name": f"SIMULATED DBT cohort ({meta['cohort']['simulator_version']}, seed "
                                    f"{meta['cohort']['seed']})", "licence": "simulated data, no restriction", "non_commercial": False,
                            "split": f"train split by breast: {len(fit)} views fit, {len(val)} views validation"},
                           {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in {
                               "AUFC_breast": ours["AUFC_breast"], "AUFC_lesion": ours["AUFC_lesion"],
                               "fps_per_lesion_at_90": at90["3D-Mask RCNN L"],
                               "fps_per_breast_at_90": at90["3D-Mask RCNN B"], "mask_AP50": seg["3D-Mask RCNN AP"],
                               "dice_mean": seg["3D-Mask RCNN Dice"]}.items()},
                           f"{DATA}: {len(test)} views of {meta['n_test_breasts']} breasts", True, half=True)
    print("\n".join(md))


if __name__ == "__main__":
    main()
