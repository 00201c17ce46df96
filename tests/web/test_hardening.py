"""Service hardening (issue 17): detached-header file reads, resource limits, ids, headers, lockout, uploads."""
from __future__ import annotations

import pytest

from biomedai.workflow.models import StoredFile

from .conftest import PASSWORD, login


def _header_naming(target) -> bytes:
    size = target.stat().st_size
    return (f"ObjectType = Image\nNDims = 2\nDimSize = {size} 1\nElementType = MET_UCHAR\n"
            f"ElementDataFile = {target}\n").encode()


@pytest.mark.parametrize("target_name", ["biomedai-workflow.db", "initial-admin-password.txt", "deid.key"])
def test_render_never_returns_the_bytes_of_a_file_a_header_names(client, store, target_name):
    target = store.data_dir / target_name
    if not target.exists():
        target.write_bytes(b"top-secret " * 10)
    operator = login(client, "otto")
    r = client.post("/api/studies", headers=operator, files={"files": ("evil.mha", _header_naming(target))})
    assert r.status_code == 201, r.text
    study, file_id = r.json()["studies"][0], r.json()["new_files"][0]
    with store.session() as s:
        assert s.get(StoredFile, file_id).preview == ""  # no preview was made from the target either
    r = client.get(f"/api/studies/{study}/files/{file_id}/render", headers=login(client, "vic"))
    assert r.status_code == 400 and "outside the header's folder" in r.json()["detail"]
    secret = target.read_bytes()[:64]
    assert secret not in r.content


def test_render_with_a_dotdot_nrrd_header_is_refused(client, store):
    (store.data_dir / "secret.bin").write_bytes(b"x" * 100)
    header = b"NRRD0004\ntype: uint8\ndimension: 2\nsizes: 100 1\nencoding: raw\ndata file: ../../../../../secret.bin\n\n"
    operator = login(client, "otto")
    r = client.post("/api/studies", headers=operator, files={"files": ("evil.nhdr", header)})
    assert r.status_code == 201, r.text
    study, file_id = r.json()["studies"][0], r.json()["new_files"][0]
    r = client.get(f"/api/studies/{study}/files/{file_id}/render", headers=operator)
    assert r.status_code == 400
