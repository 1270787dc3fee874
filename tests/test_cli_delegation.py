"""`einvoice delegation ...` (#12.5 through the CLI): the two ways a link is made (invited and accepted,
requested and accepted), each permission granted and withdrawn over the existing HTTP routes, a withdrawal
stopping the accountant's very next command, and a grant based on a set someone changed meanwhile refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.db import session_scope
from core.settings import Settings
from models.tenant import add_tenant
from starters import http_client
from starters.cli import app as cli
from tests.cli_support import URL, flat, in_process_api, runner
from tests.identity_support import add_user, bearer, issue_token

A, B = "IT02038490237", "IT01234567897"
STUDIO = "studio@commercialisti.example"


@dataclass
class Tokens:
    a: str  # customer A's user
    b: str  # customer B's user
    studio: str  # the accountant
    app: object


@pytest.fixture
def tokens(settings: Settings, db: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Tokens]:
    with session_scope(db) as session:
        add_tenant(session, A, "ACME S.p.A.", "acme@pec.example.it", None)
        add_tenant(session, B, "Beta S.r.l.", "beta@pec.example.it", None)
    add_user(settings, "customer", "user@acme.example", A)
    add_user(settings, "customer", "user@beta.example", B)
    add_user(settings, "accountant", STUDIO)
    with in_process_api(settings, monkeypatch, tmp_path / "config") as app:
        yield Tokens(issue_token(settings, "user@acme.example"), issue_token(settings, "user@beta.example"),
                     issue_token(settings, STUDIO), app)


def _as(token: str, *args: str) -> tuple[int, str, object]:
    result = runner.invoke(cli, [*args, "--url", URL], env={http_client.TOKEN_ENV: token})
    data: object = None
    if "--json" in args and result.exit_code == 0:
        data = json.loads(result.stdout)
    return result.exit_code, flat(result.output), data


def test_invite_accept_grant_withdraw_and_the_next_command_is_refused(tokens: Tokens) -> None:
    code, said, link = _as(tokens.a, "delegation", "invite", "--vat", A, "--accountant", STUDIO, "-p", "read",
                           "--json")
    assert code == 0, said
    assert isinstance(link, dict) and link["state"] == "invited" and link["permissions"] == ["read"]
    lid = str(link["id"])
    code, said, _ = _as(tokens.studio, "prefs", "show", "--vat", A)
    assert code == 4, said  # not accepted yet: nothing is granted, A is not even visible
    code, said, _ = _as(tokens.studio, "delegation", "accept", lid)
    assert code == 0 and "accepted: active" in said, said
    assert _as(tokens.studio, "prefs", "show", "--vat", A)[0] == 0
    code, said, _ = _as(tokens.a, "delegation", "grant", "--vat", A, lid, "-p", "invoices.send", "-p",
                        "documents.read")
    assert code == 0 and "permissions: documents.read, invoices.send, read" in said, said
    code, said, mine = _as(tokens.studio, "delegation", "list", "--json")  # the accountant's own links
    assert code == 0 and isinstance(mine, list) and mine[0]["permissions"] == ["documents.read", "invoices.send",
                                                                               "read"], said
    code, said, _ = _as(tokens.a, "delegation", "withdraw", "--vat", A, lid, "-p", "read")
    assert code == 0 and "permissions: invoices.send" in said, said  # the module permission went with read
    code, said, _ = _as(tokens.studio, "prefs", "show", "--vat", A)
    assert code == 6 and "(needs read)" in said, said  # the very next command
    code, said, listed = _as(tokens.a, "delegation", "list", "--vat", A, "--json")
    assert code == 0 and isinstance(listed, list) and [v["permissions"] for v in listed] == [["invoices.send"]]
    code, said, _ = _as(tokens.a, "delegation", "withdraw", "--vat", A, lid, "-p", "nonsense")
    assert code == 2 and "unknown permission(s) nonsense" in said, said
    code, said, _ = _as(tokens.a, "delegation", "grant", "--vat", A, lid, "-p", "payments.read")
    assert code == 2 and "only together with read" in said, said  # the API's rule, nothing written
    code, said, _ = _as(tokens.a, "delegation", "end", "--vat", A, lid)
    assert code == 0 and "ended: ended" in said, said
    code, said, _ = _as(tokens.studio, "prefs", "show", "--vat", A)
    assert code == 4, said


def test_request_accepted_by_the_customer_and_ended_by_the_accountant(tokens: Tokens) -> None:
    code, said, link = _as(tokens.studio, "delegation", "request", "--vat", B, "--json")
    assert code == 0 and isinstance(link, dict) and link["state"] == "requested", said
    lid = str(link["id"])
    code, said, _ = _as(tokens.studio, "delegation", "accept", lid)
    assert code == 6 and "the other side accepts it" in said, said  # not one's own request
    code, said, _ = _as(tokens.a, "delegation", "accept", lid)
    assert code == 4, said  # another customer's link is not found
    code, said, _ = _as(tokens.b, "delegation", "accept", lid)
    assert code == 0 and "accepted: active" in said, said
    code, said, _ = _as(tokens.b, "delegation", "grant", "--vat", B, lid, "-p", "read")
    assert code == 0, said
    assert _as(tokens.studio, "prefs", "show", "--vat", B)[0] == 0
    code, said, _ = _as(tokens.a, "delegation", "request", "--vat", B)
    assert code == 6 and "delegation.request is not for customer users" in said, said
    code, said, _ = _as(tokens.studio, "delegation", "end", lid)
    assert code == 0 and "ended" in said, said
    assert _as(tokens.studio, "prefs", "show", "--vat", B)[0] == 4


def test_a_change_based_on_a_set_changed_meanwhile_is_refused(tokens: Tokens, settings: Settings) -> None:
    """What `grant` and `withdraw` send: the new set and the one they read. If the link changed in between
    (another user of the customer), 409 and nothing written: the other's change is not undone."""
    code, said, link = _as(tokens.a, "delegation", "invite", "--vat", A, "--accountant", STUDIO, "-p", "read",
                           "-p", "invoices.send", "--json")
    assert code == 0 and isinstance(link, dict), said
    http = TestClient(tokens.app)  # type: ignore[arg-type]
    path = f"/tenants/{A}/delegations/{link['id']}/permissions"
    withdrawn = http.put(path, json={"permissions": ["read"], "expected": ["read", "invoices.send"]},
                         headers=bearer(tokens.a))
    assert withdrawn.status_code == 200, withdrawn.text
    stale = http.put(path, json={"permissions": ["read", "invoices.send", "invoices.write"],
                                 "expected": ["read", "invoices.send"]}, headers=bearer(tokens.a))
    assert stale.status_code == 409 and "changed meanwhile (now: read)" in stale.text, stale.text
    listed = http.get(f"/tenants/{A}/delegations", headers=bearer(tokens.a)).json()
    assert [v["permissions"] for v in listed] == [["read"]]
