"""Real worker processes: end to end, SIGKILL recovery, timeout, cancel, retry."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from biomedai.workflow.intake import ingest
from biomedai.workflow.models import Job, Result
from biomedai.workflow.queue import JobQueue
from biomedai.workflow.routing import Router
from biomedai.workflow.worker import Worker
from biomedai.workflow.worklist import worklist

from .conftest import WF_METHODS, make_png

#: a hung worker or service must fail the test, not stall the run
pytestmark = pytest.mark.timeout(90)


def _route(method: str) -> Router:
    return Router.from_data({"rules": [{"match": {}, "methods": [method]}]})


def _start_worker(store, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "biomedai.workflow.worker", "--data-dir", str(store.data_dir),
               "--database-url", store.database_url,
               "--import", WF_METHODS, "--lease-s", "1.5", "--poll-s", "0.1", "--backoff-s", "0.2", *extra]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _job(store, job_id: int) -> Job:
    with store.session() as s:
        return s.get(Job, job_id)


def _markers(tag: str) -> int:
    folder = Path(os.environ["WF_TEST_DIR"]) / tag
    return len(list(folder.iterdir())) if folder.exists() else 0


def test_end_to_end_worker_and_worklist_order(store, tmp_path, wf_methods):
    dark = ingest(store, [("dark.png", make_png(tmp_path / "dark.png", value=60))], router=_route("wf_brightness"))
    bright = ingest(store, [("bright.png", make_png(tmp_path / "bright.png", value=220, seed=1))],
                    router=_route("wf_brightness"))
    # (worker processes of their own: the SIGKILL test below and tests/web/test_browser.py)
    assert Worker(store, poll_s=0.1, imports=[WF_METHODS]).run(max_jobs=2) == 2
    rows = worklist(store)
    assert [r["id"] for r in rows] == [bright.studies[0], dark.studies[0]]
    assert rows[0]["priority"] == 75 and rows[0]["status"] == "done" and rows[1]["priority"] == 25
    assert rows[0]["findings"][0]["method"] == "wf_brightness"
    with store.session() as s:
        result = s.scalar(select(Result).where(Result.study_id == bright.studies[0]))
        assert result.metrics["mean"] > 150
        assert any(f.endswith("_mask.png") for f in result.files)
        for rel in result.files:
            assert store.storage.resolve(rel).is_file()
    assert worklist(store, status="done", min_priority=50)[0]["id"] == bright.studies[0]


def test_worker_sigkill_mid_job_job_runs_again_and_result_is_stored_once(store, tmp_path, wf_methods,
                                                                         monkeypatch):
    monkeypatch.setenv("WF_SLEEP_S", "1.5")
    report = ingest(store, [("a.png", make_png(tmp_path / "a.png"))], router=_route("wf_slow"))
    job_id = report.jobs[0]
    first = _start_worker(store)
    try:
        _wait(lambda: _markers("wf_slow_started") == 1, 20, "the first attempt to start")
        assert _job(store, job_id).status == "running"
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        first.kill()
    second = _start_worker(store, "--max-jobs", "1")
    try:
        assert second.wait(timeout=40) == 0, second.stderr.read().decode()[-2000:]
    finally:
        second.kill()
    job = _job(store, job_id)
    assert job.status == "done" and job.attempts == 2
    assert _markers("wf_slow_started") == 2
    assert _markers("wf_slow") == 1  # the killed attempt's child died with its worker, it never finished
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Result)) == 1
        assert s.scalar(select(Result.output_dir)).endswith("attempt-2")


def test_timeout_kills_the_run(store, tmp_path, wf_methods, monkeypatch):
    monkeypatch.setenv("WF_SLEEP_S", "30")
    report = ingest(store, [("a.png", make_png(tmp_path / "a.png"))], router=_route("wf_slow"), timeout_s=1.0,
                    max_attempts=1)
    worker = Worker(store, lease_s=3, poll_s=0.1, imports=[WF_METHODS])
    started = time.monotonic()
    assert worker.run(max_jobs=1) == 1
    assert time.monotonic() - started < 10
    job = _job(store, report.jobs[0])
    assert job.status == "failed" and "timed out after 1 s" in job.error


def test_cancel_stops_a_running_job(store, tmp_path, wf_methods, monkeypatch):
    monkeypatch.setenv("WF_SLEEP_S", "30")
    report = ingest(store, [("a.png", make_png(tmp_path / "a.png"))], router=_route("wf_slow"))
    worker = Worker(store, lease_s=0.6, poll_s=0.1, imports=[WF_METHODS])
    thread = threading.Thread(target=worker.run, kwargs={"max_jobs": 1}, daemon=True)
    thread.start()
    _wait(lambda: _job(store, report.jobs[0]).status == "running", 20, "the job to start")
    assert JobQueue(store).cancel(report.jobs[0]) == "running"
    thread.join(timeout=20)
    assert not thread.is_alive()
    assert _job(store, report.jobs[0]).status == "cancelled"


def test_transient_failure_is_retried_after_backoff(store, tmp_path, wf_methods, monkeypatch):
    monkeypatch.setenv("WF_FAIL_TIMES", "1")
    report = ingest(store, [("a.png", make_png(tmp_path / "a.png"))], router=_route("wf_flaky"))
    worker = Worker(store, lease_s=5, poll_s=0.1, backoff_s=0.1, imports=[WF_METHODS])
    assert worker.run(max_jobs=2) == 2
    job = _job(store, report.jobs[0])
    assert job.status == "done" and job.attempts == 2 and job.error == ""
    assert "transient failure" in (store.storage.resolve(
        f"results/study-{job.study_id}/job-{job.id}/attempt-1/job.log")).read_text()


def test_bad_input_fails_without_retry(store, tmp_path, wf_methods):
    import numpy as np
    from PIL import Image

    flat = tmp_path / "flat.png"
    Image.fromarray(np.full((8, 8), 7, np.uint8)).save(flat)
    report = ingest(store, [("flat.png", flat)], router=_route("wf_brightness"))
    worker = Worker(store, lease_s=5, poll_s=0.1, imports=[WF_METHODS])
    worker.run(max_jobs=1)
    job = _job(store, report.jobs[0])
    assert job.status == "failed" and job.attempts == 1 and "flat image" in job.error


def test_rule_options_reach_the_method(store, tmp_path, wf_methods):
    import json

    router = Router.from_data({"rules": [{"methods": [{"name": "wf_brightness", "config": {"seed": 5}}]}]})
    report = ingest(store, [("a.png", make_png(tmp_path / "a.png"))], router=router)
    Worker(store, poll_s=0.1, imports=[WF_METHODS]).run(max_jobs=1)
    job = _job(store, report.jobs[0])
    assert job.status == "done", job.error
    result = store.storage.resolve(f"results/study-{job.study_id}/job-{job.id}/attempt-1/result.json")
    assert json.loads(result.read_text())["provenance"]["config"]["seed"] == 5
