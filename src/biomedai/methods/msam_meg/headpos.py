"""Head movement during a MEG recording, from continuous head-position data (MNE), and the windows it spoils.

The paper discards data with more than 5 mm of head movement. Head positions come from a MaxFilter-style
``.pos`` file (``mne.chpi.read_head_pos``: time, rotation quaternion, translation of the head origin in
device coordinates, in metres) or, when the recording carries continuous HPI coils, from MNE's cHPI
fitting (``compute_chpi_amplitudes`` -> ``compute_chpi_locs`` -> ``compute_head_pos``). Movement at a
time is the displacement of the head origin from its position at the start of the recording (the
translation, as MaxFilter reports it; rotations are not folded in).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError

logger = logging.getLogger(__name__)


def read_head_positions(path: Path) -> np.ndarray:
    """An ``(n, 10)`` head-position array from a ``.pos`` file (MNE's reader), checked."""
    import mne

    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # numpy's "input contained no data"
            pos = np.asarray(mne.chpi.read_head_pos(str(path)), float)
    except Exception as exc:  # MNE raises ValueError/OSError on malformed files
        raise InvalidInputError(f"not a head-position (.pos) file: {exc}", path) from None
    if pos.ndim != 2 or pos.shape[1] != 10 or len(pos) == 0 or not np.isfinite(pos[:, :7]).all():
        raise InvalidInputError(f"not a head-position (.pos) file: rows must be (n, 10) and finite, got {pos.shape}",
                                path)
    return pos


def head_positions_from_chpi(raw: Any, source: Path | str = "") -> np.ndarray | None:
    """Head positions fitted from the recording's continuous HPI coils, or None when it has none."""
    import mne

    try:
        freqs = mne.chpi.get_chpi_info(raw.info, on_missing="ignore")[0]
    except Exception:  # an info without HPI structures
        return None
    if len(freqs) == 0:
        return None
    logger.info("%s: fitting head positions from %d cHPI coils", source, len(freqs))
    amplitudes = mne.chpi.compute_chpi_amplitudes(raw, verbose="error")
    locs = mne.chpi.compute_chpi_locs(raw.info, amplitudes, verbose="error")
    return np.asarray(mne.chpi.compute_head_pos(raw.info, locs, verbose="error"), float)


def movement_mm(head_pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(times_s, displacement_mm)``: distance of the head origin from its first position at each time."""
    t = head_pos[:, 0]
    xyz = head_pos[:, 4:7]
    return t, np.linalg.norm(xyz - xyz[0], axis=1) * 1000.0


def window_movement_mm(head_pos: np.ndarray, starts_s: np.ndarray, window_s: float) -> np.ndarray:
    """Largest head displacement (mm) within each window ``[start, start + window_s]``.

    Positions are piecewise constant between samples (the position at a time is the last one measured);
    a window before the first position takes the first.

    Examples
    --------
    >>> pos = np.zeros((3, 10)); pos[:, 0] = [0, 2, 4]; pos[2, 4] = 0.006   # 6 mm at t = 4 s
    >>> window_movement_mm(pos, np.array([0.0, 2.0, 4.0]), 1.0).round(1).tolist()
    [0.0, 0.0, 6.0]
    """
    t, moved = movement_mm(head_pos)
    out = np.zeros(len(starts_s))
    for i, start in enumerate(np.asarray(starts_s, float)):
        first = max(int(np.searchsorted(t, start, side="right")) - 1, 0)
        last = max(int(np.searchsorted(t, start + window_s, side="right")) - 1, 0)
        out[i] = float(moved[first:last + 1].max())
    return out
