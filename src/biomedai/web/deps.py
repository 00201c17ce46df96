"""What every router of the service shares: the token, the user and role checks, the audit log, the
lookups that answer 404, and the JSON shapes of studies, files, jobs and results."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Depends, HTTPException, Request
from sqlalchemy import select

from ..workflow.auth import role_allows
from ..workflow.models import Job, Result, RouteNote, StoredFile, Study, User
from ..workflow.previews import has_preview
from ..workflow.store import Store
from ..workflow.worklist import study_summary

COOKIE = "biomedai_token"
PUBLIC_PATHS = {"/api/token", "/login", "/healthz"}


def settings_of(request: Request) -> Any:
    """The :class:`~biomedai.web.app.Settings` of the application serving ``request``."""
    return request.app.state.settings


def store_of(request: Request) -> Store:
    return request.app.state.settings.store


def token_from(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(COOKIE)


def current_user(request: Request) -> User:
    settings = settings_of(request)
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
    store_of(request).audit(user.username if user else "", action, object_type, object_id, detail,
                            client_of(request))


def study_or_404(s: Any, study_id: int) -> Study:
    study = s.get(Study, study_id)
    if study is None:
        raise HTTPException(404, f"no study {study_id}")
    return study


def study_detail(store: Store, study_id: int) -> dict[str, Any]:
    with store.session() as s:
        study = study_or_404(s, study_id)
        jobs = list(study.jobs)
        files = list(study.files)
        results = s.scalars(select(Result).where(Result.study_id == study_id).order_by(Result.id)).all()
        out = study_summary(study, [j.status for j in jobs], len(files))
        out["files"] = [file_dict(f) for f in files]
        out["jobs"] = [job_dict(j) for j in jobs]
        out["results"] = [result_dict(r) for r in results]
        notes = s.scalars(select(RouteNote).where(RouteNote.study_id == study_id).order_by(RouteNote.id)).all()
        out["routing"] = [{"method": n.method, "status": n.status, "reason": n.reason,
                           "input": n.input.rsplit("/", 1)[-1]} for n in notes]
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


#: A served file may show itself and nothing else: no script, no frame, no request elsewhere.
FILE_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"
_INLINE_TYPES = (".png", ".jpg", ".jpeg", ".gif", ".webp")


def file_headers(name: str, inline: bool | None = None) -> dict[str, str]:
    """The headers every served file gets: no type sniffing, a closed content-security policy, and a
    ``Content-Disposition`` (pictures inline so that pages can show them, everything else as a download)."""
    from urllib.parse import quote

    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in Path(name).name)[:120] or "file"
    show = inline if inline is not None else safe.lower().endswith(_INLINE_TYPES)
    disposition = f"{'inline' if show else 'attachment'}; filename=\"{safe}\"; filename*=UTF-8''{quote(Path(name).name)}"
    return {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": FILE_CSP,
            "Content-Disposition": disposition, "Cache-Control": "no-store"}


def file_response(path: Path, name: str, inline: bool | None = None) -> Any:
    from fastapi.responses import FileResponse

    return FileResponse(path, headers=file_headers(name, inline))
