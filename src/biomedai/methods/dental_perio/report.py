"""Per-patient HTML report of Deetal-Perio: stage and probabilities, the ABL picture, the odontogram and the table.

:func:`write_patient_report` writes into one folder: ``abl.png`` (film with bone contour, bone lines and
d values), ``odontogram.png``, ``abl.csv`` (one row per FDI position, measured or imputed) and
``report.html`` (:class:`biomedai.htmlpage.HtmlPage`).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError

from .abl import FDI_ORDER, ToothABL, abl_vector
from .charts import draw_abl, odontogram
from .staging import STAGES

__all__ = ["write_patient_report", "abl_rows"]

CROWN_TIP_NOTE = ("d = d_c / (d_c + d_r) is measured from the crown tip, not the cemento-enamel junction, so a "
                  "healthy tooth already has d near crown height / tooth length (about 0.35-0.45); it is not the "
                  "clinical bone-loss percentage. Missing teeth are imputed with the mean of their neighbours "
                  "along the arch (paper's rule).")


def abl_rows(abl: Mapping[int, ToothABL]) -> list[dict[str, Any]]:
    """One row per FDI position (11..48): measured d_c, d_r, d, or the imputed d and ``imputed=True``."""
    measured = {int(f): r.d for f, r in abl.items()}
    vector, imputed = abl_vector(measured, return_imputed=True)
    rows = []
    for fdi, value, flag in zip(FDI_ORDER, vector, imputed):
        r = abl.get(fdi)
        rows.append({"fdi": fdi, "d": round(float(value), 4), "imputed": bool(flag),
                     "d_c_px": round(r.d_c, 2) if r else "", "d_r_px": round(r.d_r, 2) if r else "",
                     "line": r.line if r else ""})
    return rows


def write_patient_report(out_dir: str | Path, *, image: Any, abl: Mapping[int, ToothABL], stage: int,
                         probabilities: Sequence[float] | None = None, bone_mask: np.ndarray | None = None,
                         patient_id: str = "patient", notes: Sequence[str] = (), synthetic: bool = False,
                         extra_figures: Sequence[tuple[str, str]] = ()) -> Path:
    """Write the report folder and return the path of ``report.html``.

    ``stage`` is 0..3 (none, mild, moderate, severe); ``probabilities`` the classifier's four values.
    ``synthetic=True`` puts a banner saying that the film and the numbers are simulated.
    ``extra_figures`` are (file name inside ``out_dir``, caption) pairs written by the caller, e.g. the
    coloured instance overlay with FDI numbers.
    """
    from biomedai.htmlpage import HtmlPage
    from biomedai.utils import write_csv_atomic
    from biomedai.viz import save_png

    if not 0 <= int(stage) < len(STAGES):
        raise InvalidInputError(f"stage must be 0..3 ({', '.join(STAGES)}), got {stage!r}")
    if probabilities is not None and len(probabilities) != len(STAGES):
        raise InvalidInputError(f"probabilities: expected 4 values, got {len(probabilities)}")
    if not abl:
        raise InvalidInputError(f"{patient_id}: no tooth has an ABL measurement; nothing to report")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = abl_rows(abl)
    save_png(draw_abl(image, abl, bone_mask), out / "abl.png")
    odontogram({r["fdi"]: r["d"] for r in rows}, out / "odontogram.png", imputed={r["fdi"]: r["imputed"] for r in rows},
               title=f"{patient_id}: ABL ratio d per tooth (hatched: imputed)")
    write_csv_atomic(out / "abl.csv", rows)

    page = HtmlPage(f"Periodontitis report: {patient_id}")
    if synthetic:
        page.paragraph("SIMULATED DATA: this film and every number below come from a synthetic panoramic, "
                       "not from a patient.", css="error")
    page.heading("Stage")
    page.paragraph(f"Predicted stage: {STAGES[int(stage)]} ({int(stage)} of 0-3).")
    if probabilities is not None:
        page.table([{"stage": name, "probability": float(p)} for name, p in zip(STAGES, probabilities)])
    worst = sorted(abl.values(), key=lambda r: r.d, reverse=True)[:3]
    page.heading("Teeth with the highest bone-loss ratio")
    page.table([{"fdi": r.fdi, "d": r.d, "d_c (px)": r.d_c, "d_r (px)": r.d_r} for r in worst])
    page.heading("Pictures")
    page.figures([("abl.png", "bone contour (blue), bone line (yellow), axis crown-apex (red), d per tooth"),
                  ("odontogram.png", "d per FDI position"), *extra_figures])
    page.heading("All teeth")
    page.table(rows)
    page.paragraph(CROWN_TIP_NOTE, css="note")
    for note in notes:
        page.paragraph(note, css="note")
    return page.write(out / "report.html")
