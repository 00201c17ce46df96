"""Where the shared real-data folder (``shared/data``, never part of the repository or the package) lies.

The demo shows the bundled models on real samples only when this folder is found; nothing from it is copied
into the package. Looked up in this order: an explicit path, ``$BIOMEDAI_SHARED_DATA``, ``../shared/data``
beside a source checkout (the tests' ``shared_data`` fixture uses the same place), ``../shared/data`` of
the working directory.
"""
from __future__ import annotations

import os
from pathlib import Path

#: the environment variable that names the shared data folder (also read by the tests' ``shared_data``)
ENV_VAR = "BIOMEDAI_SHARED_DATA"


def shared_data_root(explicit: str | Path | None = None) -> Path | None:
    """The shared real-data folder, or None when none of the places holds one.

    >>> shared_data_root("/nonexistent/shared/data") is None
    True
    """
    if explicit is not None:
        return Path(explicit) if Path(explicit).is_dir() else None
    candidates = [os.environ.get(ENV_VAR)]
    candidates.append(Path(__file__).resolve().parents[3].parent / "shared" / "data")  # src/biomedai/data/ here
    candidates.append(Path.cwd().parent / "shared" / "data")
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None
