"""Tactile recordings in: M x N x T arrays from CSV, NPY, HDF5 and ROS bags, checked against a layout.

Every reader returns a :class:`TactileSequence` of (T, rows, cols) frames. Wave diagrams (one trace
per element, spec 3.1) and image sequences convert into each other through the layout. NaN elements
(dead taxels) are masked, filled from their neighbours for display and reported; a calibration for
another sensor and clearly negative forces are refused with a message naming the file.
"""
from __future__ import annotations

import csv
import dataclasses
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError, UnsupportedFormatError
from biomedai.io.limits import check_array_size

from .sensors import Calibration, SensorLayout, fill_gaps

logger = logging.getLogger(__name__)

SUFFIXES = (".npy", ".csv", ".h5", ".hdf5", ".bag", ".mcap", ".db3")
_CELL = re.compile(r"^r(\d+)c(\d+)$")
_TIME_COLUMNS = ("t", "time", "time_s", "timestamp")


@dataclasses.dataclass
class TactileSequence:
    """(T, rows, cols) tactile frames with their times, layout and the dead elements found."""

    frames: np.ndarray
    times_s: np.ndarray
    layout: SensorLayout
    unit: str = "raw"
    source: Path | None = None
    #: (rows, cols) True where an element was NaN in every frame
    dead: np.ndarray | None = None
    #: number of (frame, element) readings that were NaN in elements that work otherwise
    dropouts: int = 0

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])

    def waves(self) -> np.ndarray:
        """The wave diagram: (T, K) one trace per sensing element."""
        return self.layout.from_image(self.frames)

    def report(self) -> dict[str, Any]:
        dead = [] if self.dead is None else [list(map(int, ij)) for ij in np.argwhere(self.dead)]
        return {"frames": self.n_frames, "rows": self.layout.rows, "cols": self.layout.cols,
                "layout": self.layout.name, "elements": self.layout.n_elements, "unit": self.unit,
                "dead_taxels": dead, "dropout_readings": int(self.dropouts),
                "duration_s": float(self.times_s[-1] - self.times_s[0]) if self.n_frames > 1 else 0.0}


def waves_to_sequence(times_s: np.ndarray, waves: np.ndarray, layout: SensorLayout, unit: str = "raw",
                      source: Path | None = None) -> TactileSequence:
    """A wave diagram ((T, K) traces, K = layout elements) -> an image sequence (gaps filled)."""
    waves = np.asarray(waves, float)
    if waves.ndim != 2:
        raise InvalidInputError(f"a wave diagram is (T, K); got shape {waves.shape}", source)
    frames = layout.to_image(waves, fill=False)
    return _finish(frames, np.asarray(times_s, float), layout, unit, source)


def _finish(frames: np.ndarray, times: np.ndarray, layout: SensorLayout, unit: str,
            source: Path | None) -> TactileSequence:
    """Mask NaN elements, report them, fill layout gaps and dead taxels from neighbours."""
    if frames.ndim != 3 or frames.shape[0] == 0:
        raise InvalidInputError(f"no frames (shape {frames.shape})", source)
    if frames.shape[1:] != layout.shape:
        raise InvalidInputError(f"frames are {frames.shape[1]} x {frames.shape[2]} but layout {layout.name!r} is "
                                f"{layout.rows} x {layout.cols}", source)
    if np.isinf(frames).any():
        raise InvalidInputError("sequence contains infinite values", source)
    element = layout.element_mask()
    nan = np.isnan(frames) & element
    dead = nan.all(0)
    dropouts = int(nan.sum() - dead.sum() * frames.shape[0])
    if dead.all() and element.any():
        raise InvalidInputError("every sensing element is NaN: no data", source)
    if dead.any():
        logger.warning("%s: %d dead taxel(s) (NaN in every frame) masked: %s", source or "sequence", int(dead.sum()),
                       [tuple(map(int, ij)) for ij in np.argwhere(dead)][:10])
    if nan.any() or layout.is_sparse:
        filled = np.empty_like(frames)
        for t, frame in enumerate(frames):
            filled[t] = fill_gaps(frame, element & ~np.isnan(frame))
        frames = filled
    if len(times) != len(frames):
        raise InvalidInputError(f"{len(times)} time stamps for {len(frames)} frames", source)
    return TactileSequence(frames, times, layout, unit, source, dead, dropouts)


