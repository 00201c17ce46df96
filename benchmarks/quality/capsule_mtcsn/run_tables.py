"""MTCSN Tables 3-6 on SIMULATED capsule frames, and video-triage recall vs frames kept on SIMULATED videos.

Reduced from the paper (said in every output): frames 96 x 96 instead of 240 x 240, the light CPU encoder
instead of ResNet-50, ``--iterations`` steps (paper: 30k) at batch 8, one seed. Each variant trains on the
same simulated clips, split by clip (70/15/15, no clip in two parts); the best checkpoint is picked on the
validation part, the test part is scored once, with 95 % bootstrap intervals over test frames.

One run of about 20 CPU-minutes on one thread (five variants of ~4 minutes, then the triage of two simulated
videos; the trained MTCSN is written as a model folder where ``--save-model`` says; it is not bundled, being
trained on simulated frames only), then the report::

    python benchmarks/quality/capsule_mtcsn/run_tables.py --variants mtcsn mtcsn_gmp hard_sharing cd_only \
        tss_only --iterations 3000 --minutes-per-run 6 --video-frames 1600 --triage --save-model OUT/model
    python benchmarks/quality/capsule_mtcsn/run_tables.py --report
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def _load() -> float:
    return os.getloadavg()[0]


def run_variants(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    from biomedai.metrics import accuracy, bootstrap_ci
    from biomedai.methods.capsule_mtcsn.config import MtcsnConfig
    from biomedai.methods.capsule_mtcsn.data import simulate_clips, split_frames
    from biomedai.methods.capsule_mtcsn.training import evaluate_frames, macc_of, miou_of, train_mtcsn

    t0 = time.process_time()
    frames = simulate_clips(args.clips, args.frames_per_clip, args.size, seed=args.seed)
    parts = split_frames(frames, 0.15, 0.15, seed=args.seed)
    sim_s = time.process_time() - t0
    RESULTS.mkdir(parents=True, exist_ok=True)
    for name in args.variants:
        variant, pooling = ("mtcsn", "gmp") if name == "mtcsn_gmp" else (name, "gap")
        cfg = MtcsnConfig(variant=variant, pooling=pooling, input_size=args.size, iterations=args.iterations,
                          max_minutes=args.minutes_per_run, seed=args.seed, device="cpu")
        start_cpu, start_wall, load_before = time.process_time(), time.time(), _load()
        model, info = train_mtcsn(cfg, parts["train"], parts["val"], None)
        per_frame: dict = {}
        test = evaluate_frames(model, parts["test"], cfg, per_frame=per_frame)
        cis = {}
        if per_frame["cd_pred"] is not None:
            cis["accuracy"] = bootstrap_ci(accuracy, parts["test"].cd, per_frame["cd_pred"], n_resamples=1000)._asdict()
        if per_frame["pixel_cm"] is not None:
            cms = per_frame["pixel_cm"]
            cis["miou"] = bootstrap_ci(lambda c: miou_of(c.sum(0)), cms, n_resamples=1000)._asdict()
            cis["macc"] = bootstrap_ci(lambda c: macc_of(c.sum(0)), cms, n_resamples=1000)._asdict()
        record = {"variant": name, "config": cfg.to_dict(), "test": test, "intervals_95": cis,
                  "best_epoch": info["best_epoch"], "best_val_score": info["best_val_score"], "steps": info["steps"],
                  "cpu_s": time.process_time() - start_cpu, "wall_s": time.time() - start_wall,
                  "load_avg_1min": [load_before, _load()], "threads": args.threads,
                  "data": {"name": "SIMULATED capsule clips (capsule_mtcsn simulator)", "clips": args.clips,
                           "frames_per_clip": args.frames_per_clip, "size": args.size, "seed": args.seed,
                           "split": {k: len(v) for k, v in parts.items()}, "split_by": "clip",
                           "simulation_cpu_s": sim_s},
                  "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": platform.node(),
                  "command": " ".join([Path(sys.executable).name, *sys.argv])}
        (RESULTS / f"{name}.json").write_text(json.dumps(record, indent=1, default=float))
        print(f"{name}: " + ", ".join(f"{k}={test[k]:.3f}" for k in ("accuracy", "precision_macro", "recall_macro",
                                                                      "f1_macro", "miou", "macc") if k in test)
              + f"  ({record['cpu_s'] / 60:.1f} CPU-min, load {_load():.1f})", flush=True)
        if name == "mtcsn" and args.save_model:
            save_bundled(model, cfg, test, cis, parts, args, record)
        if name == "mtcsn" and args.triage:
            run_triage(model, cfg, args)


def save_bundled(model, cfg, test, cis, parts, args, record) -> None:
    from biomedai.methods.capsule_mtcsn.inference import save_mtcsn

    metrics = {k: test[k] for k in ("accuracy", "precision_macro", "recall_macro", "f1_macro", "miou", "macc")}
    metrics["intervals_95"] = {k: [v["low"], v["high"]] for k, v in cis.items()}
    training_data = {"name": "SIMULATED capsule-endoscopy clips (biomedai capsule_mtcsn simulator)",
                     "split": f"by clip 70/15/15, seed {args.seed}: " + ", ".join(f"{k} {len(v)} frames"
                                                                               for k, v in parts.items()),
                     "licence": "simulated, no terms (Apache-2.0 with the code)", "non_commercial": False}
    save_mtcsn(Path(args.save_model), model, cfg, training_data, metrics,
               f"simulated test split, {len(parts['test'])} frames of {args.size} x {args.size} (SIMULATED)",
               simulated=True, half=True)
    ci = metrics["intervals_95"]
    card = [
        "# capsule_mtcsn bundled model `default` — trained on SIMULATED data", "",
        "**Intended use: research and software testing only.** Not for clinical use; it has never seen a real "
        "capsule-endoscopy frame.", "",
        f"- Architecture: MTCSN, light encoder {list(cfg.light_widths)}, {cfg.fusion_sites} cross-fusion modules "
        f"(GAP, shared W), input {cfg.input_size} x {cfg.input_size}; weights in fp16.",
        f"- Training data: {training_data['name']}; {args.clips} clips x {args.frames_per_clip} frames of "
        f"{args.size} x {args.size}, seed {args.seed}; split {training_data['split']}. Terms: none (simulated).",
        f"- Recipe: `{record['command']}` (benchmarks/quality/capsule_mtcsn/run_tables.py), AdamW lr {cfg.lr}, "
        f"batch {cfg.batch_size}, {record['steps']} steps (best epoch {record['best_epoch']} on validation), "
        f"{record['cpu_s'] / 60:.1f} CPU-min on one thread (load average {record['load_avg_1min'][0]:.1f}).",
        f"- Test metrics (SIMULATED test split, {len(parts['test'])} frames, 95 % bootstrap CI): "
        f"CD accuracy {metrics['accuracy']:.3f}" + (f" [{ci['accuracy'][0]:.3f}, {ci['accuracy'][1]:.3f}]"
                                                    if "accuracy" in ci else "")
        + f", macro precision {metrics['precision_macro']:.3f}, recall {metrics['recall_macro']:.3f}, "
        f"F1 {metrics['f1_macro']:.3f}; mIoU {metrics['miou']:.3f}"
        + (f" [{ci['miou'][0]:.3f}, {ci['miou'][1]:.3f}]" if "miou" in ci else "")
        + f", mACC {metrics['macc']:.3f}.",
        "- Per-class IoU on the SIMULATED test split: " + ", ".join(
            f"{k} {v:.2f}" if v is not None else f"{k} n/a" for k, v in test.get("per_class_iou", {}).items()) + ".",
        "- Known failure modes: real frames differ from the simulator (colour, texture, lesion look, compression), "
        "so nothing here transfers to real capsule videos without retraining on real labelled frames; frames are "
        f"shrunk to {cfg.input_size} x {cfg.input_size}, so small lesions can vanish; the weakest classes are the "
        "ones with the lowest IoU above.",
        "- On the 5 real Kvasir-SEG colonoscopy frames it is used for IO checks only "
        "(kvasir_frames.md next to this script, once written).",
    ]
    (Path(args.save_model) / "MODEL.md").write_text("\n".join(card) + "\n")
    print(f"saved the bundled model to {args.save_model} (fp16)", flush=True)


def run_triage(model, cfg, args) -> None:
    """Triage two simulated videos: the first picks the lesion threshold (~10 % kept), the second reports."""
    from biomedai.methods.capsule_mtcsn.keyframes import KeyframeRule
    from biomedai.methods.capsule_mtcsn.simulator import write_simulated_video
    from biomedai.methods.capsule_mtcsn.triage import read_triage_rows, triage_video
    from biomedai.methods.capsule_mtcsn.triage_eval import remark, segment_recall, sweep_rule

    thresholds = [0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12]
    out: dict = {"data": "SIMULATED capsule videos (capsule_mtcsn simulator), "
                         f"{args.video_frames} frames of {args.size} x {args.size} at 4 fps, lesion in 20 % of scenes",
                 "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load_avg_1min": _load()}
    with tempfile.TemporaryDirectory() as tmp:
        for role, seed in (("validation", 101), ("test", 202)):
            video = Path(tmp) / f"{role}.mp4"
            truth = write_simulated_video(video, args.video_frames, args.size, 4.0, seed=seed)
            run_cfg = dataclasses.replace(cfg, sample_fps=0.0, overlays=False)
            start = time.process_time()
            triage_video(video, Path(tmp) / role, model, run_cfg)
            cpu = time.process_time() - start
            rows = list(read_triage_rows(Path(tmp) / role / "frames.csv"))
            segments = truth.lesion_segments()
            lesion_frames = {i for s, e in segments for i in range(s, e + 1)}
            base = KeyframeRule.from_config(cfg)
            sweep = sweep_rule(rows, segments, base, thresholds)
            out[role] = {"frames": len(rows), "segments": len(segments), "lesion_frames": len(lesion_frames),
                         "triage_cpu_s": cpu, "sweep": sweep, "cd_truth_counts": {c: truth.cd.count(c)
                                                                               for c in set(truth.cd)}}
            if role == "validation":
                # the smallest lesion threshold keeping <= 10 % of frames (chosen here, never on the test video)
                fitting = [s for s in sweep if s["frames_kept"] <= 0.10] or [sweep[-1]]
                chosen = fitting[0]["lesion_threshold"]
                out["chosen_lesion_threshold"] = chosen
            else:
                marked = remark(rows, dataclasses.replace(base, lesion_threshold=chosen))
                hit = len(lesion_frames & set(marked))
                out["test"]["at_chosen"] = {"lesion_threshold": chosen, "frames_kept": len(marked) / len(rows),
                                            "reading_time_reduction": 1 - len(marked) / len(rows),
                                            "lesion_frame_recall": hit / max(len(lesion_frames), 1),
                                            **segment_recall(marked, segments)}
    (RESULTS / "triage.json").write_text(json.dumps(out, indent=1, default=float))
    print("triage (test video): " + json.dumps(out["test"]["at_chosen"]), flush=True)


PAPER_T3 = {"ResNet-50": (84.0, 72.57, 72.81), "ResNet-101": (81.9, 69.67, 71.41), "DenseNet-121": (86.7, 73.48, 73.72)}
PAPER_T5 = {"Hard sharing, ResNet-50": (88.41, 80.96, 78.93, 84.92, 77.55),
            "MTCSN, ResNet-50": (89.23, 81.54, 80.14, 85.50, 77.62)}
PAPER_T6 = {"GMP": (85.1, 73.52, 76.1, 84.04, 72.9), "GAP": (88.3, 78.7, 79.64, 84.49, 73.75)}


def _fmt(record: dict, key: str) -> str:
    test = record["test"]
    if key not in test:
        return "-"
    ci = record["intervals_95"].get(key)
    text = f"{100 * test[key]:.1f}"
    return text + (f" [{100 * ci['low']:.1f}, {100 * ci['high']:.1f}]" if ci else "")


def write_report() -> None:
    records = {p.stem: json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json")) if p.stem != "triage"}
    lines = ["# MTCSN on SIMULATED capsule frames (capsule_mtcsn simulator) — not real CE data", "",
             "Reduced setting: 96 x 96 frames, light CPU encoder, one seed; see run_tables.py. Test split by clip; "
             "95 % bootstrap intervals over test frames in brackets. Paper numbers (CECD, 240 x 240, ResNet-50, "
             "30k iterations) are on real data and are not comparable to ours.", "",
             "| variant (ours, simulated) | accuracy | precision (macro) | recall (macro) | F1 (macro) | mIoU | mACC "
             "| steps | CPU-min | load (1-min avg) |", "|---|---|---|---|---|---|---|---|---|---|"]
    order = ["cd_only", "tss_only", "hard_sharing", "mtcsn", "mtcsn_gmp"]
    for name in [n for n in order if n in records]:
        r = records[name]
        lines.append(f"| {name} | {_fmt(r, 'accuracy')} | {_fmt(r, 'precision_macro')} | {_fmt(r, 'recall_macro')} | "
                     f"{_fmt(r, 'f1_macro')} | {_fmt(r, 'miou')} | {_fmt(r, 'macc')} | {r['steps']} | "
                     f"{r['cpu_s'] / 60:.1f} | {r['load_avg_1min'][0]:.1f}-{r['load_avg_1min'][1]:.1f} |")
    if records:
        any_record = next(iter(records.values()))
        lines += ["", f"Data: {any_record['data']}", f"Date: {any_record['date']}, machine {any_record['machine']}, "
                  f"threads {any_record['threads']}; command: `{any_record['command']}`"]
    lines += ["", "Paper (CECD, real): Table 3 single-task CD (acc/prec/rec): "
              + "; ".join(f"{k} {v}" for k, v in PAPER_T3.items()),
              "Table 5 (acc/prec/rec/mACC/mIoU): " + "; ".join(f"{k} {v}" for k, v in PAPER_T5.items()),
              "Table 6 pooling (DenseNet-121): " + "; ".join(f"{k} {v}" for k, v in PAPER_T6.items())]
    triage = RESULTS / "triage.json"
    if triage.exists():
        t = json.loads(triage.read_text())
        lines += ["", "## Video triage on SIMULATED videos", "", f"Data: {t['data']}; threshold chosen on the "
                  f"validation video: lesion_threshold = {t['chosen_lesion_threshold']}.", "",
                  "| video | lesion threshold | frames kept % | lesion segments found / all | segment recall % |",
                  "|---|---|---|---|---|"]
        for role in ("validation", "test"):
            for s in t[role]["sweep"]:
                lines.append(f"| {role} | {s['lesion_threshold']} | {100 * s['frames_kept']:.1f} | "
                             f"{s['segments_found']}/{s['segments']} | {100 * s['segment_recall']:.1f} |")
        a = t["test"]["at_chosen"]
        lines += ["", f"Test video at the chosen threshold: {100 * a['frames_kept']:.1f} % of frames kept "
                  f"(reading-time reduction {100 * a['reading_time_reduction']:.1f} %), lesion segments found "
                  f"{a['segments_found']}/{a['segments']} ({100 * a['segment_recall']:.1f} %), lesion-frame recall "
                  f"{100 * a['lesion_frame_recall']:.1f} %. Triage CPU time {t['test']['triage_cpu_s']:.0f} s for "
                  f"{t['test']['frames']} frames (load {t['load_avg_1min']:.1f})."]
    (HERE / "RESULTS.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", nargs="*", default=[],
                   choices=["cd_only", "tss_only", "hard_sharing", "mtcsn", "mtcsn_gmp"])
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--clips", type=int, default=150)
    p.add_argument("--frames-per-clip", type=int, default=4)
    p.add_argument("--iterations", type=int, default=1200)
    p.add_argument("--minutes-per-run", type=float, default=8.0, help="wall-time budget of each training run")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--triage", action="store_true", help="after mtcsn: triage two simulated videos")
    p.add_argument("--video-frames", type=int, default=2400)
    p.add_argument("--save-model", help="save the mtcsn model as a model folder here")
    p.add_argument("--report", action="store_true", help="write RESULTS.md from results/*.json")
    args = p.parse_args(argv)
    if args.variants:
        run_variants(args)
    if args.report or not args.variants:
        write_report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
