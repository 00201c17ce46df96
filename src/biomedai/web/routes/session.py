"""Health, log in (token), log out and who am I."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from sqlalchemy import select

from ...workflow.models import User
from ..deps import audit, client_of, current_user, settings_of, store_of, token_from

router = APIRouter()


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def check_login(request: Request, username: str, password: str) -> User | None:
    """The user for these credentials, with failed attempts throttled (429) and audited.

    See :mod:`biomedai.web.throttle`: the account is locked with exponential back-off, and an
    address over its limit may not retry the names it failed on, but other accounts still log in.
    """
    store, throttle = store_of(request), settings_of(request).throttle
    name, client = username[:64], client_of(request)
    wait = throttle.wait_s(name, client)
    if wait > 0:
        store.audit(name, "login_throttled", "user", name, client=client)
        raise HTTPException(429, f"too many failed logins; try again in {int(wait) + 1} s",
                            headers={"Retry-After": str(int(wait) + 1)})
    user = store.authenticate(username, password)
    if user is None:
        with store.session() as s:
            known = s.scalar(select(User.id).where(User.username == username)) is not None
        throttle.failed(name, client, known_user=known)
        store.audit(name, "login_failed", "user", name, client=client)
    else:
        throttle.succeeded(name, client)
    return user


@router.post("/api/token")
def login(request: Request, username: str = Form(...), password: str = Form(...)) -> dict[str, Any]:
    user = check_login(request, username, password)
    if user is None:
        raise HTTPException(401, "wrong user name or password")
    token, expires = store_of(request).issue_token(user, settings_of(request).token_ttl_s)
    audit(request, user, "login", "user", user.username)
    return {"token": token, "token_type": "bearer", "role": user.role,
            "expires_at": expires.isoformat(timespec="seconds") + "Z"}


@router.post("/api/logout")
def logout(request: Request, user: User = Depends(current_user)) -> dict[str, str]:
    store_of(request).revoke_token(token_from(request) or "")
    audit(request, user, "logout", "user", user.username)
    return {"status": "logged out"}


@router.get("/api/me")
def me(user: User = Depends(current_user)) -> dict[str, Any]:
    return {"username": user.username, "role": user.role}
