"""Customers from Python: add and list (plain DB work, no workflow). Adding one is the intermediary's (an
operator's); a list holds only the customers the acting user may see (`starters.acting`)."""

from __future__ import annotations

from core.db import session_scope
from core.settings import Settings
from domain.policy import Principal
from models.tenant import TenantView, add_tenant, list_tenants
from starters.acting import STARTER, acting


def add_customer(settings: Settings, vat: str, name: str, pec: str, sdi_code: str | None, *, as_user: Principal,
                 surface: str = STARTER) -> TenantView:
    """A new customer, recorded as created by the acting user."""
    with acting(settings, as_user, "tenant.create", f"customer {vat[:20]}", surface) as act:
        act.check(None)
        with session_scope(settings.database_url) as session:
            return add_tenant(session, vat, name, pec, sdi_code, act.user.label)


def list_customers(settings: Settings, *, as_user: Principal, surface: str = STARTER) -> list[TenantView]:
    with acting(settings, as_user, "tenant.list", "customers", surface) as act:
        act.check(None)
        with session_scope(settings.database_url) as session:
            return [t for t in list_tenants(session) if act.user.visible(t.vat_number)]
