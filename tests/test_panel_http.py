"""The web panel over plain HTTP (#16): the session cookie's flags, CSRF on every POST, the CSP on every page,
the language by Accept-Language and by the switch, logout ending the session, the menu by role."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.panel.session import COOKIE
from core.db import session_scope
from core.settings import Settings
from domain.permissions import READ
from models import audit
from models import identity as ident
from tests.identity_support import PASSWORD, add_user
from tests.panel_support import (
    ACCOUNTANT_EMAIL,
    CUSTOMER_EMAIL,
    OTHER,
    VAT,
    csrf_of,
    customers,
    login,
    message_of,
)


def _session_set(response: httpx.Response) -> bool:
    return any(c.startswith(f"{COOKIE}=") for c in response.headers.get_list("set-cookie"))


@pytest.fixture
def http(settings: Settings, db: str) -> Iterator[TestClient]:
    customers(settings, [READ])
    with TestClient(create_app(settings, run_migrations=False)) as client:
        yield client


def test_login_sets_a_strict_session_cookie_and_every_page_a_strict_csp(http: TestClient) -> None:
    page = http.get("/panel/login")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
    assert "<script" not in page.text and "style=" not in page.text
    answer = login(http, CUSTOMER_EMAIL)
    assert answer.status_code == 303 and answer.headers["location"] == "/panel/"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(f"{COOKIE}="))
    flags = cookie.lower()
    assert "httponly" in flags and "samesite=strict" in flags and "path=/panel" in flags and "max-age=" in flags
    assert "secure" not in flags  # plain HTTP here; the test below serves it as https
    certs = http.get("/panel/c/IT02038490237/certificates")
    assert certs.status_code == 200, certs.text
    assert certs.headers["content-security-policy"] == csp
    assert http.get("/panel/panel.css").headers["content-type"].startswith("text/css")


def test_the_cookie_is_secure_where_the_panel_is_served_over_tls(settings: Settings, db: str) -> None:
    customers(settings, [])
    tls = settings.model_copy(update={"public_base_url": "https://panel.example.it"})
    with TestClient(create_app(tls, run_migrations=False), base_url="https://testserver") as client:
        answer = login(client, CUSTOMER_EMAIL)
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(f"{COOKIE}="))
    assert "secure" in cookie.lower()


def test_a_post_without_the_sessions_csrf_token_is_refused_and_changes_nothing(http: TestClient,
                                                                               settings: Settings) -> None:
    form = http.get("/panel/login")
    refused = http.post("/panel/login", data={"email": CUSTOMER_EMAIL, "password": PASSWORD, "csrf": "x"},
                        follow_redirects=False)
    assert refused.status_code == 403 and not _session_set(refused)
    assert "reload the page" in refused.text or "ricarica la pagina" in refused.text
    assert csrf_of(form.text)
    assert login(http, CUSTOMER_EMAIL).status_code == 303
    page = http.get("/panel/")
    token = csrf_of(http.get("/panel/c/IT02038490237/certificates").text)
    for given in ({}, {"csrf": "forged"}, {"csrf": token[:-1] + ("0" if token[-1] != "0" else "1")}):
        out = http.post("/panel/logout", data=given)
        assert out.status_code == 403, given
    assert http.get("/panel/", follow_redirects=False).status_code in (200, 303)  # still logged in
    assert page.status_code == 200
    with session_scope(settings.database_url) as session:
        logins = [e for e in audit.entries(session, VAT, 0, 100) if e.action == "auth.login"]
    assert len(logins) == 1  # the refused form never reached the login


def test_wrong_password_is_a_message_on_the_page(http: TestClient) -> None:
    answer = login(http, CUSTOMER_EMAIL, "not the password")
    assert answer.status_code == 401 and 'id="message"' in answer.text and "wrong e-mail or password" in answer.text
    assert not _session_set(answer)


def test_language_by_accept_language_and_by_the_switch(http: TestClient) -> None:
    assert "Zaloguj się" in http.get("/panel/login", headers={"Accept-Language": "pl-PL,pl;q=0.9,en;q=0.5"}).text
    assert "Log in" in http.get("/panel/login", headers={"Accept-Language": "en-GB,en;q=0.8"}).text
    assert "Accedi" in http.get("/panel/login", headers={"Accept-Language": "de-DE"}).text  # the portals' own
    switched = http.get("/panel/lang/en?next=/panel/login", headers={"Accept-Language": "pl"},
                        follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == "/panel/login"
    assert "Log in" in http.get("/panel/login", headers={"Accept-Language": "pl"}).text
    away = http.get("/panel/lang/it?next=https://evil.example/", follow_redirects=False)
    assert away.headers["location"] == "/panel/"  # never a redirect elsewhere


def test_logout_revokes_the_sessions_token(http: TestClient) -> None:
    assert login(http, CUSTOMER_EMAIL).status_code == 303
    cookie = http.cookies.get(COOKIE)
    token = csrf_of(http.get("/panel/c/IT02038490237/certificates").text)
    out = http.post("/panel/logout", data={"csrf": token})
    assert out.status_code == 200 and "logged out" in out.text.lower() or "Sessione terminata" in out.text
    http.cookies.set(COOKIE, cookie or "", path="/panel")  # the old cookie replayed: its token is revoked
    again = http.get("/panel/c/IT02038490237/certificates", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/panel/login")


def test_an_accountant_picks_among_its_linked_customers_only(http: TestClient) -> None:
    assert login(http, ACCOUNTANT_EMAIL).status_code == 303
    home = http.get("/panel/", headers={"Accept-Language": "it"})
    assert VAT in home.text and OTHER not in home.text and "Lettura" in home.text
    hidden = http.get(f"/panel/c/{OTHER}/certificates")
    assert hidden.status_code == 404 and OTHER in hidden.text  # "no customer": nothing of Beta's shown


def test_a_control_the_accountant_may_not_use_is_not_shown_and_forcing_it_is_refused(
        http: TestClient, settings: Settings) -> None:
    """Read only: the list is there, no "Richiedi certificato"; the form posted anyway (with a valid session and
    CSRF token) is refused by the policy with a message on the page, audited, and nothing is written."""
    assert login(http, ACCOUNTANT_EMAIL).status_code == 303
    page = http.get(f"/panel/c/{VAT}/certificates", headers={"Accept-Language": "it"})
    assert page.status_code == 200 and "Elenco dei certificati richiesti" in page.text
    assert 'id="request"' not in page.text and "Richiedi certificato</button>" not in page.text
    assert 'id="menu"' in page.text and "Certificati" in page.text
    forced = http.post(f"/panel/c/{VAT}/certificates", data={"csrf": csrf_of(page.text)},
                       files={"csr": ("req.csr", b"-----BEGIN CERTIFICATE REQUEST-----\n", "application/pkcs10")})
    assert forced.status_code == 403, forced.text
    assert 'id="message"' in forced.text and "config.manage" in forced.text
    assert "Nulla è stato modificato" in forced.text
    revoke = http.post(f"/panel/c/{VAT}/certificates/revoke", data={"csrf": csrf_of(page.text), "reason": "other"})
    assert revoke.status_code == 403 and "config.manage" in revoke.text
    with session_scope(settings.database_url) as session:
        entries = audit.entries(session, VAT, 0, 100)
    refused = [e for e in entries if e.surface == "panel" and e.outcome.startswith("refused")]
    assert {e.action for e in refused} == {"certificate.request", "certificate.revoke"}
    assert all(e.actor == f"accountant:{ACCOUNTANT_EMAIL}" for e in refused)


def test_an_oversized_upload_is_refused_before_it_is_read(http: TestClient) -> None:
    assert login(http, CUSTOMER_EMAIL).status_code == 303
    token = csrf_of(http.get(f"/panel/c/{VAT}/certificates").text)
    big = http.post(f"/panel/c/{VAT}/certificates", data={"csrf": token},
                    files={"csr": ("req.csr", b"x" * (1024 * 1024), "application/pkcs10")})
    assert big.status_code == 413 and "text/html" in big.headers["content-type"]
    assert "File too large" in big.text and "Nothing was changed" in big.text


def test_the_customer_links_an_accountant_and_grants_with_the_checkboxes(http: TestClient,
                                                                        settings: Settings) -> None:
    """Seed 002: invite with the permission checkboxes; a module permission only beside read (one forced
    without it is a message, nothing written), its box disabled on a link without read; a grant the
    accountant's next page shows; an accountant never sees the screen and is refused when it posts it."""
    add_user(settings, "accountant", "nuovo@commercialisti.test")
    it = {"Accept-Language": "it"}
    assert login(http, CUSTOMER_EMAIL).status_code == 303
    page = http.get(f"/panel/c/{VAT}/delegations", headers=it)
    assert page.status_code == 200 and 'href="/panel/c/IT02038490237/delegations"' in page.text
    assert ACCOUNTANT_EMAIL in page.text
    token = csrf_of(page.text)
    orphan = http.post(f"/panel/c/{VAT}/delegations", headers=it, data={
        "csrf": token, "email": "nuovo@commercialisti.test", "permission": ["invoices.send", "payments.read"]})
    assert orphan.status_code == 422 and "only together with read" in message_of(orphan.text)
    assert "Nulla è stato modificato" in message_of(orphan.text)
    assert len(_links(settings)) == 1
    made = http.post(f"/panel/c/{VAT}/delegations", headers=it, data={
        "csrf": token, "email": "nuovo@commercialisti.test", "permission": ["read", "documents.read"]})
    assert made.status_code == 200, message_of(made.text)
    assert message_of(made.text) == "Collegamento aggiornato: nuovo@commercialisti.test (invited): Lettura, " \
                                    "Documenti: lettura"
    assert len(_links(settings)) == 2

    first = next(v for v in _links(settings) if v.accountant == ACCOUNTANT_EMAIL)
    box = f'value="documents.read" id="link{first.id}-documents.read"'
    assert f"{box}  >" in page.text  # read granted: its module boxes are enabled
    withdrawn = http.post(f"/panel/c/{VAT}/delegations/{first.id}/permissions", headers=it, data={"csrf": token})
    assert withdrawn.status_code == 200 and message_of(withdrawn.text).endswith(f"{ACCOUNTANT_EMAIL} (active): -")
    assert f"{box}  disabled>" in withdrawn.text  # without read: disabled
    granted = http.post(f"/panel/c/{VAT}/delegations/{first.id}/permissions", headers=it,
                        data={"csrf": token, "permission": ["read", "invoices.send"]})
    assert message_of(granted.text).endswith("(active): Lettura, Invio fatture")

    with TestClient(http.app) as other:
        assert login(other, ACCOUNTANT_EMAIL).status_code == 303
        invoices = other.get(f"/panel/c/{VAT}/invoices")
        assert 'id="send"' in invoices.text  # the grant shows at once
        assert "/delegations" not in invoices.text  # no such menu entry for an accountant
        forced = other.post(f"/panel/c/{VAT}/delegations/{first.id}/permissions",
                            data={"csrf": csrf_of(invoices.text), "permission": ["read", "config.manage"]})
        assert forced.status_code == 403 and "customer's own users" in message_of(forced.text)
    assert next(v for v in _links(settings) if v.id == first.id).permissions == ["invoices.send", "read"]


