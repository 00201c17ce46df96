"""DICOMweb interoperability with Orthanc and its DICOMweb plugin (Debian ``orthanc orthanc-dicomweb``).

Orthanc runs on loopback with random ports and a throwaway database; our service runs under uvicorn on
another loopback port and is registered in Orthanc's plugin as a DICOMweb server (with our token), so
Orthanc is a second real client of ours next to dicomweb-client:

* a CT study STOWed into Orthanc is pushed by Orthanc's plugin to our STOW-RS, then found by our
  QIDO-RS and retrieved by our WADO-RS with the same pixels;
* a study STOWed into our service is queried by Orthanc's plugin through our QIDO-RS and pulled by it
  through our WADO-RS into Orthanc;
* the series metadata (DICOM JSON) of one study from both servers is compared element by element.

Skipped, saying so, when the Orthanc binary or the DICOMweb plugin is absent.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from tests.processes import stop_process

from .conftest import login
from .service import free_port
from .test_dicomweb import CT_SERIES, CT_STUDY, DX_SERIES, DX_STUDY, ct_slice, dicom_client, live_server

ORTHANC = shutil.which("Orthanc")
PLUGIN = next((p for p in (Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so"),
                           Path("/usr/lib/orthanc/libOrthancDicomWeb.so")) if p.exists()), None)
pytestmark = [pytest.mark.timeout(180),
              pytest.mark.skipif(ORTHANC is None or PLUGIN is None,
                                 reason="needs Orthanc and its DICOMweb plugin (apt-get install orthanc "
                                        "orthanc-dicomweb)")]
httpx = pytest.importorskip("httpx")
pytest.importorskip("dicomweb_client")


def start_orthanc(folder: Path, our_root: str, token: str) -> tuple[subprocess.Popen, str]:
    http_port = free_port()
    config = {"Name": "biomedai-dicomweb-test", "StorageDirectory": str(folder / "db"),
              "IndexDirectory": str(folder / "db"), "DicomAet": "ORTHANC", "DicomPort": free_port(),
              "HttpPort": http_port, "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
              "Plugins": [str(PLUGIN)], "StorageCompression": False, "HttpDescribeErrors": True,
              "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "Host": f"127.0.0.1:{http_port}",
                           "Servers": {"biomedai": {"Url": our_root + "/",
                                                    "HttpHeaders": {"Authorization": f"Bearer {token}"}}}}}
    path = folder / "orthanc.json"
    path.write_text(json.dumps(config))
    log = open(folder / "orthanc.log", "wb")
    proc = subprocess.Popen([ORTHANC, str(path)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{http_port}"
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, (folder / "orthanc.log").read_text()[-3000:]
        try:
            if httpx.get(f"{base}/system", timeout=2).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "Orthanc did not start"
        time.sleep(0.2)


@pytest.fixture
def both(app, client, tmp_path):
    """(our DICOMweb client as operator, Orthanc's DICOMweb client, Orthanc's base URL)."""
    headers = login(client, "otto")
    with live_server(app) as base:
        folder = tmp_path / "orthanc"
        folder.mkdir()
        proc, orthanc = start_orthanc(folder, f"{base}/dicom-web", headers["Authorization"][7:])
        try:
            import dicomweb_client

            yield dicom_client(base, headers), dicomweb_client.DICOMwebClient(f"{orthanc}/dicom-web"), orthanc
        finally:
            stop_process(proc, 15)


def _ct(tmp_path: Path) -> list:
    import pydicom

    return [pydicom.dcmread(ct_slice(tmp_path / f"ct{i}.dcm", i)[0]) for i in (1, 2, 3)]


def _value(item: dict, tag: str):
    return item.get(tag, {}).get("Value", [None])[0]


def test_orthanc_pushes_to_us_and_we_serve_it(both, tmp_path):
    ours, orthanc_dw, orthanc = both
    sent = _ct(tmp_path)
    orthanc_dw.store_instances(sent)
    studies = httpx.get(f"{orthanc}/studies").json()
    assert len(studies) == 1
    job = httpx.post(f"{orthanc}/dicom-web/servers/biomedai/stow", json={"Resources": studies, "Synchronous": True},
                     timeout=60)
    assert job.status_code == 200, job.text
    found = ours.search_for_studies(search_filters={"PatientName": "doe"}, fuzzymatching=True)
    assert [_value(s, "0020000D") for s in found] == [CT_STUDY]
    back = sorted(ours.retrieve_study(CT_STUDY), key=lambda ds: ds.InstanceNumber)
    assert [ds.SOPInstanceUID for ds in back] == [ds.SOPInstanceUID for ds in sent]
    assert all(np.array_equal(a.pixel_array, b.pixel_array) for a, b in zip(back, sent))


def test_orthanc_queries_and_pulls_from_us(both, tmp_path):
    import pydicom

    ours, _orthanc_dw, orthanc = both
    dx = pydicom.dcmread(ct_slice(tmp_path / "dx.dcm", 1, DX_STUDY, DX_SERIES, "Roe^Jane", "20211201", "ACC2", "DX",
                                  frames=4)[0])
    ours.store_instances([dx])
    qido = httpx.post(f"{orthanc}/dicom-web/servers/biomedai/qido",
                      json={"Uri": "/studies", "Arguments": {"PatientName": "Roe*"}}, timeout=60)
    assert qido.status_code == 200, qido.text
    answer = qido.json()  # Orthanc re-shapes our DICOM JSON: {"Name", "Value" (a string), "vr", ...} per tag
    assert [s["0020000D"]["Value"] for s in answer] == [DX_STUDY]
    assert answer[0]["00100010"]["Value"] == "Roe^Jane" and answer[0]["00080061"]["Value"] == "DX"
    pulled = httpx.post(f"{orthanc}/dicom-web/servers/biomedai/retrieve",
                        json={"Resources": [{"Study": DX_STUDY}], "Synchronous": True}, timeout=60)
    assert pulled.status_code == 200, pulled.text
    instances = httpx.get(f"{orthanc}/instances").json()
    assert len(instances) == 1
    tags = httpx.get(f"{orthanc}/instances/{instances[0]}/simplified-tags").json()
    assert tags["SOPInstanceUID"] == dx.SOPInstanceUID and tags["NumberOfFrames"] == "4"
    frame = httpx.get(f"{orthanc}/instances/{instances[0]}/frames/1/raw").content  # Orthanc counts from 0
    assert frame == dx.pixel_array[1].astype("<i2").tobytes()




def test_metadata_matches_orthanc(both, tmp_path):
    ours, orthanc_dw, _orthanc = both
    sent = _ct(tmp_path)
    orthanc_dw.store_instances(sent)
    ours.store_instances(sent)
    theirs = {_value(i, "00080018"): i for i in orthanc_dw.retrieve_series_metadata(CT_STUDY, CT_SERIES)}
    mine = {_value(i, "00080018"): i for i in ours.retrieve_series_metadata(CT_STUDY, CT_SERIES)}
    assert set(theirs) == set(mine) and len(mine) == 3
    compared = 0
    for sop, their in theirs.items():
        my = mine[sop]
        for tag, element in their.items():
            if "Value" not in element or tag.startswith("0002"):
                continue  # bulk data (URIs differ by server) and file meta (we add the transfer syntax only)
            assert tag in my, (tag, element)
            assert my[tag]["vr"] == element["vr"], (tag, my[tag], element)
            assert my[tag].get("Value") == element["Value"], (tag, my[tag], element)
            compared += 1
        assert "BulkDataURI" in my["7FE00010"] and "BulkDataURI" in their["7FE00010"]
        missing = {t for t, e in my.items() if "Value" in e and not t.startswith("0002")} - set(their)
        assert not missing, f"we send elements Orthanc does not: {sorted(missing)}"
    assert compared >= 3 * 25
