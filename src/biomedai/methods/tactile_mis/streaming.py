"""Playback of a recorded sequence frame by frame, updating the maps as a live display would.

Each update does what a live system does per frame: calibrated frame in, nodule flags, running
stiffness maps (excess over the nodule-free baseline, force/displacement) out; its latency is timed.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

import numpy as np

from .maps import flag_nodules, ratio_stiffness_map, subtraction_stiffness_map


@dataclasses.dataclass
class StreamUpdate:
    index: int
    time_s: float
    max_force_n: float
    flagged: int
    latency_ms: float


class StreamingMap:
    """Running maps over a stream: the latest frame, the per-taxel maximum excess and stiffness."""

    def __init__(self, baseline: np.ndarray, indentation_mm: float, threshold_n: float):
        self.baseline = np.asarray(baseline, float)
        self.indentation_mm = indentation_mm
        self.threshold_n = threshold_n
        self.max_excess = np.full(self.baseline.shape, -np.inf)
        self.stiffness = np.zeros(self.baseline.shape)
        self.latest = np.zeros(self.baseline.shape)
        self.flags = np.zeros(self.baseline.shape, bool)

    def update(self, frame: np.ndarray) -> int:
        """Take one frame (N); returns the number of flagged elements in it."""
        self.latest = np.asarray(frame, float)
        self.max_excess = np.maximum(self.max_excess, subtraction_stiffness_map(self.latest, self.baseline))
        self.stiffness = np.maximum(self.stiffness, ratio_stiffness_map(self.latest, self.indentation_mm))
        flags = flag_nodules(self.latest, self.threshold_n)
        self.flags |= flags
        return int(flags.sum())


def play(frames: np.ndarray, times_s: np.ndarray, live: StreamingMap, speed: float = 0.0) -> Iterator[StreamUpdate]:
    """Feed ``frames`` to ``live`` in order; with ``speed`` > 0 wait for each frame's time (1 = real time)."""
    start = time.perf_counter()
    for index, (frame, stamp) in enumerate(zip(frames, times_s)):
        if speed > 0:
            wait = (stamp - times_s[0]) / speed - (time.perf_counter() - start)
            if wait > 0:
                time.sleep(wait)
        tick = time.perf_counter()
        flagged = live.update(frame)
        latency = (time.perf_counter() - tick) * 1e3
        yield StreamUpdate(index, float(stamp), float(np.max(frame)), flagged, latency)
