"""Jobs: list, one job, cancel, retry."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from sqlalchemy import select

from ...workflow.models import Job, User
from ..deps import audit, job_dict, need, settings_of, store_of

router = APIRouter()


@router.get("/api/jobs")
def list_jobs(request: Request, status: str | None = None, study_id: int | None = None, limit: int = 200,
              user: User = Depends(need("viewer"))) -> list[dict[str, Any]]:
    from .studies import DB_INT_MAX

    if study_id is not None and not -DB_INT_MAX <= study_id <= DB_INT_MAX:
        return []  # no study has such an id
    with store_of(request).session() as s:
        query = select(Job).order_by(Job.id.desc()).limit(max(1, min(limit, 1000)))
        if status:
            query = query.where(Job.status == status)
        if study_id is not None:
            query = query.where(Job.study_id == study_id)
        return [job_dict(j) for j in s.scalars(query)]


@router.get("/api/jobs/{job_id}")
def get_job(request: Request, job_id: int, user: User = Depends(need("viewer"))) -> dict[str, Any]:
    with store_of(request).session() as s:
        job = s.get(Job, job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id}")
        return job_dict(job)


@router.post("/api/jobs/{job_id}/cancel")
def cancel_job(request: Request, job_id: int, user: User = Depends(need("operator"))) -> dict[str, Any]:
    status = settings_of(request).queue.cancel(job_id)
    if status is None:
        raise HTTPException(404, f"no job {job_id}")
    audit(request, user, "cancel_job", "job", job_id, status)
    return {"id": job_id, "status": status}


@router.post("/api/jobs/{job_id}/retry")
def retry_job(request: Request, job_id: int, user: User = Depends(need("operator"))) -> dict[str, Any]:
    if not settings_of(request).queue.retry(job_id):
        raise HTTPException(409, f"job {job_id} is not failed or cancelled")
    audit(request, user, "retry_job", "job", job_id)
    return {"id": job_id, "status": "queued"}
