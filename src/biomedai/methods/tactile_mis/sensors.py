"""Sensor layouts (which taxel sits at which pixel) and per-element linear calibration (raw -> newtons).

A tactile image has one pixel per sensing unit (spec 3.1). A *regular* layout fills an M x N grid;
a *sparse* layout places K electrodes at fixed pixels of a larger image (BioTac SP: 24 electrodes on
a 12 x 11 image) and fills the empty cells with the mean of their 8 neighbours (Zapata-Impata 2019).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from biomedai.errors import InvalidInputError
from biomedai.utils import read_mapping_file, write_json_atomic

_NEIGHBOURS_8 = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=float)


@dataclasses.dataclass(frozen=True)
class SensorLayout:
    """Where each of the K sensing elements sits on a ``rows`` x ``cols`` tactile image.

    ``elements`` is a (K, 2) integer array of (row, col) pixels in the order the sensor reports them.

    Examples
    --------
    >>> grid = SensorLayout.regular(2, 3)
    >>> grid.n_elements, grid.to_image(np.arange(6.0)).shape
    (6, (2, 3))
    """

    name: str
    rows: int
    cols: int
    elements: np.ndarray
    pitch_mm: float = 1.0

    @classmethod
    def regular(cls, rows: int, cols: int, name: str = "", pitch_mm: float = 1.0) -> SensorLayout:
        """A full M x N grid in row-major order."""
        ii, jj = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        return cls(name or f"grid{rows}x{cols}", rows, cols, np.stack([ii.ravel(), jj.ravel()], 1), pitch_mm)

    @property
    def n_elements(self) -> int:
        return int(len(self.elements))

    @property
    def is_sparse(self) -> bool:
        return self.n_elements < self.rows * self.cols

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows, self.cols

    def element_mask(self) -> np.ndarray:
        """Boolean image, True where a sensing element sits."""
        mask = np.zeros(self.shape, bool)
        mask[self.elements[:, 0], self.elements[:, 1]] = True
        return mask

    def to_image(self, values: np.ndarray, fill: bool = True) -> np.ndarray:
        """(..., K) element values -> (..., rows, cols) images; empty cells neighbour-filled (or NaN)."""
        values = np.asarray(values, dtype=float)
        if values.shape[-1] != self.n_elements:
            raise InvalidInputError(f"{values.shape[-1]} values per frame but layout {self.name!r} has "
                                    f"{self.n_elements} elements")
        image = np.full(values.shape[:-1] + self.shape, np.nan)
        image[..., self.elements[:, 0], self.elements[:, 1]] = values
        return fill_gaps(image, self.element_mask()) if fill and self.is_sparse else image

    def from_image(self, images: np.ndarray) -> np.ndarray:
        """(..., rows, cols) images -> (..., K) element values (the wave-diagram form)."""
        images = np.asarray(images)
        if images.shape[-2:] != self.shape:
            raise InvalidInputError(f"frames are {images.shape[-2]} x {images.shape[-1]} but layout {self.name!r} "
                                    f"is {self.rows} x {self.cols}")
        return images[..., self.elements[:, 0], self.elements[:, 1]]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "rows": self.rows, "cols": self.cols, "pitch_mm": self.pitch_mm,
                "elements": self.elements.tolist()}

    def save(self, path: str | Path) -> Path:
        return write_json_atomic(Path(path), self.to_dict())


def fill_gaps(images: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Fill cells that are not ``known`` with the mean of their known 8 neighbours, pass after pass.

    Cells with no known neighbour are filled in a later pass from cells filled before, so every
    cell gets a value as long as one cell is known. Works on (rows, cols) or (..., rows, cols).

    Examples
    --------
    >>> img = np.array([[1.0, 0, 3.0], [0, 0, 0], [5.0, 0, 7.0]])
    >>> known = img > 0
    >>> float(fill_gaps(img, known)[1, 1])
    4.0
    """
    images = np.array(images, dtype=float)
    known = np.broadcast_to(np.asarray(known, bool), images.shape[-2:]).copy()
    if not known.any():
        raise InvalidInputError("layout has no sensing element with a value; nothing to fill gaps from")
    flat = images.reshape((-1,) + images.shape[-2:])
    have = known.copy()
    while not have.all():
        weights = ndimage.convolve(have.astype(float), _NEIGHBOURS_8, mode="constant")
        fillable = (~have) & (weights > 0)
        for frame in flat:
            sums = ndimage.convolve(np.where(have, frame, 0.0), _NEIGHBOURS_8, mode="constant")
            frame[fillable] = sums[fillable] / weights[fillable]
        have |= fillable
    return flat.reshape(images.shape)


