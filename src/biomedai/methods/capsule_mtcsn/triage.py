"""Video triage: stream a capsule video through MTCSN, one CSV row per scored frame, keyframes kept as thumbnails.

Flat memory (one batch of frames at a time; the CSV is appended and synced per batch), a progress bar plus
log lines, and resumable: ``progress.json`` (written atomically after each batch) records how much of
``frames.csv`` is complete; a rerun into the same folder truncates the CSV to that point and goes on.
Corrupt video packets are skipped and listed in ``decode_errors.csv``.
"""
from __future__ import annotations

import csv
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.io.image import Image
from biomedai.io.video import read_video_frames, video_info
from biomedai.utils import progress, write_json_atomic

from .config import MtcsnConfig
from .frames import to_rgb_uint8
from .inference import predict_batch
from .keyframes import KeyframeRule, MarkState
from .model import Mtcsn
from .overlay import palette_overlay, resize_rgb, write_rgb
from .palette import CD_CLASSES, class_fractions

logger = logging.getLogger(__name__)

#: spec 2.9's per-frame CSV, plus why a frame was marked
TRIAGE_COLUMNS = ("frame_idx", "time", "cd_class", "p_clear", "p_blur", "p_invisible", "%tissue", "%lesion",
                  "%bubble", "%excreta", "marked", "mark_reason")
CSV_NAME, PROGRESS_NAME, ERRORS_NAME, KEYFRAME_DIR = "frames.csv", "progress.json", "decode_errors.csv", "keyframes"
#: settings that change the CSV; a resume with other values is refused
RESUME_KEYS = ("sample_fps", "start_s", "end_s", "infer_batch", "input_size", "lesion_threshold", "clear_threshold",
               "tissue_threshold", "representative_interval_s")


def time_label(seconds: float) -> str:
    """``3725.5`` -> ``"01h02m05.5s"`` (file names and captions)."""
    hours, rest = divmod(max(seconds, 0.0), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(hours):02d}h{int(minutes):02d}m{secs:04.1f}s"


def keyframe_name(frame_idx: int, time_s: float) -> str:
    return f"f{frame_idx:07d}_t{time_label(time_s)}"


