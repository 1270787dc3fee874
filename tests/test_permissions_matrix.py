"""Every route of the app × each kind of user × granted / not granted / withdrawn, generated from the app's own
route table: a new route without an access rule fails here, and so does a rule the route does not keep."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from api.access import BODY, NONE, PATH, QUERY, ROUTE, RULES, Public, Rule
from api.main import create_app
from core.db import session_scope
from core.settings import Settings
from domain.permissions import ALL, READ
from domain.policy import Principal, may
from models import identity as ident
from models.identity import principal_of
from models.tenant import add_tenant
from tests.identity_support import add_user, bearer, issue_token

A, B = "IT02038490237", "IT01234567897"


@dataclass
class World:
    http: TestClient
    settings: Settings
    tokens: dict[str, str]  # role → token

    def principal(self, role: str) -> Principal:
        with session_scope(self.settings.database_url) as session:
            user = ident.find_user(session, f"{role}@test.example")
            assert user is not None
            return principal_of(session, user)


ROLES = ("operator", "customer-a", "customer-b", "accountant-granted", "accountant-none", "accountant-withdrawn",
         "accountant-unlinked")


@pytest.fixture
def world(settings: Settings, db: str) -> Iterator[World]:
    with session_scope(db) as session:
        add_tenant(session, A, "ACME S.p.A.", "acme@pec.example.it", None)
        add_tenant(session, B, "Beta S.r.l.", "beta@pec.example.it", None)
    add_user(settings, "operator", "operator@test.example")
    add_user(settings, "customer", "customer-a@test.example", A)
    add_user(settings, "customer", "customer-b@test.example", B)
    for role in ("accountant-granted", "accountant-none", "accountant-withdrawn", "accountant-unlinked"):
        add_user(settings, "accountant", f"{role}@test.example")
    with session_scope(db) as session:
        for role, perms in (("accountant-granted", list(ALL)), ("accountant-none", []),
                            ("accountant-withdrawn", list(ALL))):
            view = ident.open_link(session, A, f"{role}@test.example", ident.INVITED, "test", perms)
            row = ident.get_link(session, view.id)
            ident.accept_link(session, row, "test")
            if role == "accountant-withdrawn":
                ident.set_link_permissions(session, row, [], "customer:customer-a@test.example")
    tokens = {role: issue_token(settings, f"{role}@test.example") for role in ROLES}
    with TestClient(create_app(settings, run_migrations=False), raise_server_exceptions=False) as http:
        yield World(http, settings, tokens)


def _routes() -> list[tuple[str, str]]:
    app = create_app(Settings(DATABASE_URL="sqlite://"), run_migrations=False)
    found = []
    for context in iter_route_contexts(app.routes):  # through the included routers, with their prefixes
        route = context.original_route
        if isinstance(route, APIRoute) and context.path:
            found += [(method, context.path) for method in sorted(route.methods)]
    return found


def _url(path: str) -> str:
    url = path.replace("{vat}", A)
    return re.sub(r"\{[a-z_]+\}", "1", url)


def test_every_route_has_an_access_rule_and_every_rule_a_route() -> None:
    routes = set(_routes())
    missing = sorted(routes - set(RULES))
    assert not missing, f"routes without an access rule in api/access.py RULES: {missing}"
    docs = {k for k, v in RULES.items() if isinstance(v, Public) and k[1] in (
        "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")}
    stale = sorted(set(RULES) - routes - docs)
    assert not stale, f"rules for routes that do not exist: {stale}"


PROTECTED = [(m, p) for (m, p) in _routes() if isinstance(RULES.get((m, p)), Rule)]


@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
def test_no_token_no_answer(world: World, method: str, path: str) -> None:
    r = world.http.request(method, _url(path))
    assert r.status_code == 401, (r.status_code, r.text)
    assert r.json()["detail"].startswith("missing token")


CHECKED_BY_RULE = [(m, p) for (m, p) in PROTECTED if RULES[(m, p)].customer in (PATH, QUERY, BODY, NONE)]  # type: ignore[union-attr]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path"), CHECKED_BY_RULE, ids=[f"{m} {p}" for m, p in CHECKED_BY_RULE])
def test_each_role_gets_what_the_policy_says(world: World, role: str, method: str, path: str) -> None:
    rule = RULES[(method, path)]
    assert isinstance(rule, Rule)
    url = _url(path)
    params = {"vat": A} if rule.customer == QUERY else None
    body: dict[str, object] = {}
    if rule.customer == BODY:  # the customer named in the body: a form for the invoice upload, JSON elsewhere
        body = {"data": {"vat": A}} if path == "/invoices" else {"json": {"vat": A}}
    decision = may(world.principal(role), rule.action, None if rule.customer == NONE else A)
    r = world.http.request(method, url, params=params, headers=bearer(world.tokens[role]), **body)  # type: ignore[arg-type]
    if decision.allowed:
        assert r.status_code not in (401, 403), (role, r.status_code, r.text)
        if r.status_code == 404:  # allowed, but the thing named by the dummy id is not there: not "no customer"
            assert f"no customer {A}" not in r.text, r.text
    else:
        assert r.status_code == decision.status, (role, decision, r.status_code, r.text)
        if decision.status == 403:
            assert r.json()["detail"]["permission"] == (decision.permission or rule.action)


def test_the_matrix_covers_granted_not_granted_and_withdrawn(world: World) -> None:
    """The fixture's roles mean what their names say (so the matrix above is not vacuous)."""
    assert world.principal("accountant-granted").grants == {A: frozenset(ALL)}
    assert world.principal("accountant-none").grants == {A: frozenset()}
    assert world.principal("accountant-withdrawn").grants == {A: frozenset()}
    assert world.principal("accountant-unlinked").grants == {}
    r = world.http.get(f"/tenants/{A}", headers=bearer(world.tokens["accountant-withdrawn"]))
    assert r.status_code == 403 and r.json()["detail"]["permission"] == READ
    assert world.http.get(f"/tenants/{A}", headers=bearer(world.tokens["accountant-unlinked"])).status_code == 404
    assert world.http.get(f"/tenants/{A}", headers=bearer(world.tokens["accountant-granted"])).status_code == 200


ROUTE_CHECKED = [(m, p) for (m, p) in PROTECTED if RULES[(m, p)].customer == ROUTE]  # type: ignore[union-attr]


def test_routes_that_check_themselves_are_the_ones_the_resource_tests_cover() -> None:
    """These routes learn their customer from the resource or the body; tests/test_identity.py covers each
    one with a real resource of customer A asked for by B's user and by an accountant without the grant."""
    assert sorted(ROUTE_CHECKED) == sorted([
        ("GET", "/invoices/{invoice_id}"), ("GET", "/invoices/{invoice_id}/download/{what}"),
        ("POST", "/invoices/{invoice_id}/outcome"), ("GET", "/archive/packages/{package_id}"),
        ("GET", "/archive/verify/{workflow_id}"),
    ])
