"""Scoring a triage against a simulated video's truth: lesion-segment recall versus frames kept.

A lesion segment (a run of frames where a lesion is visible, :meth:`VideoTruth.lesion_segments`) is found
when at least one marked frame lies inside it; the reading time saved is the share of frames not marked.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .keyframes import KeyframeRule, MarkState


def segment_recall(marked_frames: Iterable[int], segments: Sequence[tuple[int, int]]) -> dict[str, Any]:
    """Recall of lesion segments (inclusive frame ranges) given the marked frame indices."""
    marked = np.sort(np.fromiter(marked_frames, dtype=np.int64))
    found = 0
    for start, end in segments:
        i = np.searchsorted(marked, start)
        found += int(i < len(marked) and marked[i] <= end)
    return {"segments": len(segments), "segments_found": found,
            "segment_recall": found / len(segments) if segments else float("nan")}


def remark(rows: Sequence[dict[str, Any]], rule: KeyframeRule) -> list[int]:
    """Frame indices a rule marks, replayed over scored rows (frames.csv) in time order."""
    state = MarkState()
    return [r["frame_idx"] for r in rows
            if rule.mark(state, r["time"], r["cd_class"], r["p_clear"], r["%tissue"] / 100, r["%lesion"] / 100)]


def sweep_rule(rows: Sequence[dict[str, Any]], segments: Sequence[tuple[int, int]], base: KeyframeRule,
               lesion_thresholds: Sequence[float]) -> list[dict[str, Any]]:
    """Segment recall and frames kept for each lesion threshold (the other settings as in ``base``)."""
    out = []
    for threshold in lesion_thresholds:
        marked = remark(rows, dataclasses.replace(base, lesion_threshold=float(threshold)))
        out.append({"lesion_threshold": float(threshold), "frames_kept": len(marked) / max(len(rows), 1),
                    **segment_recall(marked, segments)})
    return out
