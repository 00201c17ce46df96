"""``biomedai tool tactile_mis ...``: simulate recordings and datasets, stream a recording, check FE vs fast model."""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.utils import lazy_import, write_json_atomic

from .analysis import load_baseline, load_recording
from .ingest import write_sequence_csv, write_sequence_hdf5, write_sequence_npy
from .mechanics import HalfSpaceModel, fe_indentation
from .report import force_blocks_png, stiffness_maps_png
from .sensors import SensorLayout, fit_calibration
from .simulate import line_path, palpation, probe_from_config, tissue_from_config
from .streaming import StreamingMap, play

training = lazy_import(".training", __package__)  # torch: imported on first use


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="tactile_mis tools (simulate and dataset make simulated data, labelled so)")
    sub = parser.add_subparsers(dest="tool", required=True)
    p = sub.add_parser("simulate", help="a simulated palpation recording (+ path and truth files)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--frames", type=int, default=25)
    p.add_argument("--start", type=float, nargs=2, default=(-16.0, 0.0), metavar=("X", "Y"))
    p.add_argument("--stop", type=float, nargs=2, default=(16.0, 0.0), metavar=("X", "Y"))
    p.add_argument("--no-inclusion", action="store_true", help="homogeneous tissue (the nodule-free test)")
    p.add_argument("--format", choices=("npy", "csv", "h5"), default="npy")
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("dataset", help="simulated train/val/test/unseen parts of one estimator task")
    p.add_argument("--task", required=True, choices=("inverse_features", "inverse_image", "shape", "slip", "hardness"))
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("stream", help="play a recording frame by frame, updating the maps; prints latency")
    p.add_argument("recording", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--every", type=int, default=1, help="print every Nth frame")
    p = sub.add_parser("calibrate", help="fit a per-element linear calibration (raw -> N) from load-cell readings")
    p.add_argument("--raw", type=Path, required=True, help="CSV, header + one row per load, one column per element")
    p.add_argument("--force", type=Path, required=True, help="CSV of the reference forces (N), same shape")
    p.add_argument("--sensor", required=True, help="sensor name (must match the layout's name)")
    p.add_argument("--out", type=Path, required=True, help="calibration JSON to write")
    p = sub.add_parser("fe-check", help="finite-element vs fast (Boussinesq) model on a few inclusions")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--elements-per-taxel", type=int, default=2)
    return parser


def run(method: Any, args: argparse.Namespace) -> int:
    return {"simulate": run_simulate, "dataset": run_dataset, "stream": run_stream, "calibrate": run_calibrate,
            "fe-check": run_fe_check}[args.tool](method, args)


def _numeric_csv(path: Path) -> np.ndarray:
    try:
        return np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"not a numeric CSV with one header row ({exc})", path) from None


def run_calibrate(method: Any, args: argparse.Namespace) -> int:
    raw, force = _numeric_csv(args.raw), _numeric_csv(args.force)
    if raw.shape != force.shape:
        raise InvalidInputError(f"raw readings are {raw.shape} but forces are {force.shape}", args.force)
    calibration = fit_calibration(raw, force, args.sensor)
    calibration.save(args.out)
    worst = int(np.argmax(calibration.fit_rmse))
    print(f"{calibration.n_elements} elements calibrated from {len(raw)} loads -> {args.out}; worst fit element "
          f"{worst} (RMSE {calibration.fit_rmse[worst]:.4f} N)")
    return 0


def run_simulate(method: Any, args: argparse.Namespace) -> int:
    cfg = method.config
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path_xy = line_path(args.start, args.stop, args.frames)
    rec = palpation(tissue_from_config(cfg, not args.no_inclusion), probe_from_config(cfg), path_xy,
                    cfg.indentation_mm, cfg.noise_n, args.seed, cfg.influence_radius_mm)
    name = "nodule_free" if args.no_inclusion else "palpation"
    times = np.arange(args.frames) / cfg.frame_rate_hz
    if args.format == "npy":
        target = write_sequence_npy(out / f"{name}.npy", rec.frames, cfg.array_order)
    elif args.format == "h5":
        target = write_sequence_hdf5(out / f"{name}.h5", rec.frames, cfg.frame_rate_hz, cfg.array_order)
    else:
        layout = SensorLayout.regular(cfg.sensor_rows, cfg.sensor_cols, pitch_mm=cfg.taxel_pitch_mm)
        target = write_sequence_csv(out / f"{name}.csv", times, layout.from_image(rec.frames), layout)
    np.savetxt(out / f"{name}.path.csv", path_xy, delimiter=",", header="x_mm,y_mm", comments="")
    write_json_atomic(out / f"{name}.truth.json", rec.truth())
    print(f"simulated {args.frames} frames ({cfg.sensor_rows} x {cfg.sensor_cols} taxels), max "
          f"{rec.frames.max():.3f} N -> {target} (simulated data, seed {args.seed})")
    return 0


