"""MEG/EEG recordings through MNE-Python: read (FIF, CTF ``.ds``, EDF, pre-cut ``.npy``/``.npz``), band-pass,
notch, resample, cut fixed-length windows with subject ids, reject windows by amplitude, and cache the windows.

MNE is imported on first use (optional extra ``biomedai[meg]``).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.utils import atomic_path, file_named_by_table, read_csv_rows

from .config import MsamConfig
from .headpos import head_positions_from_chpi, read_head_positions, window_movement_mm

logger = logging.getLogger(__name__)

RAW_SUFFIXES = (".fif", ".fif.gz", ".ds", ".edf")
WINDOW_SUFFIXES = (".npy", ".npz")
#: MNE channel types kept as tokens, in order of preference (MEG if any, else EEG)
_PICK_ORDER = ("meg", "eeg")


@dataclasses.dataclass
class WindowSet:
    """Windows ``x`` (n, channels, samples) float32 with labels ``y`` (1 = CPS, 0 = SPS, -1 = unknown) and the
    subject id of every window."""

    x: np.ndarray
    y: np.ndarray
    subjects: np.ndarray
    ch_names: list[str]
    sfreq: float

    def __post_init__(self) -> None:
        n = len(self.x)
        if self.x.ndim != 3 or len(self.y) != n or len(self.subjects) != n:
            raise InvalidInputError(f"window set: x {self.x.shape}, y {len(self.y)}, subjects {len(self.subjects)}"
                                    " do not match")
        if self.x.shape[1] != len(self.ch_names):
            raise InvalidInputError(f"window set: {self.x.shape[1]} channels but {len(self.ch_names)} names")

    def subset(self, index: np.ndarray) -> WindowSet:
        """The windows at ``index`` (a boolean mask or integer positions)."""
        return WindowSet(self.x[index], self.y[index], self.subjects[index], list(self.ch_names), self.sfreq)

    def save(self, path: Path) -> Path:
        """Write an ``.npz`` cache atomically."""
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, x=self.x, y=self.y, subjects=self.subjects.astype(str),
                                ch_names=np.array(self.ch_names), sfreq=np.array(self.sfreq))
        return Path(path)

    @classmethod
    def load(cls, path: Path) -> WindowSet:
        """Read a cache written by :meth:`save` (or any ``.npz`` with ``x``, ``y``, ``subjects``)."""
        try:
            with np.load(path, allow_pickle=False) as z:
                x = z["x"].astype(np.float32)
                names = [str(c) for c in z["ch_names"]] if "ch_names" in z else [f"ch{i}" for i in range(x.shape[1])]
                return cls(x, z["y"].astype(int), z["subjects"].astype(str), names,
                           float(z["sfreq"]) if "sfreq" in z else float("nan"))
        except (OSError, ValueError, KeyError) as exc:
            raise InvalidInputError(f"cannot read windows: {exc}", path) from exc


def read_raw(path: str | Path) -> Any:
    """An ``mne.io.Raw`` from a FIF, CTF ``.ds`` folder or EDF file, preloaded; a clear error otherwise."""
    import mne

    path = Path(path)
    name = path.name.lower()
    if not path.exists():
        raise InvalidInputError("recording not found", path)
    try:
        if name.endswith((".fif", ".fif.gz")):
            raw = mne.io.read_raw_fif(path, preload=True, verbose="error")
        elif name.endswith(".ds"):
            raw = mne.io.read_raw_ctf(path, preload=True, verbose="error")
        elif name.endswith(".edf"):
            raw = mne.io.read_raw_edf(path, preload=True, verbose="error")
        else:
            raise InvalidInputError(f"unknown recording type (expected one of {', '.join(RAW_SUFFIXES)})", path)
    except InvalidInputError:
        raise
    except Exception as exc:  # MNE raises ValueError/OSError/RuntimeError on corrupt files
        raise InvalidInputError(f"MNE cannot read it: {exc}", path) from exc
    return raw


def sensor_info(path: Path, ch_names: Sequence[str]) -> Any:
    """The ``mne.Info`` of a raw recording restricted to ``ch_names`` (for topographic plots), or None for
    pre-cut windows or when the channels are not all there."""
    import mne

    if str(path).lower().endswith(WINDOW_SUFFIXES):
        return None
    info = read_raw(path).info
    if not all(c in info["ch_names"] for c in ch_names):
        return None
    return mne.pick_info(info, [info["ch_names"].index(c) for c in ch_names])


def pick_data_channels(raw: Any, source: Path | str = "") -> Any:
    """Keep MEG channels if any, else EEG, else every data channel; reject NaN samples."""
    for kind in _PICK_ORDER:
        if kind in raw:
            raw = raw.copy().pick(kind, exclude="bads")
            break
    else:
        raw = raw.copy().pick("data", exclude="bads")
    if not np.isfinite(raw.get_data()).all():
        raise InvalidInputError("recording has NaN or infinite samples", source)
    return raw


def preprocess(raw: Any, cfg: MsamConfig, source: Path | str = "") -> Any:
    """Band-pass ``l_freq``-``h_freq`` (upper edge capped below Nyquist), notch, resample to ``cfg.sfreq``."""
    raw = pick_data_channels(raw, source)
    nyquist = raw.info["sfreq"] / 2
    h_freq = cfg.h_freq if cfg.h_freq and cfg.h_freq < nyquist * 0.98 else None
    if h_freq is None and cfg.h_freq:
        logger.warning("%s: h_freq %s Hz is at or above Nyquist (%s Hz); low-pass skipped", source, cfg.h_freq, nyquist)
    raw.filter(cfg.l_freq or None, h_freq, verbose="error")
    if cfg.notch and cfg.notch < nyquist * 0.98:
        raw.notch_filter(cfg.notch, verbose="error")
    if abs(raw.info["sfreq"] - cfg.sfreq) > 1e-6:
        raw.resample(cfg.sfreq, verbose="error")
    return raw


def cut_windows(raw: Any, cfg: MsamConfig, source: Path | str = "", head_pos: np.ndarray | None = None,
                return_times: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Fixed-length windows (``window_s``, ``overlap``) as ``(n, channels, samples)``; windows whose peak-to-peak
    amplitude exceeds ``reject_amplitude`` on any channel are dropped (MNE ``reject``), and, with ``head_pos``
    (an MNE head-position array), windows in which the head moved more than ``max_head_movement_mm`` from its
    starting position. With ``return_times`` also the start of each kept window (s from the recording's start).
    """
    import mne

    duration = raw.n_times / raw.info["sfreq"]
    if duration < cfg.window_s:
        raise InvalidInputError(f"recording is {duration:.2f} s long, shorter than one {cfg.window_s} s window",
                                source)
    epochs = mne.make_fixed_length_epochs(raw, duration=cfg.window_s, overlap=cfg.window_s * cfg.overlap,
                                          preload=True, verbose="error")
    if cfg.reject_amplitude:
        kinds = set(epochs.get_channel_types())
        epochs.drop_bad(reject={k: cfg.reject_amplitude for k in kinds if k in ("mag", "grad", "eeg")} or None,
                        verbose="error")
    if head_pos is not None and len(epochs):
        moved = window_movement_mm(head_pos, epochs.events[:, 0] / raw.info["sfreq"], cfg.window_s)
        bad = np.flatnonzero(moved > cfg.max_head_movement_mm)
        if len(bad):
            logger.warning("%s: %d of %d windows dropped for head movement > %s mm (max %.1f mm)", source, len(bad),
                           len(epochs), cfg.max_head_movement_mm, float(moved.max()))
            epochs.drop(bad, reason="head movement", verbose="error")
    data = epochs.get_data(copy=True).astype(np.float32)
    n_samples = round(cfg.window_s * raw.info["sfreq"])
    if return_times:
        return data[:, :, :n_samples], (epochs.events[:, 0] - raw.first_samp) / raw.info["sfreq"]
    return data[:, :, :n_samples]


