"""The default HTML report of a method's output folder, built from its ``result.json``."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import InvalidInputError
from ..htmlpage import HtmlPage
from ..provenance import RESULT_FILE


def html_report_from_result(output_dir: Path, title: str) -> Path:
    """Write ``report.html`` beside ``result.json``: metrics, pictures, tables and provenance."""
    result_path = Path(output_dir) / RESULT_FILE
    if not result_path.is_file():
        raise InvalidInputError("no result.json here; run predict/evaluate first", output_dir)
    try:
        result = json.loads(result_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"result.json is not valid JSON ({exc})", result_path) from exc
    page = HtmlPage(f"{title}: {result.get('action', '')}")
    metrics = result.get("metrics") or {}
    scalars = [{"metric": k, "value": v} for k, v in metrics.items() if isinstance(v, (int, float, str))]
    if scalars:
        page.heading("Metrics").table(scalars)
    files = result.get("files") or []
    pictures = [f for f in files if f.lower().endswith((".png", ".jpg", ".jpeg", ".svg"))]
    if pictures:
        page.heading("Pictures").figures((f, f) for f in pictures)
    others = [f for f in files if f not in pictures]
    if others:
        page.heading("Files").table({"file": f} for f in others)
    page.details("Provenance", result.get("provenance", {}))
    return page.write(Path(output_dir) / "report.html")
