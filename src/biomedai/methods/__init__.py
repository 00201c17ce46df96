"""Seed methods, one package each, all behind :class:`biomedai.methods.base.Method`."""
from __future__ import annotations

from .base import Method, RealSample, RunResult
from .conformance import check_method, method_checks
from .registry import discover, get_method, list_methods, register

__all__ = ["Method", "RealSample", "RunResult", "check_method", "discover", "get_method", "list_methods", "method_checks",
           "register"]
