"""Integration with a real PACS: Orthanc (Debian package ``orthanc``) and dcmtk's ``storescu``.

Orthanc runs on loopback with random ports and a throwaway database; our receiver is registered in
it as a DICOM modality. A CT series goes into Orthanc over REST, Orthanc C-STOREs it to our
receiver, a worker runs a registered test method that makes a label map, and our DICOM SR and SEG
go back to Orthanc by C-STORE, where the test finds them in the same study through the REST API.
``storescu`` is a second sender. Needs ``apt-get install orthanc dcmtk``; skipped without them.
"""
from __future__ import annotations

import io
import json
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from biomedai.workflow.models import Job, Result, Study
from biomedai.workflow.routing import Router
from tests.processes import stop_process

from .conftest import WF_METHODS, make_dicom

ORTHANC = shutil.which("Orthanc")
STORESCU = shutil.which("storescu")
pytestmark = [pytest.mark.timeout(180),
              pytest.mark.skipif(ORTHANC is None or STORESCU is None,
                                 reason="needs the Orthanc binary and dcmtk's storescu "
                                        "(apt-get install orthanc dcmtk)")]
httpx = pytest.importorskip("httpx")
pytest.importorskip("pynetdicom")
pytest.importorskip("highdicom")
pytest.importorskip("fastapi")

