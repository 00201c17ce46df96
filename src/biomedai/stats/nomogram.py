"""Nomograms for Cox models, after Harrell's ``rms::nomogram``.

Nomograms for Cox models, after Harrell's ``rms::nomogram``: a points axis per predictor set by its
coefficient, total points, the linear predictor, and survival probabilities at chosen times.

Scales: the predictor whose effect ``|beta| * (high - low)`` is widest spans 0-100 points; every predictor's
points are ``100 / widest * (beta * x - min(beta * low, beta * high))``, so its low-risk end scores 0.
Total points map back to the linear predictor ``lp = total * widest / 100 + sum_j min(beta_j low_j, beta_j
high_j)`` and to survival ``S(t | x) = S0(t) ** exp(lp)``, where ``S0(t)`` is the baseline survival at
``lp = 0`` (uncentred covariates). :func:`draw_nomogram` draws it with matplotlib.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError

__all__ = ["NomogramPredictor", "Nomogram", "build_nomogram", "draw_nomogram"]


@dataclass
class NomogramPredictor:
    """One model term: coefficient, value range, and optionally the values (and labels) to tick."""

    name: str
    coef: float
    low: float
    high: float
    ticks: Sequence[float] | None = None
    tick_labels: Sequence[str] | None = None


@dataclass
class Nomogram:
    """A fitted nomogram: one points axis per predictor, total points and survival scales."""

    predictors: list[NomogramPredictor]
    points_per_unit_lp: float
    lp_offset: float
    baseline_survival: dict[float, float]  # horizon -> S0(horizon) at lp = 0
    horizon_labels: dict[float, str] = field(default_factory=dict)

    def points(self, name: str, value: float | np.ndarray) -> np.ndarray:
        """Points of predictor ``name`` at ``value``."""
        p = self._predictor(name)
        return self.points_per_unit_lp * (p.coef * np.asarray(value, float) - min(p.coef * p.low, p.coef * p.high))

    def total_points(self, values: Mapping[str, Any]) -> np.ndarray:
        """Total points of one subject (``values`` maps each predictor name to a value or an array)."""
        missing = [p.name for p in self.predictors if p.name not in values]
        if missing:
            raise InvalidInputError(f"nomogram: no value for predictor(s) {missing}")
        return sum(self.points(p.name, values[p.name]) for p in self.predictors)

    def max_total(self) -> float:
        """The largest total of points any patient can reach."""
        return float(sum(self.points_per_unit_lp * abs(p.coef) * (p.high - p.low) for p in self.predictors))

    def linear_predictor(self, total: Any) -> np.ndarray:
        """The Cox linear predictor for a total of points."""
        return np.asarray(total, float) / self.points_per_unit_lp + self.lp_offset

    def survival(self, total: Any, horizon: float) -> np.ndarray:
        """Survival probability at ``horizon`` for a total score."""
        return self.baseline_survival[horizon] ** np.exp(self.linear_predictor(total))

    def _predictor(self, name: str) -> NomogramPredictor:
        for p in self.predictors:
            if p.name == name:
                return p
        raise InvalidInputError(f"nomogram has no predictor {name!r}")


def build_nomogram(predictors: Sequence[NomogramPredictor], baseline_survival: Mapping[float, float],
                   horizon_labels: Mapping[float, str] | None = None) -> Nomogram:
    """Scales of a nomogram from coefficients, ranges and the baseline survival at ``lp = 0``.

    >>> nom = build_nomogram([NomogramPredictor("a", 2.0, 0, 1), NomogramPredictor("b", -0.5, 0, 2)], {5.0: 0.9})
    >>> float(nom.points("a", 1)), float(nom.points("b", 0)), nom.max_total()
    (100.0, 50.0, 150.0)
    >>> round(float(nom.survival(nom.total_points({"a": 0, "b": 0}), 5.0)), 4)  # lp = 0
    0.9
    """
    preds = list(predictors)
    if not preds:
        raise InvalidInputError("a nomogram needs at least one predictor")
    for p in preds:
        if not (np.isfinite(p.coef) and np.isfinite(p.low) and np.isfinite(p.high)) or p.high <= p.low:
            raise InvalidInputError(f"nomogram predictor {p.name!r}: needs finite coef and low < high")
    widest = max(abs(p.coef) * (p.high - p.low) for p in preds)
    if widest <= 0:
        raise InvalidInputError("nomogram: every coefficient is zero")
    for h, s in baseline_survival.items():
        if not 0.0 < s < 1.0:
            raise InvalidInputError(f"nomogram: baseline survival at {h} must be in (0, 1), got {s}")
    offset = float(sum(min(p.coef * p.low, p.coef * p.high) for p in preds))
    return Nomogram(preds, 100.0 / widest, offset, {float(k): float(v) for k, v in baseline_survival.items()},
                    {float(k): v for k, v in (horizon_labels or {}).items()})


def _nice_ticks(low: float, high: float, n: int = 6) -> np.ndarray:
    from matplotlib.ticker import MaxNLocator

    ticks = MaxNLocator(n).tick_values(low, high)
    return ticks[(ticks >= low - 1e-9) & (ticks <= high + 1e-9)]


def draw_nomogram(nom: Nomogram, path: str | Path, *, title: str | None = None,
                  probabilities: Sequence[float] = (0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05),
                  show_linear_predictor: bool = True, dpi: int = 200) -> Path:
    """Draw the nomogram (PNG, or PDF/SVG by the file suffix) and return its path."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    max_total = nom.max_total()
    rows: list[tuple[str, list[tuple[float, str]]]] = [("Points", [(x, f"{x:g}") for x in np.arange(0, 101, 10)])]
    for p in nom.predictors:
        values = np.asarray(p.ticks, float) if p.ticks is not None else _nice_ticks(p.low, p.high)
        labels = list(p.tick_labels) if p.tick_labels is not None else [f"{v:g}" for v in values]
        rows.append((p.name, [(float(nom.points(p.name, v)), lab) for v, lab in zip(values, labels)]))
    scale = 100.0 / max_total
    rows.append(("Total points", [(t * scale, f"{t:g}") for t in _nice_ticks(0, max_total, 8)]))
    if show_linear_predictor:
        lp_lo, lp_hi = nom.linear_predictor(0.0), nom.linear_predictor(max_total)
        rows.append(("Linear predictor", [(float((lp - nom.lp_offset) * nom.points_per_unit_lp * scale), f"{lp:g}")
                                          for lp in _nice_ticks(float(lp_lo), float(lp_hi), 7)]))
    for h in sorted(nom.baseline_survival):
        s0 = nom.baseline_survival[h]
        ticks = []
        for prob in probabilities:
            lp = np.log(np.log(prob) / np.log(s0))  # S0 ** exp(lp) == prob
            total = (lp - nom.lp_offset) * nom.points_per_unit_lp
            if 0.0 <= total <= max_total:
                ticks.append((float(total * scale), f"{prob:g}"))
        rows.append((nom.horizon_labels.get(h, f"S({h:g})"), ticks))

    fig, ax = plt.subplots(figsize=(9.0, 0.55 * len(rows) + 0.9))
    for r, (label, ticks) in enumerate(rows):
        y = len(rows) - r
        ax.text(-3, y, label, ha="right", va="center", fontsize=9, fontweight="bold")
        if not ticks:
            ax.text(50, y, "(outside the range of the model)", ha="center", va="center", fontsize=8, color="grey")
            continue
        xs = [x for x, _ in ticks]
        ax.plot([min(xs), max(xs)], [y, y], color="black", lw=1)
        for i, (x, lab) in enumerate(ticks):
            ax.plot([x, x], [y, y + 0.12], color="black", lw=1)
            crowded = i > 0 and abs(x - ticks[i - 1][0]) < 3.5
            ax.text(x, y + (0.38 if crowded and i % 2 else 0.2), lab, ha="center", va="bottom", fontsize=7.5)
    for x in np.arange(0, 101, 10):
        ax.axvline(x, color="0.9", lw=0.5, zorder=0)
    ax.set_xlim(-28, 104)
    ax.set_ylim(0.4, len(rows) + 0.8)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=11)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
