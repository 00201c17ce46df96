"""Versioned schema of the workflow database (Alembic), run from Python: no ``alembic.ini`` needed.

:class:`~biomedai.workflow.store.Store` calls :func:`upgrade` on start, so a new release's
migrations run the first time the service (or a worker) opens the database. One process at a
time migrates: PostgreSQL takes an advisory lock in the migration's transaction, SQLite a file
lock next to the database file. A database made by ``create_all`` before migrations existed (no
``alembic_version`` table) is adopted by the idempotent initial revision: missing tables are
created, existing rows are left alone.

    python -m biomedai.workflow.migrations upgrade --data-dir D [--database-url URL]
    python -m biomedai.workflow.migrations current --data-dir D [--database-url URL]
    python -m biomedai.workflow.migrations revision -m "add x" --database-url sqlite:///dev.db  # developers

Example:
    >>> import tempfile
    >>> from sqlalchemy import create_engine
    >>> engine = create_engine(f"sqlite:///{tempfile.mkdtemp()}/wf.db")
    >>> upgrade(engine) == head_revision()
    True
    >>> schema_differences(engine)
    []
"""
from __future__ import annotations

import contextlib
import logging
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
#: the PostgreSQL advisory-lock key that serialises migrations (any constant 64-bit number)
PG_LOCK_KEY = zlib.crc32(b"biomedai.workflow.migrations")


def alembic_config(connection: Any = None) -> Any:
    """An Alembic ``Config`` pointing at this package; ``connection`` is what env.py migrates."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision shipped with this version of biomedai."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Any) -> str | None:
    """The revision the database is at (``None``: empty, or made by ``create_all`` before migrations)."""
    from sqlalchemy import inspect, text

    with engine.connect() as conn:  # plain SQL: no Alembic context (and its log lines) on every start
        if not inspect(conn).has_table("alembic_version"):
            return None
        versions = sorted(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    return ",".join(versions) or None


@contextlib.contextmanager
def _file_lock(engine: Any) -> Iterator[None]:
    """An exclusive ``flock`` next to a SQLite file (no-op for in-memory databases or non-POSIX)."""
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(f"{database}.migrate.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(engine: Any, revision: str = "head") -> str | None:
    """Bring the database to ``revision`` (default the newest); returns the revision it is at then.

    Cheap when the database is already there (one query). Tables found without an
    ``alembic_version`` (a database from before migrations) are kept with their rows.
    """
    head = head_revision()
    if engine.dialect.name == "sqlite":
        # SQLite: every opener takes the file lock, also for the check, so that no connection switches the
        # file to WAL or reads a half-made schema while another process migrates it
        with _file_lock(engine):
            return _upgrade_locked(engine, revision, head)
    if revision == "head" and current_revision(engine) == head:
        return head
    return _upgrade_locked(engine, revision, head)


def _upgrade_locked(engine: Any, revision: str, head: str | None) -> str | None:
    from alembic import command
    from sqlalchemy import inspect, text

    if engine.dialect.name == "sqlite" and revision == "head" and current_revision(engine) == head:
        return head
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
        before = _revision_of(conn)
        legacy = before is None and bool(set(inspect(conn).get_table_names()) & _model_tables())
        if legacy:
            log.warning("the workflow database has tables but no migration history (made before migrations); "
                        "adopting it at the initial revision, rows are kept")
        command.upgrade(alembic_config(conn), revision)
        after = _revision_of(conn)
    if before != after:
        log.info("workflow database migrated from %s to %s", before or "nothing", after)
    if legacy:
        for diff in schema_differences(engine):
            log.error("workflow database differs from the models after adoption: %s", diff)
    return after


def _revision_of(conn: Any) -> str | None:
    from alembic.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def _model_tables() -> set[str]:
    from ..models import Base

    return set(Base.metadata.tables)


def schema_differences(engine: Any) -> list[Any]:
    """Alembic's autogenerate comparison of the database with the models (``[]``: they agree)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from ..models import Base

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return [d for d in compare_metadata(context, Base.metadata) if not _is_alembic_table(d)]


def _is_alembic_table(diff: Any) -> bool:
    return isinstance(diff, tuple) and len(diff) > 1 and getattr(diff[1], "name", None) == "alembic_version"


def main(argv: list[str] | None = None) -> int:
    """``python -m biomedai.workflow.migrations upgrade|current|revision``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m biomedai.workflow.migrations", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("upgrade", "current", "revision"))
    parser.add_argument("--data-dir", default="biomedai-data", help="the service's data folder (SQLite default)")
    parser.add_argument("--database-url", help="SQLAlchemy URL (default: SQLite in --data-dir)")
    parser.add_argument("-m", "--message", default="change", help="revision: its message")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from ..store import Store

    store = Store(args.data_dir, args.database_url, create=args.action == "upgrade")
    try:
        if args.action == "revision":  # autogenerate a new revision file from the models (developers)
            from alembic import command

            upgrade(store.engine)
            with store.engine.begin() as conn:
                command.revision(alembic_config(conn), message=args.message, autogenerate=True)
        print(current_revision(store.engine) or "none")
    finally:
        store.close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
