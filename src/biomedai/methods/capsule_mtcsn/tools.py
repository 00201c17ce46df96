"""``biomedai tool capsule_mtcsn ...``: simulate frame sets and videos with known answers; score a triage."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from biomedai.utils import write_csv_atomic

from .data import simulate_clips, write_frame_folder
from .keyframes import KeyframeRule
from .simulator import VideoTruth, write_simulated_video
from .triage import read_triage_rows
from .triage_eval import segment_recall, sweep_rule


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="capsule endoscopy tools of MTCSN (SIMULATED data makers)")
    sub = p.add_subparsers(dest="tool", required=True)
    f = sub.add_parser("simulate-frames", help="a SIMULATED frame folder (images/, masks/, labels.csv) for training")
    f.add_argument("-o", "--out", required=True)
    f.add_argument("--clips", type=int, default=150, help="scenes; each gives --frames-per-clip frames (one group)")
    f.add_argument("--frames-per-clip", type=int, default=4)
    f.add_argument("--size", type=int, default=240)
    f.add_argument("--seed", type=int, default=0)
    v = sub.add_parser("simulate-video", help="a SIMULATED capsule video with its per-frame truth CSV")
    v.add_argument("-o", "--out", required=True, help="video file (.mp4, .mkv, .avi)")
    v.add_argument("--frames", type=int, default=2400)
    v.add_argument("--size", type=int, default=240)
    v.add_argument("--fps", type=float, default=4.0)
    v.add_argument("--lesion-rate", type=float, default=0.2, help="share of scenes holding a lesion")
    v.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("score-triage", help="lesion-segment recall vs frames kept of a triage against a truth CSV")
    s.add_argument("frames_csv", help="frames.csv written by predict")
    s.add_argument("truth_csv", help="the *_truth.csv written by simulate-video")
    s.add_argument("--thresholds", type=float, nargs="*", default=[0.005, 0.01, 0.02, 0.05])
    return p


def run(method: Any, args: argparse.Namespace) -> int:
    if args.tool == "simulate-frames":
        frames = simulate_clips(args.clips, args.frames_per_clip, args.size, seed=args.seed)
        folder = write_frame_folder(Path(args.out), frames)
        print(f"wrote {len(frames)} SIMULATED frames ({args.clips} clips) to {folder}")
    elif args.tool == "simulate-video":
        out = Path(args.out)
        truth = write_simulated_video(out, args.frames, args.size, args.fps, args.seed, args.lesion_rate)
        table = write_csv_atomic(out.with_name(f"{out.stem}_truth.csv"), truth.to_rows())
        print(f"wrote SIMULATED video {out} ({args.frames} frames, {len(truth.lesion_segments())} lesion segments) "
              f"and {table}")
    elif args.tool == "score-triage":
        rows = list(read_triage_rows(Path(args.frames_csv)))
        truth = VideoTruth.read_csv(Path(args.truth_csv))
        segments = truth.lesion_segments()
        marked = [r["frame_idx"] for r in rows if r["marked"]]
        result = {"as_run": {"frames_kept": len(marked) / max(len(rows), 1), **segment_recall(marked, segments)},
                  "sweep": sweep_rule(rows, segments, KeyframeRule.from_config(method.config), args.thresholds)}
        print(json.dumps(result, indent=1))
    return 0
