"""The CLI is a client of the HTTP API (#12.4): `einvoice login` stores a token (0600, atomically) in the
user's config directory, `logout` revokes it, a command without a login says how to log in and never opens
a database, and the API's refusals come back as the CLI's exit codes."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from core.db import session_scope
from core.settings import Settings
from domain.policy import CLIENT_HEADER
from models import audit
from models.tenant import add_tenant
from starters import http_client
from starters.cli import app as cli
from tests.cli_support import URL, flat, in_process_api, login, runner
from tests.identity_support import PASSWORD, add_user, bearer, issue_token

A, B = "IT02038490237", "IT01234567897"


@pytest.fixture
def config(settings: Settings, db: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    with in_process_api(settings, monkeypatch, tmp_path / "config"):
        yield tmp_path / "config"


def test_login_writes_a_private_file_and_commands_use_it(settings: Settings, config: Path) -> None:
    out = login(settings)
    path = config / "einvoice" / "credentials.json"
    assert f"stored in {path}" in out and f"logged in to {URL}" in out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert stored["url"] == URL and stored["email"] == "operator-cli@einvoice-hub.test" and stored["token"]
    assert not list(path.parent.glob(".*.tmp"))  # written through a temporary file, renamed
    me = runner.invoke(cli, ["whoami", "--json"])
    assert me.exit_code == 0, me.output
    assert json.loads(me.output)["kind"] == "operator"


def test_wrong_password_is_refused_and_nothing_stored(settings: Settings, config: Path) -> None:
    add_user(settings, "operator", "op@einvoice-hub.test")
    result = runner.invoke(cli, ["login", "--url", URL, "--user", "op@einvoice-hub.test", "--password-stdin"],
                           input="not the password\n")
    assert result.exit_code == 6, result.output
    assert "wrong e-mail or password" in flat(result.output)
    assert not (config / "einvoice" / "credentials.json").exists()


def test_login_prompts_for_user_and_password(settings: Settings, config: Path) -> None:
    add_user(settings, "operator", "op@einvoice-hub.test")
    result = runner.invoke(cli, ["login", "--url", URL + "/"], input=f"op@einvoice-hub.test\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in flat(result.output)  # the password is not echoed
    assert json.loads((config / "einvoice" / "credentials.json").read_text())["url"] == URL


def test_without_a_login_a_command_says_how_to_log_in(settings: Settings, config: Path) -> None:
    result = runner.invoke(cli, ["tenant", "list"])
    assert result.exit_code == 6
    assert "not logged in" in flat(result.output) and "einvoice login --url" in flat(result.output)


def test_no_login_never_falls_back_to_a_local_database(settings: Settings, db: str, monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    """Not even with DATABASE_URL pointing at a database the CLI could open."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("DATABASE_URL", db)
    for name in (*http_client.URL_ENV, http_client.TOKEN_ENV):
        monkeypatch.delenv(name, raising=False)
    result = runner.invoke(cli, ["tenant", "add", "--vat", A, "--name", "ACME", "--pec", "a@pec.it"])
    assert result.exit_code == 6 and "einvoice login --url" in flat(result.output)
    with session_scope(db) as session:
        from sqlalchemy import func, select

        from models.tenant import Tenant
        assert session.scalar(select(func.count()).select_from(Tenant)) == 0


def test_logout_revokes_the_token_and_removes_the_file(settings: Settings, config: Path) -> None:
    login(settings)
    path = config / "einvoice" / "credentials.json"
    token = json.loads(path.read_text())["token"]
    out = runner.invoke(cli, ["logout"])
    assert out.exit_code == 0, out.output
    assert "revoked" in flat(out.output) and not path.exists()
    # the same token, given again, is refused by the API: 401 with a clear message
    again = runner.invoke(cli, ["tenant", "list", "--url", URL], env={http_client.TOKEN_ENV: token})
    assert again.exit_code == 6, again.output
    said = flat(again.output)
    assert "refused the token (revoked token" in said and "run `einvoice login --url http://testserver`" in said


