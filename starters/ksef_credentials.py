"""A Polish customer's KSeF token (#14), from Python and the HTTP API: set (or replace), see whether one is set,
remove.

The customer generates the token in KSeF with InvoiceWrite and InvoiceRead and gives it to us: the worker then
logs in to KSeF with it in the customer's context for sending and downloading (`adapters/ksef_credentials.py`),
and never with a key of the customer's. Setting or removing it is the customer's service configuration
(`ksef.token`: its users, operators, an accountant granted config.manage); whether one is set is `ksef.read`.
The token is sealed at rest (`models/ksef_credentials.py`) and no answer, log line or audit entry holds it.
"""

from __future__ import annotations

from core.db import session_scope
from core.secrets import seal
from core.settings import Settings
from domain.errors import InvalidInput, NotFound
from domain.ksef.credentials import check_ksef_token
from domain.policy import Principal
from models import ksef_credentials as creds
from models.tenant import get_tenant_row
from starters.acting import STARTER, acting


def _polish(vat: str) -> None:
    if not vat.startswith("PL"):
        raise InvalidInput.one("vat", f"{vat} is not a Polish customer: a KSeF token is a NIP's (PL...)")


def set_ksef_token(settings: Settings, vat: str, token: str, *, as_user: Principal,
                   surface: str = STARTER) -> creds.KsefTokenStatus:
    """Keep `token` (sealed) as the customer's KSeF token, replacing the one before."""
    with acting(settings, as_user, "ksef.token", f"KSeF token of {vat}", surface) as act:
        act.check(vat)
        checked = check_ksef_token(token)
        with session_scope(settings.database_url) as session:
            tenant = get_tenant_row(session, vat)
            _polish(tenant.vat_number)
            row = creds.put(session, tenant.id, seal(settings, checked), as_user.label)
            return creds.status(tenant.vat_number, row)


def ksef_token_status(settings: Settings, vat: str, *, as_user: Principal,
                      surface: str = STARTER) -> creds.KsefTokenStatus:
    """Whether the customer's KSeF token is set, when and by whom (never the token)."""
    with acting(settings, as_user, "ksef.read", f"KSeF token of {vat}", surface) as act:
        act.check(vat)
        with session_scope(settings.database_url) as session:
            tenant = get_tenant_row(session, vat)
            return creds.status(tenant.vat_number, creds.find(session, tenant.id))


def remove_ksef_token(settings: Settings, vat: str, *, as_user: Principal, surface: str = STARTER) -> None:
    """Forget the customer's KSeF token (it stays valid in KSeF until the customer revokes it there); none set
    is `NotFound`."""
    with acting(settings, as_user, "ksef.token", f"remove KSeF token of {vat}", surface) as act:
        act.check(vat)
        with session_scope(settings.database_url) as session:
            tenant = get_tenant_row(session, vat)
            if not creds.remove(session, tenant.id):
                raise NotFound(f"no KSeF token is set for {tenant.vat_number}")
