"""What ``train``, ``predict``, ``evaluate`` and ``demo`` do (torch is imported here; pipeline.py reaches this
module lazily so that ``biomedai --help`` stays fast)."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from biomedai.errors import InvalidInputError, WeightsError
from biomedai.io import read_image
from biomedai.methods.base import RunResult
from biomedai.provenance import RunRecorder
from biomedai.utils import write_csv_atomic, write_json_atomic

from .config import MtcsnConfig
from .data import load_frame_folder, simulate_clips, split_frames
from .frames import is_video, to_rgb_uint8
from .inference import load_mtcsn, predict_batch, resolve_device, save_mtcsn
from .model import Mtcsn
from .overlay import palette_overlay, write_rgb
from .palette import CD_CLASSES, class_fractions, index_to_rgb
from .report import summarise_triage, write_triage_report
from .simulator import write_simulated_video
from .training import evaluate_frames, train_mtcsn
from .triage import read_triage_rows, triage_video
from .triage_eval import segment_recall

logger = logging.getLogger(__name__)

SIMULATED_NOTE = ("model trained on SIMULATED capsule frames (biomedai simulator): outputs show the software at "
                  "work, they are not clinical findings; research use only")


def _result(rec: RunRecorder, out: Path) -> RunResult:
    rec.write()
    return RunResult(out, rec.metrics, [out / f for f in rec.files])


def train(method: Any, data: Path, out: Path) -> RunResult:
    cfg: MtcsnConfig = method.config
    out = Path(out)
    rec = RunRecorder(out, method.name, "train", seed=cfg.seed, config=cfg.to_dict())
    rec.add_inputs([data])
    frames = load_frame_folder(Path(data), cfg.input_size, cfg.ignore_index)
    parts = split_frames(frames, cfg.val_fraction, cfg.test_fraction, seed=cfg.seed)
    if not len(parts["train"]) or not len(parts["val"]):
        raise InvalidInputError(f"too few groups to split into train and validation ({len(frames)} frames, "
                                f"{len(set(frames.groups))} groups)", data)
    with rec.timer("train"):
        model, info = train_mtcsn(cfg, parts["train"], parts["val"], out / "training", progress=True)
    test = evaluate_frames(model, parts["test"], cfg) if len(parts.get("test", [])) else {}
    data_name = f"{Path(data).name}" + (" (SIMULATED)" if frames.simulated else "")
    split_text = f"by group, seed {cfg.seed}: " + ", ".join(f"{k} {len(v)}" for k, v in parts.items())
    folder = save_mtcsn(out / "model", model, cfg, {"name": data_name, "split": split_text, "licence": "see data"},
                        {k: v for k, v in test.items() if isinstance(v, float)},
                        f"test part of {data_name}, {len(parts.get('test', []))} frames", simulated=frames.simulated)
    rec.metrics = {"data": data_name, "split": split_text, "best_epoch": info["best_epoch"],
                   "best_val_score": info["best_val_score"], "steps": info["steps"], "test": test}
    for name in ("weights.pt", "model.json"):
        rec.add_file(folder / name)
    return _result(rec, out)


def _require_weights(method: Any, weights: Path | None) -> Path:
    folder = method.resolve_weights(weights)
    if folder is None:
        raise WeightsError("capsule_mtcsn needs --weights (a model folder; train one with: biomedai train "
                           "capsule_mtcsn DATA, data from: biomedai tool capsule_mtcsn simulate-frames)")
    return Path(folder)


def _expand(inputs: Sequence[Path]) -> list[Path]:
    if not inputs:
        raise InvalidInputError("no input files given (capsule videos or frame images)")
    files = []
    for item in map(Path, inputs):
        if item.is_dir():
            files += sorted(p for p in item.iterdir() if p.is_file() and not p.name.startswith("."))
        elif not item.exists():
            raise InvalidInputError("input file does not exist", item)
        else:
            files.append(item)
    if not files:
        raise InvalidInputError("the input folders hold no files", inputs[0])
    return files


def predict(method: Any, inputs: Sequence[Path], out: Path, weights: Path | None) -> RunResult:
    """Videos: triage into ``out/<video stem>/``; images: ``out/images.csv`` with masks and overlays."""
    files = _expand(inputs)
    folder = _require_weights(method, weights)
    out = Path(out)
    rec = RunRecorder(out, method.name, "predict", seed=method.config.seed, config=method.config.to_dict())
    _predict_into(rec, method.config, files, out, folder)
    return _result(rec, out)


def _predict_into(rec: RunRecorder, cfg: MtcsnConfig, files: list[Path], out: Path, folder: Path) -> None:
    rec.add_inputs(files)
    model, cfg, info = load_mtcsn(folder, cfg, resolve_device(cfg.device))
    rec.notes["model"] = info.usage_note()
    notes = [f"Model: {info.usage_note()}."] + ([SIMULATED_NOTE] if info.simulated else [])
    videos, images = [f for f in files if is_video(f)], [f for f in files if not is_video(f)]
    with rec.timer("predict"):
        for video in videos:
            target = out / video.stem
            run = triage_video(video, target, model, cfg, info.weights_sha256)
            summary = summarise_triage(target / "frames.csv")
            page = write_triage_report(target, f"Capsule video triage: {video.name}", summary, notes)
            slim = {k: v for k, v in summary.items() if k not in ("bins", "gallery")}
            write_json_atomic(target / "summary.json", {**slim, "frames_per_s": run.get("frames_per_s"),
                                                        "video": run["info"]})
            rec.metrics[video.name] = {**slim, "frames_per_s": run.get("frames_per_s")}
            for name in ("frames.csv", "decode_errors.csv", "summary.json", page.name):
                rec.add_file(target / name)
        if images:
            rec.metrics["images"] = _predict_images(model, cfg, images, out, rec)
    if info.simulated:
        rec.notes["simulated"] = SIMULATED_NOTE


def _predict_images(model: Mtcsn, cfg: MtcsnConfig, images: list[Path], out: Path, rec: RunRecorder
                    ) -> dict[str, Any]:
    rows = []
    for path in images:
        frame = to_rgb_uint8(read_image(path).array, path)
        probs, masks = predict_batch(model, frame[None], cfg.input_size)
        row: dict[str, Any] = {"image": path.name}
        if probs is not None:
            row.update({"cd_class": CD_CLASSES[int(probs[0].argmax())],
                        **{f"p_{c}": round(float(p), 4) for c, p in zip(CD_CLASSES, probs[0])}})
        if masks is not None:
            row.update({f"%{k}": round(100 * v, 2) for k, v in class_fractions(masks[0]).items()})
            rec.add_file(write_rgb(index_to_rgb(masks[0]), out / "masks" / f"{path.stem}_mask.png"))
            rec.add_file(write_rgb(palette_overlay(frame, masks[0]), out / "overlays" / f"{path.stem}_overlay.png"))
        rows.append(row)
    rec.add_file(write_csv_atomic(out / "images.csv", rows))
    return {"n_images": len(rows), "cd_counts": {c: sum(r.get("cd_class") == c for r in rows) for c in CD_CLASSES}}


def evaluate(method: Any, data: Path, out: Path, weights: Path | None) -> RunResult:
    folder = _require_weights(method, weights)
    out = Path(out)
    rec = RunRecorder(out, method.name, "evaluate", seed=method.config.seed, config=method.config.to_dict())
    rec.add_inputs([data])
    model, cfg, info = load_mtcsn(folder, method.config, resolve_device(method.config.device))
    frames = load_frame_folder(Path(data), cfg.input_size, cfg.ignore_index)
    with rec.timer("evaluate"):
        metrics = evaluate_frames(model, frames, cfg)
    label = f"{Path(data).name}, {len(frames)} frames" + (" (SIMULATED)" if frames.simulated else "")
    rec.metrics = {"data": label, "model": info.usage_note(), **metrics}
    rec.add_file(write_json_atomic(out / "metrics.json", rec.metrics))
    return _result(rec, out)


def demo(method: Any, out: Path) -> RunResult:
    """A one-minute SIMULATED capsule video (240 frames at 4 fps, 96 x 96) triaged with the bundled model,
    scored against the simulator's known lesion segments."""
    out = Path(out)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    cfg = method.config.replace(sample_fps=0.0, representative_interval_s=10.0)
    rec = RunRecorder(out, method.name, "demo", seed=cfg.seed, config=cfg.to_dict())
    folder = method.resolve_weights(None)
    if folder is None:                       # no bundled model: a small one, trained here on SIMULATED clips
        with rec.timer("train_small_model"):
            folder = _train_demo_model(cfg, out / "demo_model")
        rec.notes["model"] = "no bundled model: a small MTCSN trained for under a minute on SIMULATED clips"
    video = out / "input" / "simulated_capsule.mp4"
    with rec.timer("simulate"):
        truth = write_simulated_video(video, 240, size=96, fps=4.0, seed=cfg.seed, lesion_rate=0.4)
    rec.add_file(video)
    rec.add_file(write_csv_atomic(out / "input" / "simulated_truth.csv", truth.to_rows()))
    _predict_into(rec, cfg, [video], out, folder)
    rows = list(read_triage_rows(out / video.stem / "frames.csv"))
    rec.metrics["against_simulated_truth"] = {
        **segment_recall([r["frame_idx"] for r in rows if r["marked"]], truth.lesion_segments()),
        "data": "SIMULATED video, 240 frames of 96 x 96 at 4 fps (capsule_mtcsn simulator)"}
    rec.notes["data"] = "SIMULATED capsule video; not real patient data"
    return _result(rec, out)


def _train_demo_model(cfg: MtcsnConfig, folder: Path) -> Path:
    small = cfg.replace(input_size=64, light_widths=(8, 16, 24, 32), cls_channels=32, seg_channels=24,
                        iterations=150, max_minutes=0.75, device="cpu")
    parts = split_frames(simulate_clips(40, 3, 64, seed=cfg.seed), 0.15, 0.0, seed=cfg.seed)
    model, _ = train_mtcsn(small, parts["train"], parts["val"], None)
    metrics = evaluate_frames(model, parts["val"], small)
    return save_mtcsn(folder, model, small, {"name": "SIMULATED clips (demo, 40 clips of 64 x 64)",
                                             "split": "by clip", "licence": "simulated"},
                      {k: v for k, v in metrics.items() if isinstance(v, float)},
                      "validation part of the demo's SIMULATED clips", simulated=True)
