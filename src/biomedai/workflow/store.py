"""The workflow store: one database (SQLite by default, any SQLAlchemy URL) plus a storage folder.

Example:
    >>> import tempfile
    >>> store = Store(tempfile.mkdtemp())
    >>> store.database_url.startswith("sqlite:///")
    True
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import ConfigError
from . import auth
from .models import ROLES, AuditEvent, Token, User, utcnow
from .storage import FileStorage

log = logging.getLogger(__name__)

DB_FILE = "biomedai-workflow.db"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")  # first, so that switching to WAL below waits for other openers
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _owner_only(path: Path, mode: int) -> None:
    """Tighten ``path`` to ``mode`` when we own it (an existing data folder made before 0700 included)."""
    import os

    try:
        if path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o777 != mode:
            path.chmod(mode)
    except (OSError, AttributeError):  # not ours, or no getuid (Windows): leave it
        log.debug("could not restrict %s to %o", path, mode)


class Store:
    """The database and the file storage of one workflow service instance.

    ``data_dir`` holds ``storage/`` (study files and results) and, unless ``database_url`` is
    given, the SQLite database. Several processes (the web server and the workers) open the same
    store; SQLite runs in WAL mode with a busy timeout so that they can. With ``create`` (the
    default) the schema is brought to the newest Alembic revision (:mod:`.migrations`).
    """

    def __init__(self, data_dir: str | Path, database_url: str | None = None, create: bool = True) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        _owner_only(self.data_dir, 0o700)  # it holds patient data and password hashes
        self.storage = FileStorage(self.data_dir / "storage")
        _owner_only(self.storage.root, 0o700)
        self.database_url = database_url or f"sqlite:///{self.data_dir / DB_FILE}"
        kwargs: dict[str, Any] = {}
        if self.database_url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        else:
            kwargs["pool_pre_ping"] = True
        try:
            self.engine = create_engine(self.database_url, **kwargs)
        except Exception as exc:  # noqa: BLE001 - a bad URL is a configuration error
            raise ConfigError(f"database URL {self.database_url!r}: {exc}") from exc
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            database_file = self.engine.url.database
            if database_file and database_file != ":memory:" and Path(database_file).parent.is_dir():
                Path(database_file).touch(mode=0o600)  # SQLite gives its -wal/-shm files the same mode
                _owner_only(Path(database_file), 0o600)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if create:
            from .migrations import upgrade

            try:
                upgrade(self.engine)  # versioned schema (Alembic); adopts databases made by create_all
            except ConfigError:
                raise
            except ImportError as exc:
                raise ConfigError(f"the workflow database needs {exc.name or 'alembic'}: "
                                  "pip install 'biomedai[serve]'") from exc
            except Exception as exc:  # noqa: BLE001 - unreachable or unmigratable database
                raise ConfigError(f"database {self.engine.url.render_as_string(hide_password=True)}: could not "
                                  f"bring its schema up to date ({type(exc).__name__}: {exc})") from exc

    def close(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits when the block succeeds and rolls back when it raises."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    # --- audit -------------------------------------------------------------------------------
    def audit(self, username: str, action: str, object_type: str = "", object_id: Any = "", detail: str = "",
              client: str = "") -> None:
        """Append one audit event (who did what to which object)."""
        with self.session() as s:
            s.add(AuditEvent(username=username or "", action=action, object_type=object_type,
                             object_id=str(object_id), detail=detail[:2000], client=client[:64]))

    # --- users and tokens --------------------------------------------------------------------
    def create_user(self, username: str, password: str, role: str = "viewer") -> User:
        """Add a user; the password is stored as a scrypt hash."""
        if role not in ROLES:
            raise ConfigError(f"role {role!r} is not one of {', '.join(ROLES)}")
        plain = username.replace("_", "").replace("-", "").replace(".", "")
        if not username or len(username) > 64 or not plain.isascii() or not plain.isalnum():
            raise ConfigError(f"user name {username!r}: use 1-64 letters, digits, '.', '-' or '_'")
        if len(password) < auth.MIN_PASSWORD_LENGTH:
            raise ConfigError(f"password of {username!r} is shorter than {auth.MIN_PASSWORD_LENGTH} characters")
        try:
            with self.session() as s:
                user = User(username=username, password_hash=auth.hash_password(password), role=role)
                s.add(user)
                s.flush()
                return user
        except IntegrityError:
            raise ConfigError(f"user {username!r} exists already") from None

    def count_users(self) -> int:
        with self.session() as s:
            return len(s.scalars(select(User.id)).all())

    def authenticate(self, username: str, password: str) -> User | None:
        """The active user with this name and password, or ``None``."""
        with self.session() as s:
            user = s.scalar(select(User).where(User.username == username))
            if user is None:
                auth.verify_password(password, auth.hash_password("timing-equaliser"))
                return None
            if not user.active or not auth.verify_password(password, user.password_hash):
                return None
            return user

    def issue_token(self, user: User, ttl_s: float = 8 * 3600) -> tuple[str, _dt.datetime]:
        """A new API token for ``user`` valid for ``ttl_s`` seconds: ``(token, expires_at)``."""
        token = auth.new_token()
        expires = utcnow() + _dt.timedelta(seconds=ttl_s)
        with self.session() as s:
            s.add(Token(token_sha256=auth.token_digest(token), user_id=user.id, expires_at=expires))
        return token, expires

    def user_for_token(self, token: str | None) -> User | None:
        """The active user a valid (known, unrevoked, unexpired) token belongs to, else ``None``."""
        if not token or len(token) > 200:
            return None
        with self.session() as s:
            row = s.scalar(select(Token).where(Token.token_sha256 == auth.token_digest(token)))
            if row is None or row.revoked or row.expires_at <= utcnow():
                return None
            user = s.get(User, row.user_id)
            return user if user is not None and user.active else None

    def revoke_token(self, token: str) -> None:
        with self.session() as s:
            row = s.scalar(select(Token).where(Token.token_sha256 == auth.token_digest(token)))
            if row is not None:
                row.revoked = True
