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


def _fake_clock(app):
    now = [1000.0]
    app.state.settings.throttle.clock = lambda: now[0]
    return now


def test_failures_from_one_address_lock_no_other_account_out(app, client):
    """Finding 5: ten failed logins from one address (a proxy) used to lock everyone behind it out."""
    _fake_clock(app)
    for i in range(30):  # guessing other names, and guessing vic's password, all from the one test client
        client.post("/api/token", data={"username": f"nobody{i % 3}", "password": "guess"})
        client.post("/api/token", data={"username": "vic", "password": f"guess-{i}"})
    assert client.post("/api/token", data={"username": "ada", "password": PASSWORD}).status_code == 200
    assert client.post("/api/token", data={"username": "otto", "password": PASSWORD}).status_code == 200
    r = client.post("/api/token", data={"username": "vic", "password": PASSWORD})
    assert r.status_code == 429  # the attacked account is locked
    r = client.post("/api/token", data={"username": "nobody1", "password": "guess"})
    assert r.status_code == 429  # and the address may not retry the names it failed on


def test_account_lockout_backs_off_exponentially(app, client):
    now = _fake_clock(app)
    throttle = app.state.settings.throttle
    waits = []
    for _ in range(4):
        while client.post("/api/token", data={"username": "vic", "password": "wrong"}).status_code == 401:
            pass
        waits.append(throttle.wait_s("vic", "testclient"))
        now[0] += waits[-1] + 0.01
    assert waits == [pytest.approx(throttle.base_lock_s * 2 ** k) for k in range(4)]
    assert client.post("/api/token", data={"username": "vic", "password": PASSWORD}).status_code == 200
    assert throttle.wait_s("vic", "testclient") == 0  # a success clears the account


@pytest.mark.parametrize("url", ["/api/studies/{big}", "/api/studies/{big}/files/1", "/api/studies/1/files/{big}",
                                 "/api/jobs/{big}", "/api/results/{big}", "/api/results/{big}/files/result.json",
                                 "/api/files/{big}/tiles.json", "/studies/{big}", "/api/jobs?study_id={big}"])
def test_ids_beyond_the_database_range_answer_404_not_500(client, url):
    viewer = login(client, "vic")
    for big in (2 ** 63, 2 ** 64 + 5, 10 ** 30):
        r = client.get(url.format(big=big), headers=viewer)
        assert r.status_code in (404, 200), (url, big, r.status_code)
        if "?" in url:
            assert r.json() == []


def test_served_files_carry_nosniff_csp_and_content_disposition(client, store, tmp_path, wf_methods):
    from biomedai.workflow.worker import Worker
    from tests.workflow.conftest import WF_METHODS, make_png

    operator = login(client, "otto")
    r = client.post("/api/studies", headers=operator, files={"files": ("a.png", make_png(tmp_path / "a.png")
                                                                       .read_bytes())},
                    data={"methods": "wf_brightness"})
    study, file_id = r.json()["studies"][0], r.json()["new_files"][0]
    Worker(store, poll_s=0.1, imports=[WF_METHODS]).run(max_jobs=1)
    result = client.get(f"/api/studies/{study}", headers=operator).json()["results"][0]
    urls = [f"/api/studies/{study}/files/{file_id}", f"/api/studies/{study}/files/{file_id}/preview",
            f"/api/studies/{study}/files/{file_id}/render", *result["file_urls"].values()]
    for url in urls:
        r = client.get(url, headers=operator)
        assert r.status_code == 200, url
        assert r.headers["x-content-type-options"] == "nosniff", url
        assert "default-src 'none'" in r.headers["content-security-policy"], url
        assert r.headers["content-disposition"].startswith(("inline;", "attachment;")), url
    assert client.get("/api/me", headers=operator).headers["x-content-type-options"] == "nosniff"
    assert "strict-transport-security" not in client.get("/healthz").headers


def test_tls_marks_the_cookie_secure_and_sends_hsts(store):
    from fastapi.testclient import TestClient

    from biomedai.web.app import create_app

    store.create_user("tess", PASSWORD, "viewer")
    with TestClient(create_app(store, tls=True), base_url="https://testserver", follow_redirects=False) as c:
        r = c.post("/login", data={"username": "tess", "password": PASSWORD})
        assert r.status_code == 303 and "secure" in r.headers["set-cookie"].lower()
        assert r.headers["strict-transport-security"].startswith("max-age=")


def test_serve_has_certfile_and_keyfile_options():
    import argparse

    from biomedai.web.server import add_parser

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["serve", "--certfile", "c.pem", "--keyfile", "k.pem"])
    assert args.certfile == "c.pem" and args.keyfile == "k.pem"


def test_data_folder_is_owner_only(store, client, tmp_path):
    import os
    import stat

    from tests.workflow.conftest import make_png

    def mode(path):
        return stat.S_IMODE(os.stat(path).st_mode)

    old = os.umask(0o077)  # what serve and the workers set
    try:
        r = client.post("/api/studies", headers=login(client, "otto"),
                        files={"files": ("a.png", make_png(tmp_path / "a.png").read_bytes())})
    finally:
        os.umask(old)
    assert mode(store.data_dir) == 0o700 and mode(store.storage.root) == 0o700
    if store.engine.dialect.name == "sqlite":  # the PostgreSQL run (benchmarks/workflow/pg.py) has no database file
        assert mode(store.data_dir / "biomedai-workflow.db") == 0o600
    with store.session() as s:
        stored = store.storage.resolve(s.get(StoredFile, r.json()["new_files"][0]).path)
    assert mode(stored) == 0o600
    (store.data_dir).chmod(0o755)  # an older data folder is tightened when the store opens it
    from biomedai.workflow.store import Store

    Store(store.data_dir).close()
    assert mode(store.data_dir) == 0o700


