"""A customer's accountant links (deleghe, seed 002) from Python: list, invite with permissions, grant or withdraw,
end. Each asks the policy first (`starters.acting`): these are the customer's own decisions, never an
accountant's (`delegation.read`, `delegation.invite`, `delegation.grant` have no permission an accountant can
hold). The HTTP routes (`api/routes/identity.py`) and the web panel call these."""

from __future__ import annotations

from sqlalchemy.orm import Session

from adapters.smtp import build_message, deliver
from core.db import session_scope
from core.settings import Settings
from domain.errors import Conflict, NotFound
from domain.identifiers import parse_vat_number
from domain.permissions import normalise
from domain.policy import Principal
from models import identity as ident
from models.mail import EmailRequest
from starters.acting import STARTER, acting


def customer_links(settings: Settings, vat: str, *, as_user: Principal,
                   surface: str = STARTER) -> list[ident.DelegationView]:
    vat_number = str(parse_vat_number(vat))
    with acting(settings, as_user, "delegation.read", f"delegations of {vat[:20]}", surface) as act:
        act.check(vat_number)
        with session_scope(settings.database_url) as session:
            return ident.links_of_tenant(session, vat_number)


def invite_accountant(settings: Settings, vat: str, accountant_email: str, permissions: list[str], *,
                      as_user: Principal, surface: str = STARTER) -> ident.DelegationView:
    """The customer invites an accountant, with the permissions it will have once it accepts; the invitation
    is e-mailed to the accountant."""
    vat_number = str(parse_vat_number(vat))
    with acting(settings, as_user, "delegation.invite", f"accountant {accountant_email[:200]}", surface) as act:
        act.check(vat_number)
        with session_scope(settings.database_url) as session:
            view = ident.open_link(session, vat_number, accountant_email, ident.INVITED, act.user.label,
                                   permissions)
    deliver(settings, build_message(settings, EmailRequest(
        f"delegation-invite:{view.id}", view.accountant,
        f"{vat_number} ti invita come commercialista / invites you as its accountant",
        f"{vat_number} invites you to act for it on einvoice-hub. Accept with POST /delegations/{view.id}/accept "
        f"(or `einvoice delegation accept {view.id}`).", "delegation-invitation")))
    return view


def _link_of(session: Session, link_id: int, vat: str) -> ident.Delegation:
    row = ident.get_link(session, link_id)
    if ident.link_vat(session, row) != vat:
        raise NotFound(f"no delegation {link_id}")
    return row


def grant_permissions(settings: Settings, vat: str, link_id: int, permissions: list[str], *, as_user: Principal,
                      surface: str = STARTER, expected: list[str] | None = None) -> ident.DelegationView:
    """Grant or withdraw: the permissions given are the whole new set (a module permission only beside read).
    `expected`: the set the caller based it on (the CLI's grant and withdraw); if the link's set changed
    meanwhile, `Conflict` and nothing is written, so two people editing one link never undo each other."""
    vat_number = str(parse_vat_number(vat))
    target = f"delegation {link_id}: {','.join(sorted(permissions)) or '(none)'}"
    with acting(settings, as_user, "delegation.grant", target[:300], surface) as act:
        act.check(vat_number)
        with session_scope(settings.database_url) as session:
            row = _link_of(session, link_id, vat_number)
            if expected is not None:
                session.refresh(row, with_for_update=True)  # held until the new set is written
                now = ident.link_view(session, row).permissions
                if sorted(normalise(expected)) != now:
                    raise Conflict(f"delegation {link_id}'s permissions changed meanwhile (now: "
                                   f"{', '.join(now) or 'none'}); nothing was changed: look again and retry")
            return ident.set_link_permissions(session, row, permissions, act.user.label)


def end_customer_link(settings: Settings, vat: str, link_id: int, *, as_user: Principal,
                      surface: str = STARTER) -> ident.DelegationView:
    vat_number = str(parse_vat_number(vat))
    with acting(settings, as_user, "delegation.grant", f"delegation {link_id} ended", surface) as act:
        act.check(vat_number)
        with session_scope(settings.database_url) as session:
            return ident.end_link(session, _link_of(session, link_id, vat_number), act.user.label)
