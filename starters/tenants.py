"""Customers from Python: add and list, read and confirm the profile (plain DB work, no workflow). Adding one
is the intermediary's (an operator's); a list holds only the customers the acting user may see
(`starters.acting`); the profile is confirmed by the customer's own users (or an operator), never by an
accountant (`tenant.confirm`)."""

from __future__ import annotations

from core.db import session_scope
from core.settings import Settings
from domain.errors import InvalidInput
from domain.identifiers import parse_vat_number
from domain.policy import Principal
from domain.profile import ProfileForm, check_profile
from models.tenant import TenantView, add_tenant, list_tenants
from models.tenant_profile import ProfileView, get_profile, record_confirmation
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


def customer_profile(settings: Settings, vat: str, *, as_user: Principal, surface: str = STARTER) -> ProfileView:
    """The customer's data and its latest confirmation (seed 001), for whoever may read the customer."""
    with acting(settings, as_user, "tenant.read", f"profile {vat[:20]}", surface) as act:
        act.check(_canonical(vat), missing=f"no customer with VAT number {vat[:20]}")
        with session_scope(settings.database_url) as session:
            return get_profile(session, vat)


def confirm_profile(settings: Settings, vat: str, form: ProfileForm, *, as_user: Principal,
                    surface: str = STARTER) -> ProfileView:
    """The customer confirms its data and accepts the conditions (seed 001, "CONFERMO I MIEI DATI"): the
    policy first (`tenant.confirm`: the customer's users and operators, never an accountant), then every field
    checked (InvalidInput naming each wrong one, nothing written), then one transaction that records who,
    when, which conditions version and the data, and sets the customer's name, PEC and codice destinatario
    to them. Audited by the surface (`starters.acting`); the entry names the conditions version."""
    with acting(settings, as_user, "tenant.confirm", f"profile {vat[:20]}", surface) as act:
        act.check(_canonical(vat), missing=f"no customer with VAT number {vat[:20]}")
        number = parse_vat_number(vat)
        profile = check_profile(number, form)
        with session_scope(settings.database_url) as session:
            done = record_confirmation(session, str(number), profile, act.user.user_id, act.user.label, surface)
        act.target = f"profile {number} confirmed, conditions {profile.conditions_version}"
        return done


def _canonical(vat: str) -> str:
    try:
        return str(parse_vat_number(vat))
    except InvalidInput:
        return vat  # not a VAT number: nobody's customer (the policy answers "no customer")
