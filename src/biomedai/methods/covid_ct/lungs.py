"""Classical lung mask: HU threshold inside the body, airway removal, left/right split, closing.

Labels of the returned map: 0 background, :data:`RIGHT_LUNG`, :data:`LEFT_LUNG`. The mask
includes vessels and dense lesions enclosed by aerated lung (closing + per-slice hole filling);
a consolidation that abuts the chest wall is not enclosed and is partly missed (a known limit of
threshold masks, measured in the phantom benchmark).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from biomedai.errors import InvalidInputError

from .config import CovidCTConfig
from .morphology import bounding_slices, close_mm, components_by_size, erode_mm, fill_holes_per_slice

logger = logging.getLogger(__name__)

RIGHT_LUNG, LEFT_LUNG = 1, 2
LUNG_NAMES = {RIGHT_LUNG: "right lung", LEFT_LUNG: "left lung"}


@dataclass
class LungSegmentation:
    """Lung labels ``[z, y, x]`` (1 right, 2 left), the airway mask removed, and notes on each step."""

    labels: np.ndarray
    airway: np.ndarray
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def lung(self) -> np.ndarray:
        return self.labels > 0


def body_mask(hu: np.ndarray) -> np.ndarray:
    """The patient: the largest connected component above -500 HU, holes filled per slice."""
    labels, order, _ = components_by_size(hu > -500)
    if not order:
        raise InvalidInputError("no body found (nothing above -500 HU)")
    return fill_holes_per_slice(labels == order[0])


def air_in_body(hu: np.ndarray, body: np.ndarray, max_hu: float) -> np.ndarray:
    """Low-density voxels inside the body outline that do not touch the in-plane border."""
    air = (hu <= max_hu) & body
    labels, n = ndi.label(air)
    if n == 0:
        return air
    border = np.zeros(air.shape, bool)
    border[:, 0, :] = border[:, -1, :] = border[:, :, 0] = border[:, :, -1] = True
    touching = np.unique(labels[border & air])
    return air & ~np.isin(labels, touching[touching > 0])


def _trachea_seed(candidate: np.ndarray, spacing: tuple[float, ...], superior_sign: int
                  ) -> tuple[int, np.ndarray] | None:
    """In the most superior slices, a small near-midline air component (the trachea), if any."""
    zs = np.flatnonzero(candidate.any(axis=(1, 2)))
    if zs.size < 3:
        return None
    top_first = zs[::-1] if superior_sign > 0 else zs
    pixel_cm2 = spacing[1] * spacing[2] / 100.0
    centre_x = candidate.shape[2] / 2.0
    for z in top_first[: max(3, zs.size // 4)]:
        labels, n = ndi.label(candidate[z])
        best, best_offset = None, np.inf
        for k in range(1, n + 1):
            comp = labels == k
            area = comp.sum() * pixel_cm2
            if not 0.3 <= area <= 8.0:
                continue
            offset = abs(np.argwhere(comp)[:, 1].mean() - centre_x) * spacing[2]
            if offset < 25 and offset < best_offset:
                best, best_offset = comp, offset
        if best is not None:
            return int(z), best
    return None


def airway_mask(candidate: np.ndarray, hu: np.ndarray, spacing: tuple[float, ...], superior_sign: int,
                config: CovidCTConfig) -> tuple[np.ndarray, dict[str, Any]]:
    """Trachea and main bronchi by adaptive region growing from a trachea seed (Mori et al. style).

    The HU volume is smoothed (Gaussian, 1 voxel) against noise; the threshold rises from -1000 HU in
    25 HU steps up to ``airway_max_hu`` + 100 and stops before the region "explodes" into the lungs
    (more than doubles, or exceeds 10 % of the air volume). With no seed, no airway is removed (noted).
    """
    empty = np.zeros_like(candidate)
    seed = _trachea_seed(candidate, spacing, superior_sign)
    if seed is None:
        return empty, {"airway": "no trachea seed found; airways not removed"}
    z, seed_mask = seed
    box = bounding_slices(candidate)
    sub_candidate = candidate[box]
    smooth = ndi.gaussian_filter(np.where(sub_candidate, hu[box], -1000.0), 1.0)
    seed_z = z - box[0].start
    seed_2d = seed_mask[box[1:]]
    total = sub_candidate.sum()
    best, best_threshold, previous = None, None, 0
    for threshold in np.arange(-1000.0, config.airway_max_hu + 101.0, 25.0):
        grown, _ = ndi.label(sub_candidate & (smooth <= threshold))
        ids = np.unique(grown[seed_z][seed_2d])
        ids = ids[ids > 0]
        if ids.size == 0:
            continue
        region = np.isin(grown, ids)
        size = int(region.sum())
        if size > 0.10 * total or (previous and size > 2 * previous and size * np.prod(spacing) > 50_000):
            break
        best, best_threshold, previous = region, threshold, size
    if best is None:
        return empty, {"airway": "region growing leaked into the lungs at once; airways not removed"}
    out = empty.copy()
    out[box] = best
    return out, {"airway": f"grown from slice {z} up to {best_threshold:g} HU (smoothed)",
                 "airway_ml": round(float(best.sum() * np.prod(spacing) / 1000), 1)}


def _without_midline_airway(labels: np.ndarray, keep: list[int], body: np.ndarray, spacing: tuple[float, ...]
                            ) -> list[int]:
    """On a single slice, drop small air pieces (< 8 cm²) centred within 20 mm of the body midline: the
    trachea, main bronchi or oesophagus, which a slab has no 3-D context to grow from."""
    columns = np.flatnonzero(body.any(axis=(0, 1)))
    midline = (columns[0] + columns[-1]) / 2.0
    pixel_cm2 = spacing[1] * spacing[2] / 100.0
    out = []
    for k in keep:
        points = np.argwhere(labels == k)
        area = points.shape[0] / labels.shape[0] * pixel_cm2
        if area < 8.0 and abs(points[:, 2].mean() - midline) * spacing[2] < 20.0:
            continue
        out.append(k)
    return out


def _deep_inside(labels: np.ndarray, order: list[int], body: np.ndarray, spacing: tuple[float, ...],
                 min_depth_mm: float = 10.0) -> list[int]:
    """Components whose 90th-percentile in-plane depth below the body surface is at least ``min_depth_mm``
    (lungs lie behind the chest wall; air between the back and the table or in skin folds does not)."""
    depth = np.zeros(body.shape, np.float32)
    for z in range(body.shape[0]):
        if body[z].any():
            depth[z] = ndi.distance_transform_edt(body[z], sampling=spacing[1:])
    values = ndi.labeled_comprehension(depth, labels, order[:20], lambda v: np.percentile(v, 90), float, 0.0)
    return [k for k, d in zip(order[:20], np.atleast_1d(values)) if d >= min_depth_mm]


def _reaching_the_top(labels: np.ndarray, order: list[int], sizes: np.ndarray, body: np.ndarray,
                      superior_sign: int) -> list[int]:
    """Air components that reach the upper fifth of the body's extent (lungs do, bowel gas does not)."""
    zs = np.flatnonzero(body.any(axis=(1, 2)))
    lo, hi = int(zs[0]), int(zs[-1])
    boxes = ndi.find_objects(labels)
    big = [k for k in order if sizes[k] >= 0.01 * sizes[order[0]]][:20]
    out = []
    for k in big:
        z = boxes[k - 1][0]
        reach = (z.stop - 1 - lo) / max(hi - lo, 1) if superior_sign > 0 else (hi - z.start) / max(hi - lo, 1)
        if reach >= 0.8:
            out.append(k)
    return out


