"""Every route of the app × each kind of user × granted / not granted / withdrawn, generated from the app's own
route table: a new route without an access rule fails here, and so does a rule the route does not keep."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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


# -- the CLI's command list (#12.4): every command is a client of the API above, or an admin command that says
# what it reaches; a client command without a login fails saying how to log in, never opening a database.

CLI_ADMIN = {  # reach the database, Temporal or the machine directly (each says which), or are local services
    "dev up", "demo", "worker", "api", "health", "smtp-sink", "sdi-sim", "ksef-sim", "operator create", "audit verify",
    "archive schedule", "login", "sync", "sync status",
    "ops keys",  # the operators' Temporal UI keys from SEARCH_KEY_SECRET (#18.8): no customer data, no database
}
CLI_PUBLIC = {"cert ca", "cert crl"}  # the API's public routes: a URL, no token


def _cli_commands() -> dict[str, object]:
    import typer.main

    from starters.cli import app as cli_app

    root = typer.main.get_command(cli_app)
    found: dict[str, object] = {}

    def walk(cmd: object, path: tuple[str, ...]) -> None:
        if hasattr(cmd, "list_commands"):
            ctx = cmd.make_context("einvoice", [], resilient_parsing=True)  # type: ignore[attr-defined]
            names = cmd.list_commands(ctx)  # type: ignore[attr-defined]
            if getattr(cmd, "invoke_without_command", False) and path:
                found[" ".join(path)] = cmd
            for name in names:
                walk(cmd.get_command(ctx, name), (*path, name))  # type: ignore[attr-defined]
        else:
            found[" ".join(path)] = cmd

    walk(root, ())
    return found


CLI_COMMANDS = _cli_commands()
CLI_CLIENT = sorted(set(CLI_COMMANDS) - CLI_ADMIN - CLI_PUBLIC - {n for n in CLI_COMMANDS if n.startswith("tls ")})


def _required_args(cmd: object, tmp: Path) -> list[str]:
    """Dummy values for a command's required parameters (a file that exists for a path)."""
    args: list[str] = []
    for param in cmd.params:  # type: ignore[attr-defined]
        if not param.required:
            continue
        value = ("1" if param.type_descriptor.annotation is int else  # an id (a delegation link's)
                 str(tmp / "x.xml") if param.param_type_name == "argument" or param.name in ("csr", "file") else
                 A if param.name == "vat" else "2026-01-01" if param.name in ("date_from", "date_to") else
                 "2026-01-01T09:00+01:00" if param.name in ("started", "ended") else  # checked before the login
                 READ if param.name == "permission" else "x")
        if param.param_type_name == "argument":
            args.append(value)
        elif param.is_flag:
            args.append(param.opts[0])
        else:
            args += [param.opts[0], value]
    return args


def test_every_cli_command_is_a_client_or_a_named_admin_command() -> None:
    assert set(CLI_ADMIN) | set(CLI_PUBLIC) <= set(CLI_COMMANDS), sorted(set(CLI_ADMIN) - set(CLI_COMMANDS))
    for customer_facing in ("tenant add", "invoice send", "cert request", "contract start", "prefs set",
                            "archive export", "audit list", "logout"):
        assert customer_facing in CLI_CLIENT
    for command in [*CLI_CLIENT, *CLI_PUBLIC, "login", "sync", "sync status"]:  # each can present a client
        # certificate (mutual TLS)
        opts = {o for p in CLI_COMMANDS[command].params for o in p.opts}  # type: ignore[attr-defined]
        assert {"--url", "--cert", "--key", "--ca"} <= opts, (command, sorted(opts))


