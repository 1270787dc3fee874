"""KSeF as an issuing authority: how its certificate enrollment reads in our terms (pure, no I/O).

- **Kinds.** Our `authentication` / `offline` are KSeF's `certificateType` `Authentication` / `Offline`; a KSeF
  certificate has exactly one type, told by its key usage (`certyfikaty-KSeF.md`, section 1): Authentication
  carries Digital Signature only, Offline Non-Repudiation only (it signs KOD II and cannot authenticate).
  `check_key_usage` refuses an issued certificate whose key usage is not its kind's.
- **States.** The enrollment's status (`GET /certificates/enrollments/{ref}`, CertificateEnrollmentStatusResponse)
  maps to ours: sent and taken (202, then 100 "Wniosek przyjęty do realizacji") is `accepted` (zaakceptowany w
  trakcie autoryzacji); 200 "Wniosek obsłużony (certyfikat wygenerowany)" is `active` (przeszedł autoryzację
  pomyślnie); 400 "Wniosek odrzucony", 500 "Nieznany błąd" and 550 "Operacja została anulowana przez system"
  are `error` (wystąpił błąd) with KSeF's own code, description and details as the reason. Before KSeF took
  it the request is `ordered` (zlecony do autoryzacji).
- **Revocation.** KSeF takes three reasons (CertificateRevocationReason): Unspecified, Superseded,
  KeyCompromise. Our six map by what they say about the key: lost or stolen is KeyCompromise, a renewal is
  Superseded, the rest (activity ceased, malfunction, other) Unspecified. The same map read from the RFC 5280
  code the Authority protocol carries (`ksef_reason_of_code`) gives the same answer for each of the six.
"""

from __future__ import annotations

from cryptography import x509

from domain.certificates import (
    ACCEPTED,
    ACTIVE,
    AUTHENTICATION,
    ERROR,
    OFFLINE,
    REVOCATION_REASONS,
    check_kind,
    check_reason,
)

CERTIFICATE_TYPES: dict[str, str] = {AUTHENTICATION: "Authentication", OFFLINE: "Offline"}
KINDS_OF_TYPE: dict[str, str] = {v: k for k, v in CERTIFICATE_TYPES.items()}

ENROLLMENT_IN_PROGRESS = 100
ENROLLMENT_DONE = 200
ENROLLMENT_STATES: dict[int, str] = {100: ACCEPTED, 200: ACTIVE, 400: ERROR, 500: ERROR, 550: ERROR}

# Our six revocation reasons (domain.certificates.REVOCATION_REASONS) → KSeF's.
KSEF_REVOCATION_REASONS: dict[str, str] = {
    "key-lost": "KeyCompromise",
    "stolen": "KeyCompromise",
    "renewal": "Superseded",
    "activity-ceased": "Unspecified",
    "malfunction": "Unspecified",
    "other": "Unspecified",
}
_KSEF_OF_RFC5280 = {1: "KeyCompromise", 4: "Superseded"}  # keyCompromise, superseded; the rest Unspecified
assert set(KSEF_REVOCATION_REASONS) == set(REVOCATION_REASONS)


def certificate_type(kind: str) -> str:
    """KSeF's certificateType of one of our kinds (InvalidInput naming `kind` otherwise)."""
    return CERTIFICATE_TYPES[check_kind(kind)]


def state_of_enrollment(code: int) -> str:
    """Our state for an enrollment status code: 1xx in progress is accepted, 200 active, anything else an
    error (a code the contract does not list yet included: never mistaken for success)."""
    if code in ENROLLMENT_STATES:
        return ENROLLMENT_STATES[code]
    return ACCEPTED if 100 <= code < 200 else ERROR


def enrollment_reason(code: int, description: str, details: tuple[str, ...] | list[str] = ()) -> str:
    """KSeF's reason as we store and show it: `KSeF <code> <description>: <details>`."""
    more = f": {'; '.join(details)}" if details else ""
    return f"KSeF {code} {description}{more}"


def ksef_revocation_reason(reason: str) -> str:
    return KSEF_REVOCATION_REASONS[check_reason(reason)]


def ksef_reason_of_code(rfc5280_code: int) -> str:
    """KSeF's revocation reason for an RFC 5280 CRLReason code (what the Authority protocol carries)."""
    return _KSEF_OF_RFC5280.get(rfc5280_code, "Unspecified")


def key_usage_problem(cert: x509.Certificate, kind: str) -> str | None:
    """Why `cert` is not a KSeF certificate of `kind` (by its key usage and nothing else), or None."""
    wanted = certificate_type(kind)
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return f"the certificate has no key usage; a KSeF {wanted} certificate carries " + (
            "Digital Signature" if kind == AUTHENTICATION else "Non-Repudiation")
    signs, commits = usage.digital_signature, usage.content_commitment
    if kind == AUTHENTICATION and not (signs and not commits):
        return ("a KSeF Authentication certificate has key usage Digital Signature only; this one has "
                f"digitalSignature={signs}, nonRepudiation={commits}")
    if kind == OFFLINE and not (commits and not signs):
        return ("a KSeF Offline certificate has key usage Non-Repudiation only; this one has "
                f"digitalSignature={signs}, nonRepudiation={commits}")
    return None