def zscore_windows(x: np.ndarray) -> np.ndarray:
    """Per-window, per-channel z-score (spec 2.8.3); a flat channel becomes zeros."""
    mean = x.mean(axis=-1, keepdims=True)
    sd = x.std(axis=-1, keepdims=True)
    return ((x - mean) / np.where(sd > 0, sd, 1.0)).astype(np.float32)


def head_pos_beside(recording: Path) -> Path | None:
    """A ``.pos`` file next to a recording: ``NAME.pos`` for ``NAME.fif`` or ``NAME_raw.fif`` (MNE naming)."""
    stem = recording.name.split(".")[0]
    for candidate in (stem, stem.removesuffix("_raw").removesuffix("_meg")):
        path = recording.parent / f"{candidate}.pos"
        if path.is_file():
            return path
    return None


def windows_from_file(path: Path, cfg: MsamConfig, head_pos_file: Path | None = None
                      ) -> tuple[np.ndarray, list[str], float]:
    """Windows, channel names and sampling rate of one recording (see :func:`timed_windows_from_file`)."""
    x, names, sfreq, _ = timed_windows_from_file(path, cfg, head_pos_file)
    return x, names, sfreq


def timed_windows_from_file(path: Path, cfg: MsamConfig, head_pos_file: Path | None = None
                            ) -> tuple[np.ndarray, list[str], float, np.ndarray]:
    """Windows, channel names, sampling rate and window start times (s) of one recording (raw: preprocessed and
    cut; ``.npy``: taken as pre-cut consecutive windows ``(n, channels, samples)`` at ``cfg.sfreq``).

    Head positions for the movement check come from ``head_pos_file``, else a ``.pos`` file of the same name
    beside the recording, else the recording's own cHPI coils; without any, no window is dropped for movement.
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith(WINDOW_SUFFIXES):
        try:
            arr = np.load(path, allow_pickle=False)
            if isinstance(arr, np.lib.npyio.NpzFile):
                with arr:
                    arr = arr["x"] if "x" in arr else arr[arr.files[0]]
        except (OSError, ValueError) as exc:
            raise InvalidInputError(f"cannot read pre-cut windows: {exc}", path) from exc
        if arr.ndim != 3:
            raise InvalidInputError(f"pre-cut windows must be (n, channels, samples), got {arr.shape}", path)
        if not np.isfinite(arr).all():
            raise InvalidInputError("windows have NaN or infinite samples", path)
        starts = np.arange(len(arr)) * arr.shape[2] / cfg.sfreq
        return arr.astype(np.float32), [f"ch{i}" for i in range(arr.shape[1])], cfg.sfreq, starts
    raw = read_raw(path)
    beside = head_pos_beside(path)
    if head_pos_file is not None:
        head_pos = read_head_positions(head_pos_file)
    elif beside is not None:
        head_pos = read_head_positions(beside)
    else:
        head_pos = head_positions_from_chpi(raw, path)  # before filtering: the coils sit above 80 Hz
    raw = preprocess(raw, cfg, path)
    x, starts = cut_windows(raw, cfg, path, head_pos, return_times=True)
    return x, list(raw.ch_names), float(raw.info["sfreq"]), starts


def read_labels(path: Path) -> list[dict[str, str]]:
    """``labels.csv``: ``subject_id, subtype (CPS|SPS), file`` (one row per recording; ``head_movement_mm``,
    ``head_pos`` (a ``.pos`` file in the folder), ``sex``, ``age`` optional)."""
    if not Path(path).is_file():
        raise InvalidInputError("labels.csv not found", path)
    rows = read_csv_rows(path)
    if not rows:
        raise InvalidInputError("labels.csv has no rows", path)
    missing = {"subject_id", "subtype", "file"} - set(rows[0])
    if missing:
        raise InvalidInputError(f"labels.csv lacks column(s) {sorted(missing)}", path)
    for i, row in enumerate(rows, start=2):
        if row["subtype"].strip().upper() not in ("CPS", "SPS"):
            raise InvalidInputError(f"line {i}: subtype {row['subtype']!r} is not CPS or SPS", path)
    return rows


def _cache_key(files: Sequence[Path], cfg: MsamConfig) -> str:
    keys = ("l_freq", "h_freq", "notch", "sfreq", "window_s", "overlap", "reject_amplitude", "zscore",
            "max_head_movement_mm")
    h = hashlib.sha256(json.dumps({k: getattr(cfg, k) for k in keys}, sort_keys=True).encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def _inside(folder: Path, name: str | None, column: str) -> Path | None:
    """A file named in labels.csv, refused when it lies outside the cohort folder."""
    return file_named_by_table(folder, name, folder / "labels.csv", column)


def prepare_cohort(folder: Path, cfg: MsamConfig, cache_dir: Path | None = None,
                   channel_policy: str = "common") -> WindowSet:
    """Windows of every recording listed in ``folder/labels.csv`` with subject ids and labels (CPS = 1).

    Recordings with ``head_movement_mm`` above ``cfg.max_head_movement_mm`` are discarded (paper: 5 mm). Channel
    sets that differ between recordings are reduced to the common channels (``channel_policy="common"``) or stop
    with the differing names (``"error"``). The result is cached under ``cache_dir`` keyed by files and settings.
    """
    folder = Path(folder)
    rows = read_labels(folder / "labels.csv")
    files, head_files = [], []
    for row in rows:
        f = folder / row["file"]
        if not f.exists():
            raise InvalidInputError(f"recording of subject {row['subject_id']} not found", f)
        files.append(_inside(folder, row["file"], "file"))
        head_files.append(_inside(folder, row.get("head_pos", ""), "head_pos"))
    cache = None
    if cache_dir is not None:
        keyed = files + [h for h in head_files if h is not None]
        keyed += [p for f in files if (p := head_pos_beside(f)) is not None]
        cache = Path(cache_dir) / f"windows-{_cache_key(keyed, cfg)}.npz"
        if cache.is_file():
            logger.info("windows from cache %s", cache)
            return WindowSet.load(cache)
    parts = []
    for row, f, head_file in zip(rows, files, head_files):
        move = row.get("head_movement_mm", "").strip()
        if move and float(move) > cfg.max_head_movement_mm:
            logger.warning("%s: head movement %s mm > %s mm, discarded", f, move, cfg.max_head_movement_mm)
            continue
        x, names, sfreq = windows_from_file(f, cfg, head_file)
        if len(x) == 0:
            logger.warning("%s: every window rejected by amplitude", f)
            continue
        parts.append((row["subject_id"].strip(), 1 if row["subtype"].strip().upper() == "CPS" else 0, x, names, sfreq))
    if not parts:
        raise InvalidInputError("no windows left after head-movement and amplitude rejection", folder)
    common = [c for c in parts[0][3] if all(c in p[3] for p in parts)]
    if any(p[3] != parts[0][3] for p in parts):
        differing = sorted(set().union(*[set(p[3]) for p in parts]) - set(common))
        if channel_policy == "error" or not common:
            raise InvalidInputError(f"channel sets differ between recordings: {differing[:20]}"
                                    f"{' ...' if len(differing) > 20 else ''}", folder)
        logger.warning("channel sets differ; keeping the %d common channels (dropped %s)", len(common), differing[:10])
    xs, ys, subs = [], [], []
    for subject, label, x, names, _ in parts:
        x = x[:, [names.index(c) for c in common]]
        xs.append(zscore_windows(x) if cfg.zscore else x)
        ys.append(np.full(len(x), label))
        subs.append(np.full(len(x), subject))
    ws = WindowSet(np.concatenate(xs), np.concatenate(ys), np.concatenate(subs).astype(str), common, parts[0][4])
    if cache is not None:
        ws.save(cache)
    return ws
