"""Studies: methods, upload, worklist, one study, delete, run a method, prior comparison, reports."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request, UploadFile

from ...errors import InvalidInputError
from ...workflow.intake import ingest, remove_study, screen_unit, unit_inputs
from ...workflow.models import StoredFile, User
from ...workflow.routing import kind_accepted
from ...workflow.worklist import worklist
from ..deps import audit, need, settings_of, store_of, study_detail, study_or_404

router = APIRouter()

#: Largest value the database's integer columns hold (ids and offsets beyond it are not looked up).
DB_INT_MAX = 2 ** 63 - 1


def save_uploads(files: list[UploadFile], folder: Path) -> list[tuple[str, Path]]:
    """Spool uploads to ``folder`` under safe local names; the sender's names are kept for intake."""
    import shutil

    from ...workflow.storage import safe_relative_path

    items = []
    for index, upload in enumerate(files):
        name = upload.filename or ""
        safe_relative_path(name)  # refuses ../ and absolute names before anything is written
        local = folder / f"{index:05d}{Path(name).suffix[:16]}"
        with open(local, "wb") as out:
            shutil.copyfileobj(upload.file, out, 1 << 20)
        items.append((name, local))
    return items


@router.get("/api/methods")
def methods(user: User = Depends(need("viewer"))) -> list[dict[str, Any]]:
    from ...methods.registry import list_methods

    return [m.describe() for m in list_methods()]


@router.post("/api/studies", status_code=201)
def upload(request: Request, files: list[UploadFile], methods: str = Form(""), patient_id: str = Form(""),
           user: User = Depends(need("operator"))) -> dict[str, Any]:
    chosen = [m.strip() for m in methods.split(",") if m.strip()] or None
    return do_upload(request, user, files, chosen, patient_id.strip())


def do_upload(request: Request, user: User, files: list[UploadFile], chosen: list[str] | None,
              patient_id: str = "") -> dict[str, Any]:
    """Spool, ingest and audit one upload (also used by the upload page)."""
    if not files:
        raise HTTPException(400, "no files in the upload")
    if chosen:
        from ...methods.registry import get_method

        for name in chosen:
            get_method(name)
    with tempfile.TemporaryDirectory(prefix="biomedai-upload-") as tmp:
        try:
            items = save_uploads(files, Path(tmp))
        except InvalidInputError as exc:
            audit(request, user, "upload_refused", detail=str(exc))
            raise HTTPException(400, str(exc)) from None
        report = ingest(store_of(request), items, router=settings_of(request).router, source="upload",
                        username=user.username, methods=chosen, patient_id=patient_id)
    audit(request, user, "upload", "study", ",".join(map(str, report.studies)),
          f"{len(report.new_files)} new file(s), {len(report.duplicate_files)} duplicate(s), jobs {report.jobs}")
    return report.to_dict()


@router.get("/api/studies")
@router.get("/api/worklist")
def list_studies(request: Request, status: str | None = None, modality: str | None = None,
                 min_priority: float | None = None, limit: int = 200, offset: int = 0,
                 user: User = Depends(need("viewer"))) -> list[dict[str, Any]]:
    rows = worklist(store_of(request), status=status, modality=modality, min_priority=min_priority,
                    limit=max(1, min(limit, 1000)), offset=max(0, min(offset, DB_INT_MAX)))
    audit(request, user, "list_studies", detail=f"{len(rows)} row(s)")
    return rows


@router.get("/api/studies/{study_id}")
def get_study(request: Request, study_id: int, user: User = Depends(need("viewer"))) -> dict[str, Any]:
    detail = study_detail(store_of(request), study_id)
    audit(request, user, "view_study", "study", study_id)
    return detail


@router.delete("/api/studies/{study_id}")
def delete_study(request: Request, study_id: int, user: User = Depends(need("admin"))) -> dict[str, Any]:
    if not remove_study(store_of(request), study_id):
        raise HTTPException(404, f"no study {study_id}")
    audit(request, user, "delete_study", "study", study_id)
    return {"deleted": study_id}


@router.post("/api/studies/{study_id}/jobs", status_code=201)
def run_method(request: Request, study_id: int, body: dict[str, Any],
               user: User = Depends(need("operator"))) -> dict[str, Any]:
    jobs = queue_method(request, user, study_id, str(body.get("method", "")))
    return {"jobs": jobs}


def queue_method(request: Request, user: User, study_id: int, name: str) -> list[int]:
    """Queue ``name`` on every unit of the study it accepts (also used by the study page)."""
    from ...methods.registry import get_method

    store = store_of(request)
    cls = get_method(name)
    with store.session() as s:
        study = study_or_404(s, study_id)
        units: dict[str, list[StoredFile]] = {}
        for f in study.files:
            units.setdefault(f.series_uid or f"file-{f.id}", []).append(f)
    jobs, fitting = [], 0
    for rows in units.values():
        if kind_accepted(rows[0].kind, cls.input_kinds):
            fitting += 1
            inputs = unit_inputs(store, study_id, rows)
            if screen_unit(store, study_id, [name], inputs):
                jobs.append(settings_of(request).queue.enqueue(study_id, name, inputs, created_by=user.username))
    if not fitting:
        raise HTTPException(400, f"method {name!r} accepts {list(cls.input_kinds)}; no file of study "
                                 f"{study_id} is of those kinds")
    if not jobs:
        notes = study_detail(store, study_id)["routing"]
        reasons = "; ".join(f"{n['status']}: {n['reason']}" for n in notes if n["method"] == name)
        raise HTTPException(400, f"method {name!r} does not run on study {study_id}: {reasons}")
    audit(request, user, "run_method", "study", study_id, f"{name}: jobs {jobs}")
    return jobs


@router.get("/api/studies/{study_id}/comparison")
def comparison(request: Request, study_id: int, user: User = Depends(need("viewer"))) -> list[dict[str, Any]]:
    from ...workflow.priors import compare_with_prior

    store = store_of(request)
    with store.session() as s:
        study_or_404(s, study_id)
    audit(request, user, "compare_prior", "study", study_id)
    return compare_with_prior(store, study_id)


@router.get("/api/studies/{study_id}/report.html")
def study_report(request: Request, study_id: int, deidentify: bool = False,
                 user: User = Depends(need("viewer"))) -> Any:
    from fastapi.responses import HTMLResponse

    from ..report import study_report_html

    page = study_report_html(store_of(request), study_id, deidentify=deidentify)
    audit(request, user, "report", "study", study_id, "de-identified" if deidentify else "")
    return HTMLResponse(page, headers={"Content-Disposition": f'attachment; filename="study-{study_id}.html"',
                                       "Content-Security-Policy": "default-src 'none'; img-src data:; "
                                                                  "style-src 'unsafe-inline'"})


@router.get("/api/studies/{study_id}/report.pdf")
def study_report_pdf(request: Request, study_id: int, deidentify: bool = False,
                     user: User = Depends(need("viewer"))) -> Any:
    from fastapi.responses import Response

    from ..pdf import study_report_pdf as make_pdf

    data = make_pdf(store_of(request), study_id, deidentify=deidentify)
    audit(request, user, "report", "study", study_id, "pdf" + (", de-identified" if deidentify else ""))
    return Response(data, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="study-{study_id}.pdf"',
                             "Cache-Control": "no-store"})
