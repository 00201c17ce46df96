"""Worker processes: claim a job, run its method in a child process, store the result.

    python -m biomedai.workflow.worker --data-dir DATA [--database-url URL] [--import PLUGIN]...

Each job attempt writes into its own folder ``storage/results/study-<s>/job-<j>/attempt-<n>/``,
so a killed attempt never mixes files with the next one; only the attempt whose completion wins
the lease (:meth:`JobQueue.complete`) is recorded as the job's result. While the child runs the
worker heartbeats the lease, stops the child on cancellation or timeout, and on SIGTERM stops it
and hands the job back to the queue. On Linux the child is killed with its worker (PDEATHSIG).
Run more workers (``biomedai serve --workers N``, or this module on other machines pointing at
the same PostgreSQL database and shared storage folder) to process more jobs at once.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .children import die_with_parent, die_with_parent_env
from .models import Job
from .queue import JobQueue
from .store import Store

log = logging.getLogger(__name__)


def _kill(child: subprocess.Popen) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        child.kill()
    child.wait()


def _read_metrics(output_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((output_dir / "result.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    metrics = data.get("metrics") if isinstance(data, dict) else None
    return metrics if isinstance(metrics, dict) else {}


def _log_tail(path: Path, n: int = 2000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-n:].strip()
    except OSError:
        return ""


class Worker:
    """One worker loop over a store's queue."""

    def __init__(self, store: Store, worker_id: str | None = None, lease_s: float = 30.0, poll_s: float = 1.0,
                 backoff_s: float = 5.0, imports: Sequence[str] = (), methods: Sequence[str] | None = None) -> None:
        self.store = store
        self.queue = JobQueue(store, lease_s=lease_s, backoff_s=backoff_s)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        self.poll_s, self.imports, self.methods = poll_s, list(imports), methods
        self.stopping = False

    def stop(self, *_: Any) -> None:
        self.stopping = True

    def run(self, max_jobs: int | None = None, idle_exit_s: float | None = None) -> int:
        """Process jobs until stopped (or ``max_jobs`` done, or idle for ``idle_exit_s``); returns jobs run."""
        done, idle_since = 0, time.monotonic()
        while not self.stopping and (max_jobs is None or done < max_jobs):
            if self.make_previews():  # first: a user waits for the pictures of what they uploaded
                idle_since = time.monotonic()
            claimed = self.queue.claim(self.worker_id, self.methods)
            if claimed is None:
                if idle_exit_s is not None and time.monotonic() - idle_since > idle_exit_s:
                    break
                time.sleep(self.poll_s)
                continue
            self.run_job(*claimed)
            done += 1
            idle_since = time.monotonic()
        return done

    def make_previews(self) -> int:
        """Make pending previews (in a child under memory and time caps); returns how many were claimed."""
        from .previews import claim_pending, previews_in_child

        ids = claim_pending(self.store, self.worker_id)
        previews_in_child(self.store, ids, database_url=self.store.database_url)
        return len(ids)

    def run_job(self, job: Job, token: str) -> str:
        """Run one claimed job to its end; returns what became of it."""
        storage = self.store.storage
        out_rel = f"results/study-{job.study_id}/job-{job.id}/attempt-{job.attempts}"
        output = storage.resolve(out_rel)
        if output.exists():
            storage.remove_tree(out_rel)
        output.mkdir(parents=True)
        try:
            inputs = [str(storage.resolve(p)) for p in job.inputs]
        except Exception as exc:  # noqa: BLE001 - a bad stored path is permanent
            return self.queue.fail(job.id, token, f"bad input path: {exc}", retryable=False)
        command = [sys.executable, "-m", "biomedai.workflow.runjob", "--method", job.method, "--output", str(output)]
        for plugin in self.imports:
            command += ["--import", plugin]
        options = job.options or {}
        if options.get("weights"):
            command += ["--weights", str(options["weights"])]
        if options.get("config"):
            command += ["--config-json", json.dumps(options["config"])]
        command += ["--", *inputs]
        log.info("job %s: %s on %s (attempt %s)", job.id, job.method, job.inputs, job.attempts)
        with open(output / "job.log", "wb") as log_file:
            # its own session (so _kill reaches its whole group) and SIGKILL when this worker dies, which the
            # child asks for itself after exec: no preexec_fn runs Python between fork and exec
            child = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True, env=die_with_parent_env(signal.SIGKILL))
            started = time.monotonic()
            beat_every = max(0.2, self.queue.lease_s / 3)
            last_beat = started
            while child.poll() is None:
                time.sleep(0.1)
                if self.stopping:
                    _kill(child)
                    self.queue.release(job.id, token)
                    return "released"
                if time.monotonic() - started > job.timeout_s:
                    _kill(child)
                    return self.queue.fail(job.id, token, f"timed out after {job.timeout_s:g} s")
                if time.monotonic() - last_beat >= beat_every:
                    last_beat = time.monotonic()
                    beat = self.queue.heartbeat(job.id, token)
                    if beat == "cancel":
                        _kill(child)
                        self.queue.cancelled(job.id, token)
                        return "cancelled"
                    if beat == "lost":
                        _kill(child)
                        return "lost"
        if child.returncode != 0:
            tail = _log_tail(output / "job.log").replace(f"{storage.root}/", "")  # no server paths for users
            return self.queue.fail(job.id, token, f"exit code {child.returncode}: {tail[-1500:]}",
                                   retryable=child.returncode != 2)
        files = [f for f in storage.files_under(out_rel)]
        ok = self.queue.complete(job.id, token, out_rel, _read_metrics(output), files)
        if ok:
            self.make_dicom_objects(job.id)
        return "done" if ok else "lost"

    def make_dicom_objects(self, job_id: int) -> None:
        """Write the finished job's DICOM SR/SEG for DICOMweb now, so the viewer need not wait for them."""
        from sqlalchemy import select

        from .dicom_index import index_result
        from .models import Result

        try:
            with self.store.session() as s:
                result_id = s.scalars(select(Result.id).where(Result.job_id == job_id)).first()
            if result_id is not None:
                index_result(self.store, result_id)
        except Exception:
            log.exception("job %s: DICOM SR/SEG for DICOMweb not made", job_id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m biomedai.workflow.worker", description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--database-url")
    parser.add_argument("--worker-id")
    parser.add_argument("--lease-s", type=float, default=30.0)
    parser.add_argument("--poll-s", type=float, default=1.0)
    parser.add_argument("--backoff-s", type=float, default=5.0)
    parser.add_argument("--max-jobs", type=int)
    parser.add_argument("--idle-exit-s", type=float)
    parser.add_argument("--import", dest="imports", action="append", default=[],
                        help="module or .py file that registers extra methods (repeatable)")
    args = parser.parse_args(argv)
    die_with_parent()  # started by `biomedai serve`: SIGTERM (hand the job back) when the server dies
    os.umask(0o077)  # results hold patient data: owner only
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(process)d %(levelname)s: %(message)s")
    from .runjob import import_plugin

    for plugin in args.imports:
        import_plugin(plugin)
    worker = Worker(Store(args.data_dir, args.database_url), worker_id=args.worker_id, lease_s=args.lease_s,
                    poll_s=args.poll_s, backoff_s=args.backoff_s, imports=args.imports)
    signal.signal(signal.SIGTERM, worker.stop)
    signal.signal(signal.SIGINT, worker.stop)
    worker.run(max_jobs=args.max_jobs, idle_exit_s=args.idle_exit_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
