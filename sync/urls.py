"""The local copy's database URL: which ones a sync accepts, and how one is shown without its password."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

DRIVERS = ("sqlite", "postgresql", "postgresql+psycopg2")


class BadDatabaseUrl(ValueError):
    pass


def check_database_url(value: str, absolute_sqlite: bool = False) -> URL:
    """The URL parsed, or BadDatabaseUrl naming what is wrong. `absolute_sqlite`: a SQLite file must be named
    by an absolute path (a scheduled sync runs in the worker, whose working directory is not the caller's)."""
    try:
        url = make_url(value.strip())
    except ArgumentError as err:
        raise BadDatabaseUrl(f"{value!r} is not a database URL (sqlite:///file.db or postgresql://...)") from err
    if url.drivername not in DRIVERS:
        raise BadDatabaseUrl(f"database {url.drivername!r} is not supported; use one of: {', '.join(DRIVERS)}")
    if url.drivername == "sqlite":
        if not url.database or url.database == ":memory:":
            raise BadDatabaseUrl("a SQLite copy needs a file: sqlite:///path/to/copy.db")
        if absolute_sqlite and not url.database.startswith("/"):
            raise BadDatabaseUrl(f"the SQLite file {url.database!r} must be an absolute path "
                                 "(sqlite:////abs/path.db): the worker's directory is not yours")
    elif not url.database:
        raise BadDatabaseUrl("a PostgreSQL copy needs a database name: postgresql://user@host/dbname")
    return url


def label_of(url: URL) -> str:
    """The URL as it may be shown and logged: the password masked."""
    return url.render_as_string(hide_password=True)
