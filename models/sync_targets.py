"""Where the in-stack sync (#15) copies a customer's feed to: one target per customer, run by a Temporal
Schedule (`workers/schedules.py`, `workflows/customer_sync.py`).

The target's database URL may hold a password, so it is kept encrypted here (`core.secrets.sealed`) and
never crosses the workflow boundary: the schedule's workflow carries the target's id only. `scheduled_by`
is the user the runs act for; each run asks the policy again, so a deactivated user or a withdrawn grant
stops the next run. The last run's outcome is kept beside it for `GET /customers/{vat}/sync-schedule`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Timestamp, utcnow


class SyncTarget(Base):
    __tablename__ = "sync_targets"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), unique=True)
    database_url_sealed: Mapped[str] = mapped_column(Text)
    database_label: Mapped[str] = mapped_column(String(300))  # the URL without its password, for display
    every_minutes: Mapped[int] = mapped_column(Integer)
    scheduled_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow, onupdate=utcnow)
    last_run_at: Mapped[datetime | None] = mapped_column(Timestamp(), nullable=True)
    last_applied: Mapped[int] = mapped_column(Integer, default=0)
    last_behind: Mapped[int] = mapped_column(Integer, default=0)
    last_success_at: Mapped[datetime | None] = mapped_column(Timestamp(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
