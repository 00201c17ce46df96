"""Alembic migrations of the workflow database: fresh upgrade == models, legacy databases adopted.

Runs on SQLite, and on PostgreSQL when ``BIOMEDAI_TEST_DATABASE_URL`` is set (benchmarks/workflow/pg.py):
there every test gets its own throwaway database on the same server.
"""
from __future__ import annotations

import threading
import uuid

import pytest

pytest.importorskip("alembic")

from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from biomedai.workflow import migrations  # noqa: E402
from biomedai.workflow.models import AuditEvent, Base, Job, Result, StoredFile, Study, User  # noqa: E402
from biomedai.workflow.store import Store  # noqa: E402

from .conftest import TEST_DATABASE_URL  # noqa: E402


@pytest.fixture
def empty_url(tmp_path):
    """The URL of an empty database: a new SQLite file, or a new database on the test PostgreSQL server."""
    if not TEST_DATABASE_URL:
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    from sqlalchemy.engine import make_url

    name = f"biomedai_mig_{uuid.uuid4().hex[:12]}"
    admin = create_engine(TEST_DATABASE_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def _tables(engine) -> set[str]:
    from sqlalchemy import inspect

    return set(inspect(engine).get_table_names())


def _seed_rows(engine) -> None:
    """Rows in every table, as the service before migrations would have left them."""
    with Session(engine) as s:
        user = User(username="ada", password_hash="x" * 40, role="admin")
        study = Study(uid="1.2.3", patient_id="P1", modality="DX", findings=[{"label": "x"}])
        s.add_all([user, study])
        s.flush()
        f = StoredFile(study_id=study.id, path="studies/1/a.png", original_name="a.png", sha256="a" * 64, size=3,
                       format="png", kind="image/grey")
        job = Job(study_id=study.id, method="m", inputs=["studies/1/a.png"], status="done")
        s.add_all([f, job, AuditEvent(username="ada", action="login")])
        s.flush()
        s.add(Result(job_id=job.id, study_id=study.id, method="m", output_dir="results/1", metrics={"area": 2.5}))
        s.commit()


def _counts(engine) -> dict[str, int]:
    with Session(engine) as s:
        return {m.__tablename__: s.scalar(select(func.count()).select_from(m))
                for m in (User, Study, StoredFile, Job, Result, AuditEvent)}


def test_fresh_upgrade_equals_the_models(tmp_path, empty_url):
    store = Store(tmp_path / "d", empty_url)
    try:
        assert migrations.current_revision(store.engine) == migrations.head_revision() == "0003"
        assert migrations.schema_differences(store.engine) == []  # alembic autogenerate: nothing to add
        assert set(Base.metadata.tables) <= _tables(store.engine)
        store.create_user("ada", "long-enough-pw", "admin")
        assert store.authenticate("ada", "long-enough-pw") is not None
    finally:
        store.close()


def test_database_from_create_all_is_adopted_with_its_rows(tmp_path, empty_url):
    engine = create_engine(empty_url)
    Base.metadata.create_all(engine)  # what Store did before migrations existed
    _seed_rows(engine)
    before = _counts(engine)
    assert migrations.current_revision(engine) is None
    engine.dispose()
    store = Store(tmp_path / "d", empty_url)
    try:
        assert migrations.current_revision(store.engine) == migrations.head_revision()
        assert _counts(store.engine) == before and all(before.values())
        assert migrations.schema_differences(store.engine) == []
        with store.session() as s:
            assert s.scalar(select(Result.metrics)) == {"area": 2.5}
            assert s.scalar(select(Study.findings)) == [{"label": "x"}]
    finally:
        store.close()


def test_partial_old_database_gets_the_missing_tables(tmp_path, empty_url):
    engine = create_engine(empty_url)
    Base.metadata.create_all(engine, tables=[Base.metadata.tables["users"], Base.metadata.tables["audit"]])
    with Session(engine) as s:
        s.add_all([User(username="old", password_hash="x" * 40), AuditEvent(action="login")])
        s.commit()
    engine.dispose()
    store = Store(tmp_path / "d", empty_url)
    try:
        assert set(Base.metadata.tables) <= _tables(store.engine)
        assert migrations.schema_differences(store.engine) == []
        assert _counts(store.engine)["users"] == 1 and _counts(store.engine)["audit"] == 1
    finally:
        store.close()


def test_downgrade_to_base_and_up_again(tmp_path, empty_url):
    from alembic import command

    store = Store(tmp_path / "d", empty_url)
    try:
        with store.engine.begin() as conn:
            command.downgrade(migrations.alembic_config(conn), "base")
        assert not set(Base.metadata.tables) & _tables(store.engine)
        assert migrations.upgrade(store.engine) == migrations.head_revision()
        assert migrations.schema_differences(store.engine) == []
    finally:
        store.close()


def test_concurrent_starts_migrate_once(tmp_path, empty_url):
    """The web server and its workers open a fresh database at the same moment: all succeed."""
    errors: list[BaseException] = []
    stores: list[Store] = []

    def open_store() -> None:
        try:
            stores.append(Store(tmp_path / "d", empty_url))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_store, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert not errors, errors
        with stores[0].engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == ["0003"]
        assert migrations.schema_differences(stores[0].engine) == []
    finally:
        for s in stores:
            s.close()




def test_serve_migrate_only(tmp_path, empty_url, capsys, cli_logging):
    from biomedai.cli import main

    data = tmp_path / "svc"
    argv = ["serve", "--migrate-only", "--data-dir", str(data)]
    if TEST_DATABASE_URL:
        argv += ["--database-url", empty_url]
    assert main(argv) == 0
    assert "revision 0003" in capsys.readouterr().out
    engine = create_engine(empty_url if TEST_DATABASE_URL else f"sqlite:///{data / 'biomedai-workflow.db'}")
    try:
        assert migrations.current_revision(engine) == "0003"
    finally:
        engine.dispose()


def test_unreachable_database_is_a_config_error(tmp_path):
    from biomedai.errors import ConfigError

    with pytest.raises(ConfigError, match="could not bring its schema up to date"):
        Store(tmp_path / "d", f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'x.db'}")


def test_docstring_examples():
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module("biomedai.workflow.migrations"), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
