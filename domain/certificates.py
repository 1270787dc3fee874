"""Certificates: their states, kinds, revocation reasons, file names, and the check of an uploaded one.

States of a requested certificate, in the order they are reached (KSeF / AdE names beside ours):
`ordered` (zlecony do autoryzacji: ordered for authorization) → `accepted` (zaakceptowany w trakcie
autoryzacji: accepted, authorization in progress) → `active` (ATTIVATO; przeszedł autoryzację pomyślnie)
| `error` (Uwierzytelnianie zakończone niepowodzeniem: authentication failed). An active certificate ends
`expired` (scaduto) or `revoked` (annullato). A certificate made elsewhere and uploaded is `added`
(certyfikat poprawnie dodany: correctly added) until it expires.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ReasonFlags

from domain.csr import describe_key, subject_names_vat
from domain.errors import InvalidInput
from domain.identifiers import parse_vat_number

ORDERED = "ordered"
ACCEPTED = "accepted"
ACTIVE = "active"
ERROR = "error"
EXPIRED = "expired"
REVOKED = "revoked"
ADDED = "added"
STATES = (ORDERED, ACCEPTED, ACTIVE, ERROR, EXPIRED, REVOKED, ADDED)
# States in which the lifecycle workflow still has something to do.
LIVE_STATES = frozenset({ORDERED, ACCEPTED, ACTIVE, ADDED})

# What the list shows (the portal's Stato column), and the authorities' own wording.
STATE_LABELS: dict[str, str] = {
    ORDERED: "in generation: ordered for authorization (zlecony do autoryzacji)",
    ACCEPTED: "in generation: accepted, authorization in progress (zaakceptowany w trakcie autoryzacji)",
    ACTIVE: "active (ATTIVATO)",
    ERROR: "error: authentication failed (Uwierzytelnianie zakończone niepowodzeniem)",
    EXPIRED: "expired (scaduto)",
    REVOKED: "revoked (annullato)",
    ADDED: "correctly added (certyfikat poprawnie dodany)",
}
NO_CERTIFICATE = "no certificate (brak certyfikatu)"

AUTHENTICATION = "authentication"
OFFLINE = "offline"
KINDS = (AUTHENTICATION, OFFLINE)

# Revocation reasons (motivi di annullamento) → RFC 5280 CRLReason.
REVOCATION_REASONS: dict[str, ReasonFlags] = {
    "key-lost": ReasonFlags.key_compromise,  # primary key lost (smarrimento della chiave)
    "activity-ceased": ReasonFlags.cessation_of_operation,  # cessazione attività
    "stolen": ReasonFlags.key_compromise,  # certificate stolen (furto)
    "renewal": ReasonFlags.superseded,  # renewal at expiry (rinnovo)
    "malfunction": ReasonFlags.affiliation_changed,  # malfunzionamento: no closer RFC 5280 code exists
    "other": ReasonFlags.unspecified,
}
RFC5280_CODES: dict[ReasonFlags, int] = {
    ReasonFlags.unspecified: 0, ReasonFlags.key_compromise: 1, ReasonFlags.ca_compromise: 2,
    ReasonFlags.affiliation_changed: 3, ReasonFlags.superseded: 4, ReasonFlags.cessation_of_operation: 5,
    ReasonFlags.certificate_hold: 6, ReasonFlags.remove_from_crl: 8, ReasonFlags.privilege_withdrawn: 9,
    ReasonFlags.aa_compromise: 10,
}

_OPERATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$")
MAX_CERTIFICATE_BYTES = 64 * 1024


def check_kind(kind: str, field: str = "kind") -> str:
    value = (kind or "").strip().lower()
    if value not in KINDS:
        raise InvalidInput.one(field, f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return value


def check_reason(reason: str | None, field: str = "reason") -> str:
    """A revocation reason is mandatory and one of the known ones."""
    value = (reason or "").strip().lower()
    if not value:
        raise InvalidInput.one(field, f"a revocation reason is required: one of {', '.join(REVOCATION_REASONS)}")
    if value not in REVOCATION_REASONS:
        raise InvalidInput.one(field, f"unknown reason {reason!r}; one of {', '.join(REVOCATION_REASONS)}")
    return value


def reason_code(reason: str) -> int:
    """The RFC 5280 CRLReason code of a revocation reason."""
    return RFC5280_CODES[REVOCATION_REASONS[check_reason(reason)]]


def check_operation_id(raw: str, field: str = "operation_id") -> str:
    value = (raw or "").strip()
    if not _OPERATION_ID.match(value):
        raise InvalidInput.one(field, "operation id: 1-48 letters, digits, '-' or '_', not starting with a sign")
    return value


def file_name(operation_id: str) -> str:
    """The issued certificate's file name as the portal shows it."""
    return f"certificato{operation_id}.cer"


def workflow_id(operation_id: str) -> str:
    return f"cert-{operation_id}"


def serial_hex(serial: int) -> str:
    return format(serial, "X")


def load_certificate(data: bytes, field: str = "certificate") -> x509.Certificate:
    if not data:
        raise InvalidInput.one(field, "the certificate file is empty")
    if len(data) > MAX_CERTIFICATE_BYTES:
        raise InvalidInput.one(field, f"the certificate is larger than {MAX_CERTIFICATE_BYTES // 1024} KiB")
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data.strip())
        return x509.load_der_x509_certificate(data)
    except (ValueError, x509.InvalidVersion) as err:
        raise InvalidInput.one(field, f"not an X.509 certificate (PEM or DER): {err}") from None


@dataclass(frozen=True)
class CheckedCertificate:
    """An uploaded certificate that passed the checks (public data only)."""

    pem: str
    der: bytes
    subject: str
    issuer: str
    serial: str  # hex
    not_before: datetime
    not_after: datetime
    key: str
    sha256: str


def describe_certificate(cert: x509.Certificate) -> CheckedCertificate:
    return CheckedCertificate(
        pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        der=cert.public_bytes(serialization.Encoding.DER),
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=serial_hex(cert.serial_number),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key=describe_key(cert.public_key()),
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
    )


def check_uploaded_certificate(data: bytes, vat: str, now: datetime | None = None) -> CheckedCertificate:
    """A certificate made elsewhere (e.g. a KSeF offline certificate): it parses, is within its validity
    period, and its subject names the customer. Each failure names its check."""
    parsed_vat = parse_vat_number(vat)
    cert = load_certificate(data, "certificate.format")
    try:  # names and the key are decoded lazily: a malformed part surfaces only when read
        checked = describe_certificate(cert)
        names_customer = subject_names_vat(cert.subject, parsed_vat)
    except (ValueError, TypeError, UnsupportedAlgorithm) as err:
        raise InvalidInput.one("certificate.format", f"a part of the certificate cannot be read: {err}") from None
    now = now or datetime.now(UTC)
    if cert.not_valid_after_utc <= now:
        raise InvalidInput.one("certificate.validity",
                               f"the certificate expired on {cert.not_valid_after_utc:%d/%m/%Y}")
    if cert.not_valid_before_utc > now:
        raise InvalidInput.one("certificate.validity",
                               f"the certificate is not valid before {cert.not_valid_before_utc:%d/%m/%Y}")
    if not names_customer:
        raise InvalidInput.one("certificate.subject", f"the subject {checked.subject} does not name {parsed_vat}")
    return checked
