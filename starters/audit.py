"""The customer's audit trail from Python (the panel's screen): readable by the customer's users and operators
(`audit.read`: never an accountant), a page at a time, newest first. The reading is itself an entry."""

from __future__ import annotations

from core.db import session_scope
from core.settings import Settings
from domain.identifiers import parse_vat_number
from domain.policy import Principal
from models import audit
from starters.acting import STARTER, acting

PAGE = 50


def audit_trail(settings: Settings, vat: str, before_id: int | None = None, limit: int = PAGE, *,
                as_user: Principal, surface: str = STARTER) -> list[audit.AuditView]:
    """A page of the customer's trail, newest first; the next page is the entries before the last one's id."""
    with acting(settings, as_user, "audit.read", f"audit trail of {vat[:20]}", surface) as act:
        vat_number = str(parse_vat_number(vat))
        act.check(vat_number)
        with session_scope(settings.database_url) as session:
            return audit.newest_entries(session, vat_number, before_id, limit)
