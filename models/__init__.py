"""SQLAlchemy tables and the dataclasses that cross the workflow boundary.

Importing this package registers every table on `Base.metadata` (Alembic's env relies on it).
"""

from models import (  # noqa: F401
    audit,
    certificates,
    conservation,
    contracts,
    feed,
    files,
    identity,
    invoices,
    ksef_channel,
    ksef_credentials,
    ksef_download,
    ksef_outages,
    outbox,
    preferences,
    sync_targets,
    tenant,
    tenant_profile,
)
from models.base import Base

__all__ = ["Base"]
