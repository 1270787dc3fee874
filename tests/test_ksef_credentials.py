"""A Polish customer's KSeF token (#14): sealed at rest, never answered, set only with the configuration grant,
over HTTP and the CLI, and the one login the activities use (token login at the local KSeF)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from adapters.ksef import KsefAuthFailed
from adapters.ksef_credentials import NoKsefToken, logged_in_client
from api.main import create_app
from core.db import session_scope
from core.secrets import unseal
from core.settings import Settings
from domain.errors import Forbidden, InvalidInput
from domain.permissions import CONFIG_MANAGE, READ
from models import audit
from models import identity as ident
from models.tenant import add_tenant
from starters.cli import app as cli
from starters.ksef_credentials import ksef_token_status, remove_ksef_token, set_ksef_token
from tests.cli_support import flat, in_process_api, login, runner
from tests.identity_support import add_user, authenticate, principal
from tests.ksef_download_support import NIP, VAT, InProcessKsef

TOKEN = "20261207-EC-0A1B2C3D4E-5F6A7B8C9D-E0-0123456789abcdef0123456789abcdef"
IT = "IT02038490237"
STUDIO = "biuro@rachunki.example.pl"


@pytest.fixture
def customers(settings: Settings, db: str) -> None:
    with session_scope(db) as session:
        add_tenant(session, VAT, "Firma Testowa sp. z o.o.", "biuro@firma.example.pl", None)
        add_tenant(session, IT, "ACME S.p.A.", "acme@pec.example.it", None)
    add_user(settings, "accountant", STUDIO)
    with session_scope(db) as session:
        view = ident.open_link(session, VAT, STUDIO, ident.INVITED, "test", [READ])
        ident.accept_link(session, ident.get_link(session, view.id), "test")


def _raw(settings: Settings) -> list[str]:
    with session_scope(settings.database_url) as session:
        return [r[0] for r in session.execute(text("SELECT token_sealed FROM ksef_credentials"))]


def _trail(settings: Settings) -> str:
    with session_scope(settings.database_url) as session:
        return repr(audit.entries(session, limit=1000))


def test_sealed_at_rest_never_answered_and_removed(settings: Settings, customers: None) -> None:
    http = authenticate(TestClient(create_app(settings, run_migrations=False)), settings, "customer",
                        "anna@firma.example.pl", VAT)
    put = http.put(f"/customers/{VAT}/ksef-token", json={"token": TOKEN})
    assert put.status_code == 200, put.text
    assert put.json() == {"vat": VAT, "set": True, "set_by": "customer:anna@firma.example.pl",
                          "set_at": put.json()["set_at"]}
    [raw] = _raw(settings)
    assert TOKEN not in raw and raw != TOKEN
    assert unseal(settings, raw) == TOKEN  # sealed under SECRET_KEY, not hashed: the worker needs it back
    got = http.get(f"/customers/{VAT}/ksef-token")
    assert got.status_code == 200 and got.json()["set"] is True and TOKEN not in got.text
    # replaced, not a second row
    assert http.put(f"/customers/{VAT}/ksef-token", json={"token": TOKEN + "x"}).status_code == 200
    [raw2] = _raw(settings)
    assert unseal(settings, raw2) == TOKEN + "x"
    assert http.delete(f"/customers/{VAT}/ksef-token").status_code == 204
    assert http.get(f"/customers/{VAT}/ksef-token").json() == {"vat": VAT, "set": False, "set_by": None,
                                                               "set_at": None}
    gone = http.delete(f"/customers/{VAT}/ksef-token")
    assert gone.status_code == 404 and "no KSeF token is set" in gone.text
    trail = _trail(settings)
    assert "ksef.token" in trail and TOKEN not in trail  # audited, and the token in no entry


def test_refused_without_the_grant_and_bad_input_writes_nothing(settings: Settings, customers: None) -> None:
    accountant = principal(settings, "accountant", STUDIO)
    with pytest.raises(Forbidden) as err:
        set_ksef_token(settings, VAT, TOKEN, as_user=accountant)
    assert err.value.permission == CONFIG_MANAGE
    assert _raw(settings) == []
    assert ksef_token_status(settings, VAT, as_user=accountant).set is False  # seeing it is reading
    http = authenticate(TestClient(create_app(settings, run_migrations=False)), settings, "accountant", STUDIO)
    refused = http.put(f"/customers/{VAT}/ksef-token", json={"token": TOKEN})
    assert refused.status_code == 403 and CONFIG_MANAGE in refused.text and TOKEN not in refused.text
    assert _raw(settings) == []
    with session_scope(settings.database_url) as session:  # the customer grants config.manage: now it may
        [link] = session.query(ident.Delegation).all()
        ident.set_link_permissions(session, link, [READ, CONFIG_MANAGE], "customer:anna")
    assert set_ksef_token(settings, VAT, TOKEN, as_user=principal(settings, "accountant", STUDIO)).set_by == \
        f"accountant:{STUDIO}"
    operator = principal(settings)
    remove_ksef_token(settings, VAT, as_user=operator)  # operators may too
    for bad, said in ((" ", "empty"), ("a b", "space"), ("x" * 161, "more than")):
        with pytest.raises(InvalidInput) as invalid:
            set_ksef_token(settings, VAT, bad, as_user=operator)
        assert said in str(invalid.value) and (len(bad) < 4 or bad not in str(invalid.value))
    with pytest.raises(InvalidInput, match="not a Polish customer"):
        set_ksef_token(settings, IT, TOKEN, as_user=operator)
    assert _raw(settings) == []


def test_cli_reads_the_token_from_stdin_never_shows_it(settings: Settings, customers: None,
                                                       monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with in_process_api(settings, monkeypatch, tmp_path / "config"):
        login(settings)
        done = runner.invoke(cli, ["ksef", "token", "set", "--vat", VAT, "--stdin"], input=TOKEN + "\n")
        assert done.exit_code == 0, done.output
        assert TOKEN not in done.output and "a KSeF token is set" in flat(done.output)
        prompted = runner.invoke(cli, ["ksef", "token", "set", "--vat", VAT], input=TOKEN + "\n")
        assert prompted.exit_code == 0 and TOKEN not in prompted.output  # the prompt hides what is typed
        shown = runner.invoke(cli, ["ksef", "token", "status", "--vat", VAT, "--json"])
        assert shown.exit_code == 0 and '"set": true' in shown.output and TOKEN not in shown.output
        bad = runner.invoke(cli, ["ksef", "token", "set", "--vat", VAT, "--stdin"], input="a b\n")
        assert bad.exit_code == 2 and "token" in bad.output
        removed = runner.invoke(cli, ["ksef", "token", "remove", "--vat", VAT])
        assert removed.exit_code == 0 and "removed" in removed.output
        again = runner.invoke(cli, ["ksef", "token", "remove", "--vat", VAT])
        assert again.exit_code == 4 and "no KSeF token is set" in flat(again.output)
    assert _raw(settings) == []


@pytest.fixture
def ksef(tmp_path: Path) -> Iterator[InProcessKsef]:
    sim = InProcessKsef.start(tmp_path / "ksefsim")
    yield sim
    sim.close()


def test_token_login_at_the_local_ksef(settings: Settings, customers: None, ksef: InProcessKsef,
                                       caplog: pytest.LogCaptureFixture) -> None:
    operator = principal(settings)
    with pytest.raises(NoKsefToken, match="einvoice ksef token set"):
        logged_in_client(settings, VAT, ksef.client)
    caplog.set_level(logging.DEBUG)
    token = ksef.sim.add_ksef_token("Nip", NIP)  # what the customer generated in KSeF
    set_ksef_token(settings, VAT, token, as_user=operator)
    with logged_in_client(settings, VAT, ksef.client) as client:
        assert client.context == ("Nip", NIP) and client.access_valid_until is not None
        assert client.certificate_limits().certificate_limit == 100  # an authenticated call answers
        assert token not in repr(client)
    assert ("POST", "/auth/ksef-token", 202) in ksef.requests
    assert not any(path == "/auth/xades-signature" for _, path, _ in ksef.requests)  # no key signed anything
    set_ksef_token(settings, VAT, "20261207-EC-0000000000-0000000000-00-unknown", as_user=operator)
    with pytest.raises(KsefAuthFailed) as err:
        logged_in_client(settings, VAT, ksef.client)
    assert err.value.codes == (450,) and f"einvoice ksef token set --vat {VAT}" in str(err.value)
    assert all(token not in r.getMessage() for r in caplog.records)
