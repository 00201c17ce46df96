"""A self-contained HTML report of one study: findings, images with overlays, measurements, provenance.

Images are embedded as ``data:`` URIs so that the downloaded file opens anywhere without the
server. Only files the database lists for the study and its results are read.
"""
from __future__ import annotations

import base64
import html
import json
from typing import Any

from ..workflow.previews import has_preview
from ..workflow.store import Store

MAX_EMBED_BYTES = 4 * 1024 ** 2


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _data_uri(store: Store, rel: str) -> str | None:
    path = store.storage.resolve(rel)
    if not path.is_file() or path.stat().st_size > MAX_EMBED_BYTES:
        return None
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def study_report_html(store: Store, study_id: int, deidentify: bool = False) -> str:
    """The report page as a string (raises HTTPException 404 through study_detail for unknown ids).

    ``deidentify`` leaves out the patient ID and the StudyInstanceUID (the report then names the
    study only by its local number); text burnt into the pixels is not removed.
    """
    from sqlalchemy import select

    from ..workflow.models import Result, StoredFile
    from .deps import study_detail
    from .pages import _STYLE, flatten, table

    d = study_detail(store, study_id)
    if deidentify:
        d["uid"], d["patient_id"] = f"(removed; local study {study_id})", "(removed)"
    parts = [f"<h1>Study report {study_id}</h1>",
             table([{k: d[k] for k in ("uid", "patient_id", "modality", "body_part", "status", "priority",
                                       "created_at")}]),
             "<p>AI results for review by a qualified reader; not a diagnosis.</p>"]
    if d["findings"]:
        parts.append("<h2>Findings</h2>" + table([{"method": f.get("method", ""), "finding": f.get("label", ""),
                                                   "severity": f.get("severity", ""), "text": f.get("text", "")}
                                                  for f in d["findings"]]))
    with store.session() as s:
        previews = [f.preview for f in s.scalars(select(StoredFile).where(StoredFile.study_id == study_id))
                    if has_preview(f.preview)]
        results = s.scalars(select(Result).where(Result.study_id == study_id).order_by(Result.id)).all()
    images = [u for u in (_data_uri(store, p) for p in previews[:8]) if u]
    if images:
        parts.append("<h2>Images</h2><div class=grid>" + "".join(
            f'<figure><img class=plain src="{u}" alt="image"></figure>' for u in images) + "</div>")
    for r in results:
        parts.append(f"<h2>{_e(r.method)} (result {r.id}, priority {r.priority:.0f})</h2>")
        figures = []
        for rel in [f for f in r.files if f.lower().endswith(".png")][:12]:
            uri = _data_uri(store, rel)
            if uri:
                figures.append(f'<figure><img class=plain src="{uri}" alt="{_e(rel)}">'
                               f'<figcaption>{_e(rel.rsplit("/", 1)[-1])}</figcaption></figure>')
        if figures:
            parts.append("<div class=grid>" + "".join(figures) + "</div>")
        parts.append("<h3>Measurements</h3>" + table(flatten(r.metrics)))
        provenance = _provenance(store, r.output_dir)
        if provenance:
            parts.append(f"<details><summary>Provenance</summary><pre>{_e(json.dumps(provenance, indent=1))}</pre>"
                         "</details>")
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Study report {study_id}</title>"
            f"<style>{_STYLE}</style></head><body><main>{''.join(parts)}</main></body></html>")


def _provenance(store: Store, output_dir: str) -> dict[str, Any] | None:
    try:
        data = json.loads(store.storage.resolve(f"{output_dir}/result.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    prov = data.get("provenance") if isinstance(data, dict) else None
    if not isinstance(prov, dict):
        return None
    return {k: prov.get(k) for k in ("biomedai_version", "git_revision", "started", "finished", "seed", "config")}
