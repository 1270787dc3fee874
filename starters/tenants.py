"""Customers from Python: add and list (plain DB work, no workflow)."""

from __future__ import annotations

from core.db import session_scope
from core.settings import Settings
from models.tenant import TenantView, add_tenant, list_tenants


def add_customer(settings: Settings, vat: str, name: str, pec: str, sdi_code: str | None,
                 created_by: str = "cli") -> TenantView:
    with session_scope(settings.database_url) as session:
        return add_tenant(session, vat, name, pec, sdi_code, created_by)


def list_customers(settings: Settings) -> list[TenantView]:
    with session_scope(settings.database_url) as session:
        return list_tenants(session)
