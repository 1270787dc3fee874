"""SQLAlchemy tables and the dataclasses that cross the workflow boundary.

Importing this package registers every table on `Base.metadata` (Alembic's env relies on it).
"""

from models import files, outbox, preferences, tenant  # noqa: F401

# area: certificates
# area: contracts
# area: invoices
# area: conservation
from models.base import Base

__all__ = ["Base"]
