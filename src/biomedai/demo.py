"""``biomedai demo``: every registered method on its sample input, plus the bundled samples, in one gallery."""
from __future__ import annotations

import logging
import os
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
    page.figures((gallery_src(p, result.output_dir, output), Path(p).name) for p in pictures[:8])
    simulated = simulated_data_note(result)
    if simulated:
        page.paragraph(f"SIMULATED data: every number of this method below is measured on simulated data, not on "
                       f"real images ({simulated})", css="error")
    label = "simulated data" if simulated else str(result.metrics.get("data", "see result.json"))
    scalars = [{"metric": k, "value": _rounded(v), "data": label} for k, v in result.metrics.items()
               if isinstance(v, (int, float, str)) and k != "data"]
    page.table(scalars)
    page.paragraph(f"ran in {seconds:.1f} s; outputs in {rel}/ (result.json, report.html)", css="note")
    return {"status": "ok", "seconds": round(seconds, 2), "simulated": bool(simulated), "metrics": result.metrics}


def gallery_src(picture: str | Path, method_output: str | Path, gallery_dir: str | Path) -> str:
    """The ``src`` of ``picture`` relative to the gallery page in ``gallery_dir``.

    ``picture`` may be absolute, relative to the working directory, or relative to ``method_output``
    (how ``RunRecorder`` stores files); the result works for relative and absolute output folders.

    Example:
        >>> gallery_src("demo-output/nuclei/a.png", "demo-output/nuclei", "demo-output")
        'nuclei/a.png'
        >>> gallery_src("a.png", "demo-output/nuclei", "demo-output")
        'nuclei/a.png'
    """
    path, method_output = Path(picture), Path(method_output)
    if not path.is_absolute():
        inside = method_output / path
        path = path if (path.exists() and not inside.exists()) or _starts_with(path, method_output) else inside
    return Path(os.path.relpath(path.resolve(), Path(gallery_dir).resolve())).as_posix()


def _starts_with(path: Path, prefix: Path) -> bool:
    return path.parts[:len(prefix.parts)] == prefix.parts


def simulated_data_note(result: Any) -> str:
    """The note saying that a run's numbers come from simulated data ("" when they do not).

    Read from the run's metrics and ``result.json`` notes: a ``data`` entry that names simulated or
    synthetic data, or ``simulated: true``.
    """
    import json

    texts = [result.metrics.get("data")]
    try:
        notes = json.loads((Path(result.output_dir) / "result.json").read_text(encoding="utf-8")).get("notes", {})
    except (OSError, ValueError):
        notes = {}
    if notes.get("simulated") is True or result.metrics.get("simulated") is True:
        return str(notes.get("data") or result.metrics.get("data") or "simulated")
    texts.append(notes.get("data"))
    for text in texts:
        if isinstance(text, str) and re.search(r"simulat|synthetic|phantom", text, re.IGNORECASE):
            return text
    return ""


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 3)
    return value


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