def _side(x: np.ndarray, midline: float, left_axis_sign: int) -> np.ndarray:
    """True where a column index lies on the patient's left of the midline."""
    return (x - midline) * left_axis_sign > 0


def _split_joined(component: np.ndarray, spacing: tuple[float, ...], midline: float, left_axis_sign: int
                  ) -> tuple[np.ndarray, str]:
    """Split one component that crosses the midline (lungs touching): erode until pieces on both sides
    appear, then give every voxel the side of its nearest piece; else cut at the midline."""
    for radius in (2.0, 4.0, 6.0, 9.0, 12.0):
        labels, order, sizes = components_by_size(erode_mm(component, radius, spacing))
        left, right = np.zeros_like(component), np.zeros_like(component)
        for k in order[:10]:
            if sizes[k] < 0.05 * sizes[order[0]]:
                break
            piece = labels == k
            (left if _side(np.nonzero(piece)[2], midline, left_axis_sign).mean() > 0.5 else right)[piece] = True
        if left.any() and right.any():
            to_left = ndi.distance_transform_edt(~left, sampling=spacing)
            to_right = ndi.distance_transform_edt(~right, sampling=spacing)
            out = np.where(to_left < to_right, LEFT_LUNG, RIGHT_LUNG).astype(np.uint8) * component
            return out, f"separated by a {radius:g} mm erosion"
    columns = np.arange(component.shape[2])
    out = np.where(_side(columns, midline, left_axis_sign), LEFT_LUNG, RIGHT_LUNG).astype(np.uint8)
    return out[None, None, :] * component, "lungs joined: cut at the body midline (approximate)"


