"""Identity on HTTP: login and its throttle, tokens (expired, revoked, forged, unknown), accountants' free
registration with an e-mail confirmation, delegation from invitation to withdrawal, the routes that learn
their customer from the resource, and the append-only, hash-chained audit trail."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from api.main import create_app
from core.db import get_engine, session_scope
from core.settings import Settings
from devstack.smtp_sink import Mailbox
from domain.credentials import new_token
from models import audit
from models import identity as ident
from models import invoices as inv_db
from models.tenant import add_tenant
from tests.identity_support import PASSWORD, add_user, bearer, issue_token

A, B = "IT02038490237", "IT01234567897"


@pytest.fixture
def http(settings: Settings, db: str) -> Iterator[TestClient]:
    with session_scope(db) as session:
        add_tenant(session, A, "ACME S.p.A.", "acme@pec.example.it", None)
        add_tenant(session, B, "Beta S.r.l.", "beta@pec.example.it", None)
    with TestClient(create_app(settings, run_migrations=False), raise_server_exceptions=False) as client:
        yield client


def _login(http: TestClient, email: str, password: str = PASSWORD) -> str:
    r = http.post("/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


def _trail(settings: Settings) -> list[audit.AuditView]:
    with session_scope(settings.database_url) as session:
        return audit.entries(session, None, 0, 1000)


# -- login, tokens ------------------------------------------------------------------------------------------

def test_login_gives_a_token_that_works_is_listed_and_is_revoked_by_logout(http: TestClient,
                                                                          settings: Settings) -> None:
    add_user(settings, "customer", "anna@acme.example", A)
    token = _login(http, "Anna@ACME.example")  # e-mail compared without case
    with session_scope(settings.database_url) as session:
        stored = [t.token_sha256 for t in session.scalars(select(ident.ApiToken))]
        hashes = [u.password_hash for u in session.scalars(select(ident.User))]
    assert token not in stored and all(h.startswith("$argon2id$") for h in hashes)  # only hashes are kept
    me = http.get("/auth/me", headers=bearer(token)).json()
    assert (me["kind"], me["vat_number"]) == ("customer", A)
    listed = http.get("/auth/tokens", headers=bearer(token)).json()
    assert [t["current"] for t in listed] == [True] and listed[0]["revoked_at"] is None
    assert http.post("/auth/logout", headers=bearer(token)).status_code == 204
    r = http.get("/auth/me", headers=bearer(token))
    assert r.status_code == 401 and r.json()["detail"].startswith("revoked token")


def test_each_bad_token_is_a_401_that_names_why(http: TestClient, settings: Settings) -> None:
    add_user(settings, "operator", "ops@hub.example")
    expired = issue_token(settings, "ops@hub.example", lifetime=timedelta(seconds=-1))
    other_key = new_token("another installation's key")
    never_stored = new_token(settings.secret_key.get_secret_value())
    cases = {None: "missing", "Basic b3BzOnB3": "missing", f"Bearer {expired}": "expired",
             f"Bearer {other_key}": "forged", "Bearer eih_garbage": "forged", f"Bearer {never_stored}": "unknown"}
    for header, reason in cases.items():
        r = http.get("/tenants", headers={"Authorization": header} if header else {})
        assert r.status_code == 401 and r.json()["detail"].startswith(f"{reason} token"), (header, r.text)
        assert r.headers["www-authenticate"] == "Bearer"
    refusals = [e for e in _trail(settings) if e.action == "tenant.list"]
    assert len(refusals) == len(cases) and all(e.outcome.startswith("refused") for e in refusals)


def test_a_token_can_be_revoked_from_another_session_and_not_by_another_user(http: TestClient,
                                                                           settings: Settings) -> None:
    add_user(settings, "customer", "anna@acme.example", A)
    add_user(settings, "customer", "bruno@beta.example", B)
    first, second = _login(http, "anna@acme.example"), _login(http, "anna@acme.example")
    bruno = _login(http, "bruno@beta.example")
    first_id = http.get("/auth/tokens", headers=bearer(first)).json()[0]["id"]
    assert http.delete(f"/auth/tokens/{first_id}", headers=bearer(bruno)).status_code == 404
    assert http.delete(f"/auth/tokens/{first_id}", headers=bearer(second)).status_code == 204
    assert http.get("/auth/me", headers=bearer(first)).status_code == 401
    assert http.get("/auth/me", headers=bearer(second)).status_code == 200


def test_failed_logins_are_throttled_per_account_and_per_address(settings: Settings, db: str) -> None:
    tight = settings.model_copy(update={"login_max_failures_per_account": 3, "login_max_failures_per_address": 5})
    with session_scope(db) as session:
        add_tenant(session, A, "ACME S.p.A.", "acme@pec.example.it", None)
    add_user(settings, "customer", "carla@acme.example", A)
    add_user(settings, "customer", "dario@acme.example", A)
    with TestClient(create_app(tight, run_migrations=False)) as http:
        for _ in range(3):
            assert http.post("/auth/login", json={"email": "carla@acme.example", "password": "wrong password!"}
                             ).status_code == 401
        r = http.post("/auth/login", json={"email": "carla@acme.example", "password": PASSWORD})
        assert r.status_code == 429 and "account" in r.json()["detail"] and r.headers["retry-after"] == "900"
        # the address has 3 failures: two more on another account, then even a right password from it waits
        for _ in range(2):
            http.post("/auth/login", json={"email": "nobody@acme.example", "password": "wrong password!"})
        r = http.post("/auth/login", json={"email": "dario@acme.example", "password": PASSWORD})
        assert r.status_code == 429 and "address" in r.json()["detail"]
    outcomes = [e.outcome for e in _trail(settings) if e.action == "auth.login"]
    assert outcomes.count("refused: wrong e-mail or password") == 5
    assert outcomes.count("refused: throttled (account)") == 1 and outcomes.count("refused: throttled (address)") == 1


# -- accountants and delegation ---------------------------------------------------------------------------

def test_an_accountant_registers_confirms_by_email_and_acts_only_through_grants(
        http: TestClient, settings: Settings, mailbox: Mailbox) -> None:
    add_user(settings, "customer", "anna@acme.example", A)
    anna = _login(http, "anna@acme.example")
    r = http.post("/accountants", json={"email": "studio@rossi.example", "name": "Studio Rossi",
                                        "password": PASSWORD})
    assert r.status_code == 202, r.text
    assert http.post("/auth/login", json={"email": "studio@rossi.example", "password": PASSWORD}).status_code == 403
    (mail,) = mailbox.find(to="studio@rossi.example", kind="account-confirmation")
    link = re.search(r"/accountants/confirm/\S+", mail.get_content())
    assert link is not None
    assert http.get(link.group(0)[:-3] + "xyz").status_code == 400  # a tampered link
    assert http.get(link.group(0)).json()["confirmed"] is True
    studio = _login(http, "studio@rossi.example")
    assert http.get("/tenants", headers=bearer(studio)).json() == []  # no customer of its own
    assert http.get(f"/tenants/{A}", headers=bearer(studio)).status_code == 404

    # the customer invites, with read only; the accountant accepts
    link_id = http.post(f"/tenants/{A}/delegations", headers=bearer(anna),
                        json={"accountant_email": "studio@rossi.example", "permissions": ["read"]}).json()["id"]
    assert mailbox.find(to="studio@rossi.example", kind="delegation-invitation")
    assert http.post(f"/delegations/{link_id}/accept", headers=bearer(anna)).status_code == 403  # not hers
    assert http.post(f"/delegations/{link_id}/accept", headers=bearer(studio)).json()["state"] == "active"
    assert [t["vat_number"] for t in http.get("/tenants", headers=bearer(studio)).json()] == [A]
    assert http.get(f"/tenants/{A}/certificates", headers=bearer(studio)).status_code == 200
    r = http.put(f"/tenants/{A}/preferences", headers=bearer(studio), json={"cert-issued": False})
    assert r.status_code == 403 and r.json()["detail"]["permission"] == "config.manage"
    # the accountant cannot grant itself more
    r = http.put(f"/tenants/{A}/delegations/{link_id}/permissions", headers=bearer(studio),
                 json={"permissions": ["read", "config.manage"]})
    assert r.status_code == 403
    # granted: the very next request may; withdrawn read takes the modules with it and stops the next request
    assert http.put(f"/tenants/{A}/delegations/{link_id}/permissions", headers=bearer(anna),
                    json={"permissions": ["read", "config.manage", "documents.read"]}).status_code == 200
    assert http.put(f"/tenants/{A}/preferences", headers=bearer(studio), json={"cert-issued": False}
                    ).status_code == 200
    r = http.put(f"/tenants/{A}/delegations/{link_id}/permissions", headers=bearer(anna),
                 json={"permissions": ["documents.read"]})
    assert r.status_code == 422 and "only together with read" in r.text  # refused, nothing changed
    withdrawn = http.put(f"/tenants/{A}/delegations/{link_id}/permissions", headers=bearer(anna),
                         json={"permissions": ["config.manage"]}).json()
    assert withdrawn["permissions"] == ["config.manage"]
    r = http.get(f"/tenants/{A}/certificates", headers=bearer(studio))
    assert r.status_code == 403 and r.json()["detail"]["permission"] == "read"
    # ended: the customer is gone from the accountant's view
    assert http.delete(f"/tenants/{A}/delegations/{link_id}", headers=bearer(anna)).json()["state"] == "ended"
    assert http.get(f"/tenants/{A}", headers=bearer(studio)).status_code == 404
    trail = http.get(f"/tenants/{A}/audit", headers=bearer(anna)).json()["entries"]
    assert {"delegation.invite", "delegation.accept", "delegation.grant", "preferences.update"} <= {
        e["action"] for e in trail}
    assert any(e["outcome"].startswith("refused") and e["actor"] == "accountant:studio@rossi.example"
               for e in trail)
    assert http.get(f"/tenants/{A}/audit", headers=bearer(studio)).status_code == 404  # ended: not even seen


def test_an_accountant_requests_and_the_customer_accepts(http: TestClient, settings: Settings,
                                                         mailbox: Mailbox) -> None:
    add_user(settings, "customer", "anna@acme.example", A)
    add_user(settings, "customer", "bruno@beta.example", B)
    add_user(settings, "accountant", "studio@rossi.example")
    anna, bruno, studio = (_login(http, e) for e in ("anna@acme.example", "bruno@beta.example",
                                                     "studio@rossi.example"))
    r = http.post("/delegations", headers=bearer(studio), json={"vat": A})
    assert r.status_code == 201 and r.json()["permissions"] == []  # nothing granted by asking
    link_id = r.json()["id"]
    assert mailbox.find(to="acme@pec.example.it", kind="delegation-request")
    assert http.post("/delegations", headers=bearer(anna), json={"vat": A}).status_code == 403
    assert http.post("/delegations", headers=bearer(studio), json={"vat": A}).status_code == 409  # one per pair
    assert http.post(f"/delegations/{link_id}/accept", headers=bearer(studio)).status_code == 403
    assert http.post(f"/delegations/{link_id}/accept", headers=bearer(bruno)).status_code == 404
    assert http.post(f"/delegations/{link_id}/accept", headers=bearer(anna)).json()["state"] == "active"
    assert http.post(f"/delegations/{link_id}/accept", headers=bearer(anna)).status_code == 409
    assert http.get(f"/tenants/{A}", headers=bearer(studio)).status_code == 403  # linked, read not granted
    assert [d["id"] for d in http.get("/delegations", headers=bearer(studio)).json()] == [link_id]
    assert http.delete(f"/delegations/{link_id}", headers=bearer(studio)).json()["state"] == "ended"


# -- routes that find their customer in the resource ------------------------------------------------------

def _invoice_of(settings: Settings, vat: str) -> str:
    new = inv_db.NewInvoice(id="inv-test-1", direction="out", file_name="IT02038490237_00001.xml",
                            transmitter_id="IT02038490237", sign_mode="none", key_alias=None, format="FPR12",
                            counterparty_name="Cliente", counterparty_vat="IT01234567897", recipient_code="0000000",
                            number="1", doc_date="2026-12-01", total="10.00", currency="EUR", documents=1,
                            workflow_id="invoice-test-1")
    with session_scope(settings.database_url) as session:
        return inv_db.add_invoice(session, vat, new, [f"{vat}:1:2026"], [
            ("original", "IT02038490237_00001.xml", "application/xml", b"<x/>")]).id


def test_routes_that_read_the_resource_first_refuse_another_customer_and_a_missing_grant(
        http: TestClient, settings: Settings) -> None:
    invoice_id = _invoice_of(settings, A)
    add_user(settings, "customer", "anna@acme.example", A)
    add_user(settings, "customer", "bruno@beta.example", B)
    add_user(settings, "accountant", "studio@rossi.example")
    with session_scope(settings.database_url) as session:
        view = ident.open_link(session, A, "studio@rossi.example", ident.INVITED, "test", ["read"])
        ident.accept_link(session, ident.get_link(session, view.id), "test")
    anna, bruno, studio = (issue_token(settings, e) for e in ("anna@acme.example", "bruno@beta.example",
                                                              "studio@rossi.example"))
    for url in (f"/invoices/{invoice_id}", f"/invoices/{invoice_id}/download/original"):
        assert http.get(url, headers=bearer(anna)).status_code == 200, url
        assert http.get(url, headers=bearer(studio)).status_code == 200, url
        r = http.get(url, headers=bearer(bruno))
        gone = http.get(url.replace(invoice_id, "inv-gone-1"), headers=bearer(bruno))  # no such invoice at all
        # the same answer as for an invoice that does not exist, and nothing of the customer's
        assert r.status_code == gone.status_code == 404, url
        assert r.text == gone.text.replace("inv-gone-1", invoice_id) and A not in r.text, url
    r = http.post(f"/invoices/{invoice_id}/outcome", headers=bearer(studio), json={"esito": "EC01"})
    assert r.status_code == 403 and r.json()["detail"]["permission"] == "invoices.write"
    assert http.post(f"/invoices/{invoice_id}/outcome", headers=bearer(bruno), json={"esito": "EC01"}
                     ).status_code == 404
    # the customer named in the body or the form
    r = http.post("/invoices", headers=bearer(bruno), data={"vat": A}, files={"file": ("a.xml", b"<x/>")})
    assert r.status_code == 404
    r = http.post("/invoices", headers=bearer(studio), data={"vat": A}, files={"file": ("a.xml", b"<x/>")})
    assert r.status_code == 403 and r.json()["detail"]["permission"] == "invoices.send"
    assert http.post("/contracts", headers=bearer(anna), json={"vat": A, "amount": "10.00"}).status_code == 403
    assert http.post("/archive/verify", headers=bearer(anna), json={}).status_code == 403  # the whole archive
    assert http.get("/archive/packages/pkg-1", headers=bearer(bruno)).status_code == 404
    assert [i["id"] for i in http.get("/invoices", headers=bearer(anna)).json()] == [invoice_id]
    assert http.get("/invoices", params={"vat": A}, headers=bearer(bruno)).status_code == 404


# -- the audit trail ----------------------------------------------------------------------------------------

def test_the_trail_refuses_update_and_delete_and_a_change_behind_its_back_is_found(
        http: TestClient, settings: Settings) -> None:
    add_user(settings, "operator", "ops@hub.example")
    ops = issue_token(settings, "ops@hub.example")
    for _ in range(3):
        http.get(f"/tenants/{A}", headers=bearer(ops))
    assert http.get("/audit/verify", headers=bearer(ops)).json() == {
        "ok": True, "entries": 3, "first_bad_id": None, "problem": ""}
    engine = get_engine(settings.database_url)
    for statement in ("UPDATE audit_log SET outcome = 'ok' WHERE id = 2", "DELETE FROM audit_log WHERE id = 2",
                      "TRUNCATE audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    # behind the database's back (its owner lifts the trigger): an edit, then a removal, are found
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change"))
        conn.execute(text("UPDATE audit_log SET actor = 'operator:someone-else' WHERE id = 2"))
        conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change"))
    report = http.get("/audit/verify", headers=bearer(ops)).json()
    assert (report["ok"], report["first_bad_id"]) == (False, 2) and "edited" in report["problem"]
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change"))
        conn.execute(text("DELETE FROM audit_log WHERE id = 2"))
        conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change"))
    report = http.get("/audit/verify", headers=bearer(ops)).json()
    assert (report["ok"], report["first_bad_id"]) == (False, 3) and "removed" in report["problem"]


def test_the_trail_is_paged_per_customer_and_readable_by_its_users_only(http: TestClient,
                                                                        settings: Settings) -> None:
    add_user(settings, "customer", "anna@acme.example", A)
    add_user(settings, "customer", "bruno@beta.example", B)
    anna, bruno = issue_token(settings, "anna@acme.example"), issue_token(settings, "bruno@beta.example")
    for _ in range(5):
        http.get(f"/tenants/{A}", headers=bearer(anna))
    http.get(f"/tenants/{B}", headers=bearer(bruno))
    first = http.get(f"/tenants/{A}/audit", params={"limit": 3}, headers=bearer(anna)).json()
    assert len(first["entries"]) == 3 and first["next_after"] == first["entries"][-1]["id"]
    rest = http.get(f"/tenants/{A}/audit", params={"after": first["next_after"], "limit": 10},
                    headers=bearer(anna)).json()
    assert rest["next_after"] is None
    assert {e["customer_vat"] for e in first["entries"] + rest["entries"]} == {A}
    assert http.get(f"/tenants/{A}/audit", headers=bearer(bruno)).status_code == 404
