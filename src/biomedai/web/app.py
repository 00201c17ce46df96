"""The HTTP API of the workflow service (FastAPI); the HTML pages are in :mod:`.pages`.

Every endpoint needs a valid token (``Authorization: Bearer <token>`` or the login cookie)
except ``POST /api/token``, ``GET/POST /login`` and ``GET /healthz``. Roles are ordered
viewer < operator < admin: viewers read, operators upload, run and cancel, admins delete and
manage users. Every read of a study or file and every change is written to the audit log.
Files are served only by database id or when listed in a result, and every path is re-checked
against the storage folder.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy import select

from ..errors import BiomedaiError, ConfigError, InvalidInputError, MethodNotFoundError
from ..workflow.auth import role_allows
from ..workflow.intake import ingest, remove_study, unit_inputs
from ..workflow.models import ROLES, AuditEvent, Job, Result, StoredFile, Study, User
from ..workflow.previews import has_preview
from ..workflow.queue import JobQueue
from ..workflow.routing import Router, kind_accepted
from ..workflow.store import Store
from ..workflow.worklist import study_summary, worklist
from .limits import BodySizeLimit

log = logging.getLogger(__name__)

COOKIE = "biomedai_token"
PUBLIC_PATHS = {"/api/token", "/login", "/healthz"}


class LoginThrottle:
    """At most ``max_failures`` failed logins per user name and per client address in ``window_s``;
    beyond that, logins answer 429 until the window has passed (in memory, per server process)."""

    def __init__(self, max_failures: int = 10, window_s: float = 300.0) -> None:
        import threading

        self.max_failures, self.window_s = max_failures, window_s
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> list[float]:
        times = [t for t in self._failures.get(key, []) if now - t < self.window_s]
        self._failures[key] = times
        return times

    def blocked(self, *keys: str) -> bool:
        import time

        now = time.monotonic()
        with self._lock:
            return any(len(self._recent(k, now)) >= self.max_failures for k in keys)

    def failed(self, *keys: str) -> None:
        import time

        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)
            if len(self._failures) > 100_000:  # bound the memory an attacker can make us use
                self._failures.clear()


class Settings:
    def __init__(self, store: Store, router: Router | None = None, max_upload_bytes: int = 2 * 1024 ** 3,
                 token_ttl_s: float = 8 * 3600, cookie_secure: bool = False,
                 destinations: dict[str, tuple[str, str, int]] | None = None) -> None:
        self.store, self.router = store, router or Router()
        #: PACS that results may be sent to, by name: (AE title, host, port); fixed at start-up
        self.destinations = dict(destinations or {})
        self.max_upload_bytes, self.token_ttl_s, self.cookie_secure = max_upload_bytes, token_ttl_s, cookie_secure
        self.queue = JobQueue(store)
        self.throttle = LoginThrottle()


def token_from(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(COOKIE)


def current_user(request: Request) -> User:
    settings: Settings = request.app.state.settings
    user = getattr(request.state, "user", None)  # AuthGate looked it up already
    if user is None:
        user = settings.store.user_for_token(token_from(request))
    if user is None:
        raise HTTPException(401, "a valid token is required", headers={"WWW-Authenticate": "Bearer"})
    return user


def need(role: str) -> Any:
    def check(user: User = Depends(current_user)) -> User:
        if not role_allows(user.role, role):
            raise HTTPException(403, f"needs the {role} role (you are {user.role})")
        return user
    return check


def client_of(request: Request) -> str:
    return request.client.host if request.client else ""


def audit(request: Request, user: User | None, action: str, object_type: str = "", object_id: Any = "",
          detail: str = "") -> None:
    request.app.state.settings.store.audit(user.username if user else "", action, object_type, object_id, detail,
                                           client_of(request))


def _study_or_404(s: Any, study_id: int) -> Study:
    study = s.get(Study, study_id)
    if study is None:
        raise HTTPException(404, f"no study {study_id}")
    return study


def study_detail(store: Store, study_id: int) -> dict[str, Any]:
    with store.session() as s:
        study = _study_or_404(s, study_id)
        jobs = list(study.jobs)
        files = list(study.files)
        results = s.scalars(select(Result).where(Result.study_id == study_id).order_by(Result.id)).all()
        out = study_summary(study, [j.status for j in jobs], len(files))
        out["files"] = [file_dict(f) for f in files]
        out["jobs"] = [job_dict(j) for j in jobs]
        out["results"] = [result_dict(r) for r in results]
    return out


def file_dict(f: StoredFile) -> dict[str, Any]:
    return {"id": f.id, "name": f.original_name, "size": f.size, "sha256": f.sha256, "format": f.format,
            "kind": f.kind, "modality": f.modality, "body_part": f.body_part, "series_uid": f.series_uid,
            "series_description": f.series_description, "has_preview": has_preview(f.preview),
            "url": f"/api/studies/{f.study_id}/files/{f.id}",
            "preview_url": f"/api/studies/{f.study_id}/files/{f.id}/preview" if has_preview(f.preview) else None}


def job_dict(j: Job) -> dict[str, Any]:
    def iso(t: Any) -> str | None:
        return t.isoformat(timespec="seconds") + "Z" if t else None
    return {"id": j.id, "study_id": j.study_id, "method": j.method, "status": j.status, "priority": j.priority,
            "attempts": j.attempts, "max_attempts": j.max_attempts, "error": j.error,
            "cancel_requested": j.cancel_requested, "created_by": j.created_by, "created_at": iso(j.created_at),
            "started_at": iso(j.started_at), "finished_at": iso(j.finished_at)}


def result_dict(r: Result) -> dict[str, Any]:
    prefix = r.output_dir.rstrip("/") + "/"
    names = [f[len(prefix):] for f in r.files if f.startswith(prefix)]
    return {"id": r.id, "job_id": r.job_id, "study_id": r.study_id, "method": r.method, "metrics": r.metrics,
            "priority": r.priority, "findings": r.findings, "files": names,
            "file_urls": {n: f"/api/results/{r.id}/files/{n}" for n in names},
            "created_at": r.created_at.isoformat(timespec="seconds") + "Z"}


def save_uploads(files: list[UploadFile], folder: Path) -> list[tuple[str, Path]]:
    """Spool uploads to ``folder`` under safe local names; the sender's names are kept for intake."""
    from ..workflow.storage import safe_relative_path

    items = []
    for index, upload in enumerate(files):
        name = upload.filename or ""
        safe_relative_path(name)  # refuses ../ and absolute names before anything is written
        local = folder / f"{index:05d}{Path(name).suffix[:16]}"
        with open(local, "wb") as out:
            shutil.copyfileobj(upload.file, out, 1 << 20)
        items.append((name, local))
    return items


