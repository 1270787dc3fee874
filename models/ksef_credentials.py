"""A Polish customer's KSeF token (#14): the credential the worker logs in to KSeF with, for the customer's
sessions and downloads, instead of a key of the customer's.

The customer generates the token in KSeF (`tokeny-ksef.md`: `POST /tokens`, with InvoiceWrite and InvoiceRead)
and hands it to us once. It is kept here sealed (`core.secrets.seal`, Fernet under SECRET_KEY: a rotation keeps
it readable) and never leaves this table but to log in: no answer shows it (the status says only whether one is
set, when and by whom), no log or audit entry holds it, and no workflow carries it (an activity reads it by the
customer: `adapters/ksef_credentials.py`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, Timestamp, as_utc, utcnow


class KsefCredential(Base):
    __tablename__ = "ksef_credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), unique=True)
    token_sealed: Mapped[str] = mapped_column(Text)
    set_by: Mapped[str] = mapped_column(String(320))  # the user's label (kind:name), as the audit trail names it
    set_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)


@dataclass
class KsefTokenStatus:
    """What `GET /customers/{vat}/ksef-token` answers: never the token."""

    vat: str
    set: bool
    set_by: str | None = None
    set_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def find(session: Session, tenant_id: int) -> KsefCredential | None:
    return session.scalar(select(KsefCredential).where(KsefCredential.tenant_id == tenant_id))


def put(session: Session, tenant_id: int, token_sealed: str, set_by: str) -> KsefCredential:
    """Set (or replace) the customer's token: one row per customer."""
    row = find(session, tenant_id)
    if row is None:
        row = KsefCredential(tenant_id=tenant_id, token_sealed=token_sealed, set_by=set_by, set_at=utcnow())
        session.add(row)
    else:
        row.token_sealed, row.set_by, row.set_at = token_sealed, set_by, utcnow()
    session.flush()
    return row


def remove(session: Session, tenant_id: int) -> bool:
    row = find(session, tenant_id)
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def status(vat: str, row: KsefCredential | None) -> KsefTokenStatus:
    if row is None:
        return KsefTokenStatus(vat, False)
    return KsefTokenStatus(vat, True, row.set_by, as_utc(row.set_at).isoformat())


class KsefAuthRequest(Base):
    """A challenge we fetched from KSeF for a customer's certificate request, and, once the customer signed
    the AuthTokenRequest for it on its own machine, that signed XML (sealed) under the request's operation id.
    Used once: the submission posts it to KSeF and deletes it. KSeF's challenge lapses after 10 minutes."""

    __tablename__ = "ksef_auth_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    challenge: Mapped[str] = mapped_column(String(36), unique=True)
    challenge_at: Mapped[datetime] = mapped_column(Timestamp())  # KSeF's timestamp of the challenge
    requested_by: Mapped[str] = mapped_column(String(320))
    operation_id: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    signed_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)


def signed_request_of(session: Session, operation_id: str) -> KsefAuthRequest | None:
    return session.scalar(select(KsefAuthRequest).where(KsefAuthRequest.operation_id == operation_id))
