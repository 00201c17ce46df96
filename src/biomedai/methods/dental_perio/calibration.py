"""The numbering calibration of Deetal-Perio (Li et al. 2021, Fig. 4; spec ``xray-ct.md`` 4.3).

The binary Mask R-CNN finds almost every tooth but gives no number; the 32-class model numbers only a few,
mostly correctly. :func:`calibrate_numbering` transfers the multi-class labels to the nearest binary
detections and infers the other numbers from tooth spacing and FDI order, arch by arch.

Decisions (the paper's Fig. 4 is not available; all marked [decide] in the spec):

* arches: two occlusal curves (parabolas) are fitted by alternating assignment, starting from one parabola
  through all box centres; when the two curves are not at least half a tooth height apart (a single arch),
  the majority of the transferred quadrants decides;
* positions p = 0..15 from image left to right, ``UPPER_SEQUENCE``/``LOWER_SEQUENCE`` (patient right on the
  image left); ``display="mirrored"`` reverses them;
* transfer conflicts: the higher multi-class confidence wins, then the smaller distance; transfers farther
  than ``max_transfer_widths`` median tooth widths, or into the other arch, are rejected;
* FDI validity: two numbered teeth a < b of one arch (sorted by x) need p_b - p_a >= b - a (room for the teeth
  between them; duplicates and order inversions are special cases), and a position gap roughly in line with
  their distance in median tooth spacings (gross jumps, e.g. 48 next to 38, are conflicts). The label in most
  violations (then the less confident one) is dropped and never given back to that tooth;
* inference: k = round(D / D_ref) >= 1 is the position offset from the reference neighbour, D_ref the
  reference's own spacing to its far neighbour, or the arch's median spacing at an arch end or when that
  spacing is itself a gap (> ``GAP_FACTOR`` median spacings, two missing teeth in a row); the result is
  clamped to the positions left free by the nearest numbered teeth on either side (room for the detections
  between); no free position means the tooth is reported for review;
* at most ``max_passes`` passes; a pass that numbers nothing ends the loop. Every step is logged.

Example (the spec's worked example: tooth 17 is missing):
    >>> r = calibrate_numbering([[0, 0, 40, 80], [180, 0, 220, 80], [270, 0, 310, 80]],
    ...                         [[180, 0, 220, 80], [270, 0, 310, 80]], [16, 15], [0.9, 0.9], arches="upper")
    >>> r.labels.tolist()
    [18, 16, 15]
    >>> [s["k"] for s in r.log if s["rule"] == "one_neighbour"]
    [2]
"""
from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from biomedai.errors import InvalidInputError

logger = logging.getLogger(__name__)

UPPER_SEQUENCE: tuple[int, ...] = (18, 17, 16, 15, 14, 13, 12, 11, 21, 22, 23, 24, 25, 26, 27, 28)
LOWER_SEQUENCE: tuple[int, ...] = (48, 47, 46, 45, 44, 43, 42, 41, 31, 32, 33, 34, 35, 36, 37, 38)
FDI_NUMBERS: tuple[int, ...] = tuple(sorted(UPPER_SEQUENCE + LOWER_SEQUENCE))
Arch = Literal["upper", "lower"]
#: two numbered teeth conflict when their position gap differs from distance / median spacing by more than
#: SPACING_SLACK + SPACING_TOLERANCE * (distance / median spacing): molars are ~1.4x incisor width and
#: panoramic magnification varies, so the rule only catches gross errors
SPACING_SLACK = 2.0
SPACING_TOLERANCE = 0.5
#: a reference spacing wider than this many median spacings spans a missing tooth; the median is used instead
GAP_FACTOR = 1.5


def arch_of(fdi: int) -> Arch:
    """``"upper"`` for quadrants 1-2, ``"lower"`` for 3-4."""
    check_fdi([fdi])
    return "upper" if fdi // 10 in (1, 2) else "lower"


def check_fdi(labels: Sequence[Any], where: Any = None) -> None:
    """Raise :class:`InvalidInputError` if a label is not a permanent-tooth FDI number (11-18 ... 41-48)."""
    bad = sorted({int(v) for v in labels if int(v) not in FDI_NUMBERS})
    if bad:
        raise InvalidInputError(f"labels {bad} are not FDI permanent-tooth numbers (11-18, 21-28, 31-38, "
                                "41-48)", where)


