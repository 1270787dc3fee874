"""The CLI over mutual TLS (#12.3, #12.4), with real handshakes against one uvicorn served over TLS for the
module (tests/mtls_support.py): `einvoice login --cert --key --ca` remembers the three paths (never the key's
content) and every command presents them; customer A's certificate acts for A and is refused for B; a
revoked, foreign, expired or missing certificate is a clear error naming why (exit 6)."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.db import session_scope
from core.settings import Settings
from domain.authority import BuiltinCA
from domain.certificates import reason_code
from models.certificates import set_revoked
from starters import http_client
from starters.cli import app as cli
from tests.cli_support import flat, runner
from tests.identity_support import PASSWORD, add_user, issue_token
from tests.mtls_support import A, B, Identity, Served, issue, serve_mtls


@pytest.fixture(scope="module")
def served(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve_mtls(settings, tmp_path_factory.mktemp("cli-mtls")) as running:
        yield running


@dataclass
class People:
    a: str  # customer A's user (e-mail)
    b: str  # customer B's user
    ca: Path  # our CA certificate, as `GET /certificates/ca.pem` gives it


@pytest.fixture(scope="module")
def people(served: Served) -> People:
    tag = uuid.uuid4().hex[:8]
    a, b = f"cli-mtls-a-{tag}@example.test", f"cli-mtls-b-{tag}@example.test"
    add_user(served.settings, "customer", a, A)
    add_user(served.settings, "customer", b, B)
    ca = served.folder / "ca.pem"
    ca.write_bytes(served.ca_pem)
    return People(a, b, ca)


@pytest.fixture
def config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A config directory of the test's own; the real HTTP client (real handshakes); nothing from the
    environment."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    for name in (*http_client.URL_ENV, http_client.TOKEN_ENV, http_client.CERT_ENV, http_client.KEY_ENV,
                 http_client.CA_ENV):
        monkeypatch.delenv(name, raising=False)
    http_client.use_client_factory(None)
    return tmp_path / "einvoice" / "credentials.json"


def _login(served: Served, email: str, who: Identity, ca: Path) -> str:
    result = runner.invoke(cli, ["login", "--url", served.url, "--user", email, "--password-stdin",
                                 "--cert", str(who.cert), "--key", str(who.key), "--ca", str(ca)],
                           input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    return flat(result.output)


def test_login_remembers_the_paths_and_the_certificate_acts_for_its_customer(
        served: Served, people: People, config: Path) -> None:
    mine = issue(served.settings, served.ca, served.folder, A)
    said = _login(served, people.a, mine, people.ca)
    assert f"client certificate {mine.cert}" in said
    stored = json.loads(config.read_text())
    assert (stored["cert"], stored["key"], stored["ca"]) == (str(mine.cert), str(mine.key), str(people.ca))
    assert "PRIVATE KEY" not in config.read_text() and mine.key.read_text().strip() not in config.read_text()
    shown = runner.invoke(cli, ["prefs", "show", "--vat", A, "--json"])  # the stored files, presented
    assert shown.exit_code == 0, shown.output
    other = runner.invoke(cli, ["prefs", "show", "--vat", B])  # A's user: B is not found, as without TLS
    assert other.exit_code == 4, other.output
    token = json.loads(config.read_text())["token"]
    curl = subprocess.run(["curl", "-sS", "--fail", "--cacert", str(people.ca), "--cert", str(mine.cert), "--key",
                           str(mine.key), "-H", f"Authorization: Bearer {token}",
                           f"{served.url}/tenants/{A}/preferences"], capture_output=True, timeout=30)
    assert curl.returncode == 0, curl.stderr  # the same read, by curl
    trail = runner.invoke(cli, ["audit", "list", "--vat", A, "--json"])
    assert trail.exit_code == 0, trail.output
    read = [e for e in json.loads(trail.stdout)["entries"] if e["action"] == "preferences.read"
            and e["actor"] == f"customer:{people.a}"]
    assert [e["surface"] for e in read[-2:]] == ["cli", "http"], read  # the CLI's, then curl's
    assert all(f"certificate {mine.operation_id}" in e["detail"] for e in read[-2:])


def test_customer_a_certificate_is_refused_for_customer_b(served: Served, people: People, config: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """B's own user, from the environment (token, URL, certificate, CA), presenting A's certificate."""
    a_cert = issue(served.settings, served.ca, served.folder, A)
    monkeypatch.setenv(http_client.TOKEN_ENV, issue_token(served.settings, people.b))
    monkeypatch.setenv("EINVOICE_URL", served.url)
    monkeypatch.setenv(http_client.CERT_ENV, str(a_cert.cert))
    monkeypatch.setenv(http_client.KEY_ENV, str(a_cert.key))
    monkeypatch.setenv(http_client.CA_ENV, str(people.ca))
    result = runner.invoke(cli, ["prefs", "show", "--vat", B])
    assert result.exit_code == 6, result.output
    said = flat(result.output)
    assert f"the client certificate is of {A}: it cannot act for {B}" in said and str(a_cert.cert) in said
    b_cert = issue(served.settings, served.ca, served.folder, B)  # the options win over the environment
    mine = runner.invoke(cli, ["prefs", "show", "--vat", B, "--cert", str(b_cert.cert), "--key", str(b_cert.key)])
    assert mine.exit_code == 0, mine.output


def test_a_revoked_certificate_is_named_with_its_reason(served: Served, people: People, config: Path) -> None:
    mine = issue(served.settings, served.ca, served.folder, A)
    _login(served, people.a, mine, people.ca)
    served.ca.revoke(mine.serial, reason_code("stolen"))
    with session_scope(served.settings.database_url) as session:
        set_revoked(session, mine.operation_id, "stolen", "test")
    result = runner.invoke(cli, ["prefs", "show", "--vat", A])
    assert result.exit_code == 6, result.output
    said = flat(result.output)
    assert f"refused the client certificate {mine.cert}: revoked client certificate: certificate " \
           f"{mine.operation_id}" in said and "stolen" in said


def test_a_foreign_certificate_is_refused_at_login_naming_why(served: Served, people: People, config: Path) -> None:
    foreign = issue(served.settings, BuiltinCA(served.folder / f"foreign-{uuid.uuid4().hex[:6]}"), served.folder,
                    A, record=False)
    result = runner.invoke(cli, ["login", "--url", served.url, "--user", people.a, "--password-stdin",
                                 "--cert", str(foreign.cert), "--key", str(foreign.key), "--ca", str(people.ca)],
                           input=PASSWORD + "\n")
    assert result.exit_code == 6, result.output
    said = flat(result.output)
    assert f"closed the connection on the client certificate {foreign.cert}" in said
    assert f"it is not issued by the CA in {people.ca}" in said
    assert not config.exists()


def test_an_expired_certificate_is_refused_before_connecting(served: Served, people: People, config: Path) -> None:
    past = datetime.now(UTC) - timedelta(days=10)
    old = BuiltinCA(served.folder / "data" / "ca", validity_days=1, clock=lambda: past)
    expired = issue(served.settings, old, served.folder, A)
    result = runner.invoke(cli, ["prefs", "show", "--vat", A, "--url", served.url, "--cert", str(expired.cert),
                                 "--key", str(expired.key), "--ca", str(people.ca)],
                           env={http_client.TOKEN_ENV: "eih_not-sent"})
    assert result.exit_code == 6, result.output
    assert f"the client certificate {expired.cert}" in flat(result.output) and "expired at" in flat(result.output)


def test_without_a_certificate_or_with_bad_files_the_cli_says_what_to_give(served: Served, people: People,
                                                                           config: Path) -> None:
    token = {http_client.TOKEN_ENV: issue_token(served.settings, people.a)}
    bare = runner.invoke(cli, ["prefs", "show", "--vat", A, "--url", served.url, "--ca", str(people.ca)], env=token)
    assert bare.exit_code == 6, bare.output
    assert "refused the request: missing client certificate" in flat(bare.output)
    assert "--cert FILE --key FILE" in flat(bare.output)
    mine = issue(served.settings, served.ca, served.folder, A)
    half = runner.invoke(cli, ["prefs", "show", "--vat", A, "--url", served.url, "--cert", str(mine.cert)], env=token)
    assert half.exit_code == 2 and "give both --cert and --key" in flat(half.output), half.output
    mine.key.chmod(0o644)
    loose = runner.invoke(cli, ["prefs", "show", "--vat", A, "--url", served.url, "--cert", str(mine.cert),
                                "--key", str(mine.key), "--ca", str(people.ca)], env=token)
    assert loose.exit_code == 2 and "readable by other users" in flat(loose.output), loose.output
    untrusted = runner.invoke(cli, ["prefs", "show", "--vat", A, "--url", served.url], env=token)
    assert untrusted.exit_code == 5 and "does not trust" in flat(untrusted.output), untrusted.output


def test_sync_presents_the_certificate_too(served: Served, people: People, config: Path, tmp_path: Path) -> None:
    """`einvoice sync` has its own client (its own token): the same TLS options, over mutual TLS."""
    mine = issue(served.settings, served.ca, served.folder, A)
    common = ["--vat", A, "--database-url", f"sqlite:///{tmp_path / 'copy.db'}", "--api", served.url,
              "--token", issue_token(served.settings, people.a), "--ca", str(people.ca)]
    bare = runner.invoke(cli, ["sync", *common])
    assert bare.exit_code != 0 and "missing client certificate" in flat(bare.output), bare.output
    once = runner.invoke(cli, ["sync", *common, "--cert", str(mine.cert), "--key", str(mine.key)])
    assert once.exit_code == 0 and "changes applied" in flat(once.output), once.output
    live = runner.invoke(cli, ["sync", "status", *common, "--cert", str(mine.cert), "--key", str(mine.key), "--json"])
    assert live.exit_code == 0 and json.loads(live.stdout)["live"] is True, live.output
