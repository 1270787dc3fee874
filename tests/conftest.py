"""Shared fixtures: a throw-away PostgreSQL database, the SMTP sink, the S3 emulator, and Temporal
(time-skipping test server and real dev server), all started once per test session.

Each session gets its own database (`einvoice_test_<random>`), so parallel runs never collide.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from temporalio.testing import WorkflowEnvironment

from core.db import dispose_all, get_engine, migrate
from core.search_attributes import SEARCH_ATTRIBUTES
from core.settings import Settings
from core.temporal import ensure_search_attributes, temporal_cli_path, temporal_test_server_path
from devstack.smtp_sink import Mailbox, start_sink
from models.base import Base
from tests.helpers import free_port

# the panel's browser fixtures (`served`, `browser`: one of each per module that asks), for every browser module
pytest_plugins = ("tests.panel_browser_support",)

PG_ADMIN_URL = os.environ.get("EINVOICE_TEST_PG_ADMIN", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    name = f"einvoice_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    migrate(url)
    with create_engine(url).begin() as conn:  # see `db`: no vacuum, so a DELETE's space is never written again
        for table in Base.metadata.sorted_tables:
            conn.execute(text(f'ALTER TABLE "{table.name}" SET (autovacuum_enabled = false, '
                              'toast.autovacuum_enabled = false)'))
    yield url
    dispose_all()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("einvoice")


@pytest.fixture(scope="session")
def smtp_sink(session_dir: Path) -> Iterator[tuple[int, Path]]:
    port = free_port()
    out = session_dir / "mail"
    controller = start_sink("127.0.0.1", port, out)
    yield port, out
    controller.stop()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="session")
def settings(pg_url: str, session_dir: Path, smtp_sink: tuple[int, Path], s3_endpoint: str) -> Settings:
    return Settings(
        DATA_DIR=session_dir / "data",
        DATABASE_URL=pg_url,
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=smtp_sink[0],
        S3_ENDPOINT_URL=s3_endpoint,
        S3_BUCKET="einvoice-test-archive",
        SECRET_KEY="test-secret-key-0123456789abcdef",
        PUBLIC_BASE_URL="http://127.0.0.1:1",
    )


# The sequences of our tables' identity and serial columns, restarted with them (what TRUNCATE RESTART IDENTITY did).
OWNED_SEQUENCES = """
SELECT quote_ident(n.nspname) || '.' || quote_ident(s.relname) FROM pg_class s
JOIN pg_namespace n ON n.oid = s.relnamespace
JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
WHERE s.relkind = 'S' AND d.refobjid = ANY(CAST(:tables AS regclass[]))
"""


@functools.cache
def _emptying(url: str) -> str:
    """The statements that empty every table of ours and restart its sequences, as one round trip."""
    names = [f'"{t.name}"' for t in Base.metadata.sorted_tables]
    with get_engine(url).connect() as conn:
        sequences = list(conn.scalars(text(OWNED_SEQUENCES), {"tables": names}))
    return "; ".join([*(f"DELETE FROM {n}" for n in names), *(f"ALTER SEQUENCE {s} RESTART" for s in sequences)])


@pytest.fixture
def db(settings: Settings) -> Iterator[str]:
    """A clean database for this test: every table emptied before it runs, its sequences restarted. Yields the URL.

    DELETE, not TRUNCATE: a test leaves a few rows, and TRUNCATE of 32 tables (new files for each, fsynced) took
    0.2-0.7 s a test against 0.03 s for the DELETEs (measured on this machine, loaded), minutes over the suite.
    The triggers are off for this transaction only (`session_replication_role = replica`, which the test
    database's superuser may set): the audit trail's refuses every DELETE (migration 0006), and the order of the
    DELETEs need not follow the foreign keys. Autovacuum is off for the test database's tables (`pg_url`): a
    vacuum hands a DELETE's space to the next inserts, after which a query without ORDER BY gives rows in
    another order than they were written (seen once: tests/test_ksef_download.py, since given its ORDER BY);
    unvacuumed, every insert goes to the table's end, as in a fresh TRUNCATEd table."""
    engine = get_engine(settings.database_url)
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text(_emptying(settings.database_url)))
    yield settings.database_url


@pytest.fixture
def mailbox(smtp_sink: tuple[int, Path]) -> Mailbox:
    """The SMTP sink's messages, emptied before this test."""
    out = smtp_sink[1]
    for path in out.glob("*.eml"):
        path.unlink()
    return Mailbox(out)


@pytest.fixture(scope="module")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """Temporal's time-skipping test server: timers of days pass in milliseconds.

    One per test module: a workflow another module left waiting (its worker gone) would stop the server
    from skipping time for everyone after it."""
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=temporal_test_server_path())
    await ensure_search_attributes(env.client, "default")
    async with env:
        yield env


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """A real Temporal dev server (in memory), with our search attributes."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli_path(),
        search_attributes=list(SEARCH_ATTRIBUTES),
        dev_server_extra_args=["--log-level", "error"],
    )
    async with env:
        yield env