def sequence(arch: Arch, display: str = "standard") -> tuple[int, ...]:
    """FDI numbers of an arch from image left to right."""
    seq = UPPER_SEQUENCE if arch == "upper" else LOWER_SEQUENCE
    return seq[::-1] if display == "mirrored" else seq


@dataclasses.dataclass
class CalibrationResult:
    """Numbers for the binary detections (0 = unresolved), where they came from, and the step log."""

    labels: np.ndarray
    arches: list[str]
    sources: list[str]
    confidence: np.ndarray
    log: list[dict[str, Any]]
    unresolved: list[int]
    flags: list[str]
    passes: int
    converged: bool
    arch_method: str

    def to_dict(self) -> dict[str, Any]:
        return {"labels": [int(v) for v in self.labels], "arches": self.arches, "sources": self.sources,
                "confidence": [float(v) for v in self.confidence], "unresolved": self.unresolved,
                "flags": self.flags, "passes": self.passes, "converged": self.converged,
                "arch_method": self.arch_method, "log": self.log}


def _as_boxes(boxes: Any, name: str) -> np.ndarray:
    arr = np.asarray(boxes, dtype=float)
    if arr.size == 0:
        return np.zeros((0, 4))
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise InvalidInputError(f"{name}: expected boxes of shape (n, 4) as x1, y1, x2, y2, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError(f"{name}: boxes contain NaN or infinite values")
    return arr


def box_centres(boxes: np.ndarray) -> np.ndarray:
    """``(n, 2)`` centres (x, y) of ``x1, y1, x2, y2`` boxes."""
    return np.c_[(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2]


# --------------------------------------------------------------------------------------------- arches
def _curve(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    deg = min(2, len(x) - 1)
    if deg <= 0 or np.ptp(x) == 0:
        return np.array([float(np.mean(y))])
    return np.polyfit(x, y, deg)


def split_arches(centres: np.ndarray, heights: np.ndarray, quadrant_votes: dict[int, Arch] | None = None,
                 iterations: int = 10) -> tuple[np.ndarray, str]:
    """Upper/lower arch of each box centre and how it was decided (``"curves"`` or ``"majority"``).

    Starts from one parabola through all centres (the occolusal curve), then alternates between fitting one
    curve per arch and giving each tooth to the nearer curve.
    """
    n = len(centres)
    upper = np.zeros(n, bool)
    if n == 0:
        return upper, "none"
    x, y = centres[:, 0], centres[:, 1]
    if n >= 3:
        upper = y < np.polyval(_curve(x, y), x)
        for _ in range(iterations):
            if upper.all() or not upper.any():
                break
            fu, fl = _curve(x[upper], y[upper]), _curve(x[~upper], y[~upper])
            new = np.abs(y - np.polyval(fu, x)) < np.abs(y - np.polyval(fl, x))
            if np.array_equal(new, upper):
                break
            upper = new
        if upper.any() and not upper.all():
            fu, fl = _curve(x[upper], y[upper]), _curve(x[~upper], y[~upper])
            gap = float(np.median(np.polyval(fl, x) - np.polyval(fu, x)))
            if gap > 0.5 * float(np.median(heights)):
                return upper, "curves"
    votes = list((quadrant_votes or {}).values())
    n_upper = sum(v == "upper" for v in votes)
    majority = n_upper >= len(votes) - n_upper if votes else True
    return np.full(n, majority), "majority"


# --------------------------------------------------------------------------------------------- transfer
def transfer_labels(binary_centres: np.ndarray, multi_centres: np.ndarray, multi_labels: np.ndarray,
                    multi_scores: np.ndarray, max_distance: float | None, log: list[dict[str, Any]]
                    ) -> dict[int, tuple[int, float, float]]:
    """Step 1: copy each multi-class label to the nearest binary detection; ``{i: (label, score, dist)}``."""
    kept: dict[int, tuple[int, float, float]] = {}
    if len(binary_centres) == 0:
        return kept
    for k in np.argsort(-multi_scores, kind="stable"):
        dists = np.hypot(*(binary_centres - multi_centres[k]).T)
        i = int(np.argmin(dists))
        label, score, dist = int(multi_labels[k]), float(multi_scores[k]), float(dists[i])
        step = {"pass": 0, "rule": "transfer", "tooth": i, "label": label, "multi_index": int(k),
                "score": round(score, 4), "distance": round(dist, 2)}
        if max_distance is not None and dist > max_distance:
            log.append({**step, "rule": "transfer_rejected", "note": f"farther than {max_distance:.1f} px"})
            continue
        if i in kept:
            old = kept[i]
            wins = score > old[1] or (score == old[1] and dist < old[2])
            if not wins:
                log.append({**step, "rule": "transfer_lost", "note": f"tooth already has {old[0]}"})
                continue
            log.append({**step, "rule": "transfer_replaced", "note": f"replaces {old[0]}"})
        kept[i] = (label, score, dist)
        log.append(step)
    return kept


def mirrored_suspected(centres: np.ndarray, labels: dict[int, int], arches: np.ndarray,
                       min_teeth: int = 4) -> bool:
    """True when the numbered teeth run against the standard display (Kendall tau < -0.5 within arches)."""
    concordant = discordant = 0
    items = list(labels.items())
    for a in range(len(items)):
        for b in range(a + 1, len(items)):
            (i, li), (j, lj) = items[a], items[b]
            if arches[i] != arches[j] or arch_of(li) != arch_of(lj):
                continue
            seq = sequence(arch_of(li))
            s = np.sign(centres[j, 0] - centres[i, 0]) * np.sign(seq.index(lj) - seq.index(li))
            concordant += s > 0
            discordant += s < 0
    pairs = concordant + discordant
    return len(labels) >= min_teeth and pairs > 0 and (concordant - discordant) / pairs < -0.5


# --------------------------------------------------------------------------------------------- the loop
class _Arch:
    """Working state of one arch: teeth sorted by x, their positions (0..15) and confidences."""

    def __init__(self, name: str, members: np.ndarray, x: np.ndarray, seq: tuple[int, ...], fallback: float) -> None:
        self.name, self.seq = name, seq
        order = members[np.argsort(x[members], kind="stable")]
        self.order = [int(i) for i in order]
        self.x = x
        spacing = np.diff(x[order])
        self.median_spacing = float(np.median(spacing)) if len(spacing) and np.median(spacing) > 0 else fallback
        self.pos: dict[int, int] = {}
        self.conf: dict[int, float] = {}
        self.source: dict[int, str] = {}
        self.forbidden: set[tuple[int, int]] = set()
        self.review: set[int] = set()

    def conflicts(self) -> dict[int, list[int]]:
        """Pairs of numbered teeth that break the FDI order (no room for the teeth between them) or whose
        number gap does not fit their distance (more than ``SPACING_SLACK + SPACING_TOLERANCE * D / s``
        positions off, with D their x distance and s the arch's median spacing)."""
        numbered = [(j, i) for j, i in enumerate(self.order) if i in self.pos]
        out: dict[int, list[int]] = {i: [] for _, i in numbered}
        for a in range(len(numbered)):
            for b in range(a + 1, len(numbered)):
                (ja, ia), (jb, ib) = numbered[a], numbered[b]
                gap, expected = self.pos[ib] - self.pos[ia], (self.x[ib] - self.x[ia]) / self.median_spacing
                if gap < jb - ja or abs(gap - expected) > SPACING_SLACK + SPACING_TOLERANCE * expected:
                    out[ia].append(ib)
                    out[ib].append(ia)
        return {i: v for i, v in out.items() if v}

    def resolve_conflicts(self, pass_index: int, log: list[dict[str, Any]]) -> None:
        while conflicts := self.conflicts():
            worst = max(conflicts, key=lambda i: (len(conflicts[i]), -self.conf[i], i))
            label = self.seq[self.pos[worst]]
            log.append({"pass": pass_index, "rule": "conflict_drop", "arch": self.name, "tooth": worst,
                        "label": label, "conflicts_with": [self.seq[self.pos[i]] for i in conflicts[worst]],
                        "confidence": round(self.conf[worst], 4)})
            self.forbidden.add((worst, self.pos[worst]))
            del self.pos[worst], self.conf[worst], self.source[worst]

    def free_range(self, j: int) -> tuple[int, int]:
        """Positions left for the tooth at sorted index ``j`` by the nearest numbered teeth on either side."""
        lo, hi = 0, 15
        for a in range(j - 1, -1, -1):
            if self.order[a] in self.pos:
                lo = max(lo, self.pos[self.order[a]] + (j - a))
                break
        for b in range(j + 1, len(self.order)):
            if self.order[b] in self.pos:
                hi = min(hi, self.pos[self.order[b]] - (b - j))
                break
        return lo, hi

    def infer(self, j: int, pass_index: int, log: list[dict[str, Any]]) -> bool:
        """Number the tooth at sorted index ``j`` from a numbered neighbour; True if it got a number."""
        i, order, x = self.order[j], self.order, self.x
        left = j - 1 if j > 0 and order[j - 1] in self.pos else None
        right = j + 1 if j + 1 < len(order) and order[j + 1] in self.pos else None
        if left is None and right is None:
            return False
        if left is not None and right is not None:
            rule = "both_neighbours"
            ref = left if abs(x[i] - x[order[left]]) <= abs(x[order[right]] - x[i]) else right
        else:
            rule = "one_neighbour"
            ref = left if left is not None else right
        far = ref - 1 if ref < j else ref + 1
        d = abs(float(x[i] - x[order[ref]]))
        d_ref = abs(float(x[order[ref]] - x[order[far]])) if 0 <= far < len(order) else 0.0
        source = "reference's far neighbour"
        if d_ref <= 0:
            d_ref, source = self.median_spacing, "arch median spacing (arch end)"
        elif d_ref > GAP_FACTOR * self.median_spacing:
            d_ref, source = self.median_spacing, "arch median spacing (the far spacing is a gap)"
        k = max(1, math.floor(d / d_ref + 0.5)) if d_ref > 0 else 1
        p_ref = self.pos[order[ref]]
        raw = p_ref - k if ref > j else p_ref + k
        lo, hi = self.free_range(j)
        allowed = [p for p in range(max(lo, 0), min(hi, 15) + 1) if (i, p) not in self.forbidden]
        step = {"pass": pass_index, "rule": rule, "arch": self.name, "tooth": i, "reference_tooth": order[ref],
                "reference_label": self.seq[p_ref], "D": round(d, 2), "D_ref": round(d_ref, 2),
                "D_ref_from": source, "k": k}
        if not allowed:
            self.review.add(i)
            log.append({**step, "rule": "review", "note": f"no free FDI position (raw position {raw}, free "
                        f"range {lo}..{hi})"})
            return False
        p = min(allowed, key=lambda q: (abs(q - raw), q))
        if p != raw:
            step["note"] = f"raw position {raw} moved to {p} (free range {max(lo, 0)}..{min(hi, 15)})"
        self.pos[i], self.conf[i], self.source[i] = p, 0.5 * self.conf[order[ref]], "inferred"
        log.append({**step, "label": self.seq[p]})
        return True


def calibrate_numbering(binary_boxes: Any, multi_boxes: Any, multi_labels: Any, multi_scores: Any = None, *,
                        arches: Any = None, display: str = "standard", max_transfer_widths: float = 0.5,
                        max_passes: int = 32) -> CalibrationResult:
    """Number every binary detection from a few multi-class labels (spec 4.3).

    Args:
        binary_boxes: ``(m, 4)`` x1, y1, x2, y2 boxes of the binary (tooth / background) model.
        multi_boxes, multi_labels, multi_scores: the multi-class model's boxes, FDI numbers and confidences.
        arches: None (decided from the boxes), ``"upper"``/``"lower"`` for all, or one value per box.
        display: ``"standard"`` (patient right on the image left) or ``"mirrored"``.
        max_transfer_widths: reject transfers farther than this many median box widths (0: never).
        max_passes: the inference loop stops after this many passes (termination guarantee).
    """
    bb = _as_boxes(binary_boxes, "binary_boxes")
    mb = _as_boxes(multi_boxes, "multi_boxes")
    ml = np.asarray(multi_labels, dtype=int).reshape(-1)
    ms = np.ones(len(ml)) if multi_scores is None else np.asarray(multi_scores, dtype=float).reshape(-1)
    if len(ml) != len(mb) or len(ms) != len(mb):
        raise InvalidInputError(f"multi-class detections: {len(mb)} boxes, {len(ml)} labels, {len(ms)} scores")
    check_fdi(ml, "multi-class labels")
    if display not in ("standard", "mirrored"):
        raise InvalidInputError(f"display must be 'standard' or 'mirrored', got {display!r}")
    max_passes = max(1, int(max_passes))
    m, log = len(bb), []
    if m == 0:
        return CalibrationResult(np.zeros(0, int), [], [], np.zeros(0), log, [], ["no_teeth_detected"], 0, True,
                                 "none")
    centres = box_centres(bb)
    widths, heights = bb[:, 2] - bb[:, 0], bb[:, 3] - bb[:, 1]
    width = float(np.median(widths)) if np.median(widths) > 0 else 1.0
    max_distance = max_transfer_widths * width if max_transfer_widths > 0 else None
    transferred = transfer_labels(centres, box_centres(mb) if len(mb) else np.zeros((0, 2)), ml, ms,
                                  max_distance, log)
    votes: dict[int, Arch] = {i: arch_of(lab) for i, (lab, _, _) in transferred.items()}
    if arches is None:
        is_upper, arch_method = split_arches(centres, heights, votes)
    else:
        given = np.broadcast_to(np.asarray(arches, dtype=object), (m,))
        if not set(given) <= {"upper", "lower"}:
            raise InvalidInputError(f"arches must be 'upper' or 'lower', got {sorted(set(map(str, given)))}")
        is_upper, arch_method = given == "upper", "given"
    arch_names = np.where(is_upper, "upper", "lower")
    flags: list[str] = []
    if mirrored_suspected(centres, {i: v[0] for i, v in transferred.items()}, arch_names) and display == "standard":
        flags.append("mirrored_film_suspected")
        logger.warning("the multi-class numbers run right-to-left: the film may be mirrored (display='mirrored')")
    work = {name: _Arch(name, np.flatnonzero(arch_names == name), centres[:, 0], sequence(name, display), width)
            for name in ("upper", "lower")}
    for i, (label, score, _) in transferred.items():
        arch = work[str(arch_names[i])]
        if arch_of(label) != arch.name:
            log.append({"pass": 0, "rule": "quadrant_rejected", "tooth": i, "label": label, "arch": arch.name})
            continue
        arch.pos[i], arch.conf[i], arch.source[i] = arch.seq.index(label), score, "transferred"
    passes, converged = 0, False
    for pass_index in range(1, max_passes + 1):
        passes = pass_index
        progress = False
        for arch in work.values():
            arch.resolve_conflicts(pass_index, log)
            for j, i in enumerate(arch.order):
                if i not in arch.pos and i not in arch.review:
                    progress |= arch.infer(j, pass_index, log)
        pending = [i for a in work.values() for i in a.order if i not in a.pos and i not in a.review]
        if not pending:
            converged = not any(a.review for a in work.values())
            break
        if not progress:
            break
    labels, conf = np.zeros(m, int), np.zeros(m)
    sources = ["unresolved"] * m
    for arch in work.values():
        for i, p in arch.pos.items():
            labels[i], conf[i], sources[i] = arch.seq[p], arch.conf[i], arch.source[i]
    unresolved = [int(i) for i in np.flatnonzero(labels == 0)]
    if unresolved:
        flags.append("unresolved_teeth")
        log.append({"pass": passes, "rule": "unresolved", "teeth": unresolved,
                    "note": "no multi-class label in reach" if not transferred else "left for review"})
    if not transferred:
        flags.append("no_multiclass_labels")
    for step in log:
        logger.debug("calibration %s", step)
    return CalibrationResult(labels, [str(a) for a in arch_names], sources, conf, log, unresolved, flags, passes,
                             converged and not unresolved, arch_method)
