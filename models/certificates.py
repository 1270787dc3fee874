"""Certificates of a customer (requested from the authority, or uploaded), and revocation requests.

One row per operation id (IdOperazione). The row records who added it and when, where it is in its
lifecycle, and — once issued — its serial and validity; the certificate itself and the CSR are stored
files owned by the row (`models.files`). Revocation requests are logged per customer: the first one is
cumulative (it revokes every active certificate of the customer).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from domain.certificates import (
    ACTIVE,
    ADDED,
    EXPIRED,
    NO_CERTIFICATE,
    OFFLINE,
    ORDERED,
    REVOKED,
    STATE_LABELS,
    file_name,
)
from domain.errors import Conflict, NotFound
from models import feed
from models.base import Base, Timestamp, as_utc, utcnow
from models.files import StoredFile, files_of, read_file, store_file
from models.tenant import Tenant, get_tenant_row

OWNER_KIND = "certificate"
ROLE_CSR = "csr"
ROLE_CERTIFICATE = "certificate"


class Certificate(Base):
    __tablename__ = "certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    operation_id: Mapped[str] = mapped_column(String(48), unique=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # authentication | offline
    origin: Mapped[str] = mapped_column(String(20))  # requested | uploaded
    state: Mapped[str] = mapped_column(String(20))  # domain.certificates.STATES
    subject: Mapped[str] = mapped_column(String(1000))
    csr_sha256: Mapped[str | None] = mapped_column(String(64))
    serial: Mapped[str | None] = mapped_column(String(64))
    issuer: Mapped[str | None] = mapped_column(String(1000))
    not_before: Mapped[datetime | None] = mapped_column(Timestamp())
    expires_at: Mapped[datetime | None] = mapped_column(Timestamp())
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)  # request / upload date
    created_by: Mapped[str] = mapped_column(String(120))
    updated_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
    error: Mapped[str | None] = mapped_column(Text)
    revoked_at: Mapped[datetime | None] = mapped_column(Timestamp())
    revocation_reason: Mapped[str | None] = mapped_column(String(30))
    revoked_by: Mapped[str | None] = mapped_column(String(120))


class CertificateRevocationRequest(Base):
    """Each revocation request of a customer (annullamento), for the audit and the cumulative rule."""

    __tablename__ = "certificate_revocation_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    operation_id: Mapped[str | None] = mapped_column(String(48))  # None: every active certificate
    reason: Mapped[str] = mapped_column(String(30))
    cumulative: Mapped[bool] = mapped_column(Boolean)
    revoked_count: Mapped[int] = mapped_column(Integer)
    requested_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
    requested_by: Mapped[str] = mapped_column(String(120))


@dataclass(frozen=True)
class CertificateView:
    """What callers see of a certificate (CLI, HTTP, starters)."""

    operation_id: str
    vat_number: str
    kind: str
    origin: str
    state: str
    subject: str
    serial: str | None
    issuer: str | None
    not_before: datetime | None
    expires_at: datetime | None
    created_at: datetime
    created_by: str
    error: str | None
    revoked_at: datetime | None
    revocation_reason: str | None
    revoked_by: str | None

    @property
    def file_name(self) -> str:
        return file_name(self.operation_id)

    @property
    def state_label(self) -> str:
        return STATE_LABELS.get(self.state, self.state)

    @classmethod
    def of(cls, row: Certificate, vat_number: str) -> CertificateView:
        def utc(value: datetime | None) -> datetime | None:
            return as_utc(value) if value is not None else None

        return cls(
            operation_id=row.operation_id, vat_number=vat_number, kind=row.kind, origin=row.origin,
            state=row.state, subject=row.subject, serial=row.serial, issuer=row.issuer,
            not_before=utc(row.not_before), expires_at=utc(row.expires_at), created_at=as_utc(row.created_at),
            created_by=row.created_by, error=row.error, revoked_at=utc(row.revoked_at),
            revocation_reason=row.revocation_reason, revoked_by=row.revoked_by,
        )

    def to_json(self) -> dict[str, object]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "operation_id": self.operation_id, "file_name": self.file_name, "vat_number": self.vat_number,
            "kind": self.kind, "origin": self.origin, "state": self.state, "state_label": self.state_label,
            "subject": self.subject, "serial": self.serial, "issuer": self.issuer,
            "requested_at": iso(self.created_at), "not_before": iso(self.not_before),
            "expires_at": iso(self.expires_at), "added_by": self.created_by, "added_at": iso(self.created_at),
            "error": self.error, "revoked_at": iso(self.revoked_at), "revocation_reason": self.revocation_reason,
            "revoked_by": self.revoked_by,
        }


def _row(session: Session, operation_id: str) -> Certificate | None:
    return session.scalar(select(Certificate).where(Certificate.operation_id == operation_id))


def _vat_of(session: Session, row: Certificate) -> str:
    tenant = session.get(Tenant, row.tenant_id)
    assert tenant is not None
    return tenant.vat_number


def insert_request(session: Session, vat: str, operation_id: str, kind: str, subject: str, csr_pem: str,
                   csr_sha256: str, actor: str) -> tuple[CertificateView, bool]:
    """Record a requested certificate (state ordered) with its CSR. Idempotent per operation id: the same
    request again returns the existing row and False; another request under the same id is a Conflict."""
    tenant = get_tenant_row(session, vat)
    existing = _row(session, operation_id)
    if existing is not None:
        if existing.tenant_id != tenant.id or existing.csr_sha256 != csr_sha256 or existing.kind != kind:
            raise Conflict(f"operation id {operation_id} is already used by another request")
        return CertificateView.of(existing, tenant.vat_number), False
    now = utcnow()
    row = Certificate(operation_id=operation_id, tenant_id=tenant.id, kind=kind, origin="requested",
                      state=ORDERED, subject=subject, csr_sha256=csr_sha256, created_at=now, created_by=actor,
                      updated_at=now)
    session.add(row)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # a concurrent identical request won the race
        existing = _row(session, operation_id)
        if existing is None or existing.csr_sha256 != csr_sha256 or existing.tenant_id != tenant.id:
            raise Conflict(f"operation id {operation_id} is already used by another request") from None
        return CertificateView.of(existing, tenant.vat_number), False
    store_file(session, tenant.id, OWNER_KIND, operation_id, ROLE_CSR, f"{operation_id}.csr",
               "application/pkcs10", csr_pem.encode())
    return CertificateView.of(row, tenant.vat_number), True


def insert_upload(session: Session, vat: str, operation_id: str, kind: str, subject: str, issuer: str,
                  serial: str, not_before: datetime, not_after: datetime, der: bytes,
                  actor: str) -> CertificateView:
    """Record a certificate made elsewhere (state added)."""
    tenant = get_tenant_row(session, vat)
    if _row(session, operation_id) is not None:
        raise Conflict(f"operation id {operation_id} is already used")
    now = utcnow()
    row = Certificate(operation_id=operation_id, tenant_id=tenant.id, kind=kind, origin="uploaded", state=ADDED,
                      subject=subject, serial=serial, issuer=issuer, not_before=not_before, expires_at=not_after,
                      created_at=now, created_by=actor, updated_at=now)
    session.add(row)
    session.flush()
    store_file(session, tenant.id, OWNER_KIND, operation_id, ROLE_CERTIFICATE, file_name(operation_id),
               "application/pkix-cert", der)
    return CertificateView.of(row, tenant.vat_number)


def get_certificate(session: Session, operation_id: str, vat: str | None = None) -> CertificateView:
    row = _row(session, operation_id)
    if row is None:
        raise NotFound(f"no certificate with operation id {operation_id}")
    view = CertificateView.of(row, _vat_of(session, row))
    if vat is not None and view.vat_number != get_tenant_row(session, vat).vat_number:
        raise NotFound(f"no certificate with operation id {operation_id} for {vat}")
    return view


def list_certificates(session: Session, vat: str) -> list[CertificateView]:
    tenant = get_tenant_row(session, vat)
    rows = session.scalars(select(Certificate).where(Certificate.tenant_id == tenant.id)
                           .order_by(Certificate.created_at, Certificate.id))
    return [CertificateView.of(r, tenant.vat_number) for r in rows]


def offline_status(certificates: list[CertificateView]) -> str:
    """The KSeF offline certificate's status: correctly added, or no certificate."""
    live = [c for c in certificates if c.kind == OFFLINE and c.state in (ADDED, ACTIVE)]
    return STATE_LABELS[ADDED] if live else NO_CERTIFICATE


