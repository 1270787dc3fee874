"""A Polish customer's KSeF token in tests: generated at the local KSeF (as the customer does in KSeF) and kept
sealed in our database (as `einvoice ksef token set` does), so the worker logs in with it."""

from __future__ import annotations

from core.db import session_scope
from core.secrets import seal
from core.settings import Settings
from ksefsim.app import Simulator
from models import ksef_credentials as creds
from models.tenant import get_tenant_row


def give_ksef_token(settings: Settings, sim: Simulator, vat: str) -> str:
    """The customer's KSeF token, made at `sim` for its NIP and stored sealed for it; returned (for asserts)."""
    token = sim.add_ksef_token("Nip", vat.removeprefix("PL"))
    with session_scope(settings.database_url) as session:
        creds.put(session, get_tenant_row(session, vat).id, seal(settings, token), "customer:test")
    return token
