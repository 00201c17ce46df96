"""The worklist: studies with their status and AI findings, most urgent first."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from .models import Job, StoredFile, Study
from .store import Store


def study_status(job_states: list[str]) -> str:
    """One word for a study from its jobs' states.

    Example:
        >>> study_status(["done", "running"]), study_status(["done", "failed"]), study_status([])
        ('processing', 'failed', 'received')
    """
    if not job_states:
        return "received"
    if any(s in ("queued", "running") for s in job_states):
        return "processing"
    if any(s == "failed" for s in job_states):
        return "failed"
    if all(s == "cancelled" for s in job_states):
        return "cancelled"
    return "done"


def study_summary(study: Study, job_states: list[str], n_files: int) -> dict[str, Any]:
    return {"id": study.id, "uid": study.uid, "patient_id": study.patient_id, "modality": study.modality,
            "body_part": study.body_part, "description": study.description, "source": study.source,
            "priority": study.priority, "findings": study.findings or [], "status": study_status(job_states),
            "jobs": {s: job_states.count(s) for s in sorted(set(job_states))}, "n_files": n_files,
            "created_at": study.created_at.isoformat(timespec="seconds") + "Z"}


def worklist(store: Store, status: str | None = None, modality: str | None = None, min_priority: float | None = None,
             limit: int = 200, offset: int = 0) -> list[dict[str, Any]]:
    """Studies sorted by priority (highest first), then oldest first; optional filters.

    ``status`` filters on :func:`study_status`'s word, ``modality`` on the study's modality
    (case-insensitive), ``min_priority`` on the priority findings gave.
    """
    with store.session() as s:
        query = select(Study).order_by(Study.priority.desc(), Study.created_at, Study.id)
        if modality:
            query = query.where(Study.modality.ilike(modality))
        if min_priority is not None:
            query = query.where(Study.priority >= min_priority)
        studies = s.scalars(query).all()
        ids = [st.id for st in studies]
        states: dict[int, list[str]] = {i: [] for i in ids}
        counts: dict[int, int] = {i: 0 for i in ids}
        if ids:
            for study_id, state in s.execute(select(Job.study_id, Job.status).where(Job.study_id.in_(ids))):
                states[study_id].append(state)
            for (study_id,) in s.execute(select(StoredFile.study_id).where(StoredFile.study_id.in_(ids))):
                counts[study_id] += 1
        rows = [study_summary(st, states[st.id], counts[st.id]) for st in studies]
    if status:
        rows = [r for r in rows if r["status"] == status]
    return rows[offset:offset + limit]
