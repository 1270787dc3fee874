"""The Alembic migrations build exactly the schema the models declare (on PostgreSQL), and a migration that
drops a column keeps what references its table (PostgreSQL and SQLite)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, create_engine, inspect, text

from core.db import dispose_all, get_engine, migrate
from models.base import Base
from tests.conftest import PG_ADMIN_URL


def test_migrations_match_the_models(pg_url: str) -> None:
    with get_engine(pg_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}"


def test_migrating_twice_is_harmless(pg_url: str) -> None:
    migrate(pg_url)


def _alembic(url: str, action: str, target: str) -> None:
    from alembic import command
    from alembic.config import Config

    from core.db import _MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["engine"] = get_engine(url)
    getattr(command, action)(cfg, target)


def _insert(conn: Connection, table: str, **given: object) -> None:
    """A row with the given values and a plain value in every other required column."""
    from datetime import UTC, datetime

    import sqlalchemy as sa

    meta = sa.MetaData()
    t = sa.Table(table, meta, autoload_with=conn)
    row = dict(given)
    for col in t.columns:
        if col.name in row or col.nullable or col.primary_key or col.server_default is not None:
            continue
        kind = col.type.python_type
        row[col.name] = {int: 1, bool: False, str: "x", datetime: datetime(2026, 12, 7, tzinfo=UTC)}[kind]
    conn.execute(t.insert().values(**row))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_download_key_alias_goes_and_comes_back_and_the_invoices_taken_keep_their_download(
        backend: str, tmp_path: Path) -> None:
    """0015_ksef_download_no_key_alias, up and down on both databases: on SQLite a copy of ksef_downloads (batch
    mode's way) would set every ksef_received.download_id to NULL as the old table is dropped."""
    name = f"einvoice_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'hub.db'}"
    else:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        migrate(url)
        _alembic(url, "downgrade", "0014_ksef_download_range_from")
        engine = get_engine(url)
        with engine.begin() as conn:
            _insert(conn, "tenants", id=7, vat_number="PL5261040828", country="PL")
            _insert(conn, "users", id=3, email="kasia@example.pl")
            _insert(conn, "invoices", id="PL5261040828_1", tenant_id=7)
            _insert(conn, "ksef_downloads", id=5, tenant_id=7, requested_by=3, key_alias="ksef-5261040828")
            _insert(conn, "ksef_received", tenant_id=7, invoice_id="PL5261040828_1", download_id=5)

        def state() -> tuple[list[str], list[tuple[object, ...]]]:
            with engine.connect() as conn:
                columns = [c["name"] for c in inspect(conn).get_columns("ksef_downloads")]
                received = [tuple(r) for r in conn.execute(text("SELECT invoice_id, download_id FROM ksef_received"))]
            return columns, received

        migrate(url)
        columns, received = state()
        assert "key_alias" not in columns and received == [("PL5261040828_1", 5)]
        _alembic(url, "downgrade", "0014_ksef_download_range_from")
        columns, received = state()
        assert "key_alias" in columns and received == [("PL5261040828_1", 5)]
        with engine.connect() as conn:  # back as the old code filled it
            assert conn.scalar(text("SELECT key_alias FROM ksef_downloads")) == "ksef-5261040828"
        migrate(url)
        assert "key_alias" not in state()[0]
        if backend == "postgresql":
            with engine.connect() as conn:
                assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    finally:
        dispose_all()
        if backend == "postgresql":
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
