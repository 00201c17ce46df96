"""Seed methods, one package each, all behind :class:`biomedai.methods.base.Method`."""
from __future__ import annotations

from .base import Method, RunResult
from .registry import discover, get_method, list_methods, register

__all__ = ["Method", "RunResult", "discover", "get_method", "list_methods", "register"]
