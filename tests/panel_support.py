"""Helpers for the panel's tests: log in through the panel's own form (with its CSRF token), read a page's
CSRF token, and the users of a customer and of an accountant with chosen grants."""

from __future__ import annotations

import re

import httpx
from fastapi.testclient import TestClient

from core.db import session_scope
from core.settings import Settings
from models import identity as ident
from models.tenant import add_tenant
from tests.identity_support import PASSWORD, add_user

VAT = "IT02038490237"
OTHER = "IT01234567897"
CUSTOMER_EMAIL = "titolare@acme.test"
ACCOUNTANT_EMAIL = "studio@commercialisti.test"

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


_MESSAGE = re.compile(r'<p id="message"[^>]*>(.*?)</p>', re.S)


def message_of(html: str) -> str:
    """The page's message (a refusal's or a success's), unescaped."""
    import html as markup

    found = _MESSAGE.search(html)
    assert found, "no message on the page"
    return markup.unescape(found.group(1)).strip()


def login(http: TestClient | httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    form = http.get("/panel/login")
    return http.post("/panel/login", data={"email": email, "password": password, "csrf": csrf_of(form.text)},
                     follow_redirects=False)


def customers(settings: Settings, grants: list[str]) -> None:
    """Customer VAT with its user, another customer, and an accountant linked to VAT with `grants`."""
    with session_scope(settings.database_url) as session:
        add_tenant(session, VAT, "ACME S.p.A.", "acme@pec.example.it", None)
        add_tenant(session, OTHER, "Beta S.r.l.", "beta@pec.example.it", None)
    add_user(settings, "customer", CUSTOMER_EMAIL, VAT)
    add_user(settings, "accountant", ACCOUNTANT_EMAIL)
    with session_scope(settings.database_url) as session:
        view = ident.open_link(session, VAT, ACCOUNTANT_EMAIL, ident.INVITED, "test", grants)
        ident.accept_link(session, ident.get_link(session, view.id), "test")