def read_sequence(path: str | Path, layout: SensorLayout | None = None, *, array_order: str = "MNT",
                  frame_rate_hz: float = 80.0, hdf5_dataset: str = "", ros_topic: str = "") -> TactileSequence:
    """Read a tactile recording; the layout defaults to a regular grid of the frame shape.

    NPY/HDF5 hold 3-D arrays in ``array_order`` ("MNT": rows x cols x time, as the review writes
    it, or "TMN") or 2-D (T, K) wave diagrams; CSV holds one row per frame and one column per
    element (a leading ``time`` column is optional; ``r{i}c{j}`` headers place elements without a
    layout file); ROS bags hold one ``std_msgs/Float32MultiArray`` (or Float64) per frame.
    """
    path = Path(path)
    if not path.exists():
        raise InvalidInputError("no such file", path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        array, rate = _load_npy(path), frame_rate_hz
        return _from_array(array, path, layout, array_order, rate)
    if suffix in (".h5", ".hdf5"):
        array, rate, order = _load_hdf5(path, hdf5_dataset)
        return _from_array(array, path, layout, order or array_order, rate or frame_rate_hz)
    if suffix == ".csv":
        return _read_csv(path, layout, frame_rate_hz)
    if suffix in (".bag", ".mcap", ".db3") or (path.is_dir() and (path / "metadata.yaml").is_file()):
        return _read_rosbag(path, layout, ros_topic)
    raise UnsupportedFormatError(f"not a tactile recording this reader knows ({', '.join(SUFFIXES)} or a ROS 2 "
                                 "bag folder)", path)


def _from_array(array: np.ndarray, path: Path, layout: SensorLayout | None, order: str,
                rate: float) -> TactileSequence:
    if not np.issubdtype(array.dtype, np.number):
        raise InvalidInputError(f"array of type {array.dtype} is not numeric", path)
    array = array.astype(float)
    if array.ndim == 2 and layout is not None and array.shape[1] == layout.n_elements and layout.is_sparse:
        times = np.arange(len(array)) / rate
        return waves_to_sequence(times, array, layout, source=path)
    if array.ndim == 2:
        array = array[None] if order == "TMN" else array[..., None]
    if array.ndim != 3:
        raise InvalidInputError(f"expected an M x N x T array (or T x K waves with a sparse layout), got shape "
                                f"{array.shape}", path)
    frames = np.moveaxis(array, -1, 0) if order == "MNT" else array
    layout = layout or SensorLayout.regular(frames.shape[1], frames.shape[2])
    return _finish(frames, np.arange(len(frames)) / rate, layout, "raw", path)


def _load_npy(path: Path) -> np.ndarray:
    try:
        header = np.load(path, mmap_mode="r", allow_pickle=False)   # the header only, checked before reading
        check_array_size(header.shape, header.dtype.itemsize, path, "tactile recording")
        return np.array(header)
    except InvalidInputError:
        raise
    except (ValueError, OSError, EOFError) as exc:
        raise InvalidInputError(f"not a readable NPY array ({exc})", path) from None


def _load_hdf5(path: Path, dataset: str) -> tuple[np.ndarray, float | None, str | None]:
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            if not dataset:
                found: list[str] = []
                handle.visititems(lambda name, obj: found.append(name)
                                  if isinstance(obj, h5py.Dataset) and obj.ndim in (2, 3) else None)
                if len(found) != 1:
                    raise InvalidInputError(f"{len(found)} candidate datasets ({', '.join(found[:5])}); name one with "
                                            "hdf5_dataset", path)
                dataset = found[0]
            if dataset not in handle:
                raise InvalidInputError(f"no dataset {dataset!r} in the file", path)
            node = handle[dataset]
            check_array_size(node.shape, node.dtype.itemsize, path, "tactile recording")
            rate = node.attrs.get("frame_rate_hz", handle.attrs.get("frame_rate_hz"))
            order = node.attrs.get("order")
            return np.asarray(node[()]), (float(rate) if rate is not None else None), (str(order) if order else None)
    except OSError as exc:
        raise InvalidInputError(f"not a readable HDF5 file ({exc})", path) from None


def _read_csv(path: Path, layout: SensorLayout | None, rate: float) -> TactileSequence:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.reader(handle) if row]
    if len(rows) < 2:
        raise InvalidInputError("CSV needs a header row and at least one frame", path)
    header = [h.strip() for h in rows[0]]
    has_time = header[0].lower() in _TIME_COLUMNS
    names = header[1:] if has_time else header
    try:
        values = np.array([[float(v) if v.strip() not in ("", "nan", "NaN") else np.nan for v in row]
                           for row in rows[1:]])
    except ValueError as exc:
        raise InvalidInputError(f"non-numeric value in the CSV ({exc})", path) from None
    if values.ndim != 2 or values.shape[1] != len(header):
        raise InvalidInputError(f"rows do not all have {len(header)} columns", path)
    times = values[:, 0] if has_time else np.arange(len(values)) / rate
    waves = values[:, 1:] if has_time else values
    if layout is None:
        cells = [_CELL.match(n) for n in names]
        if not all(cells):
            raise InvalidInputError("CSV columns are not named r{row}c{col}; give a layout file for this sensor", path)
        elements = np.array([[int(m.group(1)), int(m.group(2))] for m in cells if m])
        rows_n, cols_n = int(elements[:, 0].max()) + 1, int(elements[:, 1].max()) + 1
        layout = SensorLayout(path.stem, rows_n, cols_n, elements)
    if waves.shape[1] != layout.n_elements:
        raise InvalidInputError(f"CSV has {waves.shape[1]} element columns but layout {layout.name!r} has "
                                f"{layout.n_elements} elements", path)
    return waves_to_sequence(times, waves, layout, source=path)