def active_operation_ids(session: Session, vat: str) -> list[str]:
    tenant = get_tenant_row(session, vat)
    return list(session.scalars(select(Certificate.operation_id).where(
        Certificate.tenant_id == tenant.id, Certificate.state == ACTIVE).order_by(Certificate.id)))


def set_state(session: Session, operation_id: str, state: str, error: str | None = None) -> bool:
    """Move a certificate to `state`; False when the row is gone (deleted meanwhile)."""
    row = _row(session, operation_id)
    if row is None:
        return False
    row.state = state
    if error is not None:
        row.error = error[:2000]
    row.updated_at = utcnow()
    return True


def set_issued(session: Session, operation_id: str, pem: str, der: bytes, serial: str, issuer: str,
               not_before: datetime, not_after: datetime) -> bool:
    row = _row(session, operation_id)
    if row is None:
        return False
    store_file(session, row.tenant_id, OWNER_KIND, operation_id, ROLE_CERTIFICATE, file_name(operation_id),
               "application/pkix-cert", der)
    row.state, row.serial, row.issuer = ACTIVE, serial, issuer
    row.not_before, row.expires_at = not_before, not_after
    row.updated_at = utcnow()
    return True


def set_revoked(session: Session, operation_id: str, reason: str, actor: str) -> bool:
    row = _row(session, operation_id)
    if row is None:
        return False
    if row.state != REVOKED:
        row.state, row.revocation_reason, row.revoked_by = REVOKED, reason, actor
        row.revoked_at = row.updated_at = utcnow()
    return True


