"""Per customer and per notification kind: off when a row says so, on otherwise (the default)."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from domain.errors import InvalidInput
from domain.notifications import NOTIFICATION_KINDS
from models.base import Base
from models.tenant import get_tenant_row


class NotificationPreference(Base):
    __tablename__ = "notification_preferences"
    __table_args__ = (UniqueConstraint("tenant_id", "kind", name="uq_notification_preferences_tenant_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(60))
    enabled: Mapped[bool] = mapped_column(Boolean)


def get_preferences(session: Session, vat: str) -> dict[str, bool]:
    tenant = get_tenant_row(session, vat)
    prefs = dict.fromkeys(NOTIFICATION_KINDS, True)
    for row in session.scalars(
        select(NotificationPreference).where(NotificationPreference.tenant_id == tenant.id)
    ):
        if row.kind in prefs:
            prefs[row.kind] = row.enabled
    return prefs


def set_preference(session: Session, vat: str, kind: str, enabled: bool) -> dict[str, bool]:
    if kind not in NOTIFICATION_KINDS:
        raise InvalidInput.one(
            "kind", f"unknown notification kind {kind!r}; one of: {', '.join(sorted(NOTIFICATION_KINDS))}"
        )
    tenant = get_tenant_row(session, vat)
    row = session.scalar(
        select(NotificationPreference).where(
            NotificationPreference.tenant_id == tenant.id, NotificationPreference.kind == kind
        )
    )
    if row is None:
        session.add(NotificationPreference(tenant_id=tenant.id, kind=kind, enabled=enabled))
    else:
        row.enabled = enabled
    session.flush()
    return get_preferences(session, vat)


def wants(session: Session, vat: str, kind: str) -> bool:
    """Should this customer get a notification of this kind? Transactional kinds always pass."""
    if kind not in NOTIFICATION_KINDS:
        return True
    return get_preferences(session, vat)[kind]
