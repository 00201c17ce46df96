"""Write one case's files: label maps, overlay, per-region CSV and JSON, DICOM SEG + SR for DICOM input."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from biomedai.io import write_image
from biomedai.utils import write_csv_atomic, write_json_atomic

from .case import CaseResult
from .config import CovidCTConfig
from .dicom_out import write_dicom_outputs
from .overlay import overlay_figure
from .quantify import COLUMNS


def case_stem(path: Path) -> str:
    """A file-name stem for an input (``ct.nii.gz`` -> ``ct``, a series folder -> its name)."""
    name = path.name
    for suffix in (".nii.gz", ".nii", ".nrrd", ".mha", ".dcm"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def write_case(result: CaseResult, out_dir: Path, config: CovidCTConfig) -> tuple[list[Path], dict[str, Any]]:
    """All files of one case in ``out_dir``; returns ``(files, summary)``."""
    ct = result.ct
    stem = case_stem(ct.source)
    out_dir.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    geometry = ct.image if ct.image.ndim_spatial == 3 else None

    def as_image(array: np.ndarray) -> Any:
        if geometry is not None:
            return geometry.with_array(array, metadata={})
        from biomedai.io import Image

        return Image(array, spacing=ct.spacing, spacing_unit="mm")

    files.append(write_image(as_image(result.lungs.labels), out_dir / f"{stem}_lungs_labels.nii.gz"))
    if result.lobes is not None:
        files.append(write_image(as_image(result.lobes), out_dir / f"{stem}_lobes_labels.nii.gz"))
    files.append(write_image(as_image(result.lesion.astype(np.uint8)), out_dir / f"{stem}_lesion_mask.nii.gz"))
    regions = result.lobes if result.lobes is not None else result.lungs.labels
    files.append(overlay_figure(ct.hu, ct.spacing, regions, result.lesion, out_dir / f"{stem}_overlay.png"))
    rows = [{"case": stem, **row} for row in result.rows]
    files.append(write_csv_atomic(out_dir / f"{stem}_quantification.csv", rows, ["case", *COLUMNS]))
    summary = {"case": stem, "input": str(ct.source), **result.summary(),
               "timings_s": {k: round(v, 2) for k, v in result.timings_s.items()}}
    missing = [key for key in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID", "SOPInstanceUID")
               if ct.dicom_headers and not getattr(ct.dicom_headers[0], key, None)]
    if missing:
        summary["dicom_outputs"] = f"DICOM SEG/SR not written: the source lacks {', '.join(missing)}"
    elif ct.dicom_headers:
        files += write_dicom_outputs(ct.dicom_headers, result.lungs.labels, result.lobes, result.lobe_source,
                                     result.lesion, ct.hu, result.rows, config, out_dir, stem)
    files.append(write_json_atomic(out_dir / f"{stem}_quantification.json", summary))
    return files, summary
