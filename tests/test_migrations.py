"""The Alembic migrations build exactly the schema the models declare (on PostgreSQL)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from core.db import get_engine, migrate
from models.base import Base


def test_migrations_match_the_models(pg_url: str) -> None:
    with get_engine(pg_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}"


def test_migrating_twice_is_harmless(pg_url: str) -> None:
    migrate(pg_url)
