"""The panel's session: a signed, expiring, HttpOnly, SameSite=Strict cookie (Secure where the panel is served
over TLS) that holds an API token issued by the same login as `POST /auth/login`, so the token's expiry and
its revocation (logout, `DELETE /auth/tokens/{id}`, a disabled user) end the session exactly as they end an
API client's.

Every POST carries a CSRF token: an HMAC of the session's token digest under SECRET_KEY, so it is per session,
needs no storage and dies with the session. The login form, which has no session yet, is bound the same way
to a short-lived signed pre-session cookie.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool

from api import tls
from api.access import Unauthenticated, _authenticate
from core.settings import Settings
from domain.credentials import keys_of, token_digest
from domain.policy import Principal

COOKIE = "einvoice_panel"
PRE_COOKIE = "einvoice_panel_login"
LANG_COOKIE = "einvoice_lang"
CSRF_FIELD = "csrf"
PRE_SECONDS = 30 * 60
_SALT = "einvoice-hub/panel-session/v1"
_PRE_SALT = "einvoice-hub/panel-login/v1"


def _serializer(settings: Settings, salt: str) -> URLSafeTimedSerializer:
    keys = keys_of(settings.secret_key.get_secret_value())
    if not keys:
        raise ValueError("SECRET_KEY is empty: panel sessions cannot be signed")
    return URLSafeTimedSerializer(list(reversed(keys)), salt=salt,
                                  signer_kwargs={"digest_method": hashlib.sha256})


def _mac(settings: Settings, purpose: str, value: str) -> str:
    key = keys_of(settings.secret_key.get_secret_value())[0]
    return hmac.new(key.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def session_seconds(settings: Settings) -> int:
    return int(settings.api_token_hours * 3600)


def secure(request: Request, settings: Settings) -> bool:
    """Secure cookies wherever the panel is reached over TLS (directly, or as the public address says)."""
    return request.url.scheme == "https" or settings.public_base_url.startswith("https://") or settings.api_tls


def _set(response: Response, request: Request, settings: Settings, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/panel", httponly=True, samesite="strict",
                        secure=secure(request, settings))


def open_session(response: Response, request: Request, settings: Settings, token: str) -> None:
    _set(response, request, settings, COOKIE, _serializer(settings, _SALT).dumps({"t": token}),
         session_seconds(settings))
    response.delete_cookie(PRE_COOKIE, path="/panel")


def close_session(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/panel", httponly=True, samesite="strict")


def _token_of(request: Request, settings: Settings) -> str | None:
    raw = request.cookies.get(COOKIE)
    if not raw or len(raw) > 1024:
        return None
    try:
        data = _serializer(settings, _SALT).loads(raw, max_age=session_seconds(settings))
    except BadSignature:  # forged, or older than the token's lifetime (SignatureExpired is one)
        return None
    token = data.get("t") if isinstance(data, dict) else None
    return token if isinstance(token, str) else None


@dataclass(frozen=True)
class PanelUser:
    """The logged-in user as the policy sees it (with the session's token, so every starter call checks it
    again), and the session's CSRF token."""

    principal: Principal
    token_id: int
    csrf: str
    certificate: tls.ClientCertificate | None = None  # served over mutual TLS: the connection's, verified


def connection_certificate(request: Request, settings: Settings) -> tls.ClientCertificate | None:
    """Where the API is served over mutual TLS, the connection's certificate as our records know it; raises
    `tls.CertificateRefused` naming why none will do (missing, unknown, revoked, expired)."""
    return tls.identify(settings, request.scope) if settings.api_tls else None


async def current_user(request: Request) -> PanelUser | None:
    """The session's user, or None (no cookie, forged, expired, revoked, user disabled): the same checks as
    an API request's bearer token (api/access.py)."""
    settings: Settings = request.app.state.settings
    token = _token_of(request, settings)
    if token is None:
        return None
    client = request.client.host if request.client else ""
    try:
        principal, token_id = await run_in_threadpool(
            _authenticate, settings, f"Bearer {token}", client, f"{request.method} {request.url.path}")
    except Unauthenticated:
        return None
    try:
        certificate = await run_in_threadpool(connection_certificate, request, settings)
    except tls.CertificateRefused:
        return None  # the login page says why (api/panel/base.py)
    principal = dataclasses.replace(principal, token_id=token_id)
    return PanelUser(principal, token_id, _mac(settings, "panel-csrf/v1", token_digest(token)), certificate)


def csrf_ok(user: PanelUser, given: object) -> bool:
    return isinstance(given, str) and hmac.compare_digest(given.encode(), user.csrf.encode())


def login_csrf(request: Request, settings: Settings) -> tuple[str, str]:
    """The login form's CSRF token, and the signed pre-session cookie it is bound to (`set_login_cookie`)."""
    nonce = secrets.token_urlsafe(18)
    return _serializer(settings, _PRE_SALT).dumps(nonce), _mac(settings, "panel-login/v1", nonce)


def set_login_cookie(response: Response, request: Request, settings: Settings, value: str) -> None:
    _set(response, request, settings, PRE_COOKIE, value, PRE_SECONDS)


def login_csrf_ok(request: Request, settings: Settings, given: object) -> bool:
    raw = request.cookies.get(PRE_COOKIE)
    if not raw or not isinstance(given, str) or len(raw) > 512:
        return False
    try:
        nonce = _serializer(settings, _PRE_SALT).loads(raw, max_age=PRE_SECONDS)
    except BadSignature:
        return False
    return isinstance(nonce, str) and hmac.compare_digest(given.encode(),
                                                          _mac(settings, "panel-login/v1", nonce).encode())