def read_layout(path: str | Path) -> SensorLayout:
    """A layout file (JSON or YAML): ``name``, ``rows``, ``cols``, optional ``pitch_mm`` and ``elements``.

    Without ``elements`` the layout is the full regular grid. ``elements`` lists (row, col) pixels
    in the order the sensor reports its values; each must lie inside the image and appear once.
    """
    path = Path(path)
    data = read_mapping_file(path, "layout")
    try:
        rows, cols = int(data["rows"]), int(data["cols"])
    except (KeyError, TypeError, ValueError):
        raise InvalidInputError("layout needs integer 'rows' and 'cols'", path) from None
    if rows < 1 or cols < 1:
        raise InvalidInputError(f"layout is {rows} x {cols}; both must be >= 1", path)
    name = str(data.get("name") or path.stem)
    pitch = float(data.get("pitch_mm", 1.0))
    if "elements" not in data:
        return SensorLayout.regular(rows, cols, name, pitch)
    elements = np.asarray(data["elements"])
    if elements.ndim != 2 or elements.shape[1] != 2 or len(elements) == 0:
        raise InvalidInputError("'elements' must be a non-empty list of [row, col] pairs", path)
    elements = elements.astype(int)
    outside = (elements[:, 0] < 0) | (elements[:, 0] >= rows) | (elements[:, 1] < 0) | (elements[:, 1] >= cols)
    if outside.any():
        k = int(np.flatnonzero(outside)[0])
        raise InvalidInputError(f"element {k} at {tuple(elements[k])} lies outside the {rows} x {cols} image", path)
    if len({tuple(e) for e in elements.tolist()}) != len(elements):
        raise InvalidInputError("two elements share one pixel", path)
    return SensorLayout(name, rows, cols, elements, pitch)


# ------------------------------------------------------------------------------------ calibration
@dataclasses.dataclass
class Calibration:
    """Per-element linear calibration ``force_N = gain * raw + offset`` (Xie et al. 2013).

    Examples
    --------
    >>> cal = Calibration("probe", np.array([2.0, 0.5]), np.array([0.0, 0.1]))
    >>> cal.to_force(np.array([1.0, 2.0])).tolist()
    [2.0, 1.1]
    >>> cal.to_raw(cal.to_force(np.array([1.0, 2.0]))).tolist()
    [1.0, 2.0]
    """

    sensor: str
    gain: np.ndarray
    offset: np.ndarray
    unit: str = "N"
    fit_rmse: np.ndarray | None = None

    @property
    def n_elements(self) -> int:
        return int(len(self.gain))

    def to_force(self, raw: np.ndarray) -> np.ndarray:
        """(..., K) raw readings -> forces."""
        return np.asarray(raw, float) * self.gain + self.offset

    def to_raw(self, force: np.ndarray) -> np.ndarray:
        """(..., K) forces -> the raw readings that give them (the inverse map)."""
        return (np.asarray(force, float) - self.offset) / self.gain

    def check_fits(self, layout: SensorLayout, source: str | Path | None = None) -> None:
        """Refuse a calibration made for another sensor (name or element count differ)."""
        if self.sensor != layout.name or self.n_elements != layout.n_elements:
            raise InvalidInputError(
                f"calibration is for sensor {self.sensor!r} with {self.n_elements} elements, but the sequence comes "
                f"from sensor {layout.name!r} with {layout.n_elements} elements", source)

    def save(self, path: str | Path) -> Path:
        data = {"sensor": self.sensor, "unit": self.unit, "gain": self.gain.tolist(), "offset": self.offset.tolist()}
        if self.fit_rmse is not None:
            data["fit_rmse"] = self.fit_rmse.tolist()
        return write_json_atomic(Path(path), data)


def fit_calibration(raw: np.ndarray, force: np.ndarray, sensor: str) -> Calibration:
    """Least-squares line per element from (n, K) raw readings and the (n, K) reference forces."""
    raw, force = np.asarray(raw, float), np.asarray(force, float)
    if raw.shape != force.shape or raw.ndim != 2 or raw.shape[0] < 2:
        raise InvalidInputError(f"calibration needs matching (n >= 2, K) raw and force arrays, got {raw.shape} "
                                f"and {force.shape}")
    mean_raw, mean_force = raw.mean(0), force.mean(0)
    var = ((raw - mean_raw) ** 2).sum(0)
    if np.any(var == 0):
        k = int(np.flatnonzero(var == 0)[0])
        raise InvalidInputError(f"element {k} has the same raw value at every load; its gain cannot be fitted")
    gain = ((raw - mean_raw) * (force - mean_force)).sum(0) / var
    offset = mean_force - gain * mean_raw
    rmse = np.sqrt((((raw * gain + offset) - force) ** 2).mean(0))
    return Calibration(sensor, gain, offset, "N", rmse)


def read_calibration(path: str | Path) -> Calibration:
    """A calibration JSON/YAML file: ``sensor``, ``gain`` and ``offset`` (one per element)."""
    path = Path(path)
    data = read_mapping_file(path, "calibration")
    try:
        gain = np.asarray(data["gain"], float)
        offset = np.asarray(data["offset"], float)
    except (KeyError, TypeError, ValueError):
        raise InvalidInputError("calibration needs numeric lists 'gain' and 'offset'", path) from None
    if gain.ndim != 1 or gain.shape != offset.shape:
        raise InvalidInputError(f"'gain' ({gain.shape}) and 'offset' ({offset.shape}) must be equal-length lists",
                                path)
    if not (np.all(np.isfinite(gain)) and np.all(np.isfinite(offset))) or np.any(gain == 0):
        raise InvalidInputError("calibration gains must be finite and non-zero, offsets finite", path)
    if "sensor" not in data:
        raise InvalidInputError("calibration names no 'sensor'; it cannot be checked against the sequence", path)
    return Calibration(str(data["sensor"]), gain, offset, str(data.get("unit", "N")))
