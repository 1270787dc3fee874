"""Mutual TLS with real handshakes (#12.3): a real uvicorn serving the app over TLS on a free port, httpx
clients with ssl contexts, and certificates made by our own CA code (one valid per customer, one from a
foreign CA, one expired, one revoked)."""

from __future__ import annotations

import socket
import ssl
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient
from temporalio.testing import WorkflowEnvironment

from api import tls
from api.main import create_app
from core.db import session_scope
from core.settings import Settings
from domain.authority import BuiltinCA
from domain.certificates import reason_code
from models import audit
from models.certificates import set_revoked
from tests.helpers import free_port, new_worker
from tests.identity_support import add_user, bearer, issue_token
from tests.mtls_support import US, A, B, Identity, Served, issue, serve_mtls


@pytest.fixture(scope="module")
def served(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve_mtls(settings, tmp_path_factory.mktemp("mtls")) as running:
        yield running


@pytest.fixture(scope="module")
def users(served: Served) -> dict[str, str]:
    """Bearer tokens: a customer user of A, one of B, an operator."""
    tag = uuid.uuid4().hex[:8]
    out = {}
    for name, kind, vat in (("a", "customer", A), ("b", "customer", B), ("op", "operator", None)):
        email = f"mtls-{name}-{tag}@example.test"
        add_user(served.settings, kind, email, vat)
        out[name] = issue_token(served.settings, email)
    return out


def _raw_get(served: Served, who: Identity, version: ssl.TLSVersion) -> tuple[str, str]:
    """GET /healthz over a bare TLS socket: (phase, what) — ("handshake", error), ("read", error or "EOF")
    or ("answer", the status line)."""
    ctx = ssl.create_default_context(cadata=served.ca_pem.decode())
    ctx.load_cert_chain(who.cert, who.key)
    ctx.minimum_version = ctx.maximum_version = version
    with socket.create_connection(("127.0.0.1", served.settings.api_port), timeout=20) as raw:
        try:
            conn = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        except ssl.SSLError as err:
            return "handshake", str(err)
        with conn:
            try:
                conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                data = conn.recv(1024)
            except (ssl.SSLError, ConnectionResetError) as err:
                return "read", str(err)
            return ("answer", data.split(b"\r\n")[0].decode()) if data else ("read", "EOF")


def _assert_refused_by_tls(served: Served, who: Identity) -> None:
    """Under TLS 1.2 the handshake itself fails; under TLS 1.3 the server checks the client's certificate after
    the client's side of the handshake is done, so the refusal is the connection closed at the first read.
    Either way no request reaches the app. (asyncio closes without sending the TLS alert: the client learns
    no reason.) The same path with a valid certificate gets its answer: the control."""
    assert _raw_get(served, who, ssl.TLSVersion.TLSv1_2)[0] == "handshake"
    assert _raw_get(served, who, ssl.TLSVersion.TLSv1_3)[0] == "read"
    good = issue(served.settings, served.ca, served.folder, A)
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        assert _raw_get(served, good, version) == ("answer", "HTTP/1.1 200 OK")
    with served.client(who) as http, pytest.raises(httpx.TransportError):
        http.get("/healthz")


def test_a_certificate_of_our_ca_and_the_token_together_are_accepted(served: Served, users: dict[str, str]) -> None:
    mine = issue(served.settings, served.ca, served.folder, A)
    with served.client(mine) as http:
        resp = http.get(f"/tenants/{A}", headers=bearer(users["a"]))
        assert resp.status_code == 200, resp.text
        assert resp.json()["vat_number"] == A
        # besides the certificate, the token ("oltre ad utente/password"): a certificate alone is not enough
        assert http.get(f"/tenants/{A}").status_code == 401
    with session_scope(served.settings.database_url) as session:
        last = [e for e in audit.entries(session, A, limit=1000) if e.target == f"GET /tenants/{A}"][-1]
    assert last.outcome == "ok" and f"certificate {mine.operation_id}" in last.detail


def test_without_a_certificate_public_routes_answer_and_the_rest_is_refused(served: Served,
                                                                          users: dict[str, str]) -> None:
    with served.client() as http:
        assert http.get("/healthz").status_code == 200
        assert http.get("/certificates/ca.pem").status_code == 200
        resp = http.get(f"/tenants/{A}", headers=bearer(users["a"]))
    assert resp.status_code == 401
    assert resp.json()["detail"].startswith("missing client certificate"), resp.text


def test_a_foreign_ca_certificate_is_refused_at_the_handshake(served: Served) -> None:
    foreign = BuiltinCA(served.folder / "foreign-ca")
    cert = issue(served.settings, foreign, served.folder, A, record=False)
    _assert_refused_by_tls(served, cert)


def test_an_expired_certificate_is_refused_at_the_handshake(served: Served) -> None:
    past = datetime.now(UTC) - timedelta(days=10)
    old = BuiltinCA(served.folder / "data" / "ca", validity_days=1, clock=lambda: past)  # our CA, 10 days ago
    cert = issue(served.settings, old, served.folder, A)  # on record as active: the handshake alone refuses
    _assert_refused_by_tls(served, cert)


def test_a_revoked_certificate_is_refused_at_the_next_request_even_on_an_open_connection(
        served: Served, users: dict[str, str]) -> None:
    mine = issue(served.settings, served.ca, served.folder, A)
    with served.client(mine) as http:
        assert http.get(f"/tenants/{A}", headers=bearer(users["a"])).status_code == 200
        served.ca.revoke(mine.serial, reason_code("stolen"))
        with session_scope(served.settings.database_url) as session:
            set_revoked(session, mine.operation_id, "stolen", "test")
        resp = http.get(f"/tenants/{A}", headers=bearer(users["a"]))
    assert resp.status_code == 401
    assert resp.json()["detail"].startswith("revoked client certificate"), resp.text
    assert "stolen" in resp.json()["detail"]
    with served.client(mine) as http:  # and on a new connection
        assert http.get(f"/tenants/{A}", headers=bearer(users["a"])).status_code == 401
    with session_scope(served.settings.database_url) as session:
        refused = [e for e in audit.entries(session, None, limit=1000) if "revoked client certificate" in e.outcome]
    assert refused and refused[-1].actor.startswith("customer:mtls-a-")


def test_a_certificate_no_longer_on_record_is_refused(served: Served, users: dict[str, str]) -> None:
    stray = issue(served.settings, served.ca, served.folder, A, record=False)  # ours, but never recorded
    with served.client(stray) as http:
        resp = http.get(f"/tenants/{A}", headers=bearer(users["a"]))
    assert resp.status_code == 401 and resp.json()["detail"].startswith("unknown client certificate"), resp.text


def test_customer_a_certificate_cannot_act_for_customer_b(served: Served, users: dict[str, str]) -> None:
    a_cert = issue(served.settings, served.ca, served.folder, A)
    with served.client(a_cert) as http:
        resp = http.get(f"/tenants/{B}", headers=bearer(users["b"]))  # B's own user, but A's certificate
        assert resp.status_code == 403, resp.text
        assert resp.json()["detail"]["detail"] == f"the client certificate is of {A}: it cannot act for {B}"
        assert http.get("/auth/me", headers=bearer(users["b"])).status_code == 403  # unscoped: not B's either
        assert http.get(f"/tenants/{A}", headers=bearer(users["a"])).status_code == 200
    with session_scope(served.settings.database_url) as session:
        refused = [e for e in audit.entries(session, B, limit=1000) if "cannot act for" in e.outcome]
    assert refused and f"certificate {a_cert.operation_id}" in refused[-1].detail


def test_operators_present_the_intermediarys_certificate(served: Served, users: dict[str, str]) -> None:
    ours = issue(served.settings, served.ca, served.folder, US)
    with served.client(ours) as http:
        assert http.get(f"/tenants/{A}", headers=bearer(users["op"])).status_code == 200
        assert http.get(f"/tenants/{B}", headers=bearer(users["op"])).status_code == 200
    a_cert = issue(served.settings, served.ca, served.folder, A)
    with served.client(a_cert) as http:
        resp = http.get(f"/tenants/{B}", headers=bearer(users["op"]))
    assert resp.status_code == 403
    assert resp.json()["detail"]["detail"] == f"an operator presents a certificate of {US}, not of {A}"


def test_no_http_header_stands_for_a_certificate(served: Served, users: dict[str, str]) -> None:
    """Without the TLS extension (plain HTTP, or a proxy in front) nothing a client sends names a
    certificate: API_TLS on, the app refuses."""
    ours = (served.folder / "nothing").as_posix()
    forged = {"X-Client-Cert": ours, "Client-Cert": ":AAAA:", "X-Forwarded-Client-Cert": "Hash=00",
              "X-SSL-Client-Verify": "SUCCESS"}
    http = TestClient(create_app(served.settings, run_migrations=False))
    resp = http.get(f"/tenants/{A}", headers={**bearer(users["a"]), **forged})
    assert resp.status_code == 401 and resp.json()["detail"].startswith("missing client certificate")


def test_the_server_certificate_is_ours_for_the_configured_names(served: Served) -> None:
    cert_path, _ = tls.server_files(served.settings)
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(served.ca_pem))
    again, _ = tls.server_files(served.settings)  # kept while it fits
    assert again.read_bytes() == cert_path.read_bytes()
    other = served.settings.model_copy(update={"api_tls_names": "api.example.test"})
    assert tls.server_files(other)[0].read_bytes() != cert.public_bytes(serialization.Encoding.PEM)