def _links(settings: Settings) -> list[ident.DelegationView]:
    with session_scope(settings.database_url) as session:
        return ident.links_of_tenant(session, VAT)


def test_over_mutual_tls_no_password_is_tried_without_a_client_certificate(settings: Settings, db: str) -> None:
    """API_TLS: the panel, like every API route, wants the connection's certificate (api/tls.py): without one
    the login page says so, the password is not even checked, and no session or token is made."""
    customers(settings, [])
    mtls = settings.model_copy(update={"api_tls": True})
    with TestClient(create_app(mtls, run_migrations=False), base_url="https://testserver") as client:
        page = client.get("/panel/login")
        assert page.status_code == 401 and "missing client certificate" in message_of(page.text)
        answer = login(client, CUSTOMER_EMAIL)
        assert answer.status_code == 401 and not _session_set(answer)
        assert "missing client certificate" in message_of(answer.text)
    with session_scope(settings.database_url) as session:
        assert not [e for e in audit.entries(session, VAT, 0, 100) if e.action == "auth.login"]


def test_the_readmes_screenshots_are_there() -> None:
    """The README shows the screens the browser test recorded (tests/test_panel_browser.py `shoot`)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    shown = re.findall(r"\]\((docs/panel/[\w-]+\.png)\)", (root / "README.md").read_text())
    assert len(shown) >= 3
    for image in shown:
        assert (root / image).read_bytes().startswith(b"\x89PNG"), image
