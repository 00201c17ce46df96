"""What is computed from force maps: TSIS features, stiffness distribution maps and nodule flags.

The review leaves the stiffness map open (spec 3.5), so both are here: Xie et al. 2013 subtract the
nodule-free test from the test over the nodule; Afshari et al. 2011 take force over displacement.
"""
from __future__ import annotations

import numpy as np

from biomedai.errors import InvalidInputError


def tsis_features(force_map: np.ndarray, threshold: float) -> np.ndarray:
    """Lee & Won 2013 TSIS features of (..., rows, cols) maps -> (..., 3).

    ``O1`` the value at the (value-weighted) centroid pixel, ``O2`` the sum of values, ``O3`` the
    number of pixels above ``threshold``.

    Examples
    --------
    >>> m = np.zeros((5, 5)); m[2, 2] = 3.0; m[2, 3] = 1.0
    >>> tsis_features(m, 0.5).tolist()
    [3.0, 4.0, 2.0]
    """
    maps = np.asarray(force_map, float)
    flat = maps.reshape((-1,) + maps.shape[-2:])
    out = np.empty((len(flat), 3))
    rows, cols = np.indices(maps.shape[-2:])
    for k, m in enumerate(flat):
        total = m.sum()
        weight = np.clip(m, 0, None)     # the centroid of the positive part (excess maps can dip below 0)
        if weight.sum() > 0:
            ci = int(round((rows * weight).sum() / weight.sum()))
            cj = int(round((cols * weight).sum() / weight.sum()))
        else:
            ci, cj = m.shape[0] // 2, m.shape[1] // 2
        out[k] = (m[ci, cj], total, float((m > threshold).sum()))
    return out.reshape(maps.shape[:-2] + (3,))


def contact_shape_features(pressure_map: np.ndarray, radial_bins: int = 16, angular_bins: int = 32,
                           harmonics: int = 16) -> np.ndarray:
    """Position-, rotation- and scale-invariant shape features of normalised pressure maps (..., rows, cols).

    Our stand-in for Liu et al.'s 512 invariant features (not described in the review): the map is
    resampled on a polar grid around its centroid, radii scaled by the contact's RMS radius (scale),
    and the magnitudes of the angular Fourier harmonics are kept (rotation): radial_bins x harmonics.
    """
    from scipy import ndimage

    maps = np.asarray(pressure_map, float)
    flat = maps.reshape((-1,) + maps.shape[-2:])
    rows, cols = np.indices(maps.shape[-2:])
    angles = np.linspace(0, 2 * np.pi, angular_bins, endpoint=False)
    radii = (np.arange(radial_bins) + 0.5) / radial_bins * 2.5      # out to 2.5 RMS radii
    out = np.zeros((len(flat), radial_bins * harmonics))
    for k, m in enumerate(flat):
        weight = np.clip(m, 0, None)
        total = weight.sum()
        if total <= 0:
            continue
        ci, cj = (rows * weight).sum() / total, (cols * weight).sum() / total
        rms = np.sqrt((((rows - ci) ** 2 + (cols - cj) ** 2) * weight).sum() / total) or 1.0
        rr = radii[:, None] * rms
        coords = np.stack([ci + rr * np.sin(angles)[None], cj + rr * np.cos(angles)[None]])
        polar = ndimage.map_coordinates(weight / weight.max(), coords, order=1, mode="constant")
        spectrum = np.abs(np.fft.rfft(polar, axis=1))[:, :harmonics] / angular_bins
        out[k] = spectrum.ravel()
    return out.reshape(maps.shape[:-2] + (radial_bins * harmonics,))


