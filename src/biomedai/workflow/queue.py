"""The durable job queue: the ``jobs`` table, claimed with leases by worker processes.

Life of a job::

    queued --claim--> running --complete--> done
       ^                 |  \--fail (attempts left)--> queued, not_before = now + back-off
       |                 |  \--fail (no attempts left) / cancel--> failed / cancelled
       \---lease expired (worker died)---/

* **claim** is one conditional ``UPDATE ... WHERE id = ? AND status = 'queued'``; only the worker
  whose update hit a row owns the job. Each claim gets a fresh ``lease_token``.
* A worker **heartbeats** to extend ``lease_until``; a job whose lease has run out (its worker was
  killed) goes back to ``queued`` (or ``failed`` once ``max_attempts`` are used) in :meth:`reap`.
* **complete** stores the :class:`~biomedai.workflow.models.Result` and marks the job done in one
  transaction, only if the caller still holds the lease; ``results.job_id`` is unique, so a
  result is stored exactly once even if a presumed-dead worker comes back.
* **back-off** after a failure is ``backoff_s * 2 ** (attempts - 1)``, capped at ``max_backoff_s``.
* **cancel** ends a queued job at once; a running one gets ``cancel_requested`` and its worker
  stops it at the next heartbeat.
"""
from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from .findings import read_findings
from .models import Job, Result, Study, utcnow
from .store import Store