def set_expired(session: Session, operation_id: str) -> bool:
    row = _row(session, operation_id)
    if row is None:
        return False
    if row.state in (ACTIVE, ADDED):
        row.state = EXPIRED
        row.updated_at = utcnow()
    return True


def delete_certificate(session: Session, operation_id: str) -> bool:
    """Remove the row and its files; False when already gone."""
    row = _row(session, operation_id)
    if row is None:
        return False
    feed.tombstones_for_files(session, OWNER_KIND, operation_id)  # the bulk delete bypasses the flush hook
    session.execute(delete(StoredFile).where(StoredFile.owner_kind == OWNER_KIND,
                                             StoredFile.owner_id == operation_id))
    session.delete(row)
    return True


def certificate_file(session: Session, operation_id: str) -> bytes:
    """The issued or uploaded certificate (DER)."""
    for info in files_of(session, OWNER_KIND, operation_id):
        if info.role == ROLE_CERTIFICATE:
            return read_file(session, info.id)[1]
    raise NotFound(f"certificate {operation_id} has no certificate file (not issued)")


def csr_of(session: Session, operation_id: str) -> str:
    for info in files_of(session, OWNER_KIND, operation_id):
        if info.role == ROLE_CSR:
            return read_file(session, info.id)[1].decode()
    raise NotFound(f"certificate {operation_id} has no CSR")


def has_revocation_requests(session: Session, vat: str) -> bool:
    tenant = get_tenant_row(session, vat)
    return session.scalar(select(CertificateRevocationRequest.id).where(
        CertificateRevocationRequest.tenant_id == tenant.id).limit(1)) is not None


def log_revocation_request(session: Session, vat: str, operation_id: str | None, reason: str, cumulative: bool,
                           revoked_count: int, actor: str) -> None:
    tenant = get_tenant_row(session, vat)
    session.add(CertificateRevocationRequest(tenant_id=tenant.id, operation_id=operation_id, reason=reason,
                                             cumulative=cumulative, revoked_count=revoked_count,
                                             requested_at=utcnow(), requested_by=actor))