def test_an_interrupted_upload_leaves_nothing(store, tmp_path, monkeypatch):
    from sqlalchemy import func, select

    from biomedai.workflow import intake
    from biomedai.workflow.models import Job, Study
    from tests.workflow.conftest import make_png

    def count(model):
        with store.session() as s:
            return s.scalar(select(func.count()).select_from(model))

    kept = intake.ingest(store, [("keep.png", make_png(tmp_path / "keep.png", seed=1))])
    before = sorted(p for p in store.storage.root.rglob("*") if p.is_file())
    jobs = count(Job)

    def killed(*_args, **_kwargs):
        raise KeyboardInterrupt  # as if the process were interrupted after the file was stored
    monkeypatch.setattr(intake, "initial_preview", killed)
    with pytest.raises(KeyboardInterrupt):
        intake.ingest(store, [("a.png", make_png(tmp_path / "a.png")), ("b.png", make_png(tmp_path / "b.png", 9))])
    assert count(Study) == 1 and count(StoredFile) == 1 and count(Job) == jobs
    assert sorted(p for p in store.storage.root.rglob("*") if p.is_file()) == before
    # a kill -9 cannot clean up after itself: what it leaves is removed at the next start-up
    monkeypatch.undo()
    with store.session() as s:
        s.add(Study(uid="half-made", source="upload"))
    orphan = store.storage.root / "studies" / str(kept.studies[0]) / "files" / "0123" / "orphan.png"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"x")
    assert intake.remove_incomplete(store, min_age_s=0) == {"studies": 1, "files": 1}
    assert count(Study) == 1 and count(StoredFile) == 1 and count(Job) == jobs and not orphan.exists()
    assert sorted(p for p in store.storage.root.rglob("*") if p.is_file()) == before


def test_cli_refusals_are_one_line_without_third_party_warnings(tmp_path, capfd):
    import logging

    from biomedai.cli import main
    from biomedai.io import _files

    from tests.io import fuzz

    seeds = fuzz.make_seeds(tmp_path / "seeds")
    broken = [fuzz.write_mutant(seeds["dcm"], "dcm", 1, 226, tmp_path / "m")[1],  # PixelSpacing '0.@': pydicom warns
              fuzz.write_mutant(seeds["mha"], "mha", 7, 0, tmp_path / "m")[1],  # ITK's MetaIO prints from C++
              fuzz.write_mutant(seeds["nii"], "nii", 7, 3, tmp_path / "m")[1]]  # nibabel has its own log handler
    logger = logging.getLogger("biomedai")
    handlers, level = list(logger.handlers), logger.level
    capfd.readouterr()
    try:
        for path in broken:
            code = main(["info", str(path)])
            err = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
            assert code == 2 and len(err) == 1 and path.name in err[0], (path.name, err)
    finally:
        logger.handlers[:] = handlers
        logger.setLevel(level)
        _files.CAPTURE_NATIVE_STDERR = False
        logging.getLogger("nibabel").setLevel(logging.NOTSET)


def test_a_zip_of_zeros_named_dcm_is_refused_at_once(client, store, tmp_path):
    """Finding 3: 300 MB of zeros named .dcm in a 305 KB zip kept the server busy for 374 s (30 MB here)."""
    import io
    import time
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.dcm", bytes(30 * 1024 * 1024))
    assert len(buffer.getvalue()) < 100_000
    start = time.perf_counter()
    r = client.post("/api/studies", headers=login(client, "otto"), files={"files": ("scan.zip", buffer.getvalue())})
    assert time.perf_counter() - start < 20.0  # unzipping 30 MB included; parsing it all took 13.6 s alone
    assert r.status_code == 201 and r.json()["new_files"] == [] and "zeros.dcm" in r.json()["skipped"]
    assert "not a DICOM file" in r.json()["skipped"]["zeros.dcm"]


@pytest.mark.timeout(90)
def test_serve_speaks_https_with_certfile_and_keyfile(tmp_path):
    import shutil
    import subprocess
    import sys
    import time

    import httpx

    from tests.processes import stop_process

    from .service import free_port

    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a throwaway certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    port = free_port()
    code = (f"import sys; from biomedai.web import serve; serve(port={port}, data_dir=sys.argv[1], workers=0, "
            "certfile=sys.argv[2], keyfile=sys.argv[3], admin_password='admin-pass-123')")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "data"), str(cert), str(key)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 45
        while True:
            try:
                r = httpx.get(f"https://127.0.0.1:{port}/healthz", verify=False)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()[-2000:]
                time.sleep(0.3)
        assert r.status_code == 200 and r.headers["strict-transport-security"].startswith("max-age=")
        r = httpx.post(f"https://127.0.0.1:{port}/login", data={"username": "admin", "password": "admin-pass-123"},
                       verify=False)
        assert r.status_code == 303 and "secure" in r.headers["set-cookie"].lower()
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/healthz")  # no plain HTTP on that port
    finally:
        stop_process(proc, 20)
    import stat

    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "data" / "biomedai-workflow.db").stat().st_mode) == 0o600
