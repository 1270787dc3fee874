"""The issuing authority: one small protocol, a built-in CA behind it.

Like KSeF 2.0's certificate enrollment (POST /certificates/enrollments → referenceNumber, then GET its
status until issued or refused), an authority takes a request and decides later:

- `submit(request) -> reference`  accept a CSR for authorization (idempotent per reference);
- `issue(reference) -> Issued`    the decision: the certificate, or `AuthorityPending` (not decided yet),
                                  `AuthorityUnavailable` (try again later) or `AuthorityRefused` (final);
- `revoke(serial, reason_code)`   revoke an issued certificate (RFC 5280 reason code), idempotent;
- `crl()`                         the CRL (DER) signed by the CA, listing every revoked serial;
- `ca_certificate()`              the CA certificate (PEM), to verify the server and issued certificates.

`BuiltinCA` keeps its key and certificate under `DATA_DIR/ca/` (created at first start, key mode 0600),
and its requests, issued certificates and revocations there too; a file lock serialises processes (worker
and API). Its decisions can be made slow (`decision_delay`) and a subject pattern can be refused
(`deny_subject_pattern`), so the same adapter drives the demo, the tests and real use. Another authority,
KSeF's enrollment API (`adapters/ksef_authority.py`), implements the same protocol for Polish customers.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from domain.certificates import RFC5280_CODES, serial_hex

_REFERENCE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CODE_TO_REASON = {code: flag for flag, code in RFC5280_CODES.items()}


class AuthorityError(Exception):
    """Base of the authority's answers other than success."""


class AuthorityUnavailable(AuthorityError):
    """Transient: the authority cannot answer now (down, overloaded). Retry later."""


class AuthorityPending(AuthorityError):
    """The request is accepted but not decided yet. Ask again later."""


class AuthorityRefused(AuthorityError):
    """Definitive: the authority refuses the request. Do not retry."""


@dataclass(frozen=True)
class IssueRequest:
    reference: str  # our operation id: the idempotency key of the submission
    csr_pem: str
    kind: str = "authentication"  # domain.certificates.KINDS: an authority that issues both keeps them apart


@dataclass(frozen=True)
class Issued:
    pem: str
    serial: str  # hex
    subject: str
    not_before: datetime
    not_after: datetime


class Authority(Protocol):
    def submit(self, request: IssueRequest) -> str: ...

    def issue(self, reference: str) -> Issued: ...

    def revoke(self, serial: str, reason_code: int, when: datetime | None = None) -> None: ...

    def crl(self) -> bytes: ...

    def ca_certificate(self) -> bytes: ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


def describe_issued(pem: str) -> Issued:
    cert = x509.load_pem_x509_certificate(pem.encode())
    return Issued(pem=pem, serial=serial_hex(cert.serial_number), subject=cert.subject.rfc4514_string(),
                  not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc)


