from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import os

import numpy as np
import pytest

pytest.importorskip("sqlalchemy")

WF_METHODS = str(Path(__file__).with_name("wf_methods.py"))
#: run the workflow and web tests against another database, e.g. postgresql+pg8000://postgres@127.0.0.1:5432/t
#: (every test starts from empty tables there)
TEST_DATABASE_URL = os.environ.get("BIOMEDAI_TEST_DATABASE_URL") or None


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch):
    """scrypt at N=2**10 instead of 2**14: the same code, 16x less work per login in tests."""
    from biomedai.workflow import auth

    monkeypatch.setattr(auth, "SCRYPT_N", 2 ** 10)


@pytest.fixture
def wf_methods(tmp_path, monkeypatch):
    """Register the test methods for this test (and for worker child processes via WF_METHODS)."""
    from . import wf_methods as module

    monkeypatch.setenv("WF_TEST_DIR", str(tmp_path / "markers"))
    module.register_all()
    yield module
    module.unregister_all()


@pytest.fixture
def store(tmp_path):
    from biomedai.workflow.store import Store

    s = Store(tmp_path / "data", TEST_DATABASE_URL)
    if TEST_DATABASE_URL:
        from biomedai.workflow.models import Base

        Base.metadata.drop_all(s.engine)
        Base.metadata.create_all(s.engine)
    yield s
    s.close()


def make_png(path: Path, value: int = 200, seed: int = 0, rgb: bool = False) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    array = np.clip(rng.normal(value, 20, (24, 24, 3) if rgb else (24, 24)), 0, 255).astype(np.uint8)
    Image.fromarray(array).save(path)
    return path


def make_dicom(path: Path, study_uid: str, series_uid: str, instance: int = 1, modality: str = "DX",
               body_part: str = "HIP", description: str = "AP pelvis") -> Path:
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    ds.Modality, ds.BodyPartExamined, ds.SeriesDescription = modality, body_part, description
    ds.PatientID, ds.InstanceNumber = "P1", instance
    ds.Rows = ds.Columns = 16
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = (np.arange(256, dtype=np.uint16).reshape(16, 16) * (instance + 1)).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture
def cli_logging():
    """main() adds a handler on pytest's captured stderr to the 'biomedai' logger: take it away afterwards."""
    import logging

    logger = logging.getLogger("biomedai")
    handlers, level = list(logger.handlers), logger.level
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)


@contextlib.contextmanager
def operator_client_and_pacs(store) -> Iterator[tuple]:
    """An API client logged in as an operator, with a destination "pacs": our own C-STORE receiver on a free
    port standing in for a PACS. Yields ``(client, auth headers, receiver)``; the receiver stops on exit."""
    from fastapi.testclient import TestClient

    from biomedai.web.app import create_app
    from biomedai.workflow.dicom_receiver import DicomReceiver
    from biomedai.workflow.routing import Router

    pacs = DicomReceiver(store, Router(), port=0)
    pacs.start()
    try:
        store.create_user("olga", "password-123", "operator")
        app = create_app(store, destinations={"pacs": ("BIOMEDAI", "127.0.0.1", pacs.port)})
        with TestClient(app) as client:
            token = client.post("/api/token", data={"username": "olga", "password": "password-123"}).json()["token"]
            yield client, {"Authorization": f"Bearer {token}"}, pacs
    finally:
        pacs.stop()
