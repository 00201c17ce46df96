"""A pynetdicom storage SCU sends a study to our C-STORE receiver on loopback."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from biomedai.workflow.models import Job, StoredFile, Study
from biomedai.workflow.routing import Router

from .conftest import make_dicom

pynetdicom = pytest.importorskip("pynetdicom")

#: a hung worker or service must fail the test, not stall the run
pytestmark = pytest.mark.timeout(90)


def _send(port: int, files, calling: str = "MODALITY") -> list[int]:
    import pydicom
    from pynetdicom import AE
    from pynetdicom.sop_class import DigitalXRayImageStorageForPresentation  # type: ignore[attr-defined]

    ae = AE(ae_title=calling)
    ae.add_requested_context(DigitalXRayImageStorageForPresentation)
    assoc = ae.associate("127.0.0.1", port, ae_title="BIOMEDAI")
    if not assoc.is_established:
        return []
    statuses = []
    for path in files:
        ds = pydicom.dcmread(path)
        ds.SOPClassUID = DigitalXRayImageStorageForPresentation
        statuses.append(assoc.send_c_store(ds).Status)
    assoc.release()
    return statuses


def _wait_for(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_cstore_study_is_ingested_once_and_routed(store, tmp_path, wf_methods):
    from biomedai.workflow.dicom_receiver import DicomReceiver

    files = [make_dicom(tmp_path / f"{i}.dcm", "7.7.7", "7.7.7.1", instance=i) for i in (1, 2)]
    wf_methods.WfBrightness.input_kinds = ("image/grey", "dicom/DX")
    router = Router.from_data({"rules": [{"match": {"modality": "DX"}, "methods": ["wf_brightness"]}]})
    receiver = DicomReceiver(store, router, port=0, allowed_callers=["MODALITY"])
    receiver.start()
    try:
        assert _send(receiver.port, files) == [0, 0]
        assert _wait_for(lambda: len(receiver.last_reports) == 1)
        assert _send(receiver.port, files[:1]) == [0]  # the same instance again
        assert _wait_for(lambda: len(receiver.last_reports) == 2)
        assert receiver.last_reports[1].new_files == []
        assert _send(receiver.port, files[:1], calling="STRANGER") == []  # association rejected
    finally:
        receiver.stop()
        wf_methods.WfBrightness.input_kinds = ("image/grey", "image/rgb")
    with store.session() as s:
        study = s.scalars(select(Study)).one()
        assert study.uid == "7.7.7" and study.source == "dicom" and study.modality == "DX"
        assert len(s.scalars(select(StoredFile)).all()) == 2
        jobs = s.scalars(select(Job)).all()
        assert len(jobs) == 1 and jobs[0].method == "wf_brightness" and jobs[0].created_by == "dicom:MODALITY"