OUR_AET, ORTHANC_AET = "BIOMEDAI", "ORTHANC"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def orthanc(tmp_path):
    """A running Orthanc that knows our receiver; yields a dict with its ports and a function to register us."""
    state = {"dicom_port": _free_port(), "http_port": _free_port(), "proc": None, "log": tmp_path / "orthanc.log"}

    def start(receiver_port: int) -> str:
        config = {
            "Name": "biomedai-test", "StorageDirectory": str(tmp_path / "orthanc-db"),
            "IndexDirectory": str(tmp_path / "orthanc-db"), "DicomAet": ORTHANC_AET,
            "DicomPort": state["dicom_port"], "HttpPort": state["http_port"], "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False, "Plugins": [], "StorageCompression": False,
            "DicomModalities": {"biomedai": [OUR_AET, "127.0.0.1", receiver_port]},
            "DicomAlwaysAllowStore": False, "DicomCheckModalityHost": True, "DicomAlwaysAllowEcho": False,
            "HttpDescribeErrors": True,
        }
        path = tmp_path / "orthanc.json"
        path.write_text(json.dumps(config))
        log = open(state["log"], "wb")
        state["proc"] = subprocess.Popen([ORTHANC, str(path)], stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{state['http_port']}"

        def up() -> bool:
            assert state["proc"].poll() is None, state["log"].read_text()[-3000:]
            try:
                return httpx.get(f"{base}/system", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        _wait(up, 30, "Orthanc to start")
        return base

    state["start"] = start
    try:
        yield state
    finally:
        proc = state["proc"]
        if proc is not None:
            stop_process(proc, 15)


def _ct_files() -> list[Path]:
    from biomedai.data.samples import sample_path

    return sorted(p for p in sample_path("ct_series").iterdir() if p.is_file())


def test_orthanc_sends_a_ct_study_we_send_sr_and_seg_back(store, tmp_path, wf_methods, orthanc):
    import highdicom as hd
    import pydicom
    from fastapi.testclient import TestClient

    from biomedai.web.app import create_app
    from biomedai.workflow.dicom_receiver import DicomReceiver
    from biomedai.workflow.worker import Worker

    router = Router.from_data({"rules": [{"match": {"modality": "CT"}, "methods": ["wf_ct_threshold"]}]})
    receiver = DicomReceiver(store, router, port=0, ae_title=OUR_AET, allowed_callers=[ORTHANC_AET, "STORESCU"])
    receiver.start()
    worker = Worker(store, lease_s=10, poll_s=0.1, backoff_s=0.2, imports=[WF_METHODS])
    thread = threading.Thread(target=worker.run, daemon=True)
    try:
        base = orthanc["start"](receiver.port)
        thread.start()
        # 1. a CT series arrives in Orthanc (REST upload), Orthanc C-STOREs the study to us
        ct_files = _ct_files()
        uploaded = [httpx.post(f"{base}/instances", content=p.read_bytes(), timeout=30).json() for p in ct_files]
        study_ids = {u["ParentStudy"] for u in uploaded}
        assert len(study_ids) == 1, uploaded
        r = httpx.post(f"{base}/modalities/biomedai/store", timeout=60,
                       json={"Resources": list(study_ids), "Synchronous": True})
        assert r.status_code == 200, r.text
        source = [pydicom.dcmread(p, stop_before_pixels=True) for p in ct_files]
        study_uid = source[0].StudyInstanceUID
        _wait(lambda: receiver.last_reports, 20, "our receiver to ingest the study")
        # 2. routed to the CT test method; a worker runs it in a child process
        with store.session() as s:
            study = s.scalars(select(Study).where(Study.uid == study_uid)).one()
            assert study.source == "dicom" and study.modality == "CT"
            study_id = study.id

        def job_finished():
            with store.session() as s:
                jobs = s.scalars(select(Job).where(Job.study_id == study_id)).all()
                return jobs and all(j.status in ("done", "failed") for j in jobs) and jobs

        jobs = _wait(job_finished, 90, "the job")
        assert [(j.method, j.status) for j in jobs] == [("wf_ct_threshold", "done")], [j.error for j in jobs]
        with store.session() as s:
            result_id = s.scalars(select(Result.id).where(Result.job_id == jobs[0].id)).one()
        # 3. our SR and SEG go back to Orthanc (C-STORE SCU through the API's send)
        store.create_user("olga", "password-123", "operator")
        app = create_app(store, destinations={"orthanc": (ORTHANC_AET, "127.0.0.1", orthanc["dicom_port"])})
        with TestClient(app) as client:
            token = client.post("/api/token", data={"username": "olga", "password": "password-123"}).json()["token"]
            r = client.post(f"/api/results/{result_id}/send", headers={"Authorization": f"Bearer {token}"},
                            json={"destination": "orthanc"})
        assert r.status_code == 200, r.text
        assert [(o["kind"], o["status"]) for o in r.json()["objects"]] == [("SR", 0), ("SEG", 0)]
        # 4. Orthanc holds them, in the source study
        found = {}
        for instance in httpx.get(f"{base}/instances", timeout=10).json():
            tags = httpx.get(f"{base}/instances/{instance}/simplified-tags", timeout=10).json()
            found.setdefault(tags["Modality"], []).append((instance, tags["StudyInstanceUID"]))
        assert sorted(found) == ["CT", "SEG", "SR"] and len(found["CT"]) == 5
        assert {uid for values in found.values() for _, uid in values} == {study_uid}
        assert len(httpx.get(f"{base}/studies", timeout=10).json()) == 1
        seg_bytes = httpx.get(f"{base}/instances/{found['SEG'][0][0]}/file", timeout=10).content
        seg = hd.seg.segread(io.BytesIO(seg_bytes))
        assert {u for _, _, u in seg.get_source_image_uids()} == {ds.SOPInstanceUID for ds in source}
        labels = {seg.get_segment_description(n).segment_label for n in seg.segment_numbers}
        assert labels and labels <= {name for name, _, _ in wf_methods.WfCtThreshold.CLASSES.values()}
        # 4b. de-identified on send: a new study under a pseudonym, its SEG still on its (renamed) sources
        with TestClient(app) as client:
            token = client.post("/api/token", data={"username": "olga", "password": "password-123"}).json()["token"]
            r = client.post(f"/api/results/{result_id}/send", headers={"Authorization": f"Bearer {token}"},
                            json={"destination": "orthanc", "deidentify": True})
        assert r.status_code == 200 and r.json()["deidentified"], r.text
        studies = httpx.get(f"{base}/studies?expand", timeout=10).json()
        anonymous = [st for st in studies if st["MainDicomTags"]["StudyInstanceUID"] != study_uid]
        assert len(studies) == 2 and len(anonymous) == 1
        assert anonymous[0]["PatientMainDicomTags"]["PatientID"].startswith("ANON-")
        assert anonymous[0]["PatientMainDicomTags"].get("PatientName", "") != str(source[0].PatientName)

        # 5. a second sender: dcmtk's storescu
        dx = make_dicom(tmp_path / "dx.dcm", "4.4.4", "4.4.4.1", modality="DX")
        done = subprocess.run([STORESCU, "-aet", "STORESCU", "-aec", OUR_AET, "127.0.0.1", str(receiver.port),
                               str(dx)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr

        def dx_study():
            with store.session() as s:
                return s.scalars(select(Study).where(Study.uid == "4.4.4")).first()

        arrived = _wait(dx_study, 20, "the storescu study")
        assert arrived.source == "dicom" and arrived.modality == "DX"
    finally:
        worker.stop()
        receiver.stop()
        thread.join(timeout=30)