class AuthGate:
    """Refuses every request without a valid token before its body is read (roles are checked per route)."""

    def __init__(self, app: Any, store: Store) -> None:
        self.app, self.store = app, store

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        import anyio
        from starlette.requests import Request as _Request
        from starlette.responses import RedirectResponse

        token = token_from(_Request(scope))
        user = await anyio.to_thread.run_sync(self.store.user_for_token, token)
        if user is None:
            if str(scope.get("path", "")).startswith("/api/"):
                response: Any = JSONResponse({"detail": "a valid token is required"}, status_code=401,
                                             headers={"WWW-Authenticate": "Bearer"})
            else:
                response = RedirectResponse("/login", status_code=303)
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["user"] = user
        await self.app(scope, receive, send)


def create_app(store: Store, router: Router | None = None, max_upload_bytes: int = 2 * 1024 ** 3,
               token_ttl_s: float = 8 * 3600, cookie_secure: bool = False,
               destinations: dict[str, tuple[str, str, int]] | None = None) -> FastAPI:
    """The FastAPI application over ``store``; ``destinations`` are the PACS results may be sent to."""
    app = FastAPI(title="biomedai workflow", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = Settings(store, router, max_upload_bytes, token_ttl_s, cookie_secure, destinations)
    app.add_middleware(AuthGate, store=store)
    app.add_middleware(BodySizeLimit, max_bytes=max_upload_bytes)

    @app.exception_handler(BiomedaiError)
    async def biomedai_error(_request: Request, exc: BiomedaiError) -> JSONResponse:
        status = 404 if isinstance(exc, MethodNotFoundError) else 400
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    def check_login(request: Request, username: str, password: str) -> User | None:
        """The user for these credentials, with failed attempts throttled (429) and audited."""
        throttle = app.state.settings.throttle
        keys = (f"user:{username[:64]}", f"client:{client_of(request)}")
        if throttle.blocked(*keys):
            store.audit(username[:64], "login_throttled", "user", username[:64], client=client_of(request))
            raise HTTPException(429, "too many failed logins; try again in a few minutes")
        user = store.authenticate(username, password)
        if user is None:
            throttle.failed(*keys)
            store.audit(username[:64], "login_failed", "user", username[:64], client=client_of(request))
        return user

    app.state.check_login = check_login

    @app.post("/api/token")
    def login(request: Request, username: str = Form(...), password: str = Form(...)) -> dict[str, Any]:
        user = check_login(request, username, password)
        if user is None:
            raise HTTPException(401, "wrong user name or password")
        token, expires = store.issue_token(user, app.state.settings.token_ttl_s)
        audit(request, user, "login", "user", user.username)
        return {"token": token, "token_type": "bearer", "role": user.role,
                "expires_at": expires.isoformat(timespec="seconds") + "Z"}

    @app.post("/api/logout")
    def logout(request: Request, user: User = Depends(current_user)) -> dict[str, str]:
        store.revoke_token(token_from(request) or "")
        audit(request, user, "logout", "user", user.username)
        return {"status": "logged out"}

    @app.get("/api/me")
    def me(user: User = Depends(current_user)) -> dict[str, Any]:
        return {"username": user.username, "role": user.role}

    @app.get("/api/methods")
    def methods(user: User = Depends(need("viewer"))) -> list[dict[str, Any]]:
        from ..methods.registry import list_methods

        return [m.describe() for m in list_methods()]

    @app.post("/api/studies", status_code=201)
    def upload(request: Request, files: list[UploadFile], methods: str = Form(""), patient_id: str = Form(""),
               user: User = Depends(need("operator"))) -> dict[str, Any]:
        chosen = [m.strip() for m in methods.split(",") if m.strip()] or None
        report = do_upload(request, user, files, chosen, patient_id.strip())
        return report

    def do_upload(request: Request, user: User, files: list[UploadFile], chosen: list[str] | None,
                  patient_id: str = "") -> dict[str, Any]:
        if not files:
            raise HTTPException(400, "no files in the upload")
        if chosen:
            from ..methods.registry import get_method

            for name in chosen:
                get_method(name)
        with tempfile.TemporaryDirectory(prefix="biomedai-upload-") as tmp:
            try:
                items = save_uploads(files, Path(tmp))
            except InvalidInputError as exc:
                audit(request, user, "upload_refused", detail=str(exc))
                raise HTTPException(400, str(exc)) from None
            report = ingest(store, items, router=app.state.settings.router, source="upload",
                            username=user.username, methods=chosen, patient_id=patient_id)
        audit(request, user, "upload", "study", ",".join(map(str, report.studies)),
              f"{len(report.new_files)} new file(s), {len(report.duplicate_files)} duplicate(s), jobs {report.jobs}")
        return report.to_dict()

    app.state.do_upload = do_upload

    @app.get("/api/studies")
    @app.get("/api/worklist")
    def list_studies(request: Request, status: str | None = None, modality: str | None = None,
                     min_priority: float | None = None, limit: int = 200, offset: int = 0,
                     user: User = Depends(need("viewer"))) -> list[dict[str, Any]]:
        rows = worklist(store, status=status, modality=modality, min_priority=min_priority,
                        limit=max(1, min(limit, 1000)), offset=max(0, offset))
        audit(request, user, "list_studies", detail=f"{len(rows)} row(s)")
        return rows

    @app.get("/api/studies/{study_id}")
    def get_study(request: Request, study_id: int, user: User = Depends(need("viewer"))) -> dict[str, Any]:
        detail = study_detail(store, study_id)
        audit(request, user, "view_study", "study", study_id)
        return detail

    @app.delete("/api/studies/{study_id}")
    def delete_study(request: Request, study_id: int, user: User = Depends(need("admin"))) -> dict[str, Any]:
        if not remove_study(store, study_id):
            raise HTTPException(404, f"no study {study_id}")
        audit(request, user, "delete_study", "study", study_id)
        return {"deleted": study_id}

    @app.post("/api/studies/{study_id}/jobs", status_code=201)
    def run_method(request: Request, study_id: int, body: dict[str, Any],
                   user: User = Depends(need("operator"))) -> dict[str, Any]:
        jobs = queue_method(request, user, study_id, str(body.get("method", "")))
        return {"jobs": jobs}

    def queue_method(request: Request, user: User, study_id: int, name: str) -> list[int]:
        from ..methods.registry import get_method

        cls = get_method(name)
        with store.session() as s:
            study = _study_or_404(s, study_id)
            units: dict[str, list[StoredFile]] = {}
            for f in study.files:
                units.setdefault(f.series_uid or f"file-{f.id}", []).append(f)
        jobs = []
        for rows in units.values():
            if kind_accepted(rows[0].kind, cls.input_kinds):
                jobs.append(app.state.settings.queue.enqueue(study_id, name, unit_inputs(store, study_id, rows),
                                                             created_by=user.username))
        if not jobs:
            raise HTTPException(400, f"method {name!r} accepts {list(cls.input_kinds)}; no file of study "
                                     f"{study_id} is of those kinds")
        audit(request, user, "run_method", "study", study_id, f"{name}: jobs {jobs}")
        return jobs

    app.state.queue_method = queue_method

    @app.get("/api/studies/{study_id}/comparison")
    def comparison(request: Request, study_id: int, user: User = Depends(need("viewer"))) -> list[dict[str, Any]]:
        from ..workflow.priors import compare_with_prior

        with store.session() as s:
            _study_or_404(s, study_id)
        audit(request, user, "compare_prior", "study", study_id)
        return compare_with_prior(store, study_id)

    @app.get("/api/studies/{study_id}/report.html")
    def study_report(request: Request, study_id: int, deidentify: bool = False,
                     user: User = Depends(need("viewer"))) -> Any:
        from fastapi.responses import HTMLResponse

        from .report import study_report_html

        page = study_report_html(store, study_id, deidentify=deidentify)
        audit(request, user, "report", "study", study_id, "de-identified" if deidentify else "")
        return HTMLResponse(page, headers={"Content-Disposition": f'attachment; filename="study-{study_id}.html"',
                                           "Content-Security-Policy": "default-src 'none'; img-src data:; "
                                                                      "style-src 'unsafe-inline'"})

    @app.get("/api/studies/{study_id}/report.pdf")
    def study_report_pdf(request: Request, study_id: int, deidentify: bool = False,
                         user: User = Depends(need("viewer"))) -> Any:
        from fastapi.responses import Response

        from .pdf import study_report_pdf as make_pdf

        data = make_pdf(store, study_id, deidentify=deidentify)
        audit(request, user, "report", "study", study_id, "pdf" + (", de-identified" if deidentify else ""))
        return Response(data, media_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="study-{study_id}.pdf"',
                                 "Cache-Control": "no-store"})

    @app.get("/api/jobs")
    def list_jobs(status: str | None = None, study_id: int | None = None, limit: int = 200,
                  user: User = Depends(need("viewer"))) -> list[dict[str, Any]]:
        with store.session() as s:
            query = select(Job).order_by(Job.id.desc()).limit(max(1, min(limit, 1000)))
            if status:
                query = query.where(Job.status == status)
            if study_id is not None:
                query = query.where(Job.study_id == study_id)
            return [job_dict(j) for j in s.scalars(query)]

    @app.get("/api/jobs/{job_id}")
    def get_job(job_id: int, user: User = Depends(need("viewer"))) -> dict[str, Any]:
        with store.session() as s:
            job = s.get(Job, job_id)
            if job is None:
                raise HTTPException(404, f"no job {job_id}")
            return job_dict(job)

    @app.post("/api/jobs/{job_id}/cancel")
    def cancel_job(request: Request, job_id: int, user: User = Depends(need("operator"))) -> dict[str, Any]:
        status = app.state.settings.queue.cancel(job_id)
        if status is None:
            raise HTTPException(404, f"no job {job_id}")
        audit(request, user, "cancel_job", "job", job_id, status)
        return {"id": job_id, "status": status}

    @app.post("/api/jobs/{job_id}/retry")
    def retry_job(request: Request, job_id: int, user: User = Depends(need("operator"))) -> dict[str, Any]:
        if not app.state.settings.queue.retry(job_id):
            raise HTTPException(409, f"job {job_id} is not failed or cancelled")
        audit(request, user, "retry_job", "job", job_id)
        return {"id": job_id, "status": "queued"}

    @app.get("/api/results/{result_id}")
    def get_result(request: Request, result_id: int, user: User = Depends(need("viewer"))) -> dict[str, Any]:
        with store.session() as s:
            result = s.get(Result, result_id)
            if result is None:
                raise HTTPException(404, f"no result {result_id}")
            audit(request, user, "view_result", "result", result_id)
            return result_dict(result)

    @app.get("/api/results/{result_id}/sr.dcm")
    @app.get("/api/results/{result_id}/seg.dcm")
    def result_dicom(request: Request, result_id: int, deidentify: bool = False, dates: str = "remove",
                     user: User = Depends(need("viewer"))) -> Any:
        """The result as a DICOM SR (measurements) or SEG (masks); ``?deidentify=true[&dates=shift]``."""
        from fastapi.responses import Response

        from ..workflow.export import export_objects

        kind = "SEG" if request.url.path.endswith("/seg.dcm") else "SR"
        with store.session() as s:
            if s.get(Result, result_id) is None:
                raise HTTPException(404, f"no result {result_id}")
        data = export_objects(store, result_id, [kind], deidentify=deidentify, dates=dates)[0][0][1]
        audit(request, user, f"export_{kind.lower()}", "result", result_id, "de-identified" if deidentify else "")
        name = f"result-{result_id}-{kind.lower()}{'-deid' if deidentify else ''}.dcm"
        return Response(data, media_type="application/dicom",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @app.post("/api/results/{result_id}/send")
    def send_result(request: Request, result_id: int, body: dict[str, Any],
                    user: User = Depends(need("operator"))) -> dict[str, Any]:
        """Send the result's DICOM SR (and SEG when it has masks) to a configured PACS (only names fixed at
        start-up: no open relay). Body: ``{"destination": NAME, "objects": ["SR", "SEG"]?, "deidentify": bool?,
        "dates": "remove"|"shift"?}``."""
        from ..workflow.export import export_objects, send_dicom

        name = str(body.get("destination", ""))
        target = app.state.settings.destinations.get(name)
        if target is None:
            raise HTTPException(400, f"unknown destination {name!r} (configured: "
                                     f"{', '.join(sorted(app.state.settings.destinations)) or 'none'})")
        with store.session() as s:
            if s.get(Result, result_id) is None:
                raise HTTPException(404, f"no result {result_id}")
        chosen = body.get("objects")
        if chosen is not None and not isinstance(chosen, list):
            raise HTTPException(400, "objects: a list such as [\"SR\", \"SEG\"]")
        deidentify = str(body.get("deidentify", False)).lower() in ("1", "true", "yes")
        objects, skipped = export_objects(store, result_id, chosen, deidentify=deidentify,
                                          dates=str(body.get("dates", "remove")))
        sent = [{"kind": kind, "status": send_dicom(data, *target)} for kind, data in objects]
        audit(request, user, "send_sr", "result", result_id, f"{'+'.join(k for k, _ in objects)} to {name} "
              f"({target[0]}@{target[1]}:{target[2]}){' de-identified' if deidentify else ''}")
        return {"sent": result_id, "destination": name, "status": max(o["status"] for o in sent), "objects": sent,
                "skipped": skipped, "deidentified": deidentify}

    @app.get("/api/results/{result_id}/files/{name:path}")
    def result_file(request: Request, result_id: int, name: str, user: User = Depends(need("viewer"))) -> Any:
        with store.session() as s:
            result = s.get(Result, result_id)
            if result is None:
                raise HTTPException(404, f"no result {result_id}")
            wanted = f"{result.output_dir.rstrip('/')}/{name}"
            if wanted not in result.files:  # only files the result lists; no path arithmetic on user input
                raise HTTPException(404, f"result {result_id} has no file {name!r}")
        audit(request, user, "view_file", "result", result_id, name)
        return FileResponse(store.storage.resolve(wanted))

    @app.get("/api/studies/{study_id}/files/{file_id}")
    def study_file(request: Request, study_id: int, file_id: int, user: User = Depends(need("viewer"))) -> Any:
        return _stored_file(request, user, study_id, file_id, preview=False)

    @app.get("/api/studies/{study_id}/files/{file_id}/preview")
    def study_preview(request: Request, study_id: int, file_id: int, user: User = Depends(need("viewer"))) -> Any:
        return _stored_file(request, user, study_id, file_id, preview=True)

    @app.get("/api/studies/{study_id}/files/{file_id}/render")
    def render(request: Request, study_id: int, file_id: int, center: float | None = None,
               width: float | None = None, slice: int | None = None,
               user: User = Depends(need("viewer"))) -> Any:
        """A PNG of a grey image or volume with a window (centre/width, e.g. CT 40/400) and a slice."""
        import io

        import numpy as np
        from fastapi.responses import Response

        from ..io import read_image
        from ..viz import save_png, to_display
        from ..workflow.previews import PREVIEW_MAX_BYTES

        with store.session() as s:
            row = s.get(StoredFile, file_id)
            if row is None or row.study_id != study_id:
                raise HTTPException(404, f"study {study_id} has no file {file_id}")
            kind, rel, size = row.kind, row.path, row.size
        if not (kind.startswith(("dicom/", "volume/")) or kind == "image/grey") or size > PREVIEW_MAX_BYTES:
            raise HTTPException(400, f"file {file_id} ({kind}) cannot be windowed here; use its preview")
        if (center is None) != (width is None) or (width is not None and width <= 0):
            raise HTTPException(400, "give both center and width (> 0), or neither")
        image = read_image(store.storage.resolve(rel))
        array = np.asarray(image.array)
        rgb = image.channel_axis is not None
        if array.ndim - (1 if rgb else 0) > 2:
            index = array.shape[0] // 2 if slice is None else slice
            if not 0 <= index < array.shape[0]:
                raise HTTPException(400, f"slice {index} is outside 0..{array.shape[0] - 1}")
            if not rgb:
                from ..io.image import Image as _Image

                image = _Image(array[index], metadata=dict(image.metadata))
        picture = to_display(image, window=(center, width) if center is not None else None)
        with tempfile.TemporaryDirectory() as tmp:
            data = save_png(picture, Path(tmp) / "render.png").read_bytes()
        audit(request, user, "view_file", "file", file_id, f"render center={center} width={width} slice={slice}")
        return Response(io.BytesIO(data).getvalue(), media_type="image/png", headers={"Cache-Control": "no-store"})

    def _stored_file(request: Request, user: User, study_id: int, file_id: int, preview: bool) -> Any:
        with store.session() as s:
            row = s.get(StoredFile, file_id)
            if row is None or row.study_id != study_id or (preview and not has_preview(row.preview)):
                raise HTTPException(404, f"study {study_id} has no {'preview of ' if preview else ''}file {file_id}")
            rel, name = (row.preview, f"{Path(row.original_name).stem}.png") if preview else (row.path,
                                                                                             row.original_name)
        audit(request, user, "view_file", "file", file_id, "preview" if preview else "original")
        return FileResponse(store.storage.resolve(rel), filename=None if preview else Path(name).name)

    @app.get("/api/users")
    def list_users(user: User = Depends(need("admin"))) -> list[dict[str, Any]]:
        with store.session() as s:
            return [{"id": u.id, "username": u.username, "role": u.role, "active": u.active}
                    for u in s.scalars(select(User).order_by(User.id))]

    @app.post("/api/users", status_code=201)
    def add_user(request: Request, body: dict[str, Any], user: User = Depends(need("admin"))) -> dict[str, Any]:
        role = str(body.get("role", "viewer"))
        if role not in ROLES:
            raise ConfigError(f"role {role!r} is not one of {', '.join(ROLES)}")
        new = store.create_user(str(body.get("username", "")), str(body.get("password", "")), role)
        audit(request, user, "add_user", "user", new.username, role)
        return {"id": new.id, "username": new.username, "role": new.role}

    @app.get("/api/audit")
    def audit_log(limit: int = 200, user: User = Depends(need("admin"))) -> list[dict[str, Any]]:
        with store.session() as s:
            rows = s.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(max(1, min(limit, 5000))))
            return [{"time": e.time.isoformat(timespec="seconds") + "Z", "username": e.username, "action": e.action,
                     "object_type": e.object_type, "object_id": e.object_id, "detail": e.detail, "client": e.client}
                    for e in rows]

    from .pages import add_pages
    from .stow import add_stow
    from .tiles import add_tile_routes

    add_pages(app)
    add_stow(app)
    add_tile_routes(app)
    return app
