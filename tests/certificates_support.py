"""Builders for the certificate tests: keys, CSRs (good and bad), certificates made elsewhere, and an
authority double whose decisions are slow, fail transiently or refuse."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import select
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from activities.certificates import CertificateActivities
from activities.mail import MailActivities
from core.db import session_scope
from core.settings import Settings
from domain.authority import (
    Authority,
    AuthorityPending,
    AuthorityRefused,
    AuthorityUnavailable,
    Issued,
    IssueRequest,
)
from domain.certificates import workflow_id
from domain.csr import ORGANIZATION_IDENTIFIER
from models.certificates import Certificate

VAT = "IT02038490237"
NIP = "PL5261040828"
PEC = "acme@pec.example.it"


def ec_key(curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(curve or ec.SECP256R1())


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def subject(vat: str = VAT, where: str = "serialNumber", value: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, vat[:2]),
             x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ACME S.p.A.")]
    if where == "serialNumber":
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, value or vat))
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, "ACME client"))
    elif where == "organizationIdentifier":
        attrs.append(x509.NameAttribute(ORGANIZATION_IDENTIFIER, value or f"VAT{vat[:2]}-{vat[2:]}"))
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, "ACME client"))
    elif where == "CN":
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, value or vat))
    else:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, value or "somebody else"))
    return x509.Name(attrs)


def make_csr(key: Any = None, name: x509.Name | None = None, der: bool = False) -> bytes:
    key = key if key is not None else ec_key()
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    csr = x509.CertificateSigningRequestBuilder().subject_name(name or subject()).sign(key, algorithm)
    return csr.public_bytes(serialization.Encoding.DER if der else serialization.Encoding.PEM)


def tamper_signature(csr_pem: bytes) -> bytes:
    """The same CSR with one bit of its signature flipped (DER)."""
    der = bytearray(x509.load_pem_x509_csr(csr_pem).public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01
    return bytes(der)


def make_certificate(name: x509.Name | None = None, not_before: datetime | None = None,
                     not_after: datetime | None = None) -> bytes:
    """A certificate made elsewhere (self-issued by a throw-away CA), PEM."""
    now = datetime.now(UTC)
    ca_key = ec_key()
    key = ec_key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "KSeF test CA")])
    cert = (x509.CertificateBuilder().subject_name(name or subject()).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - timedelta(days=1))
            .not_valid_after(not_after or now + timedelta(days=60))
            .sign(ca_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class ScriptedAuthority:
    """Wraps a real authority; each `issue` call first plays the next scripted answer:
    "unavailable" (transient), "pending" (not decided yet), "refuse" (final), then delegates."""

    inner: Authority
    script: list[str] = field(default_factory=list)
    issue_calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def submit(self, request: IssueRequest) -> str:
        return self.inner.submit(request)

    def issue(self, reference: str) -> Issued:
        with self._lock:
            self.issue_calls += 1
            step = self.script.pop(0) if self.script else None
        if step == "unavailable":
            raise AuthorityUnavailable("the CA is down for maintenance")
        if step == "pending":
            raise AuthorityPending("still being authorized")
        if step == "refuse":
            raise AuthorityRefused("the subject is not authorized for this service")
        return self.inner.issue(reference)

    def revoke(self, serial: str, reason_code: int, when: datetime | None = None) -> None:
        self.inner.revoke(serial, reason_code, when)

    def crl(self) -> bytes:
        return self.inner.crl()

    def ca_certificate(self) -> bytes:
        return self.inner.ca_certificate()


async def terminate_leftovers(client: Client, database_url: str) -> None:
    """End the workflows a test left running: on the shared time-skipping server a timer firing for a
    worker that is gone would block time skipping for every later test."""
    with session_scope(database_url) as session:
        ops = list(session.scalars(select(Certificate.operation_id)))
    for op in ops:
        handle = client.get_workflow_handle(workflow_id(op))
        try:
            if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                await handle.terminate("test finished")
        except RPCError:
            pass


def certificate_activities(settings: Settings, authority: Authority) -> Sequence[Any]:
    mail = MailActivities(settings)
    certs = CertificateActivities(settings, authority)
    return [mail.send_email, certs.submit, certs.collect, certs.record_state, certs.mark_expired, certs.revoke,
            certs.delete_record, certs.compose_email]
