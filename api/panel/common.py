"""What every panel screen shares: the logged-in user or a redirect to the login page, the CSRF check of a
POST, and a refusal of the starters turned into a clear message on the page (nothing was written: the
starters refuse before they write)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from api import tls
from api.panel import i18n
from api.panel.pages import language, render
from api.panel.session import CSRF_FIELD, PanelUser, csrf_ok, current_user
from core.settings import Settings
from domain.errors import Conflict, Forbidden, Hidden, InvalidInput, NotFound, Unavailable
from domain.identifiers import parse_vat_number
from starters.acting import PANEL, Acting

__all__ = ["PANEL", "REFUSALS", "Refusal", "attempt_message", "customer_of", "form_with_csrf", "login_redirect",
           "needs_user", "precheck", "refusal", "settings_of"]

# What a starter may raise for a request it refuses: each is shown on the page with its status.
REFUSALS: tuple[type[BaseException], ...] = (InvalidInput, Conflict, NotFound, Forbidden, Unavailable, RPCError,
                                             WorkflowUpdateRPCTimeoutOrCancelledError)


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def login_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse("/panel/login?expired=1" if request.cookies.get("einvoice_panel") else "/panel/login",
                            status_code=303)


async def needs_user(request: Request, vat: str | None = None) -> PanelUser | Response:
    """The session's user, or the way to the login page. Over mutual TLS (API_TLS) the connection's
    certificate must also be one that may act for customer `vat`, as on every API route (api/tls.py)."""
    user = await current_user(request)
    if user is None:
        return login_redirect(request)
    settings = settings_of(request)
    if settings.api_tls:
        why = tls.refusal(settings, user.principal, user.certificate, None if vat is None else customer_of(vat))
        if why is not None:
            return render(request, "message.html.j2", user=user, status_code=403,
                          message=f"{i18n.translate(language(request), 'refused')}: {why}")
    return user


def customer_of(vat: str) -> str:
    """The path's customer as stored (IT/PL prefix); a malformed one is nobody's (the starter says so)."""
    try:
        return str(parse_vat_number(vat))
    except InvalidInput:
        return vat


@dataclass(frozen=True)
class Refusal:
    status: int
    title: str
    message: str


def refusal(request: Request, err: BaseException) -> Refusal:
    lang = language(request)
    if isinstance(err, Forbidden):
        return Refusal(403, i18n.translate(lang, "refused"), f"{err.reason} ({err.permission})")
    if isinstance(err, Hidden | NotFound):
        return Refusal(404, i18n.translate(lang, "not_found"), str(err))
    if isinstance(err, InvalidInput):
        return Refusal(422, i18n.translate(lang, "invalid"), str(err))
    if isinstance(err, Conflict):
        return Refusal(409, i18n.translate(lang, "refused"), str(err))
    if isinstance(err, RPCError | WorkflowUpdateRPCTimeoutOrCancelledError):
        return Refusal(503, "Temporal", "the workflow service did not answer in time; try again")
    return Refusal(503, i18n.translate(lang, "refused"), str(err))


def attempt_message(ref: Refusal, lang: str) -> str:
    return f"{ref.title}: {ref.message}. {i18n.translate(lang, 'nothing_written')}"


async def form_with_csrf(request: Request, user: PanelUser) -> tuple[dict[str, object], Response | None]:
    """The POSTed form, or a 403 page when its CSRF token is not this session's."""
    form = await request.form()
    values: dict[str, object] = dict(form)
    if not csrf_ok(user, values.get(CSRF_FIELD)):
        return values, render(request, "message.html.j2", user=user, status_code=403,
                              message=i18n.translate(language(request), "csrf"))
    return values, None


async def posted_form(request: Request, vat: str) -> tuple[PanelUser, str, dict[str, object]] | Response:
    """A POST's user, its customer as stored and its form; or the page that refuses it (no session, a
    connection certificate that may not act for the customer, a CSRF token not this session's)."""
    user = await needs_user(request, vat)
    if isinstance(user, Response):
        return user
    form, refused = await form_with_csrf(request, user)
    if refused is not None:
        return refused
    return user, customer_of(vat), form


def precheck(settings: Settings, user: PanelUser, action: str, vat: str) -> None:
    """The policy asked before a form's work reaches for Temporal (a refused request connects to nothing):
    a refusal is audited here (surface panel); the starter then asks again and writes the request's entry."""
    Acting(settings, user.principal, action, PANEL, f"panel {action}").check(vat)
