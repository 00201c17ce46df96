"""The web side of the workflow service: the HTTP API, the HTML pages and ``biomedai serve``.

Needs the ``serve`` extra (FastAPI, uvicorn, SQLAlchemy, python-multipart). Nothing is imported
here at package import time, so ``biomedai --help`` stays fast.

* :func:`biomedai.web.app.create_app` - the FastAPI application over a workflow store.
* :func:`serve` - start the API, the pages and the worker processes in one command.
* :func:`add_parser` / :func:`run` - the ``biomedai serve`` verb.
"""
from __future__ import annotations

from typing import Any

__all__ = ["serve", "add_parser", "run", "create_app"]


def __getattr__(name: str) -> Any:
    if name in ("serve", "add_parser", "run"):
        from . import server

        return getattr(server, name)
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(name)
