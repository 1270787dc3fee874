"""Mutual TLS (seed 001: "at every request, besides user and password, the certificate <partitaiva>.cert is
validated").

How the app sees the certificate: uvicorn terminates TLS itself and a small protocol subclass
(`TLSHTTPProtocol`) puts the peer's verified certificate into the ASGI TLS extension
(`scope["extensions"]["tls"]["client_cert_chain"]`), which uvicorn does not fill yet. No proxy header is
trusted: nothing a client sends in HTTP can name a certificate. (README, "Mutual TLS", says why.)

Three checks, in three places:
1. the handshake (`server_context`): a certificate, when sent, must chain to our CA and be within its
   validity, or the connection is refused. `CERT_OPTIONAL`, not required: the public routes (the SDI's
   callbacks, acceptance links, login, the CA certificate and CRL) stay reachable without one.
2. every authenticated request (`identify`): a certificate was presented, and it is on record in our
   certificates table (by serial and issuer) and active. The row is read on every request, so a revocation takes
   effect at the next request, even on a connection already open. Refused: 401 naming why.
3. every policy check (`refusal`, from `Access.check`): the certificate's customer is the customer acted
   for. Refused: 403.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import ssl
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from fastapi import HTTPException
from sqlalchemy import Connection, select
from uvicorn.protocols.http.h11_impl import H11Protocol

from core.ca import authority_from_settings
from core.db import session_scope
from core.settings import Settings
from domain.authority import BuiltinCA
from domain.certificates import ACTIVE, EXPIRED, REVOKED, serial_hex
from domain.errors import InvalidInput
from domain.identifiers import parse_vat_number
from domain.policy import OPERATOR, Principal
from models.base import as_utc
from models.certificates import Certificate
from models.tenant import Tenant

# The ASGI TLS extension's tls_version values (TLS protocol version numbers).
_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}
SERVER_CERT_RENEW_BEFORE = timedelta(days=30)

ASGIApp = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]


# -- serving ---------------------------------------------------------------------------------------------

def tls_names(settings: Settings) -> list[str]:
    return [name.strip() for name in settings.api_tls_names.split(",") if name.strip()]


def server_files(settings: Settings) -> tuple[Path, Path]:
    """The server's certificate and key: API_TLS_CERT/KEY when set, else ones our CA issues for
    API_TLS_NAMES into DATA_DIR/tls (again when missing, for other names, or within 30 days of expiry)."""
    if settings.api_tls_cert or settings.api_tls_key:
        if not (settings.api_tls_cert and settings.api_tls_key):
            raise ValueError("set both API_TLS_CERT and API_TLS_KEY, or neither (our CA then issues one)")
        return Path(settings.api_tls_cert), Path(settings.api_tls_key)
    folder = settings.data_dir / "tls"
    cert_path, key_path = folder / "server.pem", folder / "server.key"
    names = tls_names(settings)
    authority = authority_from_settings(settings)
    assert isinstance(authority, BuiltinCA)
    ca = x509.load_pem_x509_certificate(authority.ca_certificate())
    if not _server_cert_fits(cert_path, key_path, names, ca):
        cert_pem, key_pem = authority.issue_server(names)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write(key_path, key_pem, 0o600)
        _write(cert_path, cert_pem, 0o644)
    return cert_path, key_path


def _server_cert_fits(cert_path: Path, key_path: Path, names: list[str], ca: x509.Certificate) -> bool:
    if not (cert_path.exists() and key_path.exists()):
        return False
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    if cert.issuer != ca.subject or cert.not_valid_after_utc - datetime.now(UTC) < SERVER_CERT_RENEW_BEFORE:
        return False
    try:
        cert.verify_directly_issued_by(ca)  # our CA may have been made anew (DATA_DIR/ca removed)
    except (ValueError, TypeError, InvalidSignature):
        return False
    alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    have = {str(n) for n in alt.get_values_for_type(x509.DNSName)}
    have |= {str(ip) for ip in alt.get_values_for_type(x509.IPAddress)}
    want = set()
    for name in names:
        try:
            want.add(str(ipaddress.ip_address(name)))
        except ValueError:
            want.add(name)
    return have == want


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, path)


def server_context(settings: Settings) -> ssl.SSLContext:
    """TLS 1.2+, our server certificate, and client certificates verified against our CA when sent."""
    cert_path, key_path = server_files(settings)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_path, key_path)
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.load_verify_locations(cadata=authority_from_settings(settings).ca_certificate().decode())
    return ctx


def tls_extension(ssl_object: ssl.SSLObject | None) -> dict[str, Any]:
    """The ASGI TLS extension of one connection (the handshake has verified the certificate already)."""
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    return {
        "server_cert": None,
        "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or "") if ssl_object is not None else None,
        "cipher_suite": None,
    }


class TLSHTTPProtocol(H11Protocol):
    """uvicorn's h11 protocol, plus the ASGI TLS extension on every request of the connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        info = tls_extension(transport.get_extra_info("ssl_object"))
        inner: ASGIApp = self.app

        async def with_tls(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] in ("http", "websocket"):
                scope["extensions"] = {**(scope.get("extensions") or {}), "tls": info}
            await inner(scope, receive, send)

        self.app = with_tls


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What `uvicorn.run` needs to serve the API over mutual TLS."""
    if settings.api_tls_operator_vat:
        parse_vat_number(settings.api_tls_operator_vat)  # a wrong API_TLS_OPERATOR_VAT fails at start
    context = server_context(settings)  # made now: a bad certificate or key fails at start, not at a request
    return {"http": TLSHTTPProtocol, "ssl_context_factory": lambda _config, _default: context}


# -- per request -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClientCertificate:
    """The verified client certificate, as our records know it."""

    vat: str
    operation_id: str
    serial: str


class CertificateRefused(HTTPException):
    def __init__(self, reason: str, detail: str):
        super().__init__(401, detail=f"{reason} client certificate: {detail}")
        self.reason = reason


def peer_certificate(scope: MutableMapping[str, Any]) -> bytes | None:
    """The client certificate (DER) the handshake verified, from the ASGI TLS extension."""
    chain = ((scope.get("extensions") or {}).get("tls") or {}).get("client_cert_chain") or []
    return ssl.PEM_cert_to_DER_cert(chain[0]) if chain else None


def identify(settings: Settings, scope: MutableMapping[str, Any],
             db: Connection | None = None) -> ClientCertificate:
    """The customer of the connection's certificate; CertificateRefused (401) naming why not. `db`: the
    connection the request's token was read on (the HTTP guard's), else a transaction of its own."""
    der = peer_certificate(scope)
    if der is None:
        raise CertificateRefused("missing", "this API is served over mutual TLS: connect with the certificate "
                                            "our CA issued to your customer (einvoice cert download)")
    cert = x509.load_der_x509_certificate(der)
    serial = serial_hex(cert.serial_number)
    with contextlib.nullcontext(db) if db is not None else session_scope(settings.database_url) as session:
        # serial and issuer name one certificate: the handshake verified our CA signed it, and it never
        # gives a serial twice (random 159-bit serials)
        found = session.execute(select(Certificate.operation_id, Certificate.state, Certificate.revoked_at,
                                       Certificate.revocation_reason, Certificate.expires_at, Tenant.vat_number)
                                .join(Tenant, Tenant.id == Certificate.tenant_id)
                                .where(Certificate.serial == serial,
                                       Certificate.issuer == cert.issuer.rfc4514_string(),
                                       Certificate.state.in_((ACTIVE, REVOKED, EXPIRED)))).first()
        if found is None:
            raise CertificateRefused("unknown", f"serial {serial} is not on record here (deleted, or not one "
                                                "of ours)")
        operation_id, state, revoked_at, reason, expires_at, vat = found
        if state == REVOKED:
            when = as_utc(revoked_at).isoformat() if revoked_at else "?"
            raise CertificateRefused("revoked", f"certificate {operation_id} (serial {serial}) was revoked "
                                                f"at {when}, reason {reason}")
        if state == EXPIRED or (expires_at and as_utc(expires_at) <= datetime.now(UTC)):
            raise CertificateRefused("expired", f"certificate {operation_id} (serial {serial}) expired")
        return ClientCertificate(vat=vat, operation_id=operation_id, serial=serial)


def _operator_vat(settings: Settings) -> str | None:
    try:
        return str(parse_vat_number(settings.api_tls_operator_vat)) if settings.api_tls_operator_vat else None
    except InvalidInput:
        return None


def refusal(settings: Settings, user: Principal, cert: ClientCertificate | None, vat: str | None) -> str | None:
    """Why this certificate may not act for customer `vat` (None: an unscoped action), or None if it may.
    A customer's certificate acts for that customer only; operators present the intermediary's own."""
    if cert is None:
        return "no client certificate"
    if user.kind == OPERATOR:
        mine = _operator_vat(settings)
        if mine is None:
            return "operators work over mutual TLS with a certificate of the intermediary (API_TLS_OPERATOR_VAT)"
        return None if cert.vat == mine else f"an operator presents a certificate of {mine}, not of {cert.vat}"
    if vat is None:
        return None if user.visible(cert.vat) else f"the client certificate is of {cert.vat}, not a customer " \
                                                   "you act for"
    return None if cert.vat == vat else f"the client certificate is of {cert.vat}: it cannot act for {vat}"