def test_a_token_from_the_environment_and_the_old_variable_names(settings: Settings, config: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    add_user(settings, "operator", "op@einvoice-hub.test")
    monkeypatch.setenv(http_client.TOKEN_ENV, issue_token(settings, "op@einvoice-hub.test"))
    monkeypatch.setenv("EINVOICE_API_URL", URL)  # the sync command's name for it
    assert runner.invoke(cli, ["tenant", "list", "--json"]).exit_code == 0
    monkeypatch.setenv("EINVOICE_URL", "http://127.0.0.1:1")  # the new name wins: nothing listens there
    http_client.use_client_factory(None)
    result = runner.invoke(cli, ["tenant", "list", "--json"])
    assert result.exit_code == 5, result.output
    assert "cannot reach the einvoice API at http://127.0.0.1:1" in flat(result.output)


def test_a_stored_token_is_only_sent_to_the_api_that_issued_it(settings: Settings, config: Path) -> None:
    login(settings)
    result = runner.invoke(cli, ["tenant", "list", "--url", "http://other.example"])
    assert result.exit_code == 6
    assert "logged in to http://testserver, not http://other.example" in flat(result.output)


def test_a_credentials_file_others_can_read_is_refused(settings: Settings, config: Path) -> None:
    login(settings)
    path = config / "einvoice" / "credentials.json"
    path.chmod(0o644)
    result = runner.invoke(cli, ["tenant", "list"])
    assert result.exit_code == 6 and "readable by other users" in flat(result.output)


def test_bad_url_is_refused_naming_it(settings: Settings, config: Path) -> None:
    result = runner.invoke(cli, ["login", "--url", "ftp://x", "--user", "a@b.c", "--password-stdin"], input="x\n")
    assert result.exit_code == 2 and "url" in flat(result.output)
def test_a_customer_user_cannot_act_for_another_customer(settings: Settings, config: Path, db: str) -> None:
    with session_scope(db) as session:
        add_tenant(session, A, "ACME", "acme@pec.it", None)
        add_tenant(session, B, "Beta", "beta@pec.it", None)
    login(settings, "customer", "user@acme.example", A)
    mine = runner.invoke(cli, ["prefs", "show", "--vat", A, "--json"])
    assert mine.exit_code == 0, mine.output
    other = runner.invoke(cli, ["prefs", "show", "--vat", B])
    assert other.exit_code == 4, other.output  # another customer's is not found: its existence does not leak
    assert f"no customer {B}" in other.output




def test_audit_list_shows_the_customer_trail_and_refuses_another(settings: Settings, config: Path, db: str) -> None:
    """An action through the CLI is audited as surface cli (the CLI's declaration, said so in the entry); the
    same request by a plain HTTP client (curl) as http, and so is a declaration without a valid token."""
    with session_scope(db) as session:
        add_tenant(session, A, "ACME", "acme@pec.it", None)
        add_tenant(session, B, "Beta", "beta@pec.it", None)
    login(settings, "customer", "user@acme.example", A)
    assert runner.invoke(cli, ["prefs", "show", "--vat", A]).exit_code == 0
    token = json.loads((config / "einvoice" / "credentials.json").read_text())["token"]
    curl = TestClient(create_app(settings, run_migrations=False))
    assert curl.get(f"/tenants/{A}/certificates", headers=bearer(token)).status_code == 200
    forged = {"Authorization": "Bearer eih_nothing", CLIENT_HEADER: "cli"}
    assert curl.get(f"/tenants/{A}/certificates", headers=forged).status_code == 401
    page = runner.invoke(cli, ["audit", "list", "--vat", A, "--json"])
    assert page.exit_code == 0, page.output
    entries = json.loads(page.stdout)["entries"]
    by_cli = [e for e in entries if e["action"] == "preferences.read"]
    assert [(e["actor"], e["surface"]) for e in by_cli] == [("customer:user@acme.example", "cli")], entries
    assert "declared by the client" in by_cli[0]["detail"]
    logins = [e for e in entries if e["action"] == "auth.login"]  # `einvoice login` itself, once its password was right
    assert [e["surface"] for e in logins] == ["cli"] and "declared by the client" in logins[0]["detail"], entries
    by_curl = [e for e in entries if e["action"] == "certificate.read"]
    assert [(e["surface"], e["outcome"]) for e in by_curl] == [("http", "ok")], entries
    assert "declared" not in by_curl[0]["detail"]
    with session_scope(db) as session:
        anonymous = [e for e in audit.entries(session, None, limit=1000) if e.actor == "anonymous"]
    assert [e.surface for e in anonymous] == ["http"]  # a declaration without a token is not believed
    human = runner.invoke(cli, ["audit", "list", "--vat", A], env={"COLUMNS": "250"})
    assert human.exit_code == 0 and "preferences.read" in human.output
    other = runner.invoke(cli, ["audit", "list", "--vat", B])
    assert other.exit_code == 4, other.output


def test_sync_reads_the_same_url_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`einvoice sync` takes the API from EINVOICE_URL too (or --url), as the other commands do."""
    monkeypatch.delenv("EINVOICE_API_URL", raising=False)
    monkeypatch.setenv("EINVOICE_URL", "http://127.0.0.1:1")  # nothing listens there
    copy = f"sqlite:///{tmp_path / 'copy.db'}"
    result = runner.invoke(cli, ["sync", "--vat", "IT02038490237", "--database-url", copy, "--token", "t"])
    assert result.exit_code != 0 and "127.0.0.1:1" in flat(result.output), result.output
    by_flag = runner.invoke(cli, ["sync", "--vat", "IT02038490237", "--database-url", copy, "--token", "t",
                                  "--url", "http://127.0.0.1:2"])
    assert by_flag.exit_code != 0 and "127.0.0.1:2" in flat(by_flag.output), by_flag.output
