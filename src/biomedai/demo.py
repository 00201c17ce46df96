"""``biomedai demo``: every registered method on its sample input, plus the bundled samples, in one gallery."""
from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path
from typing import Any

from .errors import BiomedaiError, InvalidInputError
from .htmlpage import HtmlPage
from .utils import write_json_atomic

log = logging.getLogger(__name__)


def run_demo(output: Path, methods: list[str] | None = None, data_root: Path | None = None,
             real_data: bool = True) -> Path:
    """Run the demos, render the sample gallery and write ``output/index.html``; returns its path.

    One method failing is recorded in the gallery and does not stop the others. With ``real_data``, every
    method with a bundled model, or with no learned part, also runs on its held-out real samples
    (:meth:`Method.real_samples`) from the
    shared data folder (``data_root``, else :func:`biomedai.data.shared_root.shared_data_root`); when that
    folder is absent the gallery says so in one line.
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

    if real_data:
        summary["real_data"] = _real_data_section(classes, output, page, data_root)
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


def _real_data_section(classes: list[type], output: Path, page: HtmlPage,
                       data_root: Path | None) -> dict[str, Any]:
    """Bundled models (and methods that need none) on held-out real samples, through ``Method.real_samples``."""
    from .data.shared_root import shared_data_root
    from .train.model_folder import default_model_folder, read_model_info

    page.heading("Bundled models on real data")
    if data_root is not None and not Path(data_root).is_dir():
        raise InvalidInputError("shared data folder not found (--data-root)", data_root)
    root = shared_data_root(data_root)
    if root is None:
        page.paragraph("Real data: the shared data folder (../shared/data, or $BIOMEDAI_SHARED_DATA) is absent, so "
                       "the bundled models are not shown on real samples here.", css="note")
        return {"data_root": None, "methods": {}}
    page.paragraph(f"Each bundled model on held-out real samples of its data set, read from {root} (nothing of it "
                   "is copied into the package). Scores compare the prediction with that sample's ground truth.",
                   css="note")
    out: dict[str, Any] = {"data_root": str(root), "methods": {}, "without_real_samples": []}
    for cls in classes:
        folder = default_model_folder(cls.name, cls.default_model) if cls.default_model else None
        if folder is None and cls.needs_weights:
            continue
        method = cls()
        try:
            samples = method.real_samples(root)
        except (BiomedaiError, OSError) as exc:
            log.error("real samples of %s: %s", cls.name, exc)
            samples = []
        if not samples:
            if folder is not None:
                out["without_real_samples"].append(cls.name)
            continue
        if folder is not None:
            page.heading(f"{cls.name}: bundled model on real data", level=3)
            page.paragraph(read_model_info(folder).usage_note(), css="note")
        else:
            page.heading(f"{cls.name}: on real data (no trained model needed)", level=3)
        out["methods"][cls.name] = [_real_sample_one(method, sample, output / "real" / cls.name / str(k), output,
                                                     page) for k, sample in enumerate(samples)]
    if out["without_real_samples"]:
        page.paragraph("Bundled models without a real sample here (trained on simulated data, or their data are "
                       f"absent): {', '.join(out['without_real_samples'])}.", css="note")
    return out


def real_data_label(sample: Any) -> str:
    """``real data: <set>, <licence>`` plus ``NON-COMMERCIAL`` when the set's terms say so.

    >>> from biomedai.methods.base import RealSample
    >>> real_data_label(RealSample((), "DRIVE test image 01", "research only", non_commercial=True))
    'real data: DRIVE test image 01, research only (NON-COMMERCIAL terms)'
    """
    label = f"real data: {sample.data_set}, {sample.licence}"
    return label + " (NON-COMMERCIAL terms)" if sample.non_commercial else label


def _real_sample_one(method: Any, sample: Any, folder: Path, output: Path, page: HtmlPage) -> dict[str, Any]:
    label = real_data_label(sample)
    start = time.perf_counter()
    try:
        result = method.predict(list(sample.inputs), folder)
        scores = method.score_real_sample(sample, result)
    except (BiomedaiError, NotImplementedError, OSError) as exc:
        log.error("bundled model of %s on %s failed: %s", method.name, sample.data_set, exc)
        page.paragraph(f"{label}: failed: {exc}", css="error")
        return {"data": label, "status": "failed", "error": str(exc)}
    seconds = time.perf_counter() - start
    pictures = [f for f in result.files if str(f).lower().endswith(".png")]
    if not pictures:  # a result without pictures (a score table): show the input it was given
        pictures = _input_previews(sample.inputs, Path(result.output_dir))
    page.figures((gallery_src(p, result.output_dir, output), Path(p).name) for p in pictures[:4])
    page.paragraph(f"Scores below: {label}", css="error" if sample.non_commercial else "note")
    page.table([{"metric": k, "value": _rounded(v)} for k, v in scores.items() if isinstance(v, (int, float, str))])
    rel = Path(os.path.relpath(Path(result.output_dir).resolve(), output.resolve())).as_posix()
    page.paragraph(f"ran in {seconds:.1f} s; outputs in {rel}/ (result.json)", css="note")
    return {"data": label, "status": "ok", "seconds": round(seconds, 2), "scores": scores,
            "non_commercial": sample.non_commercial}


def _input_previews(inputs: Any, folder: Path) -> list[Path]:
    """PNG previews of 2-D inputs (written into the run's folder, not the package)."""
    from .io import read_image
    from .viz import save_png, to_display

    out = []
    for path in map(Path, inputs):
        try:
            out.append(save_png(to_display(read_image(path)), folder / f"input_{_safe(path.stem)}.png"))
        except (BiomedaiError, OSError, ValueError) as exc:
            log.warning("no preview of %s: %s", path, exc)
    return out


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
