"""Shared fixtures: the real data sets beside the checkout, skipped with a reason when absent."""
from __future__ import annotations

import locale
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("BIOMEDAI_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests that need it skip with a clear reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (set BIOMEDAI_SHARED_DATA to point at it)")
    return SHARED_DATA


def shared_subdir(shared: Path, *parts: str) -> Path:
    """A sub-folder of the shared data, or skip naming exactly what is missing."""
    path = shared.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(autouse=True)
def _restore_process_locale():
    """Some native libraries (GDCM inside SimpleITK's DICOM writer) switch the C locale to "C", after which
    Python's default text encoding becomes ASCII for every later test; put the locale back after each test."""
    saved = locale.setlocale(locale.LC_ALL)
    yield
    if locale.setlocale(locale.LC_ALL) != saved:
        locale.setlocale(locale.LC_ALL, saved)
