"""Customers over the CLI and HTTP, on PostgreSQL: added, listed, refused with nothing written."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from api.main import create_app
from core.db import session_scope
from core.settings import Settings
from models.tenant import Tenant
from starters.cli import app as cli
from tests.cli_support import in_process_api, login
from tests.identity_support import operator_client

runner = CliRunner()


def count_tenants(url: str) -> int:
    with session_scope(url) as session:
        return int(session.scalar(select(func.count()).select_from(Tenant)) or 0)


@pytest.fixture
def cli_env(settings: Settings, db: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """The CLI against the app in-process, logged in as an operator (who adds customers)."""
    with in_process_api(settings, monkeypatch, tmp_path / "config"):
        login(settings)
        yield db


@pytest.fixture
def http(settings: Settings, db: str) -> TestClient:
    return operator_client(create_app(settings, run_migrations=False), settings)


def test_cli_adds_and_lists_a_customer(cli_env: str) -> None:
    result = runner.invoke(cli, ["tenant", "add", "--vat", "IT02038490237", "--name", "ACME S.p.A.",
                                 "--pec", "acme@pec.it", "--sdi-code", "QPQRMS", "--json"])
    assert result.exit_code == 0, result.output
    added = json.loads(result.output)
    assert added["vat_number"] == "IT02038490237"
    assert added["sdi_code"] == "QPQRMS"
    assert added["enabled"] is False

    listed = runner.invoke(cli, ["tenant", "list", "--json"])
    assert listed.exit_code == 0
    assert [t["vat_number"] for t in json.loads(listed.output)] == ["IT02038490237"]

    human = runner.invoke(cli, ["tenant", "list"], env={"COLUMNS": "200"})
    assert "IT02038490237" in human.output and "ACME" in human.output


def test_cli_polish_customer(cli_env: str) -> None:
    result = runner.invoke(cli, ["tenant", "add", "--vat", "PL5261040828", "--name", "Firma Sp. z o.o.",
                                 "--pec", "biuro@firma.pl", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["sdi_code"] is None


def test_cli_refuses_a_wrong_check_digit_and_writes_nothing(cli_env: str) -> None:
    result = runner.invoke(cli, ["tenant", "add", "--vat", "IT02038490238", "--name", "ACME",
                                 "--pec", "acme@pec.it"])
    assert result.exit_code == 2
    assert "vat" in result.output and "wrong check digit" in result.output
    assert count_tenants(cli_env) == 0


def test_cli_refuses_a_duplicate(cli_env: str) -> None:
    args = ["tenant", "add", "--vat", "IT02038490237", "--name", "ACME", "--pec", "acme@pec.it"]
    assert runner.invoke(cli, args).exit_code == 0
    again = runner.invoke(cli, args)
    assert again.exit_code == 3
    assert "already exists" in again.output
    assert count_tenants(cli_env) == 1


def test_cli_customer_user_sees_only_its_own_and_may_not_add(settings: Settings, db: str,
                                                            monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from models.tenant import add_tenant

    with session_scope(db) as session:
        add_tenant(session, "IT02038490237", "ACME", "acme@pec.it", None)
        add_tenant(session, "IT01234567897", "Beta", "beta@pec.it", None)
    with in_process_api(settings, monkeypatch, tmp_path / "config"):
        login(settings, "customer", "user@acme.example", "IT02038490237")
        listed = runner.invoke(cli, ["tenant", "list", "--json"])
        assert listed.exit_code == 0, listed.output
        assert [t["vat_number"] for t in json.loads(listed.output)] == ["IT02038490237"]
        refused = runner.invoke(cli, ["tenant", "add", "--vat", "PL5261040828", "--name", "Firma",
                                      "--pec", "biuro@firma.pl"])
        assert refused.exit_code == 6, refused.output
        assert "forbidden" in refused.output and "tenant.create" in refused.output
    assert count_tenants(db) == 2


def test_http_adds_and_lists(http: TestClient) -> None:
    resp = http.post("/tenants", json={"vat": "IT02038490237", "name": "ACME", "pec": "acme@pec.it"})
    assert resp.status_code == 201, resp.text
    assert resp.json()["sdi_code"] == "0000000"
    listed = http.get("/tenants").json()
    assert [t["vat_number"] for t in listed] == ["IT02038490237"]
    assert http.get("/tenants/IT02038490237").json()["name"] == "ACME"
    assert http.get("/tenants/IT01234567897").status_code == 404


def test_http_refuses_bad_fields_and_writes_nothing(http: TestClient, db: str) -> None:
    resp = http.post("/tenants", json={"vat": "IT02038490238", "name": "ACME", "pec": "nope",
                                       "sdi_code": "12"})
    assert resp.status_code == 422
    fields = [p["field"] for p in resp.json()["problems"]]
    assert fields == ["vat", "pec"]
    assert "wrong check digit" in resp.json()["detail"]
    assert count_tenants(db) == 0


def test_http_refuses_a_duplicate(http: TestClient, db: str) -> None:
    body = {"vat": "PL5261040828", "name": "Firma", "pec": "biuro@firma.pl"}
    assert http.post("/tenants", json=body).status_code == 201
    dup = http.post("/tenants", json=body)
    assert dup.status_code == 409
    assert "already exists" in dup.json()["detail"]
    assert count_tenants(db) == 1


def test_openapi_lists_the_tenant_routes(http: TestClient) -> None:
    spec = http.get("/openapi.json").json()
    assert {"get", "post"} <= set(spec["paths"]["/tenants"])


def test_a_failed_commit_is_an_error_not_a_201(settings: Settings, db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The request's transaction must end before its answer is sent: a commit that fails (the database gone
    # at that moment) answers 500, and the client never hears "created" for a row that is not there.
    from contextlib import contextmanager

    import api.deps

    real = api.deps.session_scope

    @contextmanager
    def commit_fails(url: str):  # type: ignore[no-untyped-def]
        with real(url) as session:
            yield session
            session.rollback()
            raise ConnectionError("the database went away at commit")

    monkeypatch.setattr(api.deps, "session_scope", commit_fails)
    with operator_client(create_app(settings, run_migrations=False), settings, raise_server_exceptions=False) as http:
        resp = http.post("/tenants", json={"vat": "IT02038490237", "name": "ACME", "pec": "acme@pec.it"})
    assert resp.status_code == 500
    assert count_tenants(db) == 0
