"""The database engine and sessions (SQLAlchemy 2), and schema migration (Alembic).

PostgreSQL in production and tests; a SQLite file is the embedded default. One engine per URL per
process; every unit of work is a `session_scope()` that commits or rolls back as a whole, so a refused
request never leaves half a row behind.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

_lock = threading.Lock()
_engines: dict[str, Engine] = {}
_MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def get_engine(url: str) -> Engine:
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _make_engine(url)
            _engines[url] = engine
        return engine


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    # PostgreSQL text cannot hold NUL; the driver would raise a bare ValueError (an HTTP 500). Any text
    # bound to a statement that carries one is bad input: refused naming the parameter.
    event.listen(engine, "before_cursor_execute", _refuse_nul)
    return engine


def _refuse_nul(_conn, _cursor, _statement, parameters, _context, _executemany) -> None:  # type: ignore[no-untyped-def]
    from domain.errors import InvalidInput

    rows = parameters if isinstance(parameters, list | tuple) and parameters and isinstance(
        parameters[0], dict | list | tuple) else [parameters]
    for row in rows:
        items = row.items() if isinstance(row, dict) else enumerate(row or ())
        for name, value in items:
            if isinstance(value, str) and "\x00" in value:
                field = re.sub(r"_\d+$", "", str(name))
                raise InvalidInput.one(field, "a NUL character (0x00) is not allowed in text")


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A transaction: commit on success, roll back on any exception."""
    session = sessionmaker(bind=get_engine(url), expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def migrate(url: str) -> None:
    """Bring the schema to the newest revision of every migration branch (idempotent)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["engine"] = get_engine(url)
    command.upgrade(cfg, "heads")


def dispose_all() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
