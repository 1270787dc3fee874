"""Login, tokens, accountants' registration, customer users, accountant links (deleghe) and the audit trail."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from adapters.smtp import build_message, deliver
from api.access import CLI_DECLARED, AccessDep, declared_surface, record
from api.deps import SettingsDep
from core.db import session_scope
from core.settings import Settings
from domain.credentials import (
    LinkInvalid,
    hash_password,
    make_purpose_token,
    new_token,
    password_matches,
    read_purpose_token,
    token_digest,
)
from domain.errors import NotFound
from domain.policy import ACCOUNTANT, CUSTOMER, OPERATOR
from models import audit
from models import identity as ident
from models.mail import EmailRequest
from models.tenant import Tenant
from starters import delegations
from starters.acting import HTTP

router = APIRouter(tags=["identity"])
CONFIRM_PURPOSE = "accountant-confirmation"
CONFIRM_HOURS = 48


class Login(BaseModel):
    email: str
    password: str = Field(max_length=ident.MAX_PASSWORD)
    label: str = Field(default="api", max_length=120, description="a name for this token, e.g. the machine")


class NewUser(BaseModel):
    email: str
    name: str
    password: str = Field(max_length=ident.MAX_PASSWORD)


class LinkInvite(BaseModel):
    accountant_email: str
    permissions: list[str] = Field(default_factory=list)


class LinkRequest(BaseModel):
    vat: str


class Permissions(BaseModel):
    permissions: list[str]
    expected: list[str] | None = Field(default=None, description="the set the caller saw: when given and the "
                                       "link's set is another by now, 409 and nothing is changed")


def _user_json(user: ident.User, vat: str | None) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "name": user.display_name, "kind": user.kind, "vat_number": vat,
            "confirmed": user.confirmed}


# -- login and tokens -------------------------------------------------------------------------------------

def _login(settings: Settings, body: Login, client: str, surface: str = "http") -> dict[str, Any]:
    """The attempt and its audit entry are committed whatever the answer; the refusal is raised after.
    `surface`: what the client declares itself (api/access.py); kept only once the password was right, as
    the guard keeps it only for an accepted token."""
    email = (body.email or "").strip().lower()
    keys = [f"account:{email}", f"address:{client}"]
    window = timedelta(seconds=settings.login_failure_window_seconds)
    refusal: HTTPException | None = None
    with session_scope(settings.database_url) as session:
        limits = (settings.login_max_failures_per_account, settings.login_max_failures_per_address)
        for key, limit in zip(keys, limits, strict=True):
            what = key.split(":")[0]
            if refusal is None and ident.recent_failures(session, key, window) >= limit:
                audit.append(session, f"login:{email}", "http", "auth.login", email, f"refused: throttled ({what})",
                             None, f"client {client}")
                refusal = HTTPException(429, detail=f"too many failed logins for this {what}; try again in "
                                                    f"{settings.login_failure_window_seconds // 60} minutes",
                                        headers={"Retry-After": str(settings.login_failure_window_seconds)})
        user = None if refusal else ident.find_user(session, email)
        if refusal is None and not (password_matches(user.password_hash if user else None, body.password)
                                    and user is not None and user.active):
            ident.record_login_failure(session, keys)
            audit.append(session, f"login:{email}", "http", "auth.login", email, "refused: wrong e-mail or password",
                         None, f"client {client}")
            refusal = HTTPException(401, detail="wrong e-mail or password")
        if refusal is None and user is not None and not user.confirmed:
            audit.append(session, f"login:{email}", "http", "auth.login", email, "refused: e-mail not confirmed",
                         None, f"client {client}")
            refusal = HTTPException(403, detail="confirm your e-mail address first (the link we sent at "
                                                "registration)")
        if refusal is None and user is not None:
            ident.forget_failures(session, keys[0])
            token = new_token(settings.secret_key.get_secret_value())
            row = ident.add_token(session, user, token_digest(token), body.label,
                                  timedelta(hours=settings.api_token_hours))
            principal = ident.principal_of(session, user)
            audit.append(session, principal.label, surface, "auth.login", f"token {row.id}", "ok",
                         principal.customer_vat, f"client {client}" + (f", {CLI_DECLARED}" if surface == "cli" else ""))
            answer = {"token": token, "token_id": row.id, "expires_at": row.expires_at.isoformat(),
                      "user": _user_json(user, principal.customer_vat)}
    if refusal is not None:
        raise refusal
    return answer


@router.post("/auth/login")
async def login(body: Login, request: Request, settings: SettingsDep) -> dict[str, Any]:
    """An API token for this user (shown once; only its hash is kept)."""
    client = request.client.host if request.client else ""
    return await run_in_threadpool(_login, settings, body, client, declared_surface(request))


@router.post("/auth/logout", status_code=204)
def logout(access: AccessDep) -> Response:
    assert access.token_id is not None
    with session_scope(access.settings.database_url) as session:
        ident.revoke_token(session, access.user.user_id, access.token_id)
    return Response(status_code=204)


@router.get("/auth/me")
def me(access: AccessDep) -> dict[str, Any]:
    user = access.user
    return {"email": user.name, "kind": user.kind, "vat_number": user.customer_vat,
            "grants": {vat: sorted(perms) for vat, perms in user.grants.items()}}


@router.get("/auth/tokens")
def tokens(access: AccessDep) -> list[dict[str, Any]]:
    with session_scope(access.settings.database_url) as session:
        return [{"id": t.id, "label": t.label, "created_at": t.created_at.isoformat(),
                 "expires_at": t.expires_at.isoformat(),
                 "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
                 "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
                 "current": t.id == access.token_id}
                for t in ident.list_tokens(session, access.user.user_id)]


@router.delete("/auth/tokens/{token_id}", status_code=204)
def revoke(token_id: int, access: AccessDep) -> Response:
    access.target = f"token {token_id}"
    with session_scope(access.settings.database_url) as session:
        ident.revoke_token(session, access.user.user_id, token_id)
    return Response(status_code=204)


# -- accountants register themselves; operators add customer users ---------------------------------------

def _send(settings: Settings, key: str, to: str, subject: str, body: str, kind: str) -> None:
    deliver(settings, build_message(settings, EmailRequest(key, to, subject, body, kind)))


@router.post("/accountants", status_code=202)
def register_accountant(body: NewUser, request: Request, settings: SettingsDep) -> dict[str, Any]:
    """Free registration: the account works once the address is confirmed through the e-mailed link."""
    ident.check_password_strength(body.password)
    with session_scope(settings.database_url) as session:
        user = ident.add_user(session, body.email, body.name, ACCOUNTANT, hash_password(body.password),
                              "self-registration", confirmed=False)
        user_id, email = user.id, user.email
    token = make_purpose_token(settings.secret_key.get_secret_value(), CONFIRM_PURPOSE, str(user_id),
                               timedelta(hours=CONFIRM_HOURS))
    link = f"{settings.public_base_url}/accountants/confirm/{token}"
    _send(settings, f"accountant-confirm:{user_id}", email, "Conferma il tuo indirizzo / Confirm your address",
          f"Per attivare l'account apri / To activate your account open:\n\n{link}\n\n"
          f"Il link vale {CONFIRM_HOURS} ore / The link is valid for {CONFIRM_HOURS} hours.", "account-confirmation")
    record(settings, f"accountant:{email}", "accountant.register", email, "ok",
           client=request.client.host if request.client else "")
    return {"id": user_id, "email": email, "state": "awaiting e-mail confirmation"}


@router.get("/accountants/confirm/{token}")
def confirm_accountant(token: str, settings: SettingsDep) -> dict[str, Any]:
    try:
        user_id = read_purpose_token(settings.secret_key.get_secret_value(), CONFIRM_PURPOSE, token)
    except LinkInvalid as err:
        raise HTTPException(410 if err.reason == "expired" else 400, detail=str(err)) from None
    with session_scope(settings.database_url) as session:
        user = session.get(ident.User, int(user_id))
        if user is None or user.kind != ACCOUNTANT:
            raise NotFound("no such registration")
        user.confirmed = True
        audit.append(session, f"accountant:{user.email}", "email-link", "accountant.confirm", user.email, "ok")
        return _user_json(user, None)


@router.post("/tenants/{vat}/users", status_code=201)
def add_customer_user(vat: str, body: NewUser, access: AccessDep) -> dict[str, Any]:
    ident.check_password_strength(body.password)
    access.target = f"user {body.email}"
    with session_scope(access.settings.database_url) as session:
        user = ident.add_user(session, body.email, body.name, CUSTOMER, hash_password(body.password),
                              access.actor, vat=vat)
        return _user_json(user, vat)


# -- delegation -------------------------------------------------------------------------------------------

@router.post("/tenants/{vat}/delegations", status_code=201)
def invite(vat: str, body: LinkInvite, access: AccessDep) -> dict[str, Any]:
    """The customer invites an accountant (with the permissions it will have once it accepts)."""
    access.target = f"accountant {body.accountant_email}"
    return delegations.invite_accountant(access.settings, vat, body.accountant_email, body.permissions,
                                         as_user=access.user, surface=HTTP).to_json()


@router.get("/tenants/{vat}/delegations")
def links_of_customer(vat: str, access: AccessDep) -> list[dict[str, object]]:
    return [v.to_json() for v in delegations.customer_links(access.settings, vat, as_user=access.user,
                                                            surface=HTTP)]


@router.put("/tenants/{vat}/delegations/{link_id}/permissions")
def grant(vat: str, link_id: int, body: Permissions, access: AccessDep) -> dict[str, object]:
    """Grant or withdraw: the permissions given are the whole new set (read withdrawn takes the modules)."""
    access.target = f"delegation {link_id}: {','.join(sorted(body.permissions)) or '(none)'}"
    return delegations.grant_permissions(access.settings, vat, link_id, body.permissions, as_user=access.user,
                                         surface=HTTP, expected=body.expected).to_json()


@router.delete("/tenants/{vat}/delegations/{link_id}")
def end_by_customer(vat: str, link_id: int, access: AccessDep) -> dict[str, object]:
    access.target = f"delegation {link_id}"
    return delegations.end_customer_link(access.settings, vat, link_id, as_user=access.user,
                                         surface=HTTP).to_json()


@router.post("/delegations", status_code=201)
def request_link(body: LinkRequest, access: AccessDep) -> dict[str, object]:
    """An accountant asks to act for a customer; a user of that customer accepts."""
    if access.user.kind != ACCOUNTANT:
        raise HTTPException(403, detail={"error": "forbidden", "detail": "only an accountant requests a link"})
    access.target = f"customer {body.vat}"
    with session_scope(access.settings.database_url) as session:
        view = ident.open_link(session, body.vat, access.user.name, ident.REQUESTED, access.actor)
        pec = session.scalar(select(Tenant.pec).where(Tenant.vat_number == view.vat_number))
    if pec:
        _send(access.settings, f"delegation-request:{view.id}", pec,
              f"Richiesta di delega da / Delegation request from {view.accountant}",
              f"{view.accountant} asks to act for {view.vat_number} as its accountant. Accept with "
              f"POST /delegations/{view.id}/accept; nothing is granted until you grant it.", "delegation-request")
    return view.to_json()


@router.get("/delegations")
def my_links(access: AccessDep) -> list[dict[str, object]]:
    with session_scope(access.settings.database_url) as session:
        if access.user.kind == ACCOUNTANT:
            return [v.to_json() for v in ident.links_of_accountant(session, access.user.user_id)]
        if access.user.customer_vat:
            return [v.to_json() for v in ident.links_of_tenant(session, access.user.customer_vat)]
        return []


@router.post("/delegations/{link_id}/accept")
def accept(link_id: int, access: AccessDep) -> dict[str, object]:
    """The other party accepts: the accountant an invitation, the customer's user (or an operator) a request."""
    user = access.user
    access.target = f"delegation {link_id}"
    with session_scope(access.settings.database_url) as session:
        row = ident.get_link(session, link_id)
        vat = ident.link_vat(session, row)
        mine = row.accountant_id == user.user_id or user.customer_vat == vat or user.kind == OPERATOR
        if not mine:
            raise NotFound(f"no delegation {link_id}")
        invited_me = row.state == ident.INVITED and user.kind == ACCOUNTANT
        asked_us = row.state == ident.REQUESTED and user.kind != ACCOUNTANT
        if row.state in (ident.INVITED, ident.REQUESTED) and not (invited_me or asked_us):
            raise HTTPException(403, detail={"error": "forbidden", "permission": "delegation.accept",
                                             "detail": f"delegation {link_id} is {row.state}: the other side "
                                                       "accepts it"})
        access.vat = vat
        return ident.accept_link(session, row, access.actor).to_json()


@router.delete("/delegations/{link_id}")
def end_by_accountant(link_id: int, access: AccessDep) -> dict[str, object]:
    access.target = f"delegation {link_id}"
    with session_scope(access.settings.database_url) as session:
        row = ident.get_link(session, link_id)
        if row.accountant_id != access.user.user_id:
            raise NotFound(f"no delegation {link_id}")
        return ident.end_link(session, row, access.actor).to_json()


# -- audit --------------------------------------------------------------------------------------------------

@router.get("/tenants/{vat}/audit")
def audit_trail(vat: str, access: AccessDep, after: Annotated[int, Query(ge=0)] = 0,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    """A page of the customer's audit trail, oldest first; ask for the next with `after=<next_after>`."""
    with session_scope(access.settings.database_url) as session:
        page = audit.entries(session, vat, after, limit)
    return {"entries": [e.to_json() for e in page], "next_after": page[-1].id if len(page) == limit else None}


@router.get("/audit/verify")
def audit_verify(access: AccessDep) -> dict[str, Any]:
    with session_scope(access.settings.database_url) as session:
        report = audit.verify_chain(session)
    return {"ok": report.ok, "entries": report.entries, "first_bad_id": report.first_bad_id,
            "problem": report.problem}
