"""The HTTP API of the workflow service (FastAPI); the routers are in :mod:`.routes`, the HTML pages in
:mod:`.pages`.

Every endpoint needs a valid token (``Authorization: Bearer <token>`` or the login cookie)
except ``POST /api/token``, ``GET/POST /login`` and ``GET /healthz``. Roles are ordered
viewer < operator < admin: viewers read, operators upload, run and cancel, admins delete and
manage users. Every read of a study or file and every change is written to the audit log.
Files are served only by database id or when listed in a result, every path is re-checked
against the storage folder, and every served file carries ``nosniff``, a closed
content-security policy and a ``Content-Disposition``. Ids beyond the database's integer range
answer 404. With TLS on (``biomedai serve --certfile/--keyfile``) the login cookie is marked
Secure and responses carry HSTS.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ..errors import BiomedaiError, MethodNotFoundError
from ..workflow.queue import JobQueue
from ..workflow.routing import Router
from ..workflow.store import Store
from .deps import (COOKIE, PUBLIC_PATHS, audit, client_of, current_user, file_dict, job_dict, need, result_dict,
                   study_detail, token_from)
from .limits import BodySizeLimit
from .routes import ROUTERS
from .routes.studies import DB_INT_MAX, save_uploads
from .throttle import LoginThrottle

log = logging.getLogger(__name__)

__all__ = ["COOKIE", "PUBLIC_PATHS", "AuthGate", "LoginThrottle", "SecurityHeaders", "Settings", "audit",
           "client_of", "create_app", "current_user", "file_dict", "job_dict", "need", "result_dict",
           "save_uploads", "study_detail", "token_from"]

#: Sent with every response; HSTS only when the service itself speaks TLS.
SECURITY_HEADERS = {"x-content-type-options": "nosniff", "x-frame-options": "DENY", "referrer-policy": "no-referrer"}
HSTS = "max-age=31536000; includeSubDomains"
#: paths that answer 401 without a token (pages redirect to the login form instead)
API_PREFIXES = ("/api/", "/dicom-web/", "/dicom-web", "/dicomweb/")


class Settings:
    def __init__(self, store: Store, router: Router | None = None, max_upload_bytes: int = 2 * 1024 ** 3,
                 token_ttl_s: float = 8 * 3600, cookie_secure: bool = False,
                 destinations: dict[str, tuple[str, str, int]] | None = None, tls: bool = False) -> None:
        self.store, self.router = store, router or Router()
        #: PACS that results may be sent to, by name: (AE title, host, port); fixed at start-up
        self.destinations = dict(destinations or {})
        self.max_upload_bytes, self.token_ttl_s = max_upload_bytes, token_ttl_s
        self.tls = tls
        self.cookie_secure = cookie_secure or tls
        self.queue = JobQueue(store)
        self.throttle = LoginThrottle()


def _id_out_of_range(path: str) -> bool:
    return any(part.isdigit() and int(part) > DB_INT_MAX for part in path.split("/"))


class AuthGate:
    """Refuses every request without a valid token before its body is read (roles are checked per route),
    and answers 404 for ids the database cannot hold (they would otherwise overflow into a 500)."""

    def __init__(self, app: Any, store: Store) -> None:
        self.app, self.store = app, store

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        import anyio
        from starlette.requests import Request as _Request
        from starlette.responses import RedirectResponse

        token = token_from(_Request(scope))
        user = await anyio.to_thread.run_sync(self.store.user_for_token, token)
        path = str(scope.get("path", ""))
        if user is None:
            if path.startswith(API_PREFIXES):
                response: Any = JSONResponse({"detail": "a valid token is required"}, status_code=401,
                                             headers={"WWW-Authenticate": "Bearer"})
            else:
                response = RedirectResponse("/login", status_code=303)
            await response(scope, receive, send)
            return
        if _id_out_of_range(path):
            await JSONResponse({"detail": "no such object (id out of range)"}, status_code=404)(scope, receive,
                                                                                                 send)
            return
        scope.setdefault("state", {})["user"] = user
        await self.app(scope, receive, send)


class SecurityHeaders:
    """Adds ``nosniff``, ``X-Frame-Options`` and ``Referrer-Policy`` to every response, and HSTS with TLS."""

    def __init__(self, app: Any, hsts: bool = False) -> None:
        self.app, self.hsts = app, hsts

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = dict(SECURITY_HEADERS, **({"strict-transport-security": HSTS} if self.hsts else {}))
                headers += [(k.encode(), v.encode()) for k, v in extra.items() if k.encode() not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(store: Store, router: Router | None = None, max_upload_bytes: int = 2 * 1024 ** 3,
               token_ttl_s: float = 8 * 3600, cookie_secure: bool = False,
               destinations: dict[str, tuple[str, str, int]] | None = None, tls: bool = False,
               cors_origins: Sequence[str] = ()) -> FastAPI:
    """The FastAPI application over ``store``; ``destinations`` are the PACS results may be sent to.

    ``tls`` says that the service is reached over HTTPS (its own certificate, or a proxy that
    terminates TLS): the login cookie is then Secure and responses carry HSTS. ``cors_origins``
    (none by default) are the web origins, e.g. a third-party viewer such as OHIF on another port,
    whose pages may call the API with a bearer token (CORS; never with the login cookie).
    """
    from .routes.session import check_login
    from .routes.studies import do_upload, queue_method

    app = FastAPI(title="biomedai workflow", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = Settings(store, router, max_upload_bytes, token_ttl_s, cookie_secure, destinations, tls)
    app.add_middleware(AuthGate, store=store)
    app.add_middleware(BodySizeLimit, max_bytes=max_upload_bytes)
    app.add_middleware(SecurityHeaders, hsts=tls)
    if cors_origins:  # outermost: preflights are answered before the token check
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_credentials=False,
                           allow_methods=["GET", "POST"], allow_headers=["Authorization", "Accept", "Content-Type"],
                           expose_headers=["Warning", "Content-Type", "Content-Length"], max_age=600)

    @app.exception_handler(BiomedaiError)
    async def biomedai_error(_request: Request, exc: BiomedaiError) -> JSONResponse:
        status = 404 if isinstance(exc, MethodNotFoundError) else 400
        return JSONResponse({"detail": str(exc)}, status_code=status)

    for api_router in ROUTERS:
        app.include_router(api_router)
    # the pages call these with their own form data
    app.state.check_login, app.state.do_upload, app.state.queue_method = check_login, do_upload, queue_method

    from .dicomweb import add_dicomweb
    from .pages import add_pages
    from .reading_pages import add_reading_pages
    from .stow import add_stow
    from .tiles import add_tile_routes

    add_pages(app)
    add_reading_pages(app)
    add_stow(app)
    add_dicomweb(app)
    add_tile_routes(app)
    return app
