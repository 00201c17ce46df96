"""Shared fixtures: the real data sets beside the checkout, skipped with a reason when absent."""
from __future__ import annotations

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
