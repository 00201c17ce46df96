"""DICOM SEG (lungs, lobes, lesion by HU bin) and SR (volumes and percentages) joined to the source series,
through the workflow layer's builders."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.utils import atomic_path
from biomedai.workflow.dicom_seg import MaskLayer, segmentation_from_layers
from biomedai.workflow.export import structured_report

from .config import CovidCTConfig
from .lesions import hu_bin_index
from .lobes import LOBE_NAMES
from .lungs import LUNG_NAMES

logger = logging.getLogger(__name__)

CM3 = ("cm3", "cubic centimeter")
PERCENT = ("%", "percent")


def seg_layers(lung_labels: np.ndarray, lobes: np.ndarray | None, lobe_source: str, lesion: np.ndarray,
               hu: np.ndarray, config: CovidCTConfig) -> list[MaskLayer]:
    """One layer per map: lungs, lobes (labelled approximate when geometric), lesion per HU bin."""
    layers = [MaskLayer("lungs", lung_labels, segments=[(name, lung_labels == value)
                                                        for value, name in LUNG_NAMES.items()
                                                        if np.any(lung_labels == value)])]
    if lobes is not None:
        tag = " (approx.)" if lobe_source.startswith("approximate") else ""
        layers.append(MaskLayer("lobes", lobes, segments=[(f"{name}{tag}", lobes == value)
                                                          for value, name in LOBE_NAMES.items()
                                                          if np.any(lobes == value)]))
    bins = hu_bin_index(hu, config.hu_edges)
    lesion_segments = [(f"lesion {config.hu_bin_names[b]}", lesion & (bins == b))
                       for b in range(len(config.hu_edges) + 1) if np.any(lesion & (bins == b))]
    if lesion_segments:
        layers.append(MaskLayer("lesion", lesion.astype(np.uint8), segments=lesion_segments))
    return layers


def sr_measurements(rows: list[dict[str, Any]]) -> list[tuple[str, float, tuple[str, str]]]:
    """Region volume, lesion volume and percentage per region, and lesion volume per region and HU bin."""
    out: list[tuple[str, float, tuple[str, str]]] = []
    for row in rows:
        if row["hu_bin"] == "all":
            out += [(f"{row['region']} volume", float(row["region_ml"]), CM3),
                    (f"{row['region']} lesion volume", float(row["lesion_ml"]), CM3)]
            if np.isfinite(row["lesion_pct"]):
                out.append((f"{row['region']} lesion percentage", float(row["lesion_pct"]), PERCENT))
        else:
            out.append((f"{row['region']} lesion {row['hu_bin']}", float(row["bin_lesion_ml"]), CM3))
    return out


def write_dicom_outputs(headers: list[Any], lung_labels: np.ndarray, lobes: np.ndarray | None, lobe_source: str,
                        lesion: np.ndarray, hu: np.ndarray, rows: list[dict[str, Any]], config: CovidCTConfig,
                        out_dir: Path, stem: str) -> list[Path]:
    """``<stem>_seg.dcm`` and ``<stem>_sr.dcm`` in ``out_dir``; the frames follow the headers' slice order."""
    seed = [str(getattr(headers[0], "SeriesInstanceUID", stem)), "covid_ct", stem]
    seg = segmentation_from_layers(headers, seg_layers(lung_labels, lobes, lobe_source, lesion, hu, config),
                                   "covid_ct", seed)
    evaluations = [("lobes", f"lobes: {lobe_source}"[:64])]
    sr = structured_report(headers, "covid_ct", sr_measurements(rows), evaluations, tracking=f"covid_ct {stem}",
                           seed=seed)
    paths = []
    for dataset, name in ((seg, f"{stem}_seg.dcm"), (sr, f"{stem}_sr.dcm")):
        path = out_dir / name
        with atomic_path(path) as tmp:
            dataset.save_as(tmp)
        paths.append(path)
    return paths