def split_left_right(lung: np.ndarray, spacing: tuple[float, ...], left_axis_sign: int,
                     midline: float | None = None) -> tuple[np.ndarray, str]:
    """Label map 1 = right, 2 = left: each component takes the side of the body midline it lies on
    (>= 90 % of its voxels); a component across the midline (lungs touching) is split by erosion."""
    if midline is None:
        columns = np.flatnonzero(lung.any(axis=(0, 1)))
        midline = (columns[0] + columns[-1]) / 2.0 if columns.size else lung.shape[2] / 2.0
    labels, order, _ = components_by_size(lung)
    boxes = ndi.find_objects(labels)
    out = np.zeros(lung.shape, np.uint8)
    how = "by side of the body midline"
    for k in order:
        box = boxes[k - 1]
        component = labels[box] == k
        x = np.nonzero(component)[2] + box[2].start
        share_left = float(_side(x, midline, left_axis_sign).mean())
        if share_left >= 0.9:
            out[box][component] = LEFT_LUNG
        elif share_left <= 0.1:
            out[box][component] = RIGHT_LUNG
        else:
            part, how = _split_joined(component, spacing, midline - box[2].start, left_axis_sign)
            out[box][component] = part[component]
    if not np.any(out == LEFT_LUNG) or not np.any(out == RIGHT_LUNG):
        how = "only one lung found"
    return out, how


def segment_lungs(hu: np.ndarray, spacing: tuple[float, ...], config: CovidCTConfig | None = None, *,
                  superior_sign: int = 1, left_sign: int = 1, where: Any = None) -> LungSegmentation:
    """Right and left lung labels of a chest CT in HU (``[z, y, x]``, axial slices).

    ``superior_sign``/``left_sign``: +1 when the index along z/x increases towards the head/the
    patient's left (see :func:`~biomedai.methods.covid_ct.ct_input.patient_axis_signs`).
    Raises InvalidInputError when no lungs are found (a non-chest CT).
    """
    config = config or CovidCTConfig()
    spacing = tuple(float(s) for s in spacing)
    body = body_mask(hu)
    candidate = air_in_body(hu, body, config.lung_max_hu)
    labels, order, sizes = components_by_size(candidate)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    if not order:
        raise InvalidInputError("no lungs found (no air inside the body): is this a chest CT?", where)
    if hu.shape[0] >= 3:
        order = _reaching_the_top(labels, order, sizes, body, superior_sign)
        if not order:
            raise InvalidInputError("no lungs found (no large air region in the upper part of the body): is this "
                                    "a chest CT?", where)
    order = _deep_inside(labels, order, body, spacing)
    if not order:
        raise InvalidInputError("no lungs found (air only along the body surface): is this a chest CT?", where)
    keep = [k for k in order[:10] if sizes[k] >= 0.05 * sizes[order[0]]]  # diseased lungs fall apart
    if hu.shape[0] < 3:
        keep = _without_midline_airway(labels, keep, body, spacing)
    candidate = np.isin(labels, keep)
    notes: dict[str, Any] = {}
    airway = np.zeros_like(candidate)
    if hu.shape[0] >= 3:
        airway, airway_notes = airway_mask(candidate, hu, spacing, superior_sign, config)
        notes.update(airway_notes)
        lung = candidate & ~ndi.binary_dilation(airway)
    else:
        lung = candidate
        notes["airway"] = "single slice: airways outside the lungs dropped as small components"
    labels, order, sizes = components_by_size(lung)
    lung = np.isin(labels, [k for k in order[:10] if sizes[k] >= 0.05 * sizes[order[0]]]) if order else lung
    box = bounding_slices(lung, 1)
    body_columns = np.flatnonzero(body.any(axis=(0, 1)))
    midline = (body_columns[0] + body_columns[-1]) / 2.0 - box[2].start
    split = np.zeros(lung.shape, np.uint8)
    split[box], how = split_left_right(lung[box], spacing, left_sign, midline)
    notes["left_right"] = how
    out = np.zeros(hu.shape, np.uint8)
    for value in (RIGHT_LUNG, LEFT_LUNG):
        part = split == value
        if not part.any():
            continue
        box = bounding_slices(part, tuple(int(np.ceil(config.lung_closing_mm / s)) + 1 for s in spacing))
        closed = close_mm(part[box], config.lung_closing_mm, spacing) if hu.shape[0] > 1 else \
            close_mm(part[box][0], config.lung_closing_mm, spacing[1:])[None]
        closed = fill_holes_per_slice(closed) & body[box]
        region = out[box]
        region[closed & (region == 0)] = value
    total_ml = float((out > 0).sum() * voxel_ml)
    area_cm2 = float((out > 0).sum(axis=(1, 2)).max() * spacing[1] * spacing[2] / 100.0)
    thin = hu.shape[0] * spacing[0] < 50.0  # a slab: judge by the largest slice only
    if (not thin and total_ml < config.min_lung_volume_ml) or area_cm2 < config.min_lung_area_cm2:
        raise InvalidInputError(f"no lungs found (air inside the body: {total_ml:.0f} mL, largest slice "
                                f"{area_cm2:.1f} cm²): is this a chest CT?", where)
    notes["lung_ml"] = round(total_ml, 1)
    logger.info("lungs: %.0f mL (%s; %s)", total_ml, how, notes.get("airway"))
    return LungSegmentation(out, airway, notes)
