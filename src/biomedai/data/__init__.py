"""Sample data, synthetic phantoms, tiling and patient-level splits.

Submodules are imported on first use so that ``import biomedai.data`` stays light:
``biomedai.data.samples``, ``biomedai.data.phantoms``, ``biomedai.data.tiling`` (dense outputs over
overlapping tiles and whole slides), ``biomedai.data.blocks`` (instances over blocks with seams),
``biomedai.data.splits`` and ``biomedai.data.datasets`` (the only one that imports torch).
"""
from __future__ import annotations

import importlib
from typing import Any

_SUBMODULES = ("samples", "phantoms", "tiling", "blocks", "splits", "datasets")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = list(_SUBMODULES)
