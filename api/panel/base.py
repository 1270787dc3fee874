"""The panel's frame: login and logout, the language switch, the stylesheet, and the home page where a user
picks the customer it acts for (a customer user: its own; an accountant: one of the customers that linked it,
with what each granted; an operator: any)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api import tls
from api.panel import i18n
from api.panel.common import PANEL, attempt_message, needs_user, refusal, settings_of
from api.panel.pages import STYLESHEET, language, render
from api.panel.session import (
    LANG_COOKIE,
    close_session,
    connection_certificate,
    csrf_ok,
    current_user,
    login_csrf,
    login_csrf_ok,
    open_session,
    secure,
    set_login_cookie,
)
from api.routes.identity import Login, _login
from core.db import session_scope
from domain.errors import Forbidden
from domain.permissions import LABELS
from domain.policy import CUSTOMER
from models import identity as ident
from starters.tenants import list_customers

router = APIRouter(prefix="/panel", include_in_schema=False)


@router.get("/panel.css")
def stylesheet() -> Response:
    return Response(STYLESHEET.read_bytes(), media_type="text/css",
                    headers={"Cache-Control": "max-age=3600", "X-Content-Type-Options": "nosniff"})


def _safe_next(target: str | None) -> str:
    """Only a page of the panel itself (never an address elsewhere: no open redirect)."""
    if target and target.startswith("/panel/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/panel/"


@router.get("/lang/{code}")
def switch_language(code: str, request: Request, next: str | None = None) -> Response:
    response = RedirectResponse(_safe_next(next), status_code=303)
    if code in i18n.LANGUAGES:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 24 * 3600, path="/panel", httponly=True,
                            samesite="strict", secure=secure(request, settings_of(request)))
    return response


def _login_page(request: Request, status_code: int = 200, message: str | None = None) -> Response:
    settings = settings_of(request)
    cookie, token = login_csrf(request, settings)
    page = render(request, "login.html.j2", status_code=status_code, message=message, login_csrf=token)
    set_login_cookie(page, request, settings, cookie)
    return page


def _certificate_refusal(request: Request) -> str | None:
    """Over mutual TLS, why the connection's certificate will not do (None: it will, or TLS is off)."""
    try:
        connection_certificate(request, settings_of(request))
    except tls.CertificateRefused as err:
        return str(err.detail)
    return None


@router.get("/login")
async def login_form(request: Request, expired: int = 0) -> Response:
    if await current_user(request) is not None:
        return RedirectResponse("/panel/", status_code=303)
    why = await run_in_threadpool(_certificate_refusal, request)
    if why is not None:
        return _login_page(request, 401, why)
    return _login_page(request, message=i18n.translate(language(request), "session_needed") if expired else None)


@router.post("/login")
async def login(request: Request) -> Response:
    settings = settings_of(request)
    form = await request.form()
    lang = language(request)
    if not login_csrf_ok(request, settings, form.get("csrf")):
        return _login_page(request, 403, i18n.translate(lang, "csrf"))
    try:
        body = Login(email=str(form.get("email") or ""), password=str(form.get("password") or ""), label="panel")
    except ValidationError:
        return _login_page(request, 422, "wrong e-mail or password")
    why = await run_in_threadpool(_certificate_refusal, request)
    if why is not None:  # over mutual TLS: no password is even tried without a certificate of ours
        return _login_page(request, 401, why)
    client = request.client.host if request.client else ""
    try:  # the API's own login: throttling, the audit entry, the token (label "panel")
        answer = await run_in_threadpool(_login, settings, body, client)
    except HTTPException as err:
        return _login_page(request, err.status_code, str(err.detail))
    response = RedirectResponse("/panel/", status_code=303)
    open_session(response, request, settings, answer["token"])
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    user = await current_user(request)
    form = await request.form()
    if user is not None:
        if not csrf_ok(user, form.get("csrf")):
            return render(request, "message.html.j2", user=user, status_code=403,
                          message=i18n.translate(language(request), "csrf"))
        with session_scope(settings_of(request).database_url) as session:  # the session's token is revoked
            ident.revoke_token(session, user.principal.user_id, user.token_id)
    response = _login_page(request, message=i18n.translate(language(request), "logged_out"))
    close_session(response)
    return response


@router.get("/")
async def home(request: Request) -> Response:
    user = await needs_user(request)
    if isinstance(user, Response):
        return user
    principal = user.principal
    if principal.kind == CUSTOMER and principal.customer_vat:
        return RedirectResponse(f"/panel/c/{principal.customer_vat}/certificates", status_code=303)
    try:
        customers = await run_in_threadpool(list_customers, settings_of(request), as_user=principal,
                                            surface=PANEL)
    except Forbidden as err:
        ref = refusal(request, err)
        return render(request, "message.html.j2", user=user, status_code=ref.status,
                      message=attempt_message(ref, language(request)))
    lang = language(request)
    rows = [(c, ", ".join(LABELS[p][lang] for p in sorted(principal.grants.get(c.vat_number, ())) if p in LABELS))
            for c in customers]
    return render(request, "home.html.j2", user=user, customers=rows, show_grants=principal.kind != "operator")
