"""The default HTML report of a method's output folder, built from its ``result.json``."""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError
from ..htmlpage import HtmlPage
from ..provenance import RESULT_FILE


def headline_rows(metrics: dict[str, Any], keys: Sequence[str]) -> list[dict[str, Any]]:
    """The method's headline numbers found in ``metrics``, rounded for people (3 significant digits).

    A key whose value is a mapping (one value per input file) gives one row per file.

    Example:
        >>> headline_rows({"li": 12.3456, "n": {"a.png": 7}, "x": 1}, ["li", "n", "missing"])
        [{'number': 'li', 'value': 12.3}, {'number': 'n (a.png)', 'value': 7}]
    """
    rows = []
    for key in keys:
        value = metrics.get(key)
        if isinstance(value, dict):
            rows += [{"number": f"{key} ({k})", "value": _round(v)} for k, v in value.items()
                     if isinstance(v, (int, float))]
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            rows.append({"number": key, "value": _round(value)})
    return rows


def _round(value: float) -> float:
    if isinstance(value, int):
        return value
    return float(f"{value:.3g}") if abs(value) >= 1e-3 or value == 0 else value


def html_report_from_result(output_dir: Path, title: str, headline: Sequence[str] = ()) -> Path:
    """Write ``report.html`` beside ``result.json``: headline numbers first, then metrics, pictures, tables
    and provenance."""
    result_path = Path(output_dir) / RESULT_FILE
    if not result_path.is_file():
        raise InvalidInputError("no result.json here; run predict/evaluate first", output_dir)
    try:
        result = json.loads(result_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"result.json is not valid JSON ({exc})", result_path) from exc
    page = HtmlPage(f"{title}: {result.get('action', '')}")
    metrics = result.get("metrics") or {}
    lead = headline_rows(metrics, headline)
    if lead:
        page.heading("Key numbers").table(lead)
    notes = result.get("notes") or {}
    if isinstance(notes.get("model"), str):
        page.paragraph(f"model: {notes['model']}", css="note")
    scalars = [{"metric": k, "value": _round(v) if isinstance(v, float) else v} for k, v in metrics.items()
               if isinstance(v, (int, float, str))]
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
