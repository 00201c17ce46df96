"""The service's API, one router per area (in the order :func:`biomedai.web.app.create_app` mounts them)."""
from __future__ import annotations

from . import admin, annotate, files, jobs, reading, results, session, studies, viewer

ROUTERS = (session.router, studies.router, jobs.router, results.router, files.router, admin.router,
           viewer.router, annotate.router, reading.router)

__all__ = ["ROUTERS"]
