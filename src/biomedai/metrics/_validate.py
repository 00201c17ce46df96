"""Input checks shared by the metric modules: every bad input becomes an ``InvalidInputError``."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError


def as_array(x: Any, name: str) -> np.ndarray:
    """``x`` as a numpy array; torch tensors (CPU or GPU) and nested lists are accepted."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, without importing torch
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(f"{name}: cannot be read as an array ({exc})") from None
    if arr.dtype == object or arr.dtype.kind in "USV":
        raise InvalidInputError(f"{name}: dtype {arr.dtype} is not numeric")
    return arr


def check_finite(arr: np.ndarray, name: str) -> None:
    """Reject NaN and infinity in a numeric array."""
    if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
        n_bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise InvalidInputError(f"{name}: contains {n_bad} NaN or infinite value(s)")


def check_same_shape(a: np.ndarray, b: np.ndarray, name_a: str = "true", name_b: str = "pred") -> None:
    if a.shape != b.shape:
        raise InvalidInputError(f"{name_b}: shape {b.shape} does not match {name_a} shape {a.shape}")


def check_not_empty(arr: np.ndarray, name: str) -> None:
    if arr.size == 0:
        raise InvalidInputError(f"{name}: is empty (size 0)")


def binary_mask(x: Any, name: str) -> np.ndarray:
    """A boolean mask from a bool array or a numeric array holding only 0 and 1."""
    arr = as_array(x, name)
    check_not_empty(arr, name)
    if arr.dtype == bool:
        return arr
    if arr.dtype.kind not in "iuf":
        raise InvalidInputError(f"{name}: dtype {arr.dtype} is not a binary mask (use bool or 0/1 integers)")
    check_finite(arr, name)
    if not np.all((arr == 0) | (arr == 1)):
        raise InvalidInputError(
            f"{name}: a binary mask may hold only 0 and 1 (found min {arr.min()}, max {arr.max()}); "
            "threshold probabilities or compare labels first"
        )
    return arr.astype(bool)


def label_map(x: Any, name: str) -> np.ndarray:
    """A non-negative integer label map (0 = background); bool and integral floats are converted."""
    arr = as_array(x, name)
    check_not_empty(arr, name)
    if arr.dtype == bool:
        return arr.astype(np.int64)
    if arr.dtype.kind == "f":
        check_finite(arr, name)
        if not np.all(arr == np.round(arr)):
            raise InvalidInputError(f"{name}: a label map must hold integers, got non-integral {arr.dtype} values")
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "iu":
        raise InvalidInputError(f"{name}: dtype {arr.dtype} is not an integer label map")
    if arr.dtype.kind == "i" and arr.min() < 0:
        raise InvalidInputError(f"{name}: label maps must be non-negative (found {arr.min()})")
    return arr


def mask_pair(true: Any, pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t, p = binary_mask(true, "true"), binary_mask(pred, "pred")
    check_same_shape(t, p)
    return t, p


def label_pair(true: Any, pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t, p = label_map(true, "true"), label_map(pred, "pred")
    check_same_shape(t, p)
    return t, p


def vector(x: Any, name: str, *, kind: str = "iufb") -> np.ndarray:
    """A non-empty, finite 1-D array whose dtype kind is in ``kind``."""
    arr = as_array(x, name)
    if arr.ndim != 1:
        raise InvalidInputError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    check_not_empty(arr, name)
    if arr.dtype.kind not in kind:
        words = {"i": "integer", "u": "unsigned integer", "f": "float", "b": "bool"}
        allowed = ", ".join(words[k] for k in kind if k in words)
        raise InvalidInputError(f"{name}: dtype {arr.dtype} is not allowed here (expected {allowed})")
    check_finite(arr, name)
    return arr


def spacing_for(spacing: float | Sequence[float] | None, ndim: int) -> np.ndarray:
    """Voxel spacing as an array of ``ndim`` positive floats (``None`` means 1 along every axis)."""
    if spacing is None:
        return np.ones(ndim)
    sp = np.atleast_1d(np.asarray(spacing, dtype=float))
    if sp.size == 1:
        sp = np.repeat(sp, ndim)
    if sp.shape != (ndim,):
        raise InvalidInputError(f"spacing: expected {ndim} values (one per axis), got {sp.size}")
    if not np.all(np.isfinite(sp)) or np.any(sp <= 0):
        raise InvalidInputError(f"spacing: values must be positive and finite, got {sp.tolist()}")
    return sp


def probability(value: float, name: str, *, low_open: bool = False) -> float:
    v = float(value)
    ok = (0.0 < v <= 1.0) if low_open else (0.0 <= v <= 1.0)
    if not ok:
        raise InvalidInputError(f"{name}: must lie in {'(0, 1]' if low_open else '[0, 1]'}, got {value}")
    return v
