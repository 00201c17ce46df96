from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from biomedai.workflow.models import Job, Result, Study, utcnow
from biomedai.workflow.queue import JobQueue


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def study_id(store):
    with store.session() as s:
        study = Study(uid="sha256:test")
        s.add(study)
        s.flush()
        return study.id


@pytest.fixture
def clock():
    return Clock()


def test_claim_is_exclusive_and_ordered_by_priority(store, study_id, clock):
    q = JobQueue(store, clock=clock)
    low = q.enqueue(study_id, "m", ["a"], priority=0)
    high = q.enqueue(study_id, "m", ["b"], priority=9)
    first, token1 = q.claim("w1")
    second, token2 = q.claim("w2")
    assert (first.id, second.id) == (high, low) and token1 != token2
    assert q.claim("w3") is None
    assert first.status == "running" and first.attempts == 1 and first.worker_id == "w1"


def test_retry_with_exponential_backoff_then_failed(store, study_id, clock):
    q = JobQueue(store, backoff_s=10, clock=clock)
    job_id = q.enqueue(study_id, "m", ["a"], max_attempts=3)
    job, token = q.claim("w")
    assert q.fail(job_id, token, "boom") == "queued"
    assert q.claim("w") is None  # backing off 10 s
    clock.advance(9.9)
    assert q.claim("w") is None
    clock.advance(0.2)
    job, token = q.claim("w")
    assert job.attempts == 2
    assert q.fail(job_id, token, "boom") == "queued"
    clock.advance(19)
    assert q.claim("w") is None  # second back-off is 20 s
    clock.advance(1.1)
    job, token = q.claim("w")
    assert q.fail(job_id, token, "boom again") == "failed"
    with store.session() as s:
        job = s.get(Job, job_id)
        assert job.status == "failed" and "attempt 3: boom again" in job.error and job.finished_at is not None
    assert q.retry(job_id) and q.claim("w") is not None


def test_permanent_error_fails_at_once(store, study_id, clock):
    q = JobQueue(store, clock=clock)
    job_id = q.enqueue(study_id, "m", ["a"], max_attempts=5)
    _, token = q.claim("w")
    assert q.fail(job_id, token, "bad input", retryable=False) == "failed"


def test_expired_lease_requeues_and_old_worker_cannot_complete(store, study_id, clock):
    q = JobQueue(store, lease_s=5, clock=clock)
    job_id = q.enqueue(study_id, "m", ["a"])
    _, old_token = q.claim("dead-worker")
    clock.advance(3)
    assert q.heartbeat(job_id, old_token) == "ok"  # lease now runs to t=8
    clock.advance(4)
    assert q.claim("w2") is None  # still leased
    clock.advance(2)
    job, new_token = q.claim("w2")  # the lease ran out: reaped and claimed again
    assert job.id == job_id and job.attempts == 2 and job.worker_id == "w2"
    assert q.heartbeat(job_id, old_token) == "lost"
    assert not q.complete(job_id, old_token, "out/old", {"priority": 99}, [])
    assert q.complete(job_id, new_token, "out/new", {"findings": [{"label": "x", "severity": "moderate"}]}, ["f"])
    assert not q.complete(job_id, new_token, "out/again", {}, [])  # exactly once
    with store.session() as s:
        results = s.scalars(select(Result)).all()
        assert len(results) == 1 and results[0].output_dir == "out/new" and results[0].priority == 50
        assert s.get(Study, study_id).priority == 50


def test_lease_expiry_on_last_attempt_fails(store, study_id, clock):
    q = JobQueue(store, lease_s=1, clock=clock)
    job_id = q.enqueue(study_id, "m", ["a"], max_attempts=1)
    q.claim("w")
    clock.advance(2)
    assert q.reap() == 1
    with store.session() as s:
        job = s.get(Job, job_id)
        assert job.status == "failed" and "lease expired" in job.error


def test_cancel_queued_and_running(store, study_id, clock):
    q = JobQueue(store, clock=clock)
    queued = q.enqueue(study_id, "m", ["a"])
    running = q.enqueue(study_id, "m", ["b"], priority=1)
    _, token = q.claim("w")
    assert q.cancel(queued) == "cancelled"
    assert q.cancel(running) == "running"
    assert q.heartbeat(running, token) == "cancel"
    q.cancelled(running, token)
    assert q.counts() == {"cancelled": 2}
    assert q.cancel(12345) is None


def test_release_does_not_count_an_attempt(store, study_id, clock):
    q = JobQueue(store, clock=clock)
    job_id = q.enqueue(study_id, "m", ["a"])
    _, token = q.claim("w")
    q.release(job_id, token)
    job, _ = q.claim("w")
    assert job.attempts == 1


def test_concurrent_claims_from_processes_never_share_a_job(store, study_id):
    import multiprocessing as mp

    q = JobQueue(store)
    for i in range(40):
        q.enqueue(study_id, "m", [str(i)])
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ctx.Pool(3) as pool:
        claimed = pool.starmap(_claim_all, [(str(store.data_dir), store.database_url, f"w{i}") for i in range(3)])
    flat = [j for part in claimed for j in part]
    assert sorted(flat) == sorted(set(flat)) and len(flat) == 40
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Job).where(Job.attempts == 1)) == 40


def _claim_all(data_dir: str, url: str, worker: str) -> list[int]:
    from biomedai.workflow.queue import JobQueue
    from biomedai.workflow.store import Store

    q = JobQueue(Store(data_dir, url, create=False))
    got = []
    while (claimed := q.claim(worker)) is not None:
        got.append(claimed[0].id)
    return got