def sampled_frames(path: Path, cfg: MtcsnConfig, decode_errors: list[tuple[int, float, int]]) -> Iterator[Image]:
    """Frames at ``cfg.sample_fps`` (by their time stamps, so variable frame rates work) within start/end."""
    period = 1.0 / cfg.sample_fps if cfg.sample_fps > 0 else 0.0
    next_t = cfg.start_s
    for frame in read_video_frames(path, on_error="skip"):
        meta = frame.metadata
        t = meta["time_s"] if meta["time_s"] is not None else meta["frame_index"] / (meta["fps"] or 1.0)
        if meta.get("corrupt_packets_before"):
            decode_errors.append((meta["frame_index"], float(t), int(meta["corrupt_packets_before"])))
        if t < cfg.start_s - 1e-9:
            continue
        if cfg.end_s is not None and t > cfg.end_s + 1e-9:
            break
        if period:
            if t + 1e-6 < next_t:
                continue
            next_t += period * (int((t + 1e-6 - next_t) // period) + 1)
        meta["time_s"] = float(t)
        yield frame


def _fingerprint(video: Path, cfg: MtcsnConfig, weights_sha: str) -> dict[str, Any]:
    stat = video.stat()
    return {"video": video.name, "video_bytes": stat.st_size, "weights_sha256": weights_sha,
            "settings": {k: getattr(cfg, k) for k in RESUME_KEYS}}


def _start_or_resume(out: Path, fingerprint: dict[str, Any], resume: bool) -> dict[str, Any]:
    csv_path, progress_path = out / CSV_NAME, out / PROGRESS_NAME
    if resume and progress_path.is_file() and csv_path.is_file():
        try:
            state = json.loads(progress_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InvalidInputError(f"unreadable triage progress file ({exc}); delete the folder to start over",
                                    progress_path) from None
        if state.get("fingerprint") != fingerprint:
            raise InvalidInputError("this folder holds a triage of another video, model or settings; use a new "
                                    "output folder (or delete it) to start over", progress_path)
        with open(csv_path, "r+b") as handle:            # drop rows written after the last recorded batch
            handle.truncate(state["csv_bytes"])
        if state.get("finished"):
            logger.info("%s: triage already finished (%d rows)", csv_path, state["rows"])
        else:
            logger.info("%s: resuming after frame %s (%d rows done)", csv_path, state["last_frame_idx"], state["rows"])
        return state
    out.mkdir(parents=True, exist_ok=True)
    header = ",".join(TRIAGE_COLUMNS) + "\n"
    csv_path.write_text(header, encoding="utf-8")
    (out / ERRORS_NAME).write_text("frame_idx_after,time_after_s,packets_skipped\n", encoding="utf-8")
    state = {"fingerprint": fingerprint, "rows": 0, "csv_bytes": len(header.encode()), "last_frame_idx": -1,
             "last_representative_s": None, "errors_bytes": (out / ERRORS_NAME).stat().st_size, "finished": False}
    write_json_atomic(progress_path, state)
    return state


def _append(path: Path, lines: list[str]) -> int:
    with open(path, "a", encoding="utf-8", newline="") as handle:
        handle.write("".join(lines))
        handle.flush()
        os.fsync(handle.fileno())
        return handle.tell()


def _format_row(row: dict[str, Any]) -> str:
    values = [row["frame_idx"], f"{row['time']:.3f}", row["cd_class"], *(f"{row[k]:.4f}" for k in
              ("p_clear", "p_blur", "p_invisible")), *(f"{row[k]:.2f}" for k in
              ("%tissue", "%lesion", "%bubble", "%excreta")), int(row["marked"]), row["mark_reason"]]
    return ",".join(str(v) for v in values) + "\n"


def score_frames(model: Mtcsn, frames: list[Image], cfg: MtcsnConfig, rule: KeyframeRule, state: MarkState,
                 out: Path | None, source: Path) -> list[dict[str, Any]]:
    """Rows for one batch of frames; marked frames get a thumbnail (and overlay) under ``out/keyframes``."""
    arrays = np.stack([to_rgb_uint8(f.array, source) for f in frames])
    probs, masks = predict_batch(model, arrays, cfg.input_size)
    if probs is None or masks is None:
        raise InvalidInputError("video triage needs a model with both heads (variant mtcsn or hard_sharing)", source)
    rows = []
    for frame, array, p, mask in zip(frames, arrays, probs, masks):
        fractions = class_fractions(mask)
        cd_class = CD_CLASSES[int(p.argmax())]
        t = float(frame.metadata["time_s"])
        reason = rule.mark(state, t, cd_class, float(p[0]), fractions["tissue"], fractions["lesion"])
        row = {"frame_idx": int(frame.metadata["frame_index"]), "time": t, "cd_class": cd_class,
               "p_clear": float(p[0]), "p_blur": float(p[1]), "p_invisible": float(p[2]),
               **{f"%{k}": 100.0 * v for k, v in fractions.items()}, "marked": bool(reason), "mark_reason": reason}
        if reason and out is not None:
            name = keyframe_name(row["frame_idx"], t)
            write_rgb(resize_rgb(array, cfg.thumbnail_size), out / KEYFRAME_DIR / f"{name}.jpg")
            if cfg.overlays:
                write_rgb(palette_overlay(array, mask), out / KEYFRAME_DIR / f"{name}_overlay.png")
        rows.append(row)
    return rows


def triage_video(video: Path, out: Path, model: Mtcsn, cfg: MtcsnConfig, weights_sha: str = "", *,
                 resume: bool = True, on_batch: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Score a whole video into ``out`` (frames.csv, keyframes/, decode_errors.csv); returns the run's counts."""
    video, out = Path(video), Path(out)
    info = video_info(video)
    state = _start_or_resume(out, _fingerprint(video, cfg, weights_sha), resume)
    if state.get("finished"):
        return {"video": str(video), "rows": state["rows"], "resumed": True, "info": info}
    resumed_from = state["rows"]
    (out / KEYFRAME_DIR).mkdir(parents=True, exist_ok=True)
    with open(out / ERRORS_NAME, "r+b") as handle:
        handle.truncate(state["errors_bytes"])
    rule, mark_state = KeyframeRule.from_config(cfg), MarkState(state["last_representative_s"])
    decode_errors: list[tuple[int, float, int]] = []
    duration = info.get("duration_s") or 0.0
    span = (min(cfg.end_s, duration) if cfg.end_s is not None else duration) - cfg.start_s
    expected = int(span * cfg.sample_fps) + 1 if cfg.sample_fps > 0 and span > 0 else info.get("n_frames")
    started, last_log, batch = time.monotonic(), time.monotonic(), []

    def flush(frames: list[Image]) -> None:
        nonlocal last_log
        rows = score_frames(model, frames, cfg, rule, mark_state, out, video)
        state["csv_bytes"] = _append(out / CSV_NAME, [_format_row(r) for r in rows])
        fresh = [e for e in decode_errors if e[0] > state["last_frame_idx"]]
        if fresh:
            state["errors_bytes"] = _append(out / ERRORS_NAME, [f"{i},{t:.3f},{n}\n" for i, t, n in fresh])
        decode_errors.clear()
        state["rows"] += len(rows)
        state["last_frame_idx"] = rows[-1]["frame_idx"]
        state["last_representative_s"] = mark_state.last_representative_s
        write_json_atomic(out / PROGRESS_NAME, state)
        if time.monotonic() - last_log > 30:
            done = state["rows"] - resumed_from
            logger.info("%s: %d frames scored (%.1f frames/s)", video.name, state["rows"],
                        done / max(time.monotonic() - started, 1e-6))
            last_log = time.monotonic()
        if on_batch is not None:
            on_batch(state["rows"])

    for frame in progress(sampled_frames(video, cfg, decode_errors), desc=f"triage {video.name}", total=expected,
                          initial=0):
        if frame.metadata["frame_index"] <= state["last_frame_idx"]:
            continue
        batch.append(frame)
        if len(batch) == cfg.infer_batch:
            flush(batch)
            batch = []
    if batch:
        flush(batch)
    if state["rows"] == 0:
        raise InvalidInputError(f"no frames between {cfg.start_s} s and {cfg.end_s} s to score", video)
    state["finished"] = True
    write_json_atomic(out / PROGRESS_NAME, state)
    elapsed = time.monotonic() - started
    return {"video": str(video), "rows": state["rows"], "resumed_from_row": resumed_from, "seconds": elapsed,
            "frames_per_s": (state["rows"] - resumed_from) / max(elapsed, 1e-6), "info": info}


def read_triage_rows(path: Path) -> Iterator[dict[str, Any]]:
    """Stream ``frames.csv`` rows with numbers parsed."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != TRIAGE_COLUMNS:
            raise InvalidInputError(f"not a triage CSV: columns {reader.fieldnames}", path)
        for row in reader:
            yield {"frame_idx": int(row["frame_idx"]), "time": float(row["time"]), "cd_class": row["cd_class"],
                   **{k: float(row[k]) for k in TRIAGE_COLUMNS[3:10]}, "marked": row["marked"] == "1",
                   "mark_reason": row["mark_reason"]}