def run_dataset(method: Any, args: argparse.Namespace) -> int:
    cfg = method.config.replace(seed=args.seed, task=args.task)
    parts = {part: training.simulate_part(args.task, part, cfg) for part in training.PARTS}
    training.save_parts(parts, Path(args.out))
    sizes = ", ".join(f"{k} {len(v.target)}" for k, v in parts.items())
    print(f"{args.task}: {sizes} simulated cases -> {args.out}")
    return 0


def run_stream(method: Any, args: argparse.Namespace) -> int:
    cfg = method.config
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seq = load_recording(Path(args.recording), cfg)
    baseline, note = load_baseline(cfg, seq)
    live = StreamingMap(baseline, cfg.indentation_mm, cfg.nodule_threshold_n)
    latencies = []
    print(f"streaming {seq.n_frames} frames of {args.recording} (baseline: {note})")
    for update in play(seq.frames, seq.times_s, live, cfg.playback_speed):
        latencies.append(update.latency_ms)
        if update.index % max(1, args.every) == 0:
            print(f"frame {update.index:4d}  t={update.time_s:7.3f} s  max {update.max_force_n:.3f} N  "
                  f"flagged {update.flagged:3d}  map update {update.latency_ms:.3f} ms")
    force_blocks_png(live.latest, out / "live_force_blocks.png", "last frame",
                     (cfg.nodule_free_max_n, cfg.nodule_threshold_n), live.flags)
    stiffness_maps_png({"max excess over baseline (N)": live.max_excess, "max force/displacement (N/mm)":
                        live.stiffness}, out / "live_stiffness.png", f"streamed: {args.recording}")
    lat = np.array(latencies)
    summary = {"frames": int(len(lat)), "median_ms": float(np.median(lat)), "p95_ms": float(np.percentile(lat, 95)),
               "max_ms": float(lat.max()), "recording": str(args.recording)}
    write_json_atomic(out / "stream_latency.json", summary)
    print(f"map update latency: median {summary['median_ms']:.3f} ms, p95 {summary['p95_ms']:.3f} ms "
          f"over {summary['frames']} frames -> {out}")
    return 0


def fe_versus_fast(cfg: Any, elements_per_taxel: int = 2) -> list[dict[str, Any]]:
    """FE and fast-model taxel forces for the nodule-free block and three inclusions (config probe)."""
    probe = probe_from_config(cfg)
    base = tissue_from_config(cfg, with_inclusion=False)
    cases = [("nodule-free", base),
             ("config inclusion", tissue_from_config(cfg)),
             ("small deep (d 6, h 9, 10x)", dataclasses.replace(base, inclusion_diameter=6.0, inclusion_depth=9.0,
                                                               inclusion_modulus_kpa=10 * base.modulus_kpa)),
             ("large shallow (d 14, h 8, 3x)", dataclasses.replace(base, inclusion_diameter=14.0, inclusion_depth=8.0,
                                                                  inclusion_modulus_kpa=3 * base.modulus_kpa))]
    rows = []
    fe_base = fast_base = None
    for name, tissue in cases:
        fe, facts = fe_indentation(tissue, probe, cfg.indentation_mm, elements_per_taxel)
        fast = HalfSpaceModel(tissue, probe, cfg.influence_radius_mm).press((0.0, 0.0), cfg.indentation_mm)
        if fe_base is None:
            fe_base, fast_base = fe, fast
        fe_excess, fast_excess = fe - fe_base, fast - fast_base
        rows.append({"case": name, "fe_total_n": float(fe.sum()), "fast_total_n": float(fast.sum()),
                     "fe_max_n": float(fe.max()), "fast_max_n": float(fast.max()),
                     "relative_rms_difference": float(np.sqrt(np.mean((fe - fast) ** 2)) / np.sqrt(np.mean(fe ** 2))),
                     "fe_peak_excess_n": float(fe_excess.max()), "fast_peak_excess_n": float(fast_excess.max()),
                     "fe_seconds": facts["seconds"], "fe_dofs": facts["dofs"]})
    return rows


def run_fe_check(method: Any, args: argparse.Namespace) -> int:
    rows = fe_versus_fast(method.config, args.elements_per_taxel)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "fe_check.json", rows)
    for row in rows:
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}))
    return 0
