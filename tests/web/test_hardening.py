"""Service hardening (issue 17): detached-header file reads, resource limits, ids, headers, lockout, uploads."""
from __future__ import annotations

import pytest

from biomedai.workflow.models import StoredFile

from .conftest import login


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
    from biomedai.workflow.previews import NONE, make_pending_previews

    assert make_pending_previews(store) == 1
    with store.session() as s:
        assert s.get(StoredFile, file_id).preview == NONE  # no preview was made from the target either
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


def test_upload_of_a_decompression_bomb_decodes_nothing_and_its_preview_is_refused_in_a_child(client, store,
                                                                                               tmp_path):
    import struct
    import time

    from pydicom.encaps import encapsulate
    from pydicom.uid import RLELossless

    from biomedai.workflow.previews import NONE, claim_pending, previews_in_child
    from tests.io.test_limits import _dicom, _png_claiming_rows

    fragment = struct.pack("<16L", 1, 64, *([0] * 14)) + bytes([129, 0] * 3800)
    bomb = _dicom(tmp_path / "bomb.dcm", rows=65535, columns=65535, syntax=RLELossless,
                  pixel_data=encapsulate([fragment]))
    operator = login(client, "otto")
    start = time.perf_counter()
    r = client.post("/api/studies", headers=operator, files={"files": ("bomb.dcm", bomb.read_bytes())})
    assert r.status_code == 201 and time.perf_counter() - start < 5.0, r.text
    file_id = r.json()["new_files"][0]
    ids = claim_pending(store, "test")
    assert ids == [file_id]
    previews_in_child(store, ids, timeout_s=120)
    with store.session() as s:
        assert s.get(StoredFile, file_id).preview == NONE
    assert _png_claiming_rows  # (the PNG variant is covered in tests/io/test_limits.py)
