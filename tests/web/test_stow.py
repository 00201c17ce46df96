"""DICOMweb STOW-RS: instances posted as multipart/related become a study."""
from __future__ import annotations

from tests.workflow.conftest import make_dicom

from .conftest import login


def _multipart(parts: list[bytes], boundary: str = "b0und4ry") -> tuple[bytes, str]:
    body = b"".join(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + p + b"\r\n" for p in parts)
    return body + f"--{boundary}--\r\n".encode(), f'multipart/related; type="application/dicom"; boundary={boundary}'


def test_stow_rs_stores_instances_once(client, store, tmp_path):
    files = [make_dicom(tmp_path / f"{i}.dcm", "3.3.3", "3.3.3.1", instance=i).read_bytes() for i in (1, 2)]
    body, content_type = _multipart(files + [b"not dicom at all"])
    operator, viewer = login(client, "otto"), login(client, "vic")
    assert client.post("/dicomweb/studies", content=body, headers={**viewer, "Content-Type": content_type}
                       ).status_code == 403
    r = client.post("/dicomweb/studies", content=body, headers={**operator, "Content-Type": content_type})
    assert r.status_code == 202, r.text  # two stored, one refused
    answer = r.json()
    assert answer["stored"] == 2 and len(answer["refused"]) == 1 and len(answer["new_files"]) == 2
    study = client.get(f"/api/studies/{answer['studies'][0]}", headers=operator).json()
    assert study["uid"] == "3.3.3" and study["source"] == "dicomweb" and study["n_files"] == 2
    body, content_type = _multipart(files)
    again = client.post("/dicomweb/studies", content=body, headers={**operator, "Content-Type": content_type})
    assert again.status_code == 200 and again.json()["new_files"] == [] and again.json()["duplicates"] == 2
    assert client.post("/dicomweb/studies", content=b"x", headers={**operator, "Content-Type": "text/plain"}
                       ).status_code == 415
