"""Every HTTP request passes here: who is asking (the bearer token), may they (`domain.policy.may`), and what
happened (the audit trail).

`RULES` maps each route, by method and path, to its action and to where the customer it is about comes
from: the path (`{vat}`), the query (`?vat=`), or the route itself once it has read the resource
(`Access.check`). A route with no rule is refused (500) and fails the permission-matrix test; a route whose
rule says the route checks, but which answers without checking, is refused too. `PUBLIC` names the few
routes that need no user, and why.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from api import tls
from core.db import get_engine, session_scope
from core.settings import Settings
from domain.credentials import token_digest, token_is_ours
from domain.errors import Forbidden, Hidden, InvalidInput
from domain.identifiers import parse_vat_number
from domain.policy import CLIENT_HEADER, Principal, may
from models import audit
from models.base import utcnow
from models.identity import token_holder, touch_token

PATH, QUERY, BODY, ROUTE, NONE = "path", "query", "body", "route", "none"

# The `einvoice` CLI says it is the CLI (domain.policy.CLIENT_HEADER). A client can say anything, so this is
# its declaration, not a fact: on a request whose token was accepted the entry's surface is "cli" and its
# detail says the declaration came over HTTP; an unauthenticated request's entry stays "http" whatever it says.
CLI_DECLARED = "surface declared by the client (X-Einvoice-Client: cli), over http"


@dataclass(frozen=True)
class Rule:
    action: str
    customer: str = PATH  # where the customer comes from: path | query | body (`vat`) | route | none
    whole: str | None = None  # BODY with no customer named: this (unscoped) action instead


@dataclass(frozen=True)
class Public:
    why: str


# The web panel (api/panel/) authenticates its own way: the signed session cookie holds a token issued by the
# API's login and is checked as a bearer token is (api/panel/session.py); every page and form then calls the
# same starters, which ask `may` and write the audit entry (surface "panel"), with a CSRF token on each POST.
PANEL = Public("the web panel: its session cookie is checked like a token, and each action asks the policy "
               "in the starters it calls (surface panel)")

RULES: dict[tuple[str, str], Rule | Public] = {
    # no user: each is authenticated otherwise, or is public by nature
    ("GET", "/healthz"): Public("liveness probe"),
    ("GET", "/openapi.json"): Public("the API's own description"),
    ("GET", "/docs"): Public("the API's own description"),
    ("GET", "/docs/oauth2-redirect"): Public("the API's own description"),
    ("GET", "/redoc"): Public("the API's own description"),
    ("POST", "/codec/decode"): Public("its own bearer token (CODEC_AUTH_TOKEN), for the operators' Temporal UI"),
    ("POST", "/codec/encode"): Public("its own bearer token (CODEC_AUTH_TOKEN), for the operators' Temporal UI"),
    ("GET", "/accept/{token}"): Public("the signed single-use link is the credential"),
    ("GET", "/accept/{token}/contract"): Public("the signed single-use link is the credential"),
    ("POST", "/accept/{token}"): Public("the signed single-use link is the credential"),
    ("POST", "/sdi/TrasmissioneFatture"): Public("the SDI: its signature on every file"),
    ("POST", "/sdi/RicezioneFatture"): Public("the SDI: its signature on every file"),
    ("GET", "/certificates/ca.pem"): Public("our CA certificate is published to anyone who verifies"),
    ("GET", "/certificates/crl"): Public("a revocation list is published to anyone who verifies"),
    ("POST", "/auth/login"): Public("it checks the password itself (throttled)"),
    ("POST", "/accountants"): Public("an accountant registers for free"),
    ("GET", "/accountants/confirm/{token}"): Public("the signed link e-mailed at registration is the credential"),
    # the caller's own identity
    ("POST", "/auth/logout"): Rule("user.self", NONE),
    ("GET", "/auth/me"): Rule("user.self", NONE),
    ("GET", "/auth/tokens"): Rule("user.self", NONE),
    ("DELETE", "/auth/tokens/{token_id}"): Rule("user.self", NONE),
    # customers and their users
    ("POST", "/tenants"): Rule("tenant.create", NONE),
    ("GET", "/tenants"): Rule("tenant.list", NONE),
    ("GET", "/tenants/{vat}"): Rule("tenant.read"),
    ("GET", "/tenants/{vat}/profile"): Rule("tenant.read"),
    ("POST", "/tenants/{vat}/profile/confirmations"): Rule("tenant.confirm"),
    ("PUT", "/tenants/{vat}/delegated-signing"): Rule("signing.grant"),
    ("PUT", "/tenants/{vat}/strict-warnings"): Rule("preferences.update"),
    ("POST", "/tenants/{vat}/users"): Rule("user.create"),
    # delegation
    ("POST", "/tenants/{vat}/delegations"): Rule("delegation.invite"),
    ("GET", "/tenants/{vat}/delegations"): Rule("delegation.read"),
    ("PUT", "/tenants/{vat}/delegations/{link_id}/permissions"): Rule("delegation.grant"),
    ("DELETE", "/tenants/{vat}/delegations/{link_id}"): Rule("delegation.grant"),
    ("POST", "/delegations"): Rule("delegation.request", NONE),
    ("GET", "/delegations"): Rule("user.self", NONE),
    ("POST", "/delegations/{link_id}/accept"): Rule("delegation.accept", NONE),
    ("DELETE", "/delegations/{link_id}"): Rule("user.self", NONE),
    # audit
    ("GET", "/tenants/{vat}/audit"): Rule("audit.read"),
    ("GET", "/audit/verify"): Rule("audit.verify", NONE),
    # contracts
    ("POST", "/contracts"): Rule("contract.start", BODY),
    ("GET", "/contracts/{vat}"): Rule("contract.read"),
    ("GET", "/contracts/{vat}/state"): Rule("contract.read"),
    ("POST", "/contracts/{vat}/resend"): Rule("contract.resend"),
    ("POST", "/contracts/{vat}/cancel"): Rule("contract.cancel"),
    # certificates and preferences
    ("POST", "/tenants/{vat}/certificates"): Rule("certificate.request"),
    ("GET", "/tenants/{vat}/certificates"): Rule("certificate.read"),
    ("POST", "/tenants/{vat}/certificates/uploads"): Rule("certificate.upload"),
    ("POST", "/tenants/{vat}/certificates/revocations"): Rule("certificate.revoke"),
    ("GET", "/tenants/{vat}/certificates/{operation_id}"): Rule("certificate.read"),
    ("GET", "/tenants/{vat}/certificates/{operation_id}/download"): Rule("certificate.read"),
    ("DELETE", "/tenants/{vat}/certificates/{operation_id}"): Rule("certificate.delete"),
    ("GET", "/tenants/{vat}/preferences"): Rule("preferences.read"),
    ("PUT", "/tenants/{vat}/preferences"): Rule("preferences.update"),
    # invoices
    ("POST", "/invoices"): Rule("invoice.send", BODY),
    ("GET", "/invoices"): Rule("invoice.list", QUERY),
    ("GET", "/invoices/{invoice_id}"): Rule("invoice.read", ROUTE),
    ("GET", "/invoices/{invoice_id}/download/{what}"): Rule("invoice.read", ROUTE),
    ("POST", "/invoices/{invoice_id}/outcome"): Rule("invoice.outcome", ROUTE),
    # the change feed a customer's server syncs from (#15)
    ("GET", "/customers/{vat}/feed"): Rule("feed.read"),
    ("GET", "/customers/{vat}/snapshot"): Rule("feed.read"),
    ("GET", "/customers/{vat}/files/{file_id}"): Rule("feed.read"),
    ("PUT", "/customers/{vat}/sync-schedule"): Rule("sync.schedule"),
    ("GET", "/customers/{vat}/sync-schedule"): Rule("sync.read"),
    ("POST", "/customers/{vat}/sync-schedule/pause"): Rule("sync.pause"),
    ("POST", "/customers/{vat}/sync-schedule/resume"): Rule("sync.pause"),
    ("DELETE", "/customers/{vat}/sync-schedule"): Rule("sync.schedule"),
    # the download from KSeF (#14.4)
    ("POST", "/customers/{vat}/ksef/downloads"): Rule("ksef.download"),
    ("GET", "/customers/{vat}/ksef/downloads"): Rule("ksef.read"),
    ("PUT", "/customers/{vat}/ksef/schedule"): Rule("ksef.schedule"),
    ("GET", "/customers/{vat}/ksef/schedule"): Rule("ksef.read"),
    ("POST", "/customers/{vat}/ksef/schedule/pause"): Rule("ksef.schedule"),
    ("POST", "/customers/{vat}/ksef/schedule/resume"): Rule("ksef.schedule"),
    ("DELETE", "/customers/{vat}/ksef/schedule"): Rule("ksef.schedule"),
    ("PUT", "/customers/{vat}/ksef-token"): Rule("ksef.token"),
    ("GET", "/customers/{vat}/ksef-token"): Rule("ksef.read"),
    ("DELETE", "/customers/{vat}/ksef-token"): Rule("ksef.token"),
    ("POST", "/customers/{vat}/ksef/auth-requests"): Rule("certificate.request"),
    ("POST", "/ksef/outages"): Rule("ksef.outage.record", NONE),
    ("POST", "/ksef/outages/{outage_id}/end"): Rule("ksef.outage.record", NONE),
    ("GET", "/ksef/outages"): Rule("ksef.outage.read", NONE),
    # the archive
    ("GET", "/archive/usage"): Rule("archive.usage", NONE),
    ("GET", "/archive/packages"): Rule("archive.read", QUERY),
    ("GET", "/archive/export"): Rule("archive.read", QUERY),
    ("GET", "/archive/packages/{package_id}"): Rule("archive.read", ROUTE),
    ("POST", "/archive/verify"): Rule("archive.verify", BODY, whole="archive.verify_all"),
    ("GET", "/archive/verify/{workflow_id}"): Rule("archive.verify", ROUTE),
    # the web panel (#16)
    ("GET", "/panel/panel.css"): Public("the panel's stylesheet"),
    ("GET", "/panel/lang/{code}"): Public("the language switch: a cookie with the language, nothing else"),
    ("GET", "/panel/login"): PANEL,
    ("POST", "/panel/login"): Public("the panel's login form: the API's own login (throttled, audited)"),
    ("POST", "/panel/logout"): PANEL,
    ("GET", "/panel/"): PANEL,
    ("GET", "/panel/c/{vat}/profile"): PANEL,
    ("POST", "/panel/c/{vat}/profile"): PANEL,
    ("GET", "/panel/c/{vat}/certificates"): PANEL,
    ("POST", "/panel/c/{vat}/certificates"): PANEL,
    ("GET", "/panel/c/{vat}/certificates/revoke"): PANEL,
    ("POST", "/panel/c/{vat}/certificates/revoke"): PANEL,
    ("GET", "/panel/c/{vat}/certificates/{operation_id}/download"): PANEL,
    ("POST", "/panel/c/{vat}/certificates/uploads"): PANEL,
    ("POST", "/panel/c/{vat}/certificates/{operation_id}/delete"): PANEL,
    ("GET", "/panel/c/{vat}/ksef"): PANEL,
    ("POST", "/panel/c/{vat}/ksef/authentication"): PANEL,
    ("POST", "/panel/c/{vat}/ksef/offline"): PANEL,
    ("POST", "/panel/c/{vat}/ksef/{operation_id}/delete"): PANEL,
    ("POST", "/panel/c/{vat}/ksef/notifications"): PANEL,
    ("GET", "/panel/c/{vat}/invoices"): PANEL,
    ("POST", "/panel/c/{vat}/invoices"): PANEL,
    ("POST", "/panel/c/{vat}/invoices/ksef/download"): PANEL,
    ("POST", "/panel/c/{vat}/invoices/ksef/token"): PANEL,
    ("GET", "/panel/c/{vat}/invoices/{invoice_id}"): PANEL,
    ("GET", "/panel/c/{vat}/invoices/{invoice_id}/download/{what}"): PANEL,
    ("GET", "/panel/c/{vat}/delegations"): PANEL,
    ("POST", "/panel/c/{vat}/delegations"): PANEL,
    ("POST", "/panel/c/{vat}/delegations/{link_id}/permissions"): PANEL,
    ("POST", "/panel/c/{vat}/delegations/{link_id}/end"): PANEL,
    ("GET", "/panel/c/{vat}/orders"): PANEL,
    ("GET", "/panel/orders"): PANEL,
    ("POST", "/panel/c/{vat}/orders/resend"): PANEL,
    ("POST", "/panel/c/{vat}/orders/cancel"): PANEL,
    ("GET", "/panel/c/{vat}/preferences"): PANEL,
    ("POST", "/panel/c/{vat}/preferences"): PANEL,
    ("GET", "/panel/c/{vat}/audit"): PANEL,
    ("GET", "/panel/c/{vat}/sync"): PANEL,
    ("POST", "/panel/c/{vat}/sync/{verb}"): PANEL,
    ("GET", "/panel/c/{vat}/archive"): PANEL,
    ("GET", "/panel/c/{vat}/archive/export"): PANEL,
}


LAST_USED_GRANULARITY = timedelta(minutes=1)


class Unauthenticated(HTTPException):
    def __init__(self, reason: str, detail: str):
        super().__init__(401, detail=f"{reason} token: {detail}", headers={"WWW-Authenticate": "Bearer"})
        self.reason = reason


@dataclass
class Access:
    """What a route knows of its caller, and the one way it asks the policy."""

    settings: Settings
    action: str
    principal: Principal | None
    token_id: int | None = None
    client: str = ""
    target: str = ""
    vat: str | None = None
    checked: bool = False
    refused: bool = False  # the refusal is audited where it is decided
    mtls: bool = False  # served over mutual TLS: the client certificate must be the acted-for customer's
    certificate: tls.ClientCertificate | None = None
    surface: str = "http"  # "cli" when the authenticated client declares itself the CLI (CLIENT_HEADER)

    @property
    def user(self) -> Principal:
        assert self.principal is not None, "a public route has no user"
        return self.principal

    @property
    def actor(self) -> str:
        return self.principal.label if self.principal else "anonymous"

    def check(self, vat: str | None, action: str | None = None) -> None:
        """Refuse (404 or 403, audited) unless the caller may do the action for customer `vat`."""
        refused = self.refusal(vat, action)
        if refused is not None:
            outcome, act, error = refused
            self._record(outcome, act, vat)
            raise error

    def refusal(self, vat: str | None, action: str | None = None) -> tuple[str, str, HTTPException] | None:
        """The policy's answer, without I/O: None when the caller may (marked checked), else the refusal's
        audit outcome, its action and the error to raise once it is audited (`check` does both)."""
        act = action or self.action
        decision = may(self.user, act, vat)
        self.vat = vat if vat is None or self.user.visible(vat) else None
        self.checked = True
        if not decision.allowed:
            self.refused = True
            if decision.status == 404:
                return (f"refused: {decision.reason}", act,
                        HTTPException(404, detail={"error": "not found", "detail": decision.reason}))
            return (f"refused: {decision.reason}", act,
                    HTTPException(403, detail={"error": "forbidden", "detail": decision.reason,
                                               "permission": decision.permission or act}))
        why = tls.refusal(self.settings, self.user, self.certificate, vat) if self.mtls else None
        if why is not None:
            self.refused = True
            return (f"refused: {why}", act,
                    HTTPException(403, detail={"error": "forbidden", "detail": why, "certificate":
                                               self.certificate.operation_id if self.certificate else None}))
        return None

    def _record(self, outcome: str, action: str | None = None, vat: str | None = None) -> None:
        with session_scope(self.settings.database_url) as session:
            details = [f"client {self.client}" if self.client else "",
                       f"certificate {self.certificate.operation_id}" if self.certificate else "",
                       CLI_DECLARED if self.surface == "cli" else ""]
            audit.append(session, self.actor, self.surface, action or self.action, self.target, outcome,
                         vat, ", ".join(d for d in details if d))


def record(settings: Settings, actor: str, action: str, target: str, outcome: str, vat: str | None = None,
           client: str = "", surface: str = "http") -> None:
    """An audit entry in its own transaction (a refused login, a public route's outcome)."""
    details = [f"client {client}" if client else "", CLI_DECLARED if surface == "cli" else ""]
    with session_scope(settings.database_url) as session:
        audit.append(session, actor, surface, action, target, outcome, vat, ", ".join(d for d in details if d))


def declared_surface(request: Request) -> str:
    """"cli" when the client declares itself the CLI, else "http" (for authenticated requests only)."""
    return "cli" if request.headers.get(CLIENT_HEADER, "").strip().lower() == "cli" else "http"


def _reads(settings: Settings) -> Connection:
    """A connection for the guard's reads: autocommit, as they need no transaction of their own (one
    statement each; the one write, the token's last use, is a single conditional UPDATE)."""
    return get_engine(settings.database_url).connect().execution_options(isolation_level="AUTOCOMMIT")


def _authenticate(settings: Settings, header: str, client: str = "", target: str = "",
                  db: Connection | None = None) -> tuple[Principal, int]:
    """The bearer token's user, read now (a revoked token or a withdrawn grant stops the very next request):
    one statement for the token, its user and the user's customer (an accountant's grants a second). `db`:
    the guard's connection, else one of its own (the web panel's session cookie)."""
    if db is None:
        with _reads(settings) as own:
            return _authenticate(settings, header, client, target, own)
    scheme, _, given = header.partition(" ")
    if not header:
        raise Unauthenticated("missing", "send Authorization: Bearer <token> (POST /auth/login gives one)")
    if scheme.lower() != "bearer" or not given.strip():
        raise Unauthenticated("missing", "the Authorization header is not a bearer token")
    token = given.strip()
    if not token_is_ours(settings.secret_key.get_secret_value(), token):
        raise Unauthenticated("forged", "this token was not issued here")
    found = token_holder(db, token_digest(token))
    if found is None:
        raise Unauthenticated("unknown", "no such token (its user was removed)")
    if found.revoked_at is not None:
        raise Unauthenticated("revoked", f"token {found.token_id} was revoked at {found.revoked_at.isoformat()}")
    now = utcnow()
    if found.expires_at <= now:
        raise Unauthenticated("expired", f"token {found.token_id} expired at {found.expires_at.isoformat()}; "
                                         "log in again")
    if not found.active:
        raise Unauthenticated("disabled", "the token's user is disabled")
    if found.last_used_at is None or now - found.last_used_at > LAST_USED_GRANULARITY:
        touch_token(db, found.token_id, now, LAST_USED_GRANULARITY)  # at most once a minute
    return found.principal, found.token_id


def _admit(settings: Settings, rule: Rule, header: str, scope: MutableMapping[str, Any], client: str, target: str,
           surface: str, vat: str | None, check: bool) -> Access:
    """Everything the guard does before the route, in one worker thread and on one connection: the token
    and its user read (autocommit: reads that need no transaction of their own), the client certificate
    looked up (mutual TLS), and, when the rule names the customer in the path or query (`check`), the
    policy asked. A refusal is audited (in its own transaction, committed before the refusal is answered, once
    the reads' connection is back in the pool: a request never holds two)."""
    refused: Unauthenticated | tls.CertificateRefused | None = None
    principal, token_id, certificate = None, None, None
    with _reads(settings) as db:
        try:
            principal, token_id = _authenticate(settings, header, client, target, db)
            if settings.api_tls:  # besides the token, the connection's certificate (api/tls.py)
                certificate = tls.identify(settings, scope, db)
        except (Unauthenticated, tls.CertificateRefused) as err:
            refused = err
    if refused is not None:
        who = principal.label if principal is not None else "anonymous"
        record(settings, who, rule.action, target, f"refused: {refused.detail}", None, client,
               surface if principal is not None else "http")
        raise refused
    assert principal is not None and token_id is not None
    access = Access(settings, rule.action, principal, token_id, client, target, mtls=settings.api_tls,
                    certificate=certificate, surface=surface)
    if check:
        if rule.customer == QUERY and vat is None and principal.kind != "operator":
            if principal.customer_vat is None:
                raise HTTPException(422, detail="name the customer: ?vat=<VAT number>")
            vat = principal.customer_vat  # a customer user's lists are its own customer's
        access.check(vat)
    return access


async def _body_vat(request: Request) -> str | None:
    """The `vat` field of a JSON or form body (read once; FastAPI reuses what the request cached)."""
    kind = request.headers.get("content-type", "")
    try:
        if kind.startswith("application/json"):
            data = await request.json()
            value = data.get("vat") if isinstance(data, dict) else None
        elif kind.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
            value = (await request.form()).get("vat")
        else:
            value = None
    except ValueError:  # not JSON / not a form: the route's own validation says what is wrong
        value = None
    return _canonical(value) if isinstance(value, str) and value else None


def _canonical(vat: str | None) -> str | None:
    """The VAT number as stored (IT/PL prefix, no spaces): the check and the action see the same customer."""
    if vat is None:
        return None
    try:
        return str(parse_vat_number(vat))
    except InvalidInput:
        return vat  # not a VAT number: nobody's customer; the route says what is wrong with it


async def guard(request: Request) -> AsyncIterator[Access]:
    """The app-wide dependency: authenticate, check what the rule lets us check now, audit the outcome."""
    settings: Settings = request.app.state.settings
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    rule = RULES.get((request.method, path))
    client = request.client.host if request.client else ""
    target = f"{request.method} {request.url.path}"
    if isinstance(rule, Public):
        yield Access(settings, "public", None, client=client, target=target, checked=True)
        return
    if rule is None:  # fail closed: a route nobody wrote a rule for
        raise HTTPException(500, detail=f"no access rule for {request.method} {path}")
    vat: str | None = None
    if rule.customer in (PATH, QUERY):
        source = request.path_params if rule.customer == PATH else request.query_params
        vat = _canonical(source.get("vat"))
    # the declared surface is recorded only once the token is accepted (`_admit`)
    access = await run_in_threadpool(_admit, settings, rule, request.headers.get("authorization", ""),
                                     request.scope, client, target, declared_surface(request), vat,
                                     rule.customer in (PATH, QUERY, NONE))
    if rule.customer == BODY:  # before any other dependency (a Temporal connection) or the route runs
        vat = await _body_vat(request)
        refused = access.refusal(vat, rule.whole if vat is None and rule.whole else None)  # no I/O: no thread
        if refused is not None:
            await run_in_threadpool(access._record, refused[0], refused[1], vat)
            raise refused[2]
    try:
        yield access
    except (Forbidden, Hidden) as err:  # refused by the starter the route called (starters/acting.py)
        access.refused = True
        await run_in_threadpool(access._record, f"refused: {err.reason}", err.action or None, err.vat)
        raise
    except HTTPException as err:
        if not access.refused:
            await run_in_threadpool(access._record, f"failed: HTTP {err.status_code}", None, access.vat)
        raise
    except Exception as err:
        await run_in_threadpool(access._record, f"failed: {type(err).__name__}: {str(err)[:200]}", None,
                                access.vat)
        raise
    if not access.checked:
        raise HTTPException(500, detail=f"{request.method} {path} answered without asking the policy")
    await run_in_threadpool(access._record, "ok", None, access.vat)


AccessDep = Annotated[Access, Depends(guard, scope="function")]
