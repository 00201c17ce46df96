"""A DICOM C-STORE receiver (storage SCP, pynetdicom) so that a PACS or a modality can send studies.

    receiver = DicomReceiver(store, router, port=11112, ae_title="BIOMEDAI")
    receiver.start()   # background threads; receiver.stop() to end

Instances received in one association are written to a temporary folder and, when the sender
releases (or aborts) the association, ingested in one :func:`~biomedai.workflow.intake.ingest`
call (source ``dicom``): stored once per StudyInstanceUID and SOP instance content, routed, queued.
Verification (C-ECHO) is answered too. ``allowed_callers`` limits which calling AE titles may send.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .routing import Router
from .storage import safe_file_name
from .store import Store

log = logging.getLogger(__name__)


class DicomReceiver:
    def __init__(self, store: Store, router: Router | None = None, host: str = "127.0.0.1", port: int = 11112,
                 ae_title: str = "BIOMEDAI", allowed_callers: Iterable[str] | None = None) -> None:
        self.store, self.router = store, router or Router()
        self.host, self.port, self.ae_title = host, port, ae_title
        self.allowed_callers = {a.strip() for a in allowed_callers} if allowed_callers else None
        self._folders: dict[int, Path] = {}
        self._lock = threading.Lock()
        self._server: Any = None
        self.last_reports: list[Any] = []

    def start(self) -> None:
        from pynetdicom import AE, AllStoragePresentationContexts, evt
        from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

        ae = AE(ae_title=self.ae_title)
        ae.supported_contexts = AllStoragePresentationContexts
        ae.add_supported_context(Verification)
        ae.require_called_aet = True
        if self.allowed_callers is not None:
            ae.require_calling_aet = sorted(self.allowed_callers)  # others are rejected at association
        handlers = [(evt.EVT_C_STORE, self._on_store), (evt.EVT_RELEASED, self._on_end),
                    (evt.EVT_ABORTED, self._on_end), (evt.EVT_CONN_CLOSE, self._on_end)]
        self._server = ae.start_server((self.host, self.port), block=False, evt_handlers=handlers)
        self.port = self._server.server_address[1]
        log.info("DICOM receiver %s listening on %s:%s", self.ae_title, self.host, self.port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def _caller(self, event: Any) -> str:
        title = event.assoc.requestor.ae_title
        return (title.decode() if isinstance(title, bytes) else str(title)).strip()

    def _on_store(self, event: Any) -> int:
        caller = self._caller(event)
        try:
            ds = event.dataset
            ds.file_meta = event.file_meta
            with self._lock:
                folder = self._folders.get(id(event.assoc))
                if folder is None:
                    folder = Path(tempfile.mkdtemp(prefix="biomedai-cstore-"))
                    self._folders[id(event.assoc)] = folder
            name = safe_file_name(f"{ds.SOPInstanceUID}.dcm")
            ds.save_as(folder / name, enforce_file_format=True)
        except Exception as exc:  # noqa: BLE001 - answer the sender with a failure status
            log.error("C-STORE from %s failed: %s", caller, exc)
            return 0xC210  # cannot understand
        return 0x0000

    def _on_end(self, event: Any) -> None:
        with self._lock:
            folder = self._folders.pop(id(event.assoc), None)
        if folder is None:
            return
        from .intake import ingest

        caller = self._caller(event)
        try:
            files = sorted(folder.iterdir())
            report = ingest(self.store, [(p.name, p) for p in files], router=self.router, source="dicom",
                            username=f"dicom:{caller}")
            self.last_reports.append(report)
            self.store.audit(f"dicom:{caller}", "c-store", "study", ",".join(map(str, report.studies)),
                             f"{len(files)} instance(s), {len(report.new_files)} new, jobs {report.jobs}")
        except Exception as exc:  # noqa: BLE001 - keep receiving; the sender got its statuses already
            log.error("ingesting the instances from %s failed: %s", caller, exc)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
