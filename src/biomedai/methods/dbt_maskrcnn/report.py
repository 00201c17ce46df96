"""What a reader looks at: FROC curves (CSV + PNG) and the paper's tables as Markdown, each labelled with the
data they were measured on (SIMULATED for the bundled benchmark)."""
from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from biomedai.utils import write_csv_atomic
from biomedai.viz import pyplot, save_figure

from .froc import ViewDetections, froc

logger = logging.getLogger(__name__)

__all__ = ["write_froc", "markdown_table"]


def write_froc(systems: Mapping[str, Sequence[ViewDetections]], out_dir: str | Path, title: str,
               max_fp: float = 3.0) -> list[Path]:
    """Lesion- and breast-based FROC of every system: one CSV of operating points and one PNG per mode."""
    out = Path(out_dir)
    written = []
    for mode in ("lesion", "breast"):
        rows, fig = [], pyplot().figure(figsize=(5, 4))
        ax = fig.add_subplot(111)
        for name, views in systems.items():
            c = froc(views, mode)
            for f, s, t in zip(c.fps_per_image, c.sensitivity, c.thresholds):
                rows.append({"system": name, "fps": float(f), "sensitivity": float(s), "threshold": float(t)})
            ax.plot(c.fps_per_image, c.sensitivity, drawstyle="default", label=name)
        ax.set_xlim(0, max_fp)
        ax.set_ylim(0, 1)
        ax.set_xlabel(f"mean FPs per {'view (lesion)' if mode == 'lesion' else 'breast'}")
        ax.set_ylabel("sensitivity")
        ax.set_title(f"{mode}-based FROC - {title}", fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
        written.append(write_csv_atomic(out / f"froc_{mode}.csv", rows))
        written.append(save_figure(fig, out / f"froc_{mode}.png"))
    return written


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return "n.r." if math.isnan(value) else f"{value:.3g}"
    return str(value)


def markdown_table(rows: Sequence[Mapping[str, object]]) -> str:
    """A Markdown table of dict rows (NaN printed as "n.r.": not reached)."""
    if not rows:
        return "(no rows)\n"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"
