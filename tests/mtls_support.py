"""Mutual TLS with real handshakes, for the tests (tests/test_mtls.py, tests/test_cli_mtls.py): a real uvicorn
serving the app over TLS on a free port (one per test module: `serve_mtls` in a module-scoped fixture), and
certificates made by our own CA code, recorded as the certificate workflow records them."""

from __future__ import annotations

import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from api import tls
from api.main import create_app
from core.ca import authority_from_settings
from core.db import session_scope
from core.settings import Settings
from domain.authority import BuiltinCA, IssueRequest
from domain.errors import Conflict
from models.certificates import insert_request, set_issued
from models.tenant import Tenant, add_tenant
from tests.certificates_support import make_csr, subject
from tests.helpers import free_port

A, B, US = "IT01234567897", "IT09876543217", "IT00743110157"  # customer A, customer B, the intermediary


@dataclass
class Identity:
    cert: Path
    key: Path
    operation_id: str = ""
    serial: str = ""


def _customer(settings: Settings, vat: str) -> None:
    with session_scope(settings.database_url) as session:
        if session.scalar(select(Tenant.id).where(Tenant.vat_number == vat)) is None:
            try:
                add_tenant(session, vat, f"Cliente {vat}", f"c{vat[2:]}@pec.example.it", "0000000")
            except Conflict:
                pass


def _files(folder: Path, name: str, cert_pem: bytes, key: ec.EllipticCurvePrivateKey) -> Identity:
    (folder / f"{name}.pem").write_bytes(cert_pem)
    (folder / f"{name}.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                           serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))
    (folder / f"{name}.key").chmod(0o600)  # as `einvoice tls issue` writes one; the CLI refuses others
    return Identity(folder / f"{name}.pem", folder / f"{name}.key")


def issue(settings: Settings, ca: BuiltinCA, folder: Path, vat: str, record: bool = True) -> Identity:
    """A certificate for customer `vat` from `ca`, recorded as the certificate workflow records it."""
    key = ec.generate_private_key(ec.SECP256R1())
    op = uuid.uuid4().hex[:20]
    csr = make_csr(key, subject(vat)).decode()
    ca.submit(IssueRequest(op, csr))
    issued = ca.issue(op)
    cert = x509.load_pem_x509_certificate(issued.pem.encode())
    if record:
        with session_scope(settings.database_url) as session:
            insert_request(session, vat, op, "authentication", issued.subject, csr, uuid.uuid4().hex, "test")
            set_issued(session, op, issued.pem, cert.public_bytes(serialization.Encoding.DER), issued.serial,
                       cert.issuer.rfc4514_string(), issued.not_before, issued.not_after)
    ident = _files(folder, op, issued.pem.encode(), key)
    ident.operation_id, ident.serial = op, issued.serial
    return ident


@dataclass
class Served:
    settings: Settings
    url: str
    ca_pem: bytes
    folder: Path
    ca: BuiltinCA

    def client(self, who: Identity | None = None) -> httpx.Client:
        ctx = ssl.create_default_context(cadata=self.ca_pem.decode())
        if who is not None:
            ctx.load_cert_chain(who.cert, who.key)
        return httpx.Client(base_url=self.url, verify=ctx, timeout=20)


@contextmanager
def serve_mtls(settings: Settings, folder: Path) -> Iterator[Served]:
    """The app over mutual TLS (API_TLS, operators presenting US's certificate), customers A, B and US."""
    port = free_port()
    mtls = settings.model_copy(update={"api_tls": True, "api_tls_operator_vat": US, "data_dir": folder / "data",
                                       "api_port": port})
    for vat in (A, B, US):
        _customer(mtls, vat)
    ca = authority_from_settings(mtls)
    assert isinstance(ca, BuiltinCA)
    config = uvicorn.Config(create_app(mtls, run_migrations=False), host="127.0.0.1", port=port,
                            log_level="warning", **tls.uvicorn_options(mtls))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield Served(mtls, f"https://127.0.0.1:{port}", ca.ca_certificate(), folder, ca)
    finally:
        server.should_exit = True
        thread.join(10)
