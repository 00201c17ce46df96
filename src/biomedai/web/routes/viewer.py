"""The DICOM viewer of a study (Cornerstone3D, bundled under ``static/viewer/``; built by ``make viewer``).

``GET /studies/{id}/viewer``
    the viewer page; it reads the study's series through DICOMweb (``/dicom-web``, QIDO-RS and WADO-RS).
``GET /api/studies/{id}/viewer.json``
    what the page needs besides DICOMweb: the StudyInstanceUID, the AI findings of the results (shown
    when no DICOM SR of them is in the study) and where the measurements are kept. Series, SEG and SR
    objects and the prior studies of the same patient (QIDO-RS by PatientID) come from DICOMweb.
``GET/PUT /api/studies/{id}/annotations``
    the length, angle and ROI measurements drawn in the viewer, kept with the study's results
    (``results/study-<id>/viewer-annotations.json``; deleting the study deletes them). PUT needs the
    operator role and replaces the whole list; every change is in the audit log.
``GET /static/viewer/{name}``
    the bundle's files (a fixed folder; only names that are there are served).

Whole-slide images keep the tile viewer (:mod:`biomedai.web.tiles`).
"""
from __future__ import annotations

import functools
import gzip
import json
import math
import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from sqlalchemy import select

from ...utils import write_json_atomic
from ...workflow.models import Result, Study, User
from ..deps import audit, need, store_of, study_or_404

router = APIRouter()

BUNDLE = Path(__file__).resolve().parent.parent / "static" / "viewer"
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".txt": "text/plain; charset=utf-8",
               ".wasm": "application/wasm"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$")
#: the root the page reads DICOM from (Orthanc's convention)
DICOMWEB_ROOT = "/dicom-web"
#: the viewer page's content-security policy: scripts and workers from this server only; WebAssembly
#: compilation for the image decoders; blob: images for the series thumbnails
VIEWER_CSP = ("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; "
              "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; "
              "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
MEASUREMENT_TOOLS = ("Length", "Angle", "RectangleROI", "EllipticalROI")
MAX_MEASUREMENTS = 2000
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def bundle_files() -> dict[str, Path]:
    """The files of the built viewer by name (empty when ``make viewer`` was never run)."""
    if not BUNDLE.is_dir():
        return {}
    return {p.name: p for p in BUNDLE.iterdir() if p.is_file() and _NAME.match(p.name) and p.suffix in MEDIA_TYPES}


@functools.lru_cache(maxsize=16)
def _gzipped(path: Path, mtime_ns: int) -> bytes:
    return gzip.compress(path.read_bytes(), compresslevel=6, mtime=0)


@router.get("/static/viewer/{name}")
def bundle_file(request: Request, name: str, user: User = Depends(need("viewer"))) -> Response:
    """One file of the bundle; gzip-compressed (once, then cached) for clients that accept it."""
    path = bundle_files().get(name)
    if path is None:
        raise HTTPException(404, f"no viewer file {name!r}")
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600",
               "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", "").lower() and path.suffix in (".js", ".css"):
        return Response(_gzipped(path, path.stat().st_mtime_ns), media_type=MEDIA_TYPES[path.suffix],
                        headers={**headers, "Content-Encoding": "gzip"})
    return Response(path.read_bytes(), media_type=MEDIA_TYPES[path.suffix], headers=headers)


def _annotations_path(store: Any, study_id: int) -> Path:
    return store.storage.resolve(f"results/study-{study_id}/viewer-annotations.json")


def _iso(value: Any) -> str:
    return value.isoformat(timespec="seconds") + "Z" if value else ""


def viewer_context(store: Any, study_id: int) -> dict[str, Any]:
    """The study's UID, its AI findings and the measurement URL (404 when absent); the page finds the
    series, SEG, SR and the prior studies of the same patient through DICOMweb."""
    with store.session() as s:
        study = study_or_404(s, study_id)
        findings = []
        for result in s.scalars(select(Result).where(Result.study_id == study_id).order_by(Result.id)):
            for finding in result.findings or []:
                if isinstance(finding, dict):
                    findings.append({"result_id": result.id, "method": result.method,
                                     "label": str(finding.get("label", ""))[:200],
                                     "severity": finding.get("severity", 0)})
        return {"study": {"id": study.id, "uid": study.uid, "patient_id": study.patient_id,
                          "modality": study.modality, "description": study.description,
                          "dicom": bool(_UID.match(study.uid))},
                "dicomweb": DICOMWEB_ROOT, "annotations_url": f"/api/studies/{study_id}/annotations",
                "findings": findings[:100]}


@router.get("/api/studies/{study_id}/viewer.json")
def context(request: Request, study_id: int, user: User = Depends(need("viewer"))) -> dict[str, Any]:
    from ...workflow.auth import role_allows

    # viewers may measure, but only operators save measurements to the study
    return {**viewer_context(store_of(request), study_id), "can_save": role_allows(user.role, "operator")}


def read_annotations(store: Any, study_id: int) -> dict[str, Any]:
    """The saved measurements of a study: ``{"measurements": [...], "updated_by", "updated_at"}``."""
    path = _annotations_path(store, study_id)
    if not path.exists():
        return {"measurements": [], "updated_by": "", "updated_at": ""}
    return json.loads(path.read_text(encoding="utf-8"))


def _finite_numbers(values: Any, length: int | None = None) -> bool:
    return (isinstance(values, list) and (length is None or len(values) == length)
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values))