class JobQueue:
    """Queue operations on a :class:`Store`; ``clock`` is injectable for tests."""

    def __init__(self, store: Store, lease_s: float = 30.0, backoff_s: float = 5.0, max_backoff_s: float = 600.0,
                 clock: Callable[[], _dt.datetime] = utcnow) -> None:
        self.store, self.lease_s, self.backoff_s, self.max_backoff_s, self.clock = (
            store, lease_s, backoff_s, max_backoff_s, clock)

    # --- producer side -------------------------------------------------------------------------
    def enqueue(self, study_id: int, method: str, inputs: Sequence[str], priority: int = 0, max_attempts: int = 3,
                timeout_s: float = 3600.0, created_by: str = "", options: dict[str, Any] | None = None) -> int:
        with self.store.session() as s:
            job = Job(study_id=study_id, method=method, inputs=list(inputs), options=dict(options or {}),
                      priority=priority,
                      max_attempts=max(1, max_attempts), timeout_s=timeout_s, created_by=created_by,
                      not_before=self.clock(), created_at=self.clock())
            s.add(job)
            s.flush()
            return job.id

    def cancel(self, job_id: int) -> str | None:
        """Cancel a job; returns its status afterwards (``None`` when there is no such job)."""
        now = self.clock()
        with self.store.session() as s:
            hit = s.execute(update(Job).where(Job.id == job_id, Job.status == "queued")
                            .values(status="cancelled", finished_at=now, error="cancelled")).rowcount
            if not hit:
                s.execute(update(Job).where(Job.id == job_id, Job.status == "running").values(cancel_requested=True))
            job = s.get(Job, job_id)
            return None if job is None else job.status

    def retry(self, job_id: int) -> bool:
        """Put a failed or cancelled job back in the queue with a fresh attempt budget."""
        with self.store.session() as s:
            return bool(s.execute(update(Job).where(Job.id == job_id, Job.status.in_(("failed", "cancelled")))
                                  .values(status="queued", attempts=0, error="", not_before=self.clock(),
                                          cancel_requested=False, finished_at=None)).rowcount)

    # --- worker side ---------------------------------------------------------------------------
    def reap(self) -> int:
        """Requeue (or fail) running jobs whose lease ran out; returns how many were touched."""
        now = self.clock()
        touched = 0
        with self.store.session() as s:
            stale = s.scalars(select(Job).where(Job.status == "running", Job.lease_until < now)).all()
            for job in stale:
                if job.cancel_requested:
                    values: dict[str, Any] = {"status": "cancelled", "finished_at": now, "error": "cancelled"}
                elif job.attempts >= job.max_attempts:
                    values = {"status": "failed", "finished_at": now,
                              "error": f"worker {job.worker_id} stopped answering (lease expired) "
                                       f"on the last of {job.max_attempts} attempts"}
                else:
                    values = {"status": "queued", "not_before": now,
                              "error": f"attempt {job.attempts}: worker {job.worker_id} stopped answering"}
                values.update(lease_until=None, lease_token=None, worker_id=None)
                touched += s.execute(update(Job).where(Job.id == job.id, Job.status == "running",
                                                       Job.lease_token == job.lease_token).values(**values)).rowcount
        return touched

    def claim(self, worker_id: str, methods: Sequence[str] | None = None) -> tuple[Job, str] | None:
        """Take the most urgent ready job: ``(job, lease_token)``, or ``None`` when none is ready."""
        self.reap()
        now = self.clock()
        for _ in range(5):
            with self.store.session() as s:
                query = (select(Job.id).join(Study, Study.id == Job.study_id)
                         .where(Job.status == "queued", Job.not_before <= now)
                         .order_by(Job.priority.desc(), Study.priority.desc(), Job.id).limit(1))
                if methods:
                    query = query.where(Job.method.in_(list(methods)))
                job_id = s.scalar(query)
                if job_id is None:
                    return None
                token = uuid.uuid4().hex
                hit = s.execute(update(Job).where(Job.id == job_id, Job.status == "queued").values(
                    status="running", worker_id=worker_id, lease_token=token, attempts=Job.attempts + 1,
                    lease_until=now + _dt.timedelta(seconds=self.lease_s), started_at=now)).rowcount
                if hit:
                    s.flush()
                    job = s.get(Job, job_id)
                    s.refresh(job)
                    return job, token
        return None

    def heartbeat(self, job_id: int, lease_token: str) -> str:
        """Extend the lease: ``'ok'``, ``'cancel'`` (stop the run) or ``'lost'`` (someone else owns it)."""
        now = self.clock()
        with self.store.session() as s:
            hit = s.execute(update(Job).where(Job.id == job_id, Job.status == "running",
                                              Job.lease_token == lease_token)
                            .values(lease_until=now + _dt.timedelta(seconds=self.lease_s))).rowcount
            if not hit:
                return "lost"
            job = s.get(Job, job_id)
            return "cancel" if job is not None and job.cancel_requested else "ok"

    def complete(self, job_id: int, lease_token: str, output_dir: str, metrics: dict[str, Any],
                 files: Sequence[str]) -> bool:
        """Store the result and mark the job done, once; ``False`` if the lease was lost."""
        now = self.clock()
        priority, findings = read_findings(metrics)
        try:
            with self.store.session() as s:
                hit = s.execute(update(Job).where(Job.id == job_id, Job.status == "running",
                                                  Job.lease_token == lease_token)
                                .values(status="done", finished_at=now, lease_until=None, error="")).rowcount
                if not hit:
                    s.rollback()
                    return False
                job = s.get(Job, job_id)
                s.add(Result(job_id=job_id, study_id=job.study_id, method=job.method, output_dir=output_dir,
                             metrics=metrics, files=list(files), priority=priority, findings=findings,
                             created_at=now))
                study = s.get(Study, job.study_id)
                if study is not None and priority > study.priority:
                    study.priority = priority
                if study is not None and findings:
                    study.findings = list(study.findings or []) + [dict(f, method=job.method) for f in findings]
        except IntegrityError:
            return False
        return True

    def fail(self, job_id: int, lease_token: str, error: str, retryable: bool = True) -> str:
        """Record a failed attempt; returns the new status (``queued`` for a retry, ``failed``, ``lost``)."""
        now = self.clock()
        with self.store.session() as s:
            job = s.scalar(select(Job).where(Job.id == job_id, Job.status == "running",
                                             Job.lease_token == lease_token))
            if job is None:
                return "lost"
            if job.cancel_requested:
                status, values = "cancelled", {"finished_at": now}
            elif retryable and job.attempts < job.max_attempts:
                delay = min(self.max_backoff_s, self.backoff_s * 2 ** max(0, job.attempts - 1))
                status, values = "queued", {"not_before": now + _dt.timedelta(seconds=delay)}
            else:
                status, values = "failed", {"finished_at": now}
            s.execute(update(Job).where(Job.id == job_id, Job.lease_token == lease_token).values(
                status=status, error=f"attempt {job.attempts}: {error}"[:4000], lease_until=None,
                lease_token=None, worker_id=None, **values))
            return status

    def cancelled(self, job_id: int, lease_token: str) -> None:
        """The worker stopped a run because of a cancel request."""
        with self.store.session() as s:
            s.execute(update(Job).where(Job.id == job_id, Job.lease_token == lease_token).values(
                status="cancelled", finished_at=self.clock(), error="cancelled while running",
                lease_until=None, lease_token=None))

    def release(self, job_id: int, lease_token: str) -> None:
        """Hand a job back untouched (its worker is shutting down): the attempt does not count."""
        with self.store.session() as s:
            s.execute(update(Job).where(Job.id == job_id, Job.status == "running", Job.lease_token == lease_token)
                      .values(status="queued", attempts=Job.attempts - 1, not_before=self.clock(),
                              lease_until=None, lease_token=None, worker_id=None))

    def counts(self) -> dict[str, int]:
        with self.store.session() as s:
            rows = s.execute(select(Job.status)).scalars().all()
        out: dict[str, int] = {}
        for status in rows:
            out[status] = out.get(status, 0) + 1
        return out