def test_dev_up_tls_serves_https_and_the_local_sdi_trusts_our_ca(tmp_path: Path) -> None:
    from devstack.stack import plan, settings_env

    plain = Settings(DATA_DIR=tmp_path)
    mtls = Settings.model_validate({**plain.model_dump(by_alias=True, exclude={"public_base_url"}),
                                    "API_TLS": True})
    env = settings_env(mtls)
    assert env["API_TLS"] == "true" and env["SDI_CA_CERT"] == str(tmp_path.resolve() / "ca" / "ca.pem")
    assert env["PUBLIC_BASE_URL"].startswith("https://")
    api = next(part for part, _, _ in plan(mtls) if part.name == "api")
    assert api.where.startswith("https://") and "mutual TLS" in api.where
    assert "SDI_CA_CERT" not in settings_env(plain) or settings_env(plain)["SDI_CA_CERT"] != env["SDI_CA_CERT"]


async def test_the_intermediarys_certificate_comes_through_the_certificate_workflow(
        served: Served, users: dict[str, str], dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    """`einvoice tls issue`: the operators' first certificate, asked for where Temporal is (not over the API,
    which needs one), then used in a real handshake."""
    from starters.tls import issue_client_certificate

    async with new_worker(dev_env.client, served.settings) as worker:
        files = await issue_client_certificate(served.settings, US, tmp_path / "op", client=dev_env.client,
                                               task_queue=worker.task_queue)
    assert files.key.stat().st_mode & 0o777 == 0o600
    with served.client(Identity(files.cert, files.key)) as http:
        resp = http.get(f"/tenants/{A}", headers=bearer(users["op"]))
    assert resp.status_code == 200, resp.text
    with session_scope(served.settings.database_url) as session:
        last = [e for e in audit.entries(session, A, limit=1000) if e.target == f"GET /tenants/{A}"][-1]
    assert f"certificate {files.operation_id}" in last.detail


def test_docker_compose_serves_the_api_over_mutual_tls() -> None:
    import yaml

    services = yaml.safe_load((Path(__file__).resolve().parent.parent / "docker-compose.yml").read_text())["services"]
    api, sim = services["api"], services["sdi-sim"]
    assert "--tls" in api["command"] and api["environment"]["API_TLS"] == "true"
    assert api["environment"]["PUBLIC_BASE_URL"].startswith("https://")
    # the local SDI calls back https://api:8000/sdi: the server certificate names "api", the SDI trusts our CA
    assert api["environment"]["SDI_CALLBACK_URL"] == "https://api:8000/sdi"
    assert "api" in api["environment"]["API_TLS_NAMES"].split(",")
    assert sim["environment"]["SDI_CA_CERT"] == "/data/ca/ca.pem" and "app-data:/data" in sim["volumes"]
    assert "https://127.0.0.1:8000/healthz" in " ".join(api["healthcheck"]["test"])
    assert "127.0.0.1" in api["environment"]["API_TLS_NAMES"].split(",")


def test_an_accountant_presents_the_certificate_of_the_customer_it_acts_for(served: Served) -> None:
    """Linked to A and B (read granted by both): A's certificate acts for A only, B's for B only; an unscoped
    request takes the certificate of any customer it acts for, not of one it does not."""
    from models import identity as ident

    email = f"mtls-studio-{uuid.uuid4().hex[:8]}@example.test"
    add_user(served.settings, "accountant", email)
    with session_scope(served.settings.database_url) as session:
        for vat in (A, B):
            view = ident.open_link(session, vat, email, ident.INVITED, "test", ["read"])
            ident.accept_link(session, ident.get_link(session, view.id), "test")
    token = bearer(issue_token(served.settings, email))
    a_cert, b_cert = (issue(served.settings, served.ca, served.folder, vat) for vat in (A, B))
    stranger = issue(served.settings, served.ca, served.folder, US)
    with served.client(a_cert) as http:
        assert http.get(f"/tenants/{A}", headers=token).status_code == 200
        assert http.get(f"/tenants/{B}", headers=token).status_code == 403
        assert http.get("/auth/me", headers=token).status_code == 200
    with served.client(b_cert) as http:
        assert http.get(f"/tenants/{B}", headers=token).status_code == 200
        assert http.get(f"/tenants/{A}", headers=token).status_code == 403
    with served.client(stranger) as http:
        resp = http.get("/auth/me", headers=token)
    assert resp.status_code == 403
    assert resp.json()["detail"]["detail"] == f"the client certificate is of {US}, not a customer you act for"


def test_einvoice_api_tls_serves_https_with_our_ca(settings: Settings, tmp_path: Path) -> None:
    """The command line: `einvoice api --tls` issues its server certificate and serves HTTPS only."""
    import os
    import subprocess
    import sys

    port = free_port()
    env = {**os.environ, "DATA_DIR": str(tmp_path), "DATABASE_URL": settings.database_url, "EINVOICE_EMBEDDED": "1",
           "API_PORT": str(port), "API_TLS": "false"}
    einvoice = str(Path(sys.executable).parent / "einvoice")
    proc = subprocess.Popen([einvoice, "api", "--tls"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()[0].decode()
            ca = tmp_path / "ca" / "ca.pem"
            if ca.exists():
                try:
                    resp = httpx.get(f"https://127.0.0.1:{port}/healthz",
                                     verify=ssl.create_default_context(cafile=ca), timeout=2)
                    break
                except httpx.TransportError:
                    pass
            assert time.monotonic() < deadline, "einvoice api --tls did not answer over HTTPS"
            time.sleep(0.2)
        assert resp.status_code == 200
        with pytest.raises(httpx.TransportError):  # no plain HTTP beside it
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    finally:
        proc.terminate()
        proc.wait(20)
