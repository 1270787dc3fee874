"""KSeF as an invoice channel (#14.3): the interactive sessions we open and the invoices sent in them.

- `ksef_sessions`: one row per interactive session (sesja interaktywna) opened at KSeF for a customer: its
  reference number, its lifetime (validUntil), and its AES-256 key and IV **sealed** (`core.secrets.seal`, Fernet
  under SECRET_KEY): any worker process that sends in the session reads the key here, so it never crosses a
  workflow boundary (the session workflow carries the reference number only). `opening_key` makes opening
  idempotent (a retried open finds the session the first attempt opened). Closed sessions keep their row (the
  key is erased when closed).
- `ksef_invoices`: one row per invoice sent through KSeF, written before the invoice goes out (`sending`) and
  completed with KSeF's invoice reference right after KSeF answers; then its outcome: the KSeF number and the
  stored UPO file (accepted), or KSeF's status code and description (rejected).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from domain.errors import NotFound
from models.base import Base, Timestamp, as_utc, utcnow

SENDING, SENT, ACCEPTED, REJECTED = "sending", "sent", "accepted", "rejected"


class KsefSession(Base):
    __tablename__ = "ksef_sessions"

    reference_number: Mapped[str] = mapped_column(String(60), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    opening_key: Mapped[str] = mapped_column(String(250), unique=True)
    key_sealed: Mapped[str | None] = mapped_column(Text)  # AES key + IV, sealed; None once closed
    state: Mapped[str] = mapped_column(String(10))  # open | closed
    valid_until: Mapped[datetime] = mapped_column(Timestamp())
    opened_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(Timestamp(), nullable=True)


class KsefInvoice(Base):
    __tablename__ = "ksef_invoices"

    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), primary_key=True)
    session_reference: Mapped[str] = mapped_column(String(60), index=True)
    invoice_reference: Mapped[str | None] = mapped_column(String(60))
    state: Mapped[str] = mapped_column(String(10))  # sending | sent | accepted | rejected
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    ksef_number: Mapped[str | None] = mapped_column(String(40), unique=True)
    status_code: Mapped[int | None] = mapped_column(Integer)
    status_description: Mapped[str | None] = mapped_column(Text)
    upo_file_id: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)


@dataclass(frozen=True)
class SessionRecord:
    reference_number: str
    state: str
    valid_until: datetime
    key_sealed: str | None


def _record(row: KsefSession) -> SessionRecord:
    return SessionRecord(row.reference_number, row.state, as_utc(row.valid_until), row.key_sealed)


def session_by_opening(session: Session, opening_key: str) -> SessionRecord | None:
    row = session.scalar(select(KsefSession).where(KsefSession.opening_key == opening_key))
    return None if row is None else _record(row)


def add_session(session: Session, tenant_id: int, opening_key: str, reference_number: str,
                valid_until: datetime, key_sealed: str) -> SessionRecord:
    row = KsefSession(reference_number=reference_number, tenant_id=tenant_id, opening_key=opening_key,
                      key_sealed=key_sealed, state="open", valid_until=valid_until, opened_at=utcnow())
    session.add(row)
    session.flush()
    return _record(row)


def get_session(session: Session, reference_number: str) -> SessionRecord:
    row = session.get(KsefSession, reference_number)
    if row is None:
        raise NotFound(f"no KSeF session {reference_number}")
    return _record(row)


def mark_closed(session: Session, reference_number: str) -> None:
    row = session.get(KsefSession, reference_number)
    if row is not None and row.state != "closed":
        row.state, row.key_sealed, row.closed_at = "closed", None, utcnow()
        session.flush()


def open_sessions(session: Session) -> list[SessionRecord]:
    return [_record(r) for r in session.scalars(select(KsefSession).where(KsefSession.state == "open"))]


def ksef_invoice(session: Session, invoice_id: str) -> KsefInvoice | None:
    return session.get(KsefInvoice, invoice_id)


def begin_send(session: Session, invoice_id: str, session_reference: str) -> KsefInvoice:
    """The row written before the invoice goes out; a second attempt counts itself (`attempts` > 1: KSeF may
    hold the invoice already, its answer lost)."""
    row = session.get(KsefInvoice, invoice_id)
    if row is None:
        row = KsefInvoice(invoice_id=invoice_id, session_reference=session_reference, state=SENDING, attempts=0)
        session.add(row)
    row.session_reference = session_reference
    row.attempts += 1
    row.updated_at = utcnow()
    session.flush()
    return row


def complete_send(session: Session, invoice_id: str, invoice_reference: str) -> None:
    row = session.get(KsefInvoice, invoice_id)
    assert row is not None
    row.invoice_reference, row.state, row.updated_at = invoice_reference, SENT, utcnow()
    session.flush()


def record_outcome(session: Session, invoice_id: str, accepted: bool, ksef_number: str | None,
                   code: int | None, description: str | None, upo_file_id: int | None) -> None:
    row = session.get(KsefInvoice, invoice_id)
    assert row is not None
    row.state = ACCEPTED if accepted else REJECTED
    row.ksef_number, row.status_code, row.status_description = ksef_number, code, description
    row.upo_file_id, row.updated_at = upo_file_id, utcnow()
    session.flush()
