"""``biomedai demo``: every registered method on its sample input, plus the bundled samples, in one gallery."""
from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any

from .errors import BiomedaiError
from .htmlpage import HtmlPage
from .utils import write_json_atomic

log = logging.getLogger(__name__)


def run_demo(output: Path, methods: list[str] | None = None) -> Path:
    """Run the demos, render the sample gallery and write ``output/index.html``; returns its path.

    One method failing is recorded in the gallery and does not stop the others.
    """
    from .methods.registry import get_method, list_methods

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    classes = [get_method(name) for name in methods] if methods else list_methods()
    page = HtmlPage("biomedai demo")
    page.paragraph("Each method ran on its bundled sample input; every number below is measured on the data named "
                   "beside it. Open a method's folder for its result.json (provenance) and report.", css="note")
    summary: dict[str, Any] = {"methods": {}, "samples": []}

    page.heading("Methods")
    if not classes:
        page.paragraph("No methods are registered yet; the gallery below shows the bundled samples.", css="note")
    for cls in classes:
        summary["methods"][cls.name] = _demo_one(cls, output, page)

    summary["samples"] = _sample_gallery(output / "samples", page)
    write_json_atomic(output / "demo-summary.json", summary)
    return page.write(output / "index.html")


def _demo_one(cls: type, output: Path, page: HtmlPage) -> dict[str, Any]:
    page.heading(f"{cls.name}: {cls.title}", level=3)
    page.paragraph(f"{cls.modality} · {cls.task} · {cls.paper}", css="note")
    start = time.perf_counter()
    try:
        result = cls().demo(output / cls.name)
    except (BiomedaiError, NotImplementedError, OSError) as exc:
        log.error("demo of %s failed: %s", cls.name, exc)
        page.paragraph(f"demo failed: {exc}", css="error")
        return {"status": "failed", "error": str(exc)}
    seconds = time.perf_counter() - start
    rel = Path(cls.name)
    pictures = [f for f in result.files if str(f).lower().endswith(".png")]
    page.figures((str(rel / Path(p).relative_to(result.output_dir)) if Path(p).is_absolute() else str(rel / p),
                  Path(p).name) for p in pictures[:8])
    scalars = [{"metric": k, "value": v} for k, v in result.metrics.items() if isinstance(v, (int, float, str))]
    page.table(scalars)
    page.paragraph(f"ran in {seconds:.1f} s; outputs in {rel}/ (result.json, report.html)", css="note")
    return {"status": "ok", "seconds": round(seconds, 2), "metrics": result.metrics}


def _sample_gallery(folder: Path, page: HtmlPage) -> list[dict[str, Any]]:
    """Read every bundled sample through ``biomedai.io`` and show it with its metadata."""
    from .data.samples import list_samples, load_sample
    from .viz import save_png, to_display

    page.heading("Bundled samples (read through biomedai.io)")
    folder.mkdir(parents=True, exist_ok=True)
    rows, figures = [], []
    for info in list_samples():
        try:
            image = load_sample(info.name)
        except BiomedaiError as exc:
            rows.append({"sample": info.name, "error": str(exc)})
            continue
        png = folder / f"{_safe(info.name)}.png"
        save_png(to_display(image), png)
        figures.append((f"samples/{png.name}", f"{info.name} ({info.modality})"))
        summary = image.summary()
        rows.append({"sample": info.name, "modality": info.modality, "source": info.package,
                     "shape": summary["shape"], "dtype": summary["dtype"],
                     "spacing": [round(s, 4) for s in summary["spacing"]], "unit": summary["spacing_unit"],
                     "range": [summary["min"], summary["max"]], "description": info.description})
    page.figures(figures)
    page.table(rows)
    return rows


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