def subtraction_stiffness_map(force_map: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """Xie et al. 2013: the test over the nodule minus the nodule-free test (same probe, same press)."""
    force_map, baseline = np.asarray(force_map, float), np.asarray(baseline, float)
    if force_map.shape[-2:] != baseline.shape[-2:]:
        raise InvalidInputError(f"baseline map is {baseline.shape[-2:]} but the maps are {force_map.shape[-2:]}")
    return force_map - baseline


def ratio_stiffness_map(frames: np.ndarray, indentation_mm: np.ndarray | float) -> np.ndarray:
    """Afshari et al. 2011: local stiffness = force / displacement, per taxel (N/mm).

    With several indentation depths the slope of force against depth is fitted per taxel (least
    squares through the origin), which averages the noise; with one depth it is F / depth.
    """
    frames = np.asarray(frames, float)
    if frames.ndim == 2:
        frames = frames[None]
    depth = np.broadcast_to(np.asarray(indentation_mm, float), (len(frames),))
    if np.any(depth <= 0):
        raise InvalidInputError("force/displacement stiffness needs indentation depths > 0 for every frame")
    return np.tensordot(depth, frames, axes=(0, 0)) / float((depth ** 2).sum())


def baseline_frame(frames: np.ndarray) -> np.ndarray:
    """The frame with the least total force (a nodule-free press when no baseline recording is given)."""
    frames = np.asarray(frames, float)
    return frames[int(np.argmin(frames.reshape(len(frames), -1).sum(1)))]


def tissue_mosaic(frames: np.ndarray, path_xy: np.ndarray, pitch: float, cell_mm: float | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Place every taxel reading at its tissue position along a palpation path and average per cell.

    Returns (map, x_edges, y_edges); cells no taxel visited are NaN. Row i of a frame runs along +y.
    """
    frames = np.asarray(frames, float)
    t, rows, cols = frames.shape
    cell = cell_mm or pitch
    ox = (np.arange(cols) - (cols - 1) / 2) * pitch
    oy = (np.arange(rows) - (rows - 1) / 2) * pitch
    gx, gy = np.meshgrid(ox, oy)
    px = (np.asarray(path_xy)[:, 0, None, None] + gx).ravel()
    py = (np.asarray(path_xy)[:, 1, None, None] + gy).ravel()
    x_edges = np.arange(px.min() - cell / 2, px.max() + cell, cell)
    y_edges = np.arange(py.min() - cell / 2, py.max() + cell, cell)
    total, _, _ = np.histogram2d(py, px, bins=(y_edges, x_edges), weights=frames.ravel())
    count, _, _ = np.histogram2d(py, px, bins=(y_edges, x_edges))
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan), x_edges, y_edges


def flag_nodules(force_map: np.ndarray, threshold_n: float) -> np.ndarray:
    """Xie et al. 2013 rule: elements reading above ``threshold_n`` (review: > 0.8 N) lie over a nodule."""
    return np.asarray(force_map, float) > threshold_n


def nodule_summary(frames: np.ndarray, threshold_n: float, nodule_free_max_n: float,
                   baseline: np.ndarray | None = None, excess_threshold_n: float | None = None) -> dict[str, object]:
    """Per-recording flags by the raw rule (elements above ``threshold_n``) and, with a nodule-free
    ``baseline``, by the subtraction rule (excess over the baseline above ``excess_threshold_n``)."""
    frames = np.asarray(frames, float)
    flags = flag_nodules(frames, threshold_n)
    per_frame = flags.reshape(len(frames), -1).any(1)
    out: dict[str, object] = {
        "threshold_n": threshold_n, "nodule_free_max_n": nodule_free_max_n,
        "flagged": bool(per_frame.any()), "frames_flagged": [int(i) for i in np.flatnonzero(per_frame)],
        "elements_flagged_any_frame": [list(map(int, ij)) for ij in np.argwhere(flags.any(0))],
        "share_above_nodule_free_range": float((frames > nodule_free_max_n).mean()),
        "max_force_n": float(frames.max())}
    if baseline is not None and excess_threshold_n is not None:
        excess = flag_nodules(subtraction_stiffness_map(frames, baseline), excess_threshold_n)
        per_frame = excess.reshape(len(frames), -1).any(1)
        out["excess_rule"] = {"threshold_n": excess_threshold_n, "flagged": bool(per_frame.any()),
                              "frames_flagged": [int(i) for i in np.flatnonzero(per_frame)],
                              "max_excess_n": float(subtraction_stiffness_map(frames, baseline).max())}
    return out