def _read_rosbag(path: Path, layout: SensorLayout | None, topic: str) -> TactileSequence:
    try:
        from rosbags.highlevel import AnyReader
    except ImportError:
        raise UnsupportedFormatError("reading ROS bags needs the 'rosbags' package (pip install rosbags)",
                                     path) from None
    kinds = ("std_msgs/msg/Float32MultiArray", "std_msgs/msg/Float64MultiArray")
    try:
        with AnyReader([path]) as reader:
            candidates = [c for c in reader.connections if c.msgtype in kinds and (not topic or c.topic == topic)]
            topics = sorted({c.topic for c in candidates})
            if len(topics) != 1:
                raise InvalidInputError(f"{len(topics)} Float32/64MultiArray topics ({', '.join(topics) or 'none'})"
                                        f"{' named ' + topic if topic else ''}; name one with ros_topic", path)
            stamps, frames = [], []
            for connection, stamp, raw in reader.messages(connections=candidates):
                msg = reader.deserialize(raw, connection.msgtype)
                stamps.append(stamp * 1e-9)
                frames.append(np.asarray(msg.data, float))
    except InvalidInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - the rosbags errors are many; one message for all
        raise InvalidInputError(f"not a readable ROS bag ({exc.__class__.__name__}: {exc})", path) from None
    if not frames or len({len(f) for f in frames}) != 1:
        raise InvalidInputError("bag has no frames, or frames of different lengths", path)
    waves = np.stack(frames)
    if layout is None:
        raise InvalidInputError("a ROS bag carries flat arrays; give a layout file for this sensor", path)
    times = np.asarray(stamps) - stamps[0]
    if waves.shape[1] == layout.rows * layout.cols and not layout.is_sparse:
        return _finish(waves.reshape(-1, *layout.shape), times, layout, "raw", path)
    return waves_to_sequence(times, waves, layout, source=path)


def calibrate(seq: TactileSequence, calibration: Calibration | None, negative_tolerance_n: float = 0.02,
              source: Path | None = None) -> TactileSequence:
    """Raw frames -> forces in newtons (no calibration: the frames are taken as forces already).

    Forces below ``-negative_tolerance_n`` are refused (a wrong offset, sign or calibration);
    small negatives within the tolerance are noise around zero and set to 0.
    """
    if calibration is not None:
        calibration.check_fits(seq.layout, source)
        waves = calibration.to_force(seq.waves())
        frames = seq.layout.to_image(waves)
    else:
        frames = seq.frames.copy()
    lowest = float(np.nanmin(frames))
    if lowest < -negative_tolerance_n:
        t, i, j = np.unravel_index(int(np.nanargmin(frames)), frames.shape)
        count = int((frames < -negative_tolerance_n).sum())
        raise InvalidInputError(f"{count} negative force reading(s), lowest {lowest:.3f} N at frame {t}, element "
                                f"({i}, {j}); contact forces are >= 0: check the calibration's sign and offset "
                                f"(tolerance {negative_tolerance_n} N)", source or seq.source)
    frames = np.clip(frames, 0.0, None)
    return dataclasses.replace(seq, frames=frames, unit="N")


# ------------------------------------------------------------------------------------ writers
def write_sequence_npy(path: str | Path, frames: np.ndarray, order: str = "MNT") -> Path:
    """Save (T, rows, cols) frames as NPY in ``order``."""
    from biomedai.utils import atomic_path

    array = np.moveaxis(np.asarray(frames), 0, -1) if order == "MNT" else np.asarray(frames)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, array)
    return Path(path)


def write_sequence_csv(path: str | Path, times_s: np.ndarray, waves: np.ndarray, layout: SensorLayout) -> Path:
    """A wave diagram as CSV: ``time`` then one ``r{i}c{j}`` column per element."""
    from biomedai.utils import write_text_atomic

    header = ["time"] + [f"r{i}c{j}" for i, j in layout.elements]
    lines = [",".join(header)]
    lines += [",".join([f"{t:.6f}"] + [f"{v:.6g}" for v in row]) for t, row in zip(times_s, waves)]
    return write_text_atomic(path, "\n".join(lines) + "\n")


def write_sequence_hdf5(path: str | Path, frames: np.ndarray, frame_rate_hz: float, order: str = "MNT",
                        dataset: str = "tactile") -> Path:
    """Save (T, rows, cols) frames to HDF5 with ``frame_rate_hz`` and ``order`` attributes."""
    import h5py

    from biomedai.utils import atomic_path

    array = np.moveaxis(np.asarray(frames), 0, -1) if order == "MNT" else np.asarray(frames)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as handle:
        node = handle.create_dataset(dataset, data=array)
        node.attrs["frame_rate_hz"] = float(frame_rate_hz)
        node.attrs["order"] = order
    return Path(path)
