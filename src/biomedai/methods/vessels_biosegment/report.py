"""What a user looks at: the length-density bar chart per group, the tables, the overlays, in one HTML page."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.htmlpage import HtmlPage
from biomedai.utils import atomic_path


def density_bar_chart(groups: Sequence[Mapping[str, Any]], path: Path, unit: str) -> Path:
    """Bars of the per-group mean length density (+/- SD of the samples), one bar per path and group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [str(g["group"]) for g in groups]
    series = [("segmentation", "seg_length_density"), ("detector", "det_length_density")]
    series = [(label, key) for label, key in series if any(np.isfinite(g.get(f"{key}_mean", np.nan)) for g in groups)]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(names) + 2), 3.2), dpi=110)
    width = 0.8 / max(len(series), 1)
    for k, (label, key) in enumerate(series):
        means = [g.get(f"{key}_mean", np.nan) for g in groups]
        sds = [g.get(f"{key}_sd", np.nan) for g in groups]
        xs = np.arange(len(names)) + (k - (len(series) - 1) / 2) * width
        ax.bar(xs, means, width, yerr=np.nan_to_num(sds), capsize=3, label=label)
    ax.set_xticks(np.arange(len(names)), names)
    ax.set_ylabel(f"vessel length density ({unit})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def write_html_report(output_dir: Path, *, title: str, headline: Sequence[Mapping[str, Any]],
                      per_image: Sequence[Mapping[str, Any]], per_group: Sequence[Mapping[str, Any]],
                      chart: Path | None, overlays: Sequence[tuple[str, str]], notes: Sequence[str],
                      extra_tables: Mapping[str, Sequence[Mapping[str, Any]]] | None = None) -> Path:
    """``report.html``: headline numbers first, then the chart, the group table, the images, the notes."""
    page = HtmlPage(title)
    page.heading("Headline").table(headline)
    if chart is not None:
        page.heading("Length density per group").figures([(chart.name, "mean +/- SD of the sample means")])
    page.heading("Per group").table(per_group)
    for name, rows in (extra_tables or {}).items():
        page.heading(name).table(rows)
    page.heading("Per image").table(per_image)
    if overlays:
        page.heading("Overlays").paragraph("cyan: segmentation skeleton; yellow: detector polylines; "
                                           "magenta: detector boxes", "note").figures(overlays)
    for note in notes:
        page.paragraph(note, "note")
    return page.write(Path(output_dir) / "report.html")
