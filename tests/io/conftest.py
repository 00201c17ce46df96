"""Fixtures for the IO tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.io.helpers import corrupt_variants


@pytest.fixture()
def make_corrupt(tmp_path: Path):
    """``make_corrupt(source)`` -> {"truncated"|"empty"|"garbage": path} beside the test's tmp_path."""
    return lambda source: corrupt_variants(Path(source), tmp_path)
