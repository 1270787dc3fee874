"""Invoices (sent and received), the per-transmitter progressive of SDI file names, the transmission outbox
that makes sending idempotent, and the inbox of SDI notifications.

- `invoices`: one row per invoice file, its state, its identificativo SdI once known.
- `invoice_documents`: the key (type, number, year) of every document in a sent file, unique per customer:
  the same invoice number in the same year is refused (SDI 00404) before anything is written.
- `sdi_progressives`: the last progressive used per transmitter (file names never repeat: SDI 00002).
- `sdi_transmissions`: one row per file name, written before the file goes out and completed with the
  identificativo SdI as soon as the SDI answers, in its own transaction: a retried transmission finds it.
- `sdi_notifications`: every notification received, stored before the workflow hears of it. `signaled`
  means settled: delivered to its workflow (Temporal took the signal, so the workflow will apply it or
  knowingly ignore it), or found late (its workflow had already closed: kept as a file of the invoice, not
  applied). Rows not settled a while after they were stored are redelivered by the notification sweep.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from domain.errors import Conflict, InvalidInput, NotFound, Problem
from models.base import Base, Timestamp, as_utc, utcnow
from models.files import FileInfo, files_of, store_file
from models.tenant import Tenant, get_tenant_row

OWNER_KIND = "invoice"


class Invoice(Base):
    __tablename__ = "invoices"

    id: Mapped[str] = mapped_column(String(60), primary_key=True)  # file name stem, or in-<sdi id>
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    direction: Mapped[str] = mapped_column(String(3))  # out | in
    file_name: Mapped[str] = mapped_column(String(60), index=True)
    transmitter_id: Mapped[str] = mapped_column(String(30))
    sign_mode: Mapped[str] = mapped_column(String(10))
    key_alias: Mapped[str | None] = mapped_column(String(128))
    format: Mapped[str] = mapped_column(String(5))  # FPA12 | FPR12
    state: Mapped[str] = mapped_column(String(30))
    sdi_id: Mapped[int | None] = mapped_column(BigInteger)
    counterparty_name: Mapped[str | None] = mapped_column(String(200))
    counterparty_vat: Mapped[str | None] = mapped_column(String(30))
    recipient_code: Mapped[str | None] = mapped_column(String(7))
    number: Mapped[str] = mapped_column(String(256))  # FA(3) P_2: up to 256; FatturaPA Numero: 20
    doc_date: Mapped[str] = mapped_column(String(10))
    total: Mapped[str | None] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    documents: Mapped[int] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(Text)
    workflow_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
    # who sent it, as the audit trail names users ("customer:anna@example.it"); "sdi" for a received one
    created_by: Mapped[str] = mapped_column(String(300), default="", server_default="")
    # the hub's advice on the file, accepted all the same (#17.1): JSON [{field, message, code}]
    warnings: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")


class InvoiceDocument(Base):
    __tablename__ = "invoice_documents"
    __table_args__ = (UniqueConstraint("tenant_id", "key", name="uq_invoice_documents_tenant_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(120))
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), index=True)


class SdiProgressive(Base):
    __tablename__ = "sdi_progressives"

    transmitter_id: Mapped[str] = mapped_column(String(30), primary_key=True)
    last: Mapped[str] = mapped_column(String(5))


class SdiTransmission(Base):
    __tablename__ = "sdi_transmissions"

    file_name: Mapped[str] = mapped_column(String(60), primary_key=True)
    invoice_id: Mapped[str] = mapped_column(String(60))
    state: Mapped[str] = mapped_column(String(12))  # sending | accepted | refused
    sdi_id: Mapped[int | None] = mapped_column(BigInteger)
    received_at: Mapped[str | None] = mapped_column(String(40))
    error: Mapped[str | None] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)


class SdiNotification(Base):
    __tablename__ = "sdi_notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    invoice_id: Mapped[str | None] = mapped_column(String(60), index=True)  # None: about no invoice of ours
    kind: Mapped[str] = mapped_column(String(2))
    sdi_id: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    file_id: Mapped[int | None] = mapped_column(Integer)
    signaled: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)


@dataclass(frozen=True)
class InvoiceView:
    id: str
    vat: str
    direction: str
    file_name: str
    transmitter_id: str
    sign_mode: str
    format: str
    state: str
    sdi_id: int | None
    counterparty_name: str | None
    counterparty_vat: str | None
    recipient_code: str | None
    number: str
    doc_date: str
    total: str | None
    currency: str
    documents: int
    detail: str | None
    workflow_id: str
    created_at: datetime
    updated_at: datetime
    created_by: str = ""
    warnings: tuple[dict[str, str | None], ...] = ()  # the hub's advice: {field, message, code}

    @classmethod
    def of(cls, row: Invoice, vat: str) -> InvoiceView:
        return cls(row.id, vat, row.direction, row.file_name, row.transmitter_id, row.sign_mode, row.format,
                   row.state, row.sdi_id, row.counterparty_name, row.counterparty_vat, row.recipient_code,
                   row.number, row.doc_date, row.total, row.currency, row.documents, row.detail, row.workflow_id,
                   as_utc(row.created_at), as_utc(row.updated_at), row.created_by or "",
                   tuple(json.loads(row.warnings or "[]")))

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id, "vat": self.vat, "direction": self.direction, "file_name": self.file_name,
            "transmitter_id": self.transmitter_id, "sign_mode": self.sign_mode, "format": self.format,
            "state": self.state, "sdi_id": self.sdi_id, "counterparty_name": self.counterparty_name,
            "counterparty_vat": self.counterparty_vat, "recipient_code": self.recipient_code,
            "number": self.number, "date": self.doc_date, "total": self.total, "currency": self.currency,
            "documents": self.documents, "detail": self.detail, "workflow_id": self.workflow_id,
            "created_at": self.created_at.isoformat(), "updated_at": self.updated_at.isoformat(),
            "created_by": self.created_by, "warnings": [dict(w) for w in self.warnings],
        }


@dataclass(frozen=True)
class NewInvoice:
    """What the starter knows about an invoice before it is written."""

    id: str
    direction: str
    file_name: str
    transmitter_id: str
    sign_mode: str
    key_alias: str | None
    format: str
    counterparty_name: str | None
    counterparty_vat: str | None
    recipient_code: str | None
    number: str
    doc_date: str
    total: str | None
    currency: str
    documents: int
    workflow_id: str
    sdi_id: int | None = None
    state: str = "received"
    created_by: str = ""
    warnings: tuple[Problem, ...] = ()


def warnings_json(problems: tuple[Problem, ...] | list[Problem]) -> str:
    return json.dumps([{"field": p.field, "message": p.message, "code": p.code} for p in problems])


def _vat_of(session: Session, tenant_id: int) -> str:
    return session.get(Tenant, tenant_id).vat_number  # type: ignore[union-attr]


def next_file_progressive(session: Session, transmitter_id: str) -> str:
    """Reserve the next progressive for this transmitter (row-locked on PostgreSQL)."""
    from domain.fatturapa import next_progressive

    row = session.scalar(select(SdiProgressive).where(SdiProgressive.transmitter_id == transmitter_id)
                         .with_for_update())
    if row is None:
        row = SdiProgressive(transmitter_id=transmitter_id, last=next_progressive(None))
        session.add(row)
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError as err:
            raise Conflict(f"progressive of {transmitter_id} taken concurrently; retry") from err
        return row.last
    row.last = next_progressive(row.last)
    session.flush()
    return row.last


def add_invoice(session: Session, vat: str, new: NewInvoice, document_keys: list[str],
                files: list[tuple[str, str, str, bytes]]) -> InvoiceView:
    """Insert the invoice, its document keys and its first files ((role, name, mime, content)).
    A document key already used by this customer is refused (SDI 00404) and nothing is written."""
    tenant = get_tenant_row(session, vat)
    taken = session.scalars(select(InvoiceDocument.key).where(InvoiceDocument.tenant_id == tenant.id,
                                                              InvoiceDocument.key.in_(document_keys))).all()
    if taken:
        raise InvalidInput.one("FatturaElettronicaBody/DatiGenerali/DatiGeneraliDocumento/Numero",
                               f"already sent by this customer: {', '.join(sorted(taken))}", "00404")
    now = utcnow()
    row = Invoice(id=new.id, tenant_id=tenant.id, direction=new.direction, file_name=new.file_name,
                  transmitter_id=new.transmitter_id, sign_mode=new.sign_mode, key_alias=new.key_alias,
                  format=new.format, state=new.state, sdi_id=new.sdi_id, counterparty_name=new.counterparty_name,
                  counterparty_vat=new.counterparty_vat, recipient_code=new.recipient_code, number=new.number,
                  doc_date=new.doc_date, total=new.total, currency=new.currency, documents=new.documents,
                  detail=None, workflow_id=new.workflow_id, created_at=now, updated_at=now,
                  created_by=new.created_by, warnings=warnings_json(new.warnings))
    session.add(row)
    try:
        with session.begin_nested():
            session.flush()
            for key in document_keys:
                session.add(InvoiceDocument(tenant_id=tenant.id, key=key, invoice_id=new.id))
            session.flush()
    except IntegrityError as err:
        raise Conflict(f"invoice {new.id} or one of its documents already exists") from err
    for role, name, mime, content in files:
        store_file(session, tenant.id, OWNER_KIND, new.id, role, name, mime, content)
    return InvoiceView.of(row, tenant.vat_number)


def delete_invoice(session: Session, invoice_id: str) -> None:
    """Undo `add_invoice` when its workflow could not be started (nothing else refers to it yet)."""
    from models.files import StoredFile

    for f in session.scalars(select(StoredFile).where(StoredFile.owner_kind == OWNER_KIND,
                                                      StoredFile.owner_id == invoice_id)):
        session.delete(f)
    for d in session.scalars(select(InvoiceDocument).where(InvoiceDocument.invoice_id == invoice_id)):
        session.delete(d)
    row = session.get(Invoice, invoice_id)
    if row is not None:
        session.delete(row)
    session.flush()


def get_invoice_row(session: Session, invoice_id: str) -> Invoice:
    row = session.get(Invoice, invoice_id)
    if row is None:
        raise NotFound(f"no invoice {invoice_id}")
    return row


def get_invoice(session: Session, invoice_id: str) -> InvoiceView:
    row = get_invoice_row(session, invoice_id)
    return InvoiceView.of(row, _vat_of(session, row.tenant_id))


def find_sent_by_file_name(session: Session, file_name: str) -> Invoice | None:
    return session.scalar(select(Invoice).where(Invoice.direction == "out", Invoice.file_name == file_name))


def list_invoices(session: Session, vat: str, direction: str | None = None) -> list[InvoiceView]:
    tenant = get_tenant_row(session, vat)
    q = select(Invoice).where(Invoice.tenant_id == tenant.id)
    if direction:
        q = q.where(Invoice.direction == direction)
    return [InvoiceView.of(r, tenant.vat_number) for r in session.scalars(q.order_by(Invoice.created_at, Invoice.id))]


def set_state(session: Session, invoice_id: str, state: str, detail: str | None = None,
              sdi_id: int | None = None) -> InvoiceView:
    row = get_invoice_row(session, invoice_id)
    row.state = state
    if detail is not None:
        row.detail = detail
    if sdi_id is not None:
        row.sdi_id = sdi_id
    row.updated_at = utcnow()
    session.flush()
    return InvoiceView.of(row, _vat_of(session, row.tenant_id))


def invoice_files(session: Session, invoice_id: str) -> list[FileInfo]:
    return files_of(session, OWNER_KIND, invoice_id)


def store_invoice_file(session: Session, invoice_id: str, role: str, name: str, mime: str,
                       content: bytes) -> FileInfo:
    row = get_invoice_row(session, invoice_id)
    return store_file(session, row.tenant_id, OWNER_KIND, invoice_id, role, name, mime, content)


# ---------------------------------------------------------------- transmission outbox

def transmission(session: Session, file_name: str) -> SdiTransmission | None:
    return session.get(SdiTransmission, file_name)


def begin_transmission(session: Session, file_name: str, invoice_id: str) -> SdiTransmission:
    row = session.get(SdiTransmission, file_name)
    now = utcnow()
    if row is None:
        row = SdiTransmission(file_name=file_name, invoice_id=invoice_id, state="sending", attempts=0,
                              created_at=now, updated_at=now)
        session.add(row)
    row.attempts += 1
    row.updated_at = now
    session.flush()
    return row


def complete_transmission(session: Session, file_name: str, sdi_id: int, received_at: str,
                          error: str | None) -> None:
    row = session.get(SdiTransmission, file_name)
    assert row is not None
    row.sdi_id = sdi_id
    row.received_at = received_at
    row.error = error
    row.state = "refused" if error else "accepted"
    row.updated_at = utcnow()
    inv = session.get(Invoice, row.invoice_id)
    if inv is not None and not error:
        inv.sdi_id = sdi_id
        inv.state = "sent"
        inv.updated_at = utcnow()
    session.flush()


# ---------------------------------------------------------------- notification inbox

def record_notification(session: Session, name: str, invoice_id: str | None, kind: str, sdi_id: int,
                        sha256: str, file_id: int | None) -> tuple[SdiNotification, bool]:
    """(row, new). The same name with the same bytes is a duplicate delivery; different bytes are refused."""
    row = session.scalar(select(SdiNotification).where(SdiNotification.name == name))
    if row is not None:
        if row.sha256 != sha256:
            raise Conflict(f"notification {name} already received with different content")
        return row, False
    row = SdiNotification(name=name, invoice_id=invoice_id, kind=kind, sdi_id=sdi_id, sha256=sha256,
                          file_id=file_id, signaled=False, received_at=utcnow())
    session.add(row)
    session.flush()
    return row, True


def mark_signaled(session: Session, notification_id: int) -> None:
    row = session.get(SdiNotification, notification_id)
    if row is not None:
        row.signaled = True
        session.flush()


@dataclass(frozen=True)
class StuckNotification:
    """A stored notification its workflow has not heard of yet, with what is needed to signal it again."""

    id: int
    name: str
    invoice_id: str
    workflow_id: str
    file_id: int


MAX_STUCK_PAGE = 1000


def stuck_notifications(session: Session, stored_before: datetime, limit: int) -> list[StuckNotification]:
    """Notifications about one of our sent invoices, stored before `stored_before` and not settled (see the
    module's docstring), oldest first, at most `limit` (1 to MAX_STUCK_PAGE)."""
    if not 1 <= limit <= MAX_STUCK_PAGE:
        raise InvalidInput.one("limit", f"between 1 and {MAX_STUCK_PAGE}, got {limit}")
    if stored_before.tzinfo is None:
        raise InvalidInput.one("stored_before", "must carry its time zone (UTC)")
    rows = session.execute(
        select(SdiNotification.id, SdiNotification.name, Invoice.id, Invoice.workflow_id, SdiNotification.file_id)
        .join(Invoice, Invoice.id == SdiNotification.invoice_id)
        .where(SdiNotification.signaled.is_(False), SdiNotification.file_id.is_not(None),
               SdiNotification.received_at < stored_before, Invoice.direction == "out")
        .order_by(SdiNotification.id).limit(limit))
    return [StuckNotification(nid, name, invoice_id, workflow_id, file_id)
            for nid, name, invoice_id, workflow_id, file_id in rows if file_id is not None]  # (is_not above)


def unsignaled_notifications(session: Session, invoice_id: str) -> list[SdiNotification]:
    return list(session.scalars(select(SdiNotification).where(SdiNotification.invoice_id == invoice_id,
                                                             SdiNotification.signaled.is_(False))
                                .order_by(SdiNotification.id)))