@pytest.mark.parametrize("command", CLI_CLIENT)
def test_a_cli_command_without_a_login_says_how_to_log_in(command: str, settings: Settings, db: str,
                                                         monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from starters import http_client
    from starters.cli import app as cli_app

    (tmp_path / "x.xml").write_bytes(b"<x/>")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("DATABASE_URL", db)  # a database it could open, and must not
    for name in (*http_client.URL_ENV, http_client.TOKEN_ENV):
        monkeypatch.delenv(name, raising=False)
    args = [*command.split(), *_required_args(CLI_COMMANDS[command], tmp_path)]
    result = CliRunner().invoke(cli_app, args)
    assert result.exit_code == 6, (args, result.output)
    assert "not logged in" in result.output and "einvoice login --url" in " ".join(result.output.split())


@pytest.mark.parametrize("command", [c for c in CLI_CLIENT if "--vat" in str(
    [p.opts for p in CLI_COMMANDS[c].params])])  # type: ignore[attr-defined]
def test_a_cli_command_of_customer_b_for_customer_a_is_refused(command: str, world: World,
                                                              monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Through the CLI, customer B's user acting for A gets what the policy says over HTTP: 404 (exit 4), or
    for an unscoped list (archive usage) a list filtered to nothing of A's."""
    from starters import http_client
    from starters.cli import app as cli_app
    from tests.cli_support import in_process_api, runner

    (tmp_path / "x.xml").write_bytes(b"<x/>")
    with in_process_api(world.settings, monkeypatch, tmp_path / "config", world.http.app):
        monkeypatch.setenv(http_client.TOKEN_ENV, world.tokens["customer-b"])
        vat_optional = any(p.name == "vat" and not p.required for p in CLI_COMMANDS[command].params)  # type: ignore[attr-defined]
        args = [*command.split(), *_required_args(CLI_COMMANDS[command], tmp_path), "--url", "http://testserver",
                *(["--vat", A] if vat_optional else [])]
        result = runner.invoke(cli_app, args)
    assert result.exit_code in (0, 2, 4, 6), (args, result.output)  # 2 only where bad dummy input is refused first
    if result.exit_code == 0:  # a filtered list: nothing of A's in it
        assert command == "archive usage" and A not in result.output, (args, result.output)
    assert A not in result.output or "no " in result.output


# The delegation commands (#12.5): each role, through the CLI, gets what the policy says for the routes the
# command calls (in order: grant and withdraw read the link's set before they send the new one). A new
# `delegation` command without its routes here fails the first test.
CLI_DELEGATION_ROUTES: dict[str, list[tuple[str, str]]] = {
    "delegation list": [("GET", "/tenants/{vat}/delegations")],
    "delegation invite": [("POST", "/tenants/{vat}/delegations")],
    "delegation request": [("POST", "/delegations")],
    "delegation accept": [("POST", "/delegations/{link_id}/accept")],
    "delegation grant": [("GET", "/tenants/{vat}/delegations"),
                         ("PUT", "/tenants/{vat}/delegations/{link_id}/permissions")],
    "delegation withdraw": [("GET", "/tenants/{vat}/delegations"),
                            ("PUT", "/tenants/{vat}/delegations/{link_id}/permissions")],
    "delegation end": [("DELETE", "/tenants/{vat}/delegations/{link_id}")],  # with --vat: as the customer
}


def test_every_delegation_command_names_the_routes_it_calls() -> None:
    assert sorted(c for c in CLI_CLIENT if c.startswith("delegation ")) == sorted(CLI_DELEGATION_ROUTES)
    for routes in CLI_DELEGATION_ROUTES.values():
        assert all(isinstance(RULES.get(route), Rule) for route in routes), routes


@pytest.mark.parametrize("command", sorted(CLI_DELEGATION_ROUTES))
def test_each_role_gets_through_the_cli_what_the_policy_says(world: World, command: str,
                                                             monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """One world per command, the roles in turn (what one role changes, the next role's expectation reads:
    the decision is taken from the database just before each command)."""
    from starters import http_client
    from starters.cli import app as cli_app
    from tests.cli_support import in_process_api, runner

    cmd = CLI_COMMANDS[command]
    vat = [] if any(p.name == "vat" and p.required for p in cmd.params) else ["--vat", A]  # type: ignore[attr-defined]
    args = [*command.split(), *_required_args(cmd, tmp_path), *vat, "--url", "http://testserver"]
    with in_process_api(world.settings, monkeypatch, tmp_path / "config", world.http.app):
        for role in ROLES:
            user = world.principal(role)
            refused = []
            for route in CLI_DELEGATION_ROUTES[command]:
                rule = RULES[route]
                assert isinstance(rule, Rule)
                decision = may(user, rule.action, None if rule.customer == NONE else A)
                if not decision.allowed:
                    refused.append((decision, rule.action))
            monkeypatch.setenv(http_client.TOKEN_ENV, world.tokens[role])
            result = runner.invoke(cli_app, args)
            said = " ".join(result.output.split())
            if command == "delegation request" and not refused and user.kind != "accountant":
                assert result.exit_code == 6 and "only an accountant requests a link" in said, (role, said)
            elif not refused:
                assert result.exit_code not in (1, 6), (role, args, said)
                if result.exit_code == 4:  # allowed, but the link named by the dummy id is not there
                    assert f"no customer {A}" not in said, (role, said)
            else:
                decision, action = refused[0]
                assert result.exit_code == {404: 4, 403: 6}[decision.status], (role, args, decision, said)
                if decision.status == 403:
                    assert f"(needs {decision.permission or action})" in said, (role, said)
