"""One recording in, the maps and tables out: what ``predict`` and the streaming player share."""
from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError

from .config import TactileConfig
from .ingest import TactileSequence, calibrate, read_sequence
from .maps import (baseline_frame, flag_nodules, nodule_summary, ratio_stiffness_map, subtraction_stiffness_map,
                   tissue_mosaic)
from .report import force_blocks_png, map_csv, pressure_contour_png, stiffness_maps_png, wave_diagram_png
from .sensors import read_calibration, read_layout

logger = logging.getLogger(__name__)


def load_recording(path: Path, cfg: TactileConfig) -> TactileSequence:
    """Read, check against the layout, calibrate to newtons (when a calibration is configured)."""
    layout = read_layout(cfg.layout) if cfg.layout else None
    seq = read_sequence(path, layout, array_order=cfg.array_order, frame_rate_hz=cfg.frame_rate_hz,
                        hdf5_dataset=cfg.hdf5_dataset, ros_topic=cfg.ros_topic)
    if layout is None and cfg.taxel_pitch_mm and seq.layout.pitch_mm == 1.0:
        seq = dataclasses.replace(seq, layout=dataclasses.replace(seq.layout, pitch_mm=cfg.taxel_pitch_mm))
    calibration = read_calibration(cfg.calibration) if cfg.calibration else None
    return calibrate(seq, calibration, source=Path(cfg.calibration) if cfg.calibration else path)


def load_baseline(cfg: TactileConfig, seq: TactileSequence) -> tuple[np.ndarray, str]:
    """The nodule-free map for the subtraction map: a configured recording, else the weakest frame."""
    if not cfg.baseline:
        return baseline_frame(seq.frames), "the sequence's lowest-force frame"
    base = load_recording(Path(cfg.baseline), cfg)
    if base.frames.shape[1:] != seq.frames.shape[1:]:
        raise InvalidInputError(f"baseline frames are {base.frames.shape[1:]} but the recording's are "
                                f"{seq.frames.shape[1:]}", cfg.baseline)
    return base.frames.mean(0), f"mean of {cfg.baseline}"


def read_path_sidecar(path: Path, frames: int) -> np.ndarray | None:
    """Probe positions ``<stem>.path.csv`` (x_mm,y_mm per frame) beside a recording, if there is one."""
    sidecar = path.with_name(path.stem + ".path.csv")
    if not sidecar.is_file():
        return None
    xy = np.loadtxt(sidecar, delimiter=",", skiprows=1, ndmin=2)
    if xy.shape != (frames, 2):
        raise InvalidInputError(f"path has {xy.shape[0]} rows of {xy.shape[1]} values; expected {frames} rows of "
                                "x_mm,y_mm", sidecar)
    return xy


def analyse_recording(path: Path, cfg: TactileConfig, out: Path) -> tuple[dict[str, Any], list[Path]]:
    """Maps (PNG + CSV), wave diagram, nodule flags and stiffness maps of one recording."""
    start = time.perf_counter()
    seq = load_recording(path, cfg)
    stem = path.stem
    out.mkdir(parents=True, exist_ok=True)
    frames = seq.frames
    baseline, baseline_note = load_baseline(cfg, seq)
    peak_index = int(np.argmax((frames - baseline).reshape(len(frames), -1).max(1)))
    peak = frames[peak_index]
    files: list[Path] = []
    label = f"{stem}, frame {peak_index} (largest excess over the nodule-free map)"
    files.append(pressure_contour_png(peak, out / f"{stem}_contour.png", f"pressure contour map: {label}",
                                      seq.layout.pitch_mm))
    flags = flag_nodules(peak, cfg.nodule_threshold_n)
    files.append(force_blocks_png(peak, out / f"{stem}_force_blocks.png", f"force map: {label}",
                                  (cfg.nodule_free_max_n, cfg.nodule_threshold_n), flags))
    maps: dict[str, np.ndarray] = {}
    if cfg.stiffness_map in ("subtraction", "both"):
        maps["subtraction (N): peak - nodule-free"] = subtraction_stiffness_map(peak, baseline)
    if cfg.stiffness_map in ("ratio", "both"):
        maps["force / displacement (N/mm)"] = ratio_stiffness_map(peak, cfg.indentation_mm)
    files.append(stiffness_maps_png(maps, out / f"{stem}_stiffness.png", f"stiffness distribution maps: {stem}"))
    for name, data in maps.items():
        key = "subtraction" if name.startswith("subtraction") else "ratio"
        files.append(map_csv(data, out / f"{stem}_stiffness_{key}.csv"))
    files.append(map_csv(peak, out / f"{stem}_peak_force.csv"))
    labels = [f"r{i}c{j}" for i, j in seq.layout.elements]
    files.append(wave_diagram_png(seq.times_s, seq.waves(), labels, out / f"{stem}_waves.png",
                                  f"wave diagram: {stem}", seq.unit))
    metrics: dict[str, Any] = {"sequence": seq.report(), "peak_frame": peak_index, "baseline": baseline_note,
                               "nodules": nodule_summary(frames, cfg.nodule_threshold_n, cfg.nodule_free_max_n,
                                                         baseline, cfg.nodule_excess_threshold_n)}
    path_xy = read_path_sidecar(path, len(frames))
    if path_xy is not None:
        excess = frames - baseline
        mosaic, x_edges, y_edges = tissue_mosaic(excess, path_xy, seq.layout.pitch_mm)
        files.append(stiffness_maps_png({"excess force over nodule-free (N), tissue coordinates": mosaic},
                                        out / f"{stem}_tissue_map.png", f"stiffness map along the path: {stem}"))
        files.append(map_csv(mosaic, out / f"{stem}_tissue_map.csv"))
        iy, ix = np.unravel_index(int(np.nanargmax(mosaic)), mosaic.shape)
        metrics["tissue_map_peak_xy_mm"] = [float((x_edges[ix] + x_edges[ix + 1]) / 2),
                                            float((y_edges[iy] + y_edges[iy + 1]) / 2)]
    metrics["seconds"] = time.perf_counter() - start
    return metrics, files
