"""The customer (titolare): a company identified by its VAT number, with its PEC and SDI code.

A customer exists from the moment it is added, but is enabled (may send invoices) only once its
intermediation contract is accepted (contract workflow). One customer, and one contract, per VAT number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Boolean, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from domain.errors import Conflict, NotFound
from domain.identifiers import check_customer, parse_vat_number
from models.base import Base, Timestamp, as_utc, utcnow


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(primary_key=True)
    vat_number: Mapped[str] = mapped_column(String(16), unique=True)  # "IT02038490237", "PL5261040828"
    country: Mapped[str] = mapped_column(String(2))
    name: Mapped[str] = mapped_column(String(80))
    pec: Mapped[str] = mapped_column(String(254))  # PEC for Italy; an ordinary e-mail for Poland
    sdi_code: Mapped[str | None] = mapped_column(String(7))  # codice destinatario; None for KSeF
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120), default="system")
    # the customer lets the intermediary sign its invoices with the intermediary's own key (firma delegata)
    delegated_signing: Mapped[bool] = mapped_column(Boolean, default=False)
    # the hub's warnings this customer holds as errors (#17.1): comma-separated codes, "" = none (the default)
    strict_warnings: Mapped[str] = mapped_column(String(200), default="", server_default="")


@dataclass(frozen=True)
class TenantView:
    """What callers see of a customer (CLI, HTTP, workflows)."""

    vat_number: str
    country: str
    name: str
    pec: str
    sdi_code: str | None
    enabled: bool
    created_at: datetime
    created_by: str
    delegated_signing: bool = False
    strict_warnings: str = ""  # the hub's warnings held as errors, comma-separated

    @classmethod
    def of(cls, row: Tenant) -> TenantView:
        return cls(
            vat_number=row.vat_number,
            country=row.country,
            name=row.name,
            pec=row.pec,
            sdi_code=row.sdi_code,
            enabled=row.enabled,
            created_at=as_utc(row.created_at),
            created_by=row.created_by,
            delegated_signing=bool(row.delegated_signing),
            strict_warnings=row.strict_warnings or "",
        )

    def to_json(self) -> dict[str, object]:
        return {
            "vat_number": self.vat_number,
            "country": self.country,
            "name": self.name,
            "pec": self.pec,
            "sdi_code": self.sdi_code,
            "enabled": self.enabled,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "delegated_signing": self.delegated_signing,
            "strict_warnings": [c for c in self.strict_warnings.split(",") if c],
        }


def add_tenant(
    session: Session, vat: str, name: str, pec: str, sdi_code: str | None, created_by: str = "system"
) -> TenantView:
    """Validate and insert a customer; raises InvalidInput (bad field) or Conflict (VAT already there)."""
    identity = check_customer(vat, name, pec, sdi_code)
    vat_number = str(identity.vat)
    if session.scalar(select(Tenant.id).where(Tenant.vat_number == vat_number)) is not None:
        raise Conflict(f"a customer with VAT number {vat_number} already exists")
    row = Tenant(
        vat_number=vat_number,
        country=identity.vat.country,
        name=identity.name,
        pec=identity.pec,
        sdi_code=identity.sdi_code,
        enabled=False,
        created_at=utcnow(),
        created_by=created_by,
        delegated_signing=False,
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError as err:  # a concurrent insert of the same VAT number won the race
        raise Conflict(f"a customer with VAT number {vat_number} already exists") from err
    return TenantView.of(row)


def get_tenant_row(session: Session, vat: str) -> Tenant:
    vat_number = str(parse_vat_number(vat))
    row = session.scalar(select(Tenant).where(Tenant.vat_number == vat_number))
    if row is None:
        raise NotFound(f"no customer with VAT number {vat_number}")
    return row


def get_tenant(session: Session, vat: str) -> TenantView:
    return TenantView.of(get_tenant_row(session, vat))


def list_tenants(session: Session) -> list[TenantView]:
    return [TenantView.of(r) for r in session.scalars(select(Tenant).order_by(Tenant.vat_number))]


def set_enabled(session: Session, vat: str, enabled: bool) -> TenantView:
    row = get_tenant_row(session, vat)
    row.enabled = enabled
    return TenantView.of(row)


def set_strict_warnings(session: Session, vat: str, codes: str) -> frozenset[str]:
    """Which of the hub's warnings (domain.fatturapa.validation.WARNINGS) this customer's invoices are refused
    for; "" turns them all back into warnings. Returns the codes set."""
    from domain.fatturapa.validation import check_strict

    chosen = check_strict(codes)
    row = get_tenant_row(session, vat)
    row.strict_warnings = ",".join(sorted(chosen))
    return chosen


def set_delegated_signing(session: Session, vat: str, granted: bool) -> TenantView:
    """Grant or withdraw the intermediary's signature on this customer's invoices."""
    row = get_tenant_row(session, vat)
    row.delegated_signing = granted
    return TenantView.of(row)
