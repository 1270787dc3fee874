"""Rendering the panel's pages: one Jinja2 environment (autoescaped, strict), the language, the menu the
user's role allows, and the headers every page carries (a strict CSP: no script at all, styles from our own
stylesheet only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from api.panel import i18n
from api.panel.session import LANG_COOKIE, PanelUser
from domain.policy import ACCOUNTANT, CUSTOMER, OPERATOR, Principal, may

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STYLESHEET = TEMPLATES / "panel" / "panel.css"

_env = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=select_autoescape(["html", "html.j2"]),
    undefined=StrictUndefined,
)
_env.filters["date"] = i18n.date
_env.filters["datetime"] = i18n.datetime_label

CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "X-Robots-Tag": "noindex",
}

# The menu: each entry is shown only where the user may do its action for the chosen customer.
MENU = (("profile", "menu_profile", "tenant.read"),
        ("certificates", "menu_certificates", "certificate.read"),
        ("ksef", "menu_ksef", "certificate.read"),
        ("invoices", "menu_invoices", "invoice.list"),
        ("delegations", "menu_delegations", "delegation.read"),
        ("archive", "menu_archive", "archive.read"),
        ("preferences", "menu_preferences", "preferences.read"),
        ("orders", "menu_orders", "contract.read"),
        ("sync", "menu_sync", "sync.read"),
        ("audit", "menu_audit", "audit.read"))
# Entries only a customer of one country has: KSeF is the Polish exchange (seed 004).
COUNTRY_ONLY = {"ksef": "PL"}


def is_polish(vat: str) -> bool:
    """A customer identified by a Polish NIP (stored as PL + 10 digits)."""
    return vat.upper().startswith("PL")


def _in_country(path: str, vat: str) -> bool:
    country = COUNTRY_ONLY.get(path)
    return country is None or vat.upper().startswith(country)


def language(request: Request) -> str:
    return i18n.choose(request.headers.get("accept-language", ""), request.cookies.get(LANG_COOKIE))


def allowed(user: Principal, action: str, vat: str | None) -> bool:
    """Whether a control is shown: the same `may` every POST handler's starter asks."""
    return may(user, action, vat).allowed


def role_key(user: Principal) -> str:
    return {OPERATOR: "role_operator", CUSTOMER: "role_customer", ACCOUNTANT: "role_accountant"}[user.kind]


def render(request: Request, template: str, *, user: PanelUser | None = None, vat: str | None = None,
           status_code: int = 200, message: str | None = None, ok: bool = False, **context: Any) -> HTMLResponse:
    lang = language(request)

    def t(key: str, **values: object) -> str:
        return i18n.translate(lang, key, **values)

    menu = []
    if user is not None and vat is not None:
        menu = [(f"/panel/c/{vat}/{path}", t(label), request.url.path.startswith(f"/panel/c/{vat}/{path}"))
                for path, label, action in MENU if _in_country(path, vat) and allowed(user.principal, action, vat)]
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    html = _env.get_template(f"panel/{template}").render(
        t=t, lang=lang, languages=i18n.LANGUAGE_NAMES, here=quote(here, safe=""), user=user, vat=vat, menu=menu,
        role=t(role_key(user.principal)) if user else "", csrf=user.csrf if user else "", message=message,
        ok=ok, **context)
    return HTMLResponse(html, status_code=status_code, headers=HEADERS)