def check_measurement(item: Any, index: int) -> dict[str, Any]:
    """One measurement as the viewer sends it, checked; HTTP 400 naming what is wrong."""
    where = f"measurements[{index}]"
    if not isinstance(item, dict):
        raise HTTPException(400, f"{where}: an object is expected")
    tool = item.get("tool")
    if tool not in MEASUREMENT_TOOLS:
        raise HTTPException(400, f"{where}.tool: one of {', '.join(MEASUREMENT_TOOLS)} (got {tool!r})")
    for key in ("uid", "series_uid", "sop_instance_uid"):
        value = item.get(key)
        if not isinstance(value, str) or not 0 < len(value) <= 128:
            raise HTTPException(400, f"{where}.{key}: a non-empty string of at most 128 characters")
    for key in ("series_uid", "sop_instance_uid"):
        if not _UID.match(item[key]):
            raise HTTPException(400, f"{where}.{key}: not a DICOM UID")
    points = item.get("points")
    if not isinstance(points, list) or not 1 <= len(points) <= 16 or not all(_finite_numbers(p, 3) for p in points):
        raise HTTPException(400, f"{where}.points: 1 to 16 points of three finite numbers (patient mm)")
    frame = item.get("frame", 1)
    if not isinstance(frame, int) or isinstance(frame, bool) or frame < 1:
        raise HTTPException(400, f"{where}.frame: a frame number from 1")
    stats = item.get("stats", {})
    if not isinstance(stats, dict) or len(stats) > 32:
        raise HTTPException(400, f"{where}.stats: an object of at most 32 entries")
    clean_stats = {str(k)[:32]: v for k, v in stats.items()
                   if (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v))
                   or (isinstance(v, str) and len(v) <= 32)}
    view = item.get("view", {}) if isinstance(item.get("view", {}), dict) else {}
    clean_view = {"FrameOfReferenceUID": str(view.get("FrameOfReferenceUID") or "")[:128],
                  "viewPlaneNormal": view.get("viewPlaneNormal") if _finite_numbers(view.get("viewPlaneNormal"), 3)
                  else None,
                  "viewUp": view.get("viewUp") if _finite_numbers(view.get("viewUp"), 3) else None}
    return {"uid": item["uid"], "tool": tool, "series_uid": item["series_uid"],
            "sop_instance_uid": item["sop_instance_uid"], "frame": frame, "points": points,
            "label": str(item.get("label", ""))[:200], "stats": clean_stats, "view": clean_view}


@router.get("/api/studies/{study_id}/annotations")
def get_annotations(request: Request, study_id: int, user: User = Depends(need("viewer"))) -> dict[str, Any]:
    store = store_of(request)
    with store.session() as s:
        study_or_404(s, study_id)
    return read_annotations(store, study_id)


@router.put("/api/studies/{study_id}/annotations")
def put_annotations(request: Request, study_id: int, body: dict[str, Any],
                    user: User = Depends(need("operator"))) -> dict[str, Any]:
    from ...workflow.models import utcnow

    store = store_of(request)
    with store.session() as s:
        study_or_404(s, study_id)
    items = body.get("measurements")
    if not isinstance(items, list):
        raise HTTPException(400, "measurements: a list is expected")
    if len(items) > MAX_MEASUREMENTS:
        raise HTTPException(400, f"measurements: at most {MAX_MEASUREMENTS} per study")
    clean = [check_measurement(item, i) for i, item in enumerate(items)]
    if len({m["uid"] for m in clean}) != len(clean):
        raise HTTPException(400, "measurements: each uid may appear once")
    saved = {"measurements": clean, "updated_by": user.username, "updated_at": _iso(utcnow())}
    path = _annotations_path(store, study_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, saved)
    audit(request, user, "save_measurements", "study", study_id,
          ", ".join(f"{m['tool']} {_stat_text(m['stats'])}" for m in clean[:20]) or "none")
    return saved


def _stat_text(stats: dict[str, Any]) -> str:
    for key in ("length", "angle", "area"):
        if isinstance(stats.get(key), (int, float)):
            unit = stats.get("unit") or stats.get("areaUnit") or ("deg" if key == "angle" else "")
            return f"{key} {stats[key]:.4g} {unit}".strip()
    return ""


@router.get("/studies/{study_id}/viewer")
def viewer_page(request: Request, study_id: int, user: User = Depends(need("viewer"))) -> Response:
    from html import escape

    from ..pages import layout

    def _e(value: Any) -> str:
        return escape(str(value), quote=True)

    store = store_of(request)
    facts = viewer_context(store, study_id)
    audit(request, user, "view_study", "study", study_id, "viewer")
    back = (f'<p class="muted"><a href="/studies/{study_id}">Study {study_id}</a> · '
            f'<a href="/studies/{study_id}/report">report</a> · ')
    if not facts["study"]["dicom"]:
        body = (back + "this study holds no DICOM images; its images are on the study page (whole-slide images "
                "in the tile viewer).</p>")
    elif not bundle_files().get("viewer.js"):
        body = back + "the viewer is not built in this installation (run <code>make viewer</code>).</p>"
    else:
        body = (back + f'patient {_e(facts["study"]["patient_id"] or "unknown")} · {_e(facts["study"]["modality"])}'
                f' {_e(facts["study"]["description"])}. Wheel or arrow keys: scroll; left button: the chosen tool; '
                'middle: pan; right: zoom.</p>'
                '<link rel="stylesheet" href="/static/viewer/viewer.css">'
                f'<div id="bv-app" data-study-id="{study_id}" data-context="/api/studies/{study_id}/viewer.json">'
                '<aside id="bv-series" aria-label="series"></aside><div id="bv-toolbar"></div>'
                '<div id="bv-viewports" data-mode="stack"></div>'
                '<div><div id="bv-results"></div><div id="bv-status" role="status">Loading…</div></div></div>'
                '<script type="module" src="/static/viewer/viewer.js"></script>')
    page = layout(f"Study {study_id}: viewer", body, user)
    page.headers["Content-Security-Policy"] = VIEWER_CSP
    return page
