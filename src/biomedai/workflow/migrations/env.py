"""Alembic environment of the workflow database; run through :mod:`biomedai.workflow.migrations`.

The caller passes an open connection in ``config.attributes["connection"]`` (no ``alembic.ini``,
no URL here), so the same code migrates SQLite and PostgreSQL.
"""
from __future__ import annotations

from alembic import context

from biomedai.workflow.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable through a hand-written alembic.ini
    raise RuntimeError("run the workflow migrations through biomedai.workflow.migrations.upgrade(engine)")

context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
