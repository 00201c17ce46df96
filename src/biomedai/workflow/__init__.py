"""The AI-assisted imaging workflow service: store, intake, routing, durable jobs, worklist.

Pieces (each its own module; SQLAlchemy is imported only when one of them is used):

* :mod:`.store` - :class:`Store`: the database (SQLite in ``data_dir`` by default, or any
  SQLAlchemy URL such as ``postgresql+psycopg://...``) and the storage folder; users, tokens, audit.
* :mod:`.storage` - path-traversal-proof file storage.
* :mod:`.intake` - :func:`ingest` uploaded files / zipped series / watched folders into studies,
  once per StudyInstanceUID or content hash, and queue their jobs.
* :mod:`.routing` - declarative YAML rules -> method names, through the method registry only.
* :mod:`.queue` - :class:`JobQueue`: claim with leases, heartbeat, retry with back-off, timeouts,
  cancellation, recovery after a killed worker, results stored exactly once.
* :mod:`.worker` - worker processes (``python -m biomedai.workflow.worker``).
* :mod:`.findings` - the convention by which a method's ``result.json`` raises a study's priority.
* :mod:`.worklist` - studies sorted by priority, with status and findings.
"""
from __future__ import annotations

from typing import Any

__all__ = ["Store", "JobQueue", "Router", "Worker", "ingest", "worklist", "read_findings"]

_LAZY = {"Store": ".store", "JobQueue": ".queue", "Router": ".routing", "Worker": ".worker", "ingest": ".intake",
         "worklist": ".worklist", "read_findings": ".findings"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(name)
