"""The download from KSeF (#14.4): where each download of a customer's received invoices stands, and every
invoice it took.

- `ksef_downloads`: one row per download: the customer's incremental one (`name` "schedule", run by its
  Temporal Schedule) and each range asked for (`name` "range-<id>"). The cursor (`date_from`, `window_to`,
  `page_offset`, `at_hwm`: domain/ksef/download.py) is written in the same transaction as the last invoice of
  the page it moves past, so it never stands past an invoice that is not stored. Who asked (`requested_by`:
  each round acts for that user and asks the policy again), the key alias the rounds authenticate with (never
  a key or a token), the last round's outcome.
- `ksef_received`: one row per invoice taken, unique per customer by its KSeF number: taking one twice is a
  constraint violation, not a check that could race. `cycle_started` is set once its passive-cycle workflow
  (InvoiceReceiveWorkflow) is started; until then the download hands it over again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from domain.ksef.download import Cursor
from models.base import Base, Timestamp, as_utc, utcnow

SCHEDULE = "schedule"


class KsefDownload(Base):
    __tablename__ = "ksef_downloads"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_ksef_downloads_tenant_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(40))  # "schedule" | "range-<n>"
    subject_type: Mapped[str] = mapped_column(String(20))  # Subject2: the customer as buyer
    requested_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    range_from: Mapped[datetime | None] = mapped_column(Timestamp(), nullable=True)  # where it began
    range_to: Mapped[datetime | None] = mapped_column(Timestamp(), nullable=True)  # None: incremental
    every_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)  # scheduled; None: not (any more)
    date_from: Mapped[datetime] = mapped_column(Timestamp())
    window_to: Mapped[datetime | None] = mapped_column(Timestamp(), nullable=True)
    page_offset: Mapped[int] = mapped_column(Integer, default=0)
    at_hwm: Mapped[bool] = mapped_column(Boolean, default=False)
    taken: Mapped[int] = mapped_column(Integer, default=0)  # invoices taken by this download, all rounds
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow, onupdate=utcnow)
    last_run_at: Mapped[datetime | None] = mapped_column(Timestamp(), nullable=True)
    last_success_at: Mapped[datetime | None] = mapped_column(Timestamp(), nullable=True)
    last_taken: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)

    @property
    def cursor(self) -> Cursor:
        return Cursor(as_utc(self.date_from), as_utc(self.window_to) if self.window_to else None, self.page_offset,
                      self.at_hwm)

    def move(self, cursor: Cursor) -> None:
        self.date_from, self.window_to = cursor.date_from, cursor.window_to
        self.page_offset, self.at_hwm = cursor.page_offset, cursor.at_hwm


class KsefReceived(Base):
    __tablename__ = "ksef_received"
    __table_args__ = (UniqueConstraint("tenant_id", "ksef_number", name="uq_ksef_received_tenant_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    ksef_number: Mapped[str] = mapped_column(String(40))
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), unique=True)
    download_id: Mapped[int | None] = mapped_column(ForeignKey("ksef_downloads.id", ondelete="SET NULL"),
                                                    index=True, nullable=True)
    invoice_number: Mapped[str] = mapped_column(String(256))  # P_2 in full (invoices.number keeps 20)
    invoice_type: Mapped[str] = mapped_column(String(10))  # FA(3) RodzajFaktury: VAT, KOR, ZAL ...
    permanent_storage_date: Mapped[datetime] = mapped_column(Timestamp())
    cycle_started: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    taken_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)


def download_row(session: Session, tenant_id: int, name: str) -> KsefDownload | None:
    return session.scalar(select(KsefDownload).where(KsefDownload.tenant_id == tenant_id,
                                                     KsefDownload.name == name))


def known_numbers(session: Session, tenant_id: int, numbers: list[str]) -> set[str]:
    """Which of these KSeF numbers this customer already took."""
    if not numbers:
        return set()
    return set(session.scalars(select(KsefReceived.ksef_number).where(
        KsefReceived.tenant_id == tenant_id, KsefReceived.ksef_number.in_(numbers))).all())


def not_handed_over(session: Session, tenant_id: int, limit: int) -> list[KsefReceived]:
    """Invoices taken whose passive cycle is not known to have started, oldest first."""
    return list(session.scalars(select(KsefReceived).where(
        KsefReceived.tenant_id == tenant_id, KsefReceived.cycle_started.is_(False)).order_by(
        KsefReceived.id).limit(limit)).all())
