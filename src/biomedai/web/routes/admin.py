"""Users and the audit log (admins only)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select

from ...errors import ConfigError
from ...workflow.models import ROLES, AuditEvent, User
from ..deps import audit, need, store_of

router = APIRouter()


@router.get("/api/users")
def list_users(request: Request, user: User = Depends(need("admin"))) -> list[dict[str, Any]]:
    with store_of(request).session() as s:
        return [{"id": u.id, "username": u.username, "role": u.role, "active": u.active}
                for u in s.scalars(select(User).order_by(User.id))]


@router.post("/api/users", status_code=201)
def add_user(request: Request, body: dict[str, Any], user: User = Depends(need("admin"))) -> dict[str, Any]:
    role = str(body.get("role", "viewer"))
    if role not in ROLES:
        raise ConfigError(f"role {role!r} is not one of {', '.join(ROLES)}")
    new = store_of(request).create_user(str(body.get("username", "")), str(body.get("password", "")), role)
    audit(request, user, "add_user", "user", new.username, role)
    return {"id": new.id, "username": new.username, "role": new.role}


@router.get("/api/audit")
def audit_log(request: Request, limit: int = 200, user: User = Depends(need("admin"))) -> list[dict[str, Any]]:
    with store_of(request).session() as s:
        rows = s.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(max(1, min(limit, 5000))))
        return [{"time": e.time.isoformat(timespec="seconds") + "Z", "username": e.username, "action": e.action,
                 "object_type": e.object_type, "object_id": e.object_id, "detail": e.detail, "client": e.client}
                for e in rows]
