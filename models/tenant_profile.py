"""The customer's profile confirmations (seed 001): each time the customer confirms its data and accepts the
conditions, one row — who (the user and its label), when, through which surface, which version of the
conditions, and the data confirmed (the address lives here: the first confirmation gives it). Append-only:
the latest row is the profile as confirmed; the earlier ones are its history.

Confirming may correct the company name, the PEC and the codice destinatario: the customer's row (tenants)
takes them in the same transaction, so the contract e-mail goes to the PEC the customer confirmed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from domain.profile import Profile
from models.base import Base, Timestamp, as_utc, utcnow
from models.tenant import Tenant, TenantView, get_tenant_row


class TenantConfirmation(Base):
    __tablename__ = "tenant_confirmations"
    __table_args__ = (UniqueConstraint("tenant_id", "number", name="uq_tenant_confirmations_tenant_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    confirmed_by: Mapped[str] = mapped_column(String(120))  # the user's label ("customer:titolare@acme.it")
    surface: Mapped[str] = mapped_column(String(20))  # panel, http, starter
    confirmed_at: Mapped[datetime] = mapped_column(Timestamp())
    conditions_version: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(80))
    pec: Mapped[str] = mapped_column(String(254))
    sdi_code: Mapped[str | None] = mapped_column(String(7))
    street: Mapped[str] = mapped_column(String(60))
    postcode: Mapped[str] = mapped_column(String(10))
    city: Mapped[str] = mapped_column(String(60))
    province: Mapped[str | None] = mapped_column(String(2))
    country: Mapped[str] = mapped_column(String(2))
    number: Mapped[int] = mapped_column(Integer)  # 1 for the customer's first confirmation, then 2, ...


@dataclass(frozen=True)
class ConfirmationView:
    number: int
    confirmed_by: str
    surface: str
    confirmed_at: datetime
    conditions_version: str
    name: str
    pec: str
    sdi_code: str | None
    street: str
    postcode: str
    city: str
    province: str | None
    country: str

    @classmethod
    def of(cls, row: TenantConfirmation) -> ConfirmationView:
        return cls(row.number, row.confirmed_by, row.surface, as_utc(row.confirmed_at), row.conditions_version,
                   row.name, row.pec, row.sdi_code, row.street, row.postcode, row.city, row.province, row.country)

    def to_json(self) -> dict[str, object]:
        return {"number": self.number, "confirmed_by": self.confirmed_by, "surface": self.surface,
                "confirmed_at": self.confirmed_at.isoformat(), "conditions_version": self.conditions_version,
                "name": self.name, "pec": self.pec, "sdi_code": self.sdi_code, "street": self.street,
                "postcode": self.postcode, "city": self.city, "province": self.province, "country": self.country}


@dataclass(frozen=True)
class ProfileView:
    """The customer as stored, and its latest confirmation (None: never confirmed)."""

    tenant: TenantView
    confirmation: ConfirmationView | None

    def to_json(self) -> dict[str, object]:
        return {"customer": self.tenant.to_json(),
                "confirmation": self.confirmation.to_json() if self.confirmation else None}


def _latest(session: Session, tenant_id: int) -> TenantConfirmation | None:
    return session.scalar(select(TenantConfirmation).where(TenantConfirmation.tenant_id == tenant_id)
                          .order_by(TenantConfirmation.number.desc()).limit(1))


def get_profile(session: Session, vat: str) -> ProfileView:
    row = get_tenant_row(session, vat)
    latest = _latest(session, row.id)
    return ProfileView(TenantView.of(row), ConfirmationView.of(latest) if latest else None)


def confirmations_of(session: Session, vat: str) -> list[ConfirmationView]:
    row = get_tenant_row(session, vat)
    return [ConfirmationView.of(c) for c in session.scalars(
        select(TenantConfirmation).where(TenantConfirmation.tenant_id == row.id)
        .order_by(TenantConfirmation.number.desc()))]


def record_confirmation(session: Session, vat: str, profile: Profile, user_id: int | None, confirmed_by: str,
                        surface: str) -> ProfileView:
    """The confirmation recorded and the customer's name, PEC and codice destinatario set to what it confirmed
    (one transaction: the caller's). `profile` is already checked (`domain.profile.check_profile`). The
    customer's row is locked first, so two confirmations at once get numbers one after the other."""
    found = get_tenant_row(session, vat)
    row = session.scalars(select(Tenant).where(Tenant.id == found.id).with_for_update()
                          .execution_options(populate_existing=True)).one()
    latest = _latest(session, row.id)
    confirmation = TenantConfirmation(
        tenant_id=row.id, user_id=user_id or None, confirmed_by=confirmed_by[:120], surface=surface,
        confirmed_at=utcnow(), conditions_version=profile.conditions_version, name=profile.name, pec=profile.pec,
        sdi_code=profile.sdi_code, street=profile.street, postcode=profile.postcode, city=profile.city,
        province=profile.province, country=profile.country, number=(latest.number if latest else 0) + 1)
    session.add(confirmation)
    if (row.name, row.pec, row.sdi_code) != (profile.name, profile.pec, profile.sdi_code):
        row.name, row.pec, row.sdi_code = profile.name, profile.pec, profile.sdi_code
    session.flush()
    return ProfileView(TenantView.of(row), ConfirmationView.of(confirmation))