class BuiltinCA:
    """The intermediary's own CA, kept in a directory."""

    CA_NAME = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "einvoice-hub"),
        x509.NameAttribute(NameOID.COMMON_NAME, "einvoice-hub built-in CA"),
    ])

    def __init__(self, directory: Path, validity_days: int = 365, decision_delay: timedelta = timedelta(0),
                 deny_subject_pattern: str = "", ca_validity_days: int = 3650,
                 clock: Callable[[], datetime] | None = None):
        self.directory = Path(directory)
        self.validity = timedelta(days=validity_days)
        self.decision_delay = decision_delay
        self.deny = re.compile(deny_subject_pattern) if deny_subject_pattern else None
        self.ca_validity = timedelta(days=ca_validity_days)
        self.clock = clock or _utcnow  # injectable, so tests can issue on a time-skipping server's clock
        self._key: ec.EllipticCurvePrivateKey | None = None
        self._cert: x509.Certificate | None = None

    # -- storage -----------------------------------------------------------------------------------

    @property
    def key_path(self) -> Path:
        return self.directory / "ca.key"

    @property
    def cert_path(self) -> Path:
        return self.directory / "ca.pem"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(self.directory / ".lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _write(self, path: Path, data: bytes, mode: int = 0o644) -> None:
        """Write atomically (a reader never sees half a file)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)

    def ensure(self) -> None:
        """Create the CA key and self-signed certificate at first start; load them afterwards."""
        if self._key is not None and self._cert is not None:
            return
        with self._locked():
            if not self.key_path.exists():
                key = ec.generate_private_key(ec.SECP384R1())
                now = self.clock()
                ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
                cert = (
                    x509.CertificateBuilder()
                    .subject_name(self.CA_NAME).issuer_name(self.CA_NAME)
                    .public_key(key.public_key())
                    .serial_number(x509.random_serial_number())
                    .not_valid_before(now - timedelta(minutes=5))
                    .not_valid_after(now + self.ca_validity)
                    .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                    .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                                 key_encipherment=False, data_encipherment=False,
                                                 key_agreement=False, key_cert_sign=True, crl_sign=True,
                                                 encipher_only=False, decipher_only=False), critical=True)
                    .add_extension(ski, critical=False)
                    .sign(key, hashes.SHA384())
                )
                self._write(self.key_path, key.private_bytes(serialization.Encoding.PEM,
                                                             serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()), 0o600)
                self._write(self.cert_path, cert.public_bytes(serialization.Encoding.PEM))
            loaded = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
            assert isinstance(loaded, ec.EllipticCurvePrivateKey)
            self._key = loaded
            self._cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())

    def _ca(self) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        self.ensure()
        assert self._key is not None and self._cert is not None
        return self._key, self._cert

    def _request_path(self, reference: str) -> Path:
        if not _REFERENCE.match(reference):
            raise AuthorityRefused(f"malformed reference {reference!r}")
        return self.directory / "requests" / f"{reference}.json"

    def _issued_path(self, reference: str) -> Path:
        return self.directory / "issued" / f"{reference}.pem"

    def _revoked_path(self) -> Path:
        return self.directory / "revoked.json"

    def _load_revoked(self) -> dict[str, dict[str, object]]:
        path = self._revoked_path()
        return json.loads(path.read_text()) if path.exists() else {}

    # -- the protocol ------------------------------------------------------------------------------

    def submit(self, request: IssueRequest) -> str:
        self.ensure()
        path = self._request_path(request.reference)
        try:
            csr = x509.load_pem_x509_csr(request.csr_pem.encode())
        except ValueError as err:
            raise AuthorityRefused(f"not a CSR: {err}") from None
        if not csr.is_signature_valid:
            raise AuthorityRefused("the CSR's self-signature does not verify")
        with self._locked():
            if path.exists():
                if json.loads(path.read_text())["csr_pem"] != request.csr_pem:
                    raise AuthorityRefused(f"reference {request.reference} was submitted with another CSR")
                return request.reference
            self._write(path, json.dumps({"csr_pem": request.csr_pem,
                                          "submitted_at": self.clock().isoformat()}).encode())
        return request.reference

    def issue(self, reference: str) -> Issued:
        key, ca = self._ca()
        path = self._request_path(reference)
        issued_path = self._issued_path(reference)
        if issued_path.exists():  # decided already: the same certificate every time
            return describe_issued(issued_path.read_text())
        if not path.exists():
            raise AuthorityRefused(f"no request with reference {reference}")
        record = json.loads(path.read_text())
        submitted = datetime.fromisoformat(record["submitted_at"])
        if self.clock() - submitted < self.decision_delay:
            raise AuthorityPending(f"request {reference} is being authorized")
        csr = x509.load_pem_x509_csr(record["csr_pem"].encode())
        subject = csr.subject.rfc4514_string()
        if self.deny is not None and self.deny.search(subject):
            raise AuthorityRefused(f"the CA's policy refuses the subject {subject}")
        with self._locked():
            if issued_path.exists():
                return describe_issued(issued_path.read_text())
            now = self.clock()
            cert = (
                x509.CertificateBuilder()
                .subject_name(csr.subject).issuer_name(ca.subject)
                .public_key(csr.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(minutes=1))
                .not_valid_after(now + self.validity)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False,
                                             key_agreement=False, key_cert_sign=False, crl_sign=False,
                                             encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(csr.public_key()), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),
                               critical=False)
                .sign(key, hashes.SHA384())
            )
            pem = cert.public_bytes(serialization.Encoding.PEM).decode()
            self._write(issued_path, pem.encode())
        return describe_issued(pem)

    def _issued_serials(self) -> set[str]:
        out: set[str] = set()
        for path in (self.directory / "issued").glob("*.pem"):
            out.add(describe_issued(path.read_text()).serial)
        return out

    def revoke(self, serial: str, reason_code: int, when: datetime | None = None) -> None:
        self.ensure()
        if reason_code not in _CODE_TO_REASON:
            raise AuthorityRefused(f"{reason_code} is not an RFC 5280 reason code")
        serial = serial.upper()
        with self._locked():
            if serial not in self._issued_serials():
                raise AuthorityRefused(f"serial {serial} was not issued by this CA")
            revoked = self._load_revoked()
            if serial in revoked:
                return
            revoked[serial] = {"reason": reason_code, "date": (when or self.clock()).isoformat()}
            self._write(self._revoked_path(), json.dumps(revoked, indent=1).encode())

    def revoked_serials(self) -> dict[str, int]:
        with self._locked():
            return {serial: int(entry["reason"]) for serial, entry in self._load_revoked().items()}  # type: ignore[call-overload]

    def crl(self) -> bytes:
        key, ca = self._ca()
        with self._locked():
            revoked = self._load_revoked()
        now = self.clock()
        builder = (x509.CertificateRevocationListBuilder().issuer_name(ca.subject)
                   .last_update(now).next_update(now + timedelta(days=1))
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),
                                  critical=False))
        for serial, entry in sorted(revoked.items()):
            item = (x509.RevokedCertificateBuilder().serial_number(int(serial, 16))
                    .revocation_date(datetime.fromisoformat(str(entry["date"]))))
            reason = _CODE_TO_REASON[int(entry["reason"])]  # type: ignore[call-overload]
            if reason != x509.ReasonFlags.unspecified:  # RFC 5280 5.3.1: omit rather than unspecified
                item = item.add_extension(x509.CRLReason(reason), critical=False)
            builder = builder.add_revoked_certificate(item.build())
        return builder.sign(key, hashes.SHA384()).public_bytes(serialization.Encoding.DER)

    def issue_server(self, names: list[str], days: int = 90) -> tuple[bytes, bytes]:
        """A TLS server certificate for `names` (DNS names or IP addresses) and its new key, both PEM: the
        API served over mutual TLS shows it, and clients verify it with our CA certificate."""
        key, ca = self._ca()
        if not names:
            raise ValueError("a server certificate needs at least one name")
        alt: list[x509.GeneralName] = []
        for name in names:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alt.append(x509.DNSName(name))
        server_key = ec.generate_private_key(ec.SECP256R1())
        now = self.clock()
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "einvoice-hub"),
                                     x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca.subject)
            .public_key(server_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=1))
            .not_valid_after(now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA384())
        )
        return (cert.public_bytes(serialization.Encoding.PEM),
                server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))

    def ca_certificate(self) -> bytes:
        _, ca = self._ca()
        return ca.public_bytes(serialization.Encoding.PEM)
