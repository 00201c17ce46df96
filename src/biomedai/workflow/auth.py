"""Passwords and API tokens with the standard library only (``hashlib.scrypt``, ``secrets``).

Passwords are stored as ``scrypt$n$r$p$salt$hash`` (hex). Tokens are 32 random bytes
(URL-safe text) handed to the client once; the database keeps only their SHA-256.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

from .models import ROLES

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1
MIN_PASSWORD_LENGTH = 8


def hash_password(password: str, n: int | None = None, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """A salted scrypt hash of ``password`` for storage.

    Example:
        >>> h = hash_password("correct horse", n=2 ** 10)
        >>> verify_password("correct horse", h), verify_password("wrong", h)
        (True, False)
    """
    n = n or SCRYPT_N  # read at call time, so tests can lower the cost
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches a :func:`hash_password` string (constant-time compare)."""
    try:
        scheme, n, r, p, salt_hex, digest_hex = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(password.encode("utf-8"), salt=bytes.fromhex(salt_hex), n=int(n), r=int(r),
                                p=int(p), dklen=len(digest_hex) // 2)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest.hex(), digest_hex)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def role_allows(role: str, needed: str) -> bool:
    """Roles are ordered viewer < operator < admin; a higher role may do what a lower one may."""
    if role not in ROLES or needed not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(needed)
