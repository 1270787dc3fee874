"""Alembic environment: runs online against the engine handed over by core.db.migrate, or DATABASE_URL."""

from alembic import context

import models  # noqa: F401  (registers every table on Base.metadata)
from models.base import Base

config = context.config


def _run() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        from core.db import get_engine
        from core.settings import get_settings

        engine = get_engine(get_settings().database_url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


_run()
