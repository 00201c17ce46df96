"""The study report as a PDF (ReportLab): header, findings, images, each result's figures and measurements.

The same content as the HTML report (:mod:`.report`), for printing and for archives that want
PDF. Text is real text (searchable, extractable) in DejaVu Sans, taken from matplotlib's bundled
fonts so that any Unicode in findings prints; Helvetica when that font is missing. Only files
the database lists for the study and its results are read, each through the checked storage.
"""
from __future__ import annotations

import html
import io
import logging
from typing import Any

from ..workflow.previews import has_preview
from ..workflow.store import Store

log = logging.getLogger(__name__)

MAX_IMAGE_PIXELS = 1600  # longest side of an embedded picture (keeps a report of big images small)
MAX_FIGURES = 12
MAX_ROWS = 300


def _fonts() -> tuple[str, str]:
    """(regular, bold) font names: DejaVu Sans from matplotlib when available, else Helvetica."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if "DejaVuSans" in pdfmetrics.getRegisteredFontNames():
        return "DejaVuSans", "DejaVuSans-Bold"
    try:
        from pathlib import Path

        import matplotlib

        folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
        pdfmetrics.registerFont(TTFont("DejaVuSans", str(folder / "DejaVuSans.ttf")))
        pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(folder / "DejaVuSans-Bold.ttf")))
        return "DejaVuSans", "DejaVuSans-Bold"
    except Exception as exc:  # noqa: BLE001 - the built-in font still works for Latin-1 text
        log.info("DejaVu Sans not available (%s); using Helvetica", exc)
        return "Helvetica", "Helvetica-Bold"


def _styles() -> dict[str, Any]:
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet

    regular, bold = _fonts()
    base = getSampleStyleSheet()
    return {"title": ParagraphStyle("t", parent=base["Title"], fontName=bold, fontSize=16),
            "h2": ParagraphStyle("h2", parent=base["Heading2"], fontName=bold, fontSize=12, spaceBefore=8),
            "h3": ParagraphStyle("h3", parent=base["Heading3"], fontName=bold, fontSize=10),
            "body": ParagraphStyle("b", parent=base["BodyText"], fontName=regular, fontSize=9),
            "cell": ParagraphStyle("c", parent=base["BodyText"], fontName=regular, fontSize=7.5, leading=9),
            "head": ParagraphStyle("h", parent=base["BodyText"], fontName=bold, fontSize=7.5, leading=9),
            "caption": ParagraphStyle("cap", parent=base["BodyText"], fontName=regular, fontSize=7,
                                      textColor="#444444")}


def _p(text: Any, style: Any) -> Any:
    from reportlab.platypus import Paragraph

    return Paragraph(html.escape(str(text)).replace("\n", "<br/>"), style)


def _cell_text(value: Any) -> str:
    from .pages import _fmt

    return _fmt(value)


def _table(rows: list[dict[str, Any]], styles: dict[str, Any], width: float) -> Any:
    """A table that wraps its cells and splits across pages with the header repeated."""
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    if not rows:
        return _p("none", styles["body"])
    keys = list(dict.fromkeys(k for r in rows for k in r if not str(k).startswith("_")))
    data = [[_p(k, styles["head"]) for k in keys]]
    data += [[_p(_cell_text(r.get(k, "")), styles["cell"]) for k in keys] for r in rows[:MAX_ROWS]]
    widths = [width * 0.3, width * 0.7] if len(keys) == 2 else [width / len(keys)] * len(keys)
    table = Table(data, colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#bbbbbb")),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f5")),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return table


def _picture(store: Store, rel: str, max_w: float, max_h: float) -> Any | None:
    """A flowable of one stored PNG/JPEG (downscaled to MAX_IMAGE_PIXELS), or None when unreadable."""
    from PIL import Image as PILImage
    from reportlab.platypus import Image

    from .report import MAX_EMBED_BYTES

    path = store.storage.resolve(rel)
    if not path.is_file() or path.stat().st_size > 4 * MAX_EMBED_BYTES:
        return None
    try:
        with PILImage.open(path) as im:
            im.thumbnail((MAX_IMAGE_PIXELS, MAX_IMAGE_PIXELS))
            im = im.convert("RGBA" if im.mode in ("RGBA", "LA", "P") else "RGB")
            buffer = io.BytesIO()
            im.save(buffer, format="PNG")
            w, h = im.size
    except Exception as exc:  # noqa: BLE001 - a broken picture leaves a gap, not a failed report
        log.info("report picture %s: %s", rel, exc)
        return None
    scale = min(max_w / w, max_h / h)
    buffer.seek(0)
    return Image(buffer, width=w * scale, height=h * scale)


def _figure_grid(items: list[tuple[Any, str]], styles: dict[str, Any], width: float) -> Any:
    """Pictures with captions, two per row."""
    from reportlab.platypus import Table, TableStyle

    cells = [[picture, _p(caption, styles["caption"])] for picture, caption in items]
    rows = [cells[i:i + 2] for i in range(0, len(cells), 2)]
    if len(rows[-1]) == 1:
        rows[-1].append("")
    table = Table(rows, colWidths=[width / 2] * 2)
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("ALIGN", (0, 0), (-1, -1), "CENTER")]))
    return table


def study_report_pdf(store: Store, study_id: int, deidentify: bool = False) -> bytes:
    """The study report as PDF bytes (404 through ``study_detail`` for unknown ids).

    ``deidentify`` leaves out the patient ID and StudyInstanceUID, as the HTML report does; text
    burnt into the pixels is not removed.
    """
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import cm
    from reportlab.platypus import SimpleDocTemplate, Spacer
    from sqlalchemy import select

    from ..workflow.models import Result, StoredFile
    from .deps import study_detail
    from .pages import flatten
    from .report import _provenance

    styles = _styles()
    width = A4[0] - 3 * cm
    d = study_detail(store, study_id)
    if deidentify:
        d["uid"], d["patient_id"] = f"(removed; local study {study_id})", "(removed)"
    story: list[Any] = [_p(f"Study report {study_id}", styles["title"]),
                        _table([{"field": k, "value": d[k]} for k in ("uid", "patient_id", "modality", "body_part",
                                                                      "status", "priority", "created_at")],
                               styles, width),
                        Spacer(1, 4),
                        _p("AI results for review by a qualified reader; not a diagnosis.", styles["body"])]
    if d["findings"]:
        story += [_p("Findings", styles["h2"]),
                  _table([{"method": f.get("method", ""), "finding": f.get("label", ""),
                           "severity": f.get("severity", ""), "text": f.get("text", "")} for f in d["findings"]],
                         styles, width)]
    with store.session() as s:
        previews = [(f.preview, f.original_name) for f in s.scalars(
            select(StoredFile).where(StoredFile.study_id == study_id)) if has_preview(f.preview)]
        results = s.scalars(select(Result).where(Result.study_id == study_id).order_by(Result.id)).all()
    images = [(pic, name if not deidentify else "image") for pic, name in
              ((_picture(store, rel, width / 2 - 10, 9 * cm), name) for rel, name in previews[:8]) if pic]
    if images:
        story += [_p("Images", styles["h2"]), _figure_grid(images, styles, width)]
    for r in results:
        story.append(_p(f"{r.method} (result {r.id}, priority {r.priority:.0f})", styles["h2"]))
        figures = [(pic, rel.rsplit("/", 1)[-1]) for pic, rel in
                   ((_picture(store, rel, width / 2 - 10, 9 * cm), rel) for rel in
                    [f for f in r.files if f.lower().endswith((".png", ".jpg", ".jpeg"))][:MAX_FIGURES]) if pic]
        if figures:
            story.append(_figure_grid(figures, styles, width))
        story += [_p("Measurements", styles["h3"]), _table(flatten(r.metrics), styles, width)]
        provenance = _provenance(store, r.output_dir)
        if provenance:
            story += [_p("Provenance", styles["h3"]),
                      _table([{k: v for k, v in provenance.items() if k != "config"}], styles, width)]
    buffer = io.BytesIO()
    title = f"Study report {study_id}"
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=1.5 * cm, rightMargin=1.5 * cm, topMargin=1.5 * cm,
                            bottomMargin=1.5 * cm, title=title, author="biomedai", subject="AI results for review",
                            invariant=True)
    doc.build(story, onFirstPage=_footer, onLaterPages=_footer)
    return buffer.getvalue()


def _footer(canvas: Any, doc: Any) -> None:
    from reportlab.lib.units import cm

    canvas.saveState()
    canvas.setFont(_fonts()[0], 7)
    canvas.drawRightString(doc.pagesize[0] - 1.5 * cm, 0.8 * cm, f"biomedai study report, page {doc.page}")
    canvas.restoreState()
