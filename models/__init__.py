"""SQLAlchemy tables and the dataclasses that cross the workflow boundary.

Importing this package registers every table on `Base.metadata` (Alembic's env relies on it).
"""
# ruff: noqa: I001  (one import per area below its anchor; keep them apart rather than sorted)

from models import files, outbox, preferences, tenant  # noqa: F401

# area: certificates
from models import certificates  # noqa: F401,E402
# area: contracts
from models import contracts  # noqa: F401,E402
# area: invoices
from models import invoices  # noqa: F401,E402
# area: conservation
from models import conservation  # noqa: F401,E402
from models.base import Base

__all__ = ["Base"]
