"""A KSeF certificate request (wniosek certyfikacyjny) checked before it is sent, as KSeF checks it.

KSeF issues a certificate only for the identity the requester authenticated with: `GET
/certificates/enrollments/data` answers the subject the CSR must carry, attribute by attribute, and "a change
to these data gets the request refused" (`certyfikaty-KSeF.md`, section 3). So a CSR is compared with that
answer here and refused naming each attribute that differs, is missing or is extra — before a request that
KSeF would refuse days later is sent. The key must be RSA of 2048 bits or EC P-256, the CSR signed with RSA
PKCS#1 v1.5, RSA-PSS or ECDSA over SHA-1/256/384/512, its self-signature valid (section 3 of the same page).
The body of `POST /certificates/enrollments` is built from the checked CSR (DER, base64).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from domain.csr import load_csr
from domain.errors import ProblemCollector

# The attributes enrollments/data may return (its schema CertificateEnrollmentDataResponse), by their OID.
SUBJECT_FIELDS: dict[str, x509.ObjectIdentifier] = {
    "commonName": NameOID.COMMON_NAME,
    "surname": NameOID.SURNAME,
    "serialNumber": NameOID.SERIAL_NUMBER,
    "countryName": NameOID.COUNTRY_NAME,
    "organizationName": NameOID.ORGANIZATION_NAME,
    "givenName": NameOID.GIVEN_NAME,
    "uniqueIdentifier": x509.ObjectIdentifier("2.5.4.45"),
    "organizationIdentifier": x509.ObjectIdentifier("2.5.4.97"),
}
CERTIFICATE_TYPES = ("Authentication", "Offline")
_HASHES = (hashes.SHA1, hashes.SHA256, hashes.SHA384, hashes.SHA512)
_NAME = re.compile(r"^[a-zA-Z0-9_\- ąćęłńóśźżĄĆĘŁŃÓŚŹŻ]{5,100}$")  # EnrollCertificateRequest.certificateName


@dataclass(frozen=True)
class CheckedEnrollmentCsr:
    der: bytes
    key_kind: str  # "RSA 2048" | "EC P-256"


def _wanted(data: dict[str, object]) -> dict[str, list[str]]:
    wanted: dict[str, list[str]] = {}
    for name in SUBJECT_FIELDS:
        value = data.get(name)
        if value is None:
            continue
        values = value if isinstance(value, list) else [value]  # givenName may be several (a list)
        wanted[name] = [str(v) for v in values]
    return wanted


def _have(csr: x509.CertificateSigningRequest) -> tuple[dict[str, list[str]], list[str]]:
    have: dict[str, list[str]] = {}
    others = []
    by_oid = {oid: name for name, oid in SUBJECT_FIELDS.items()}
    for attr in csr.subject:
        name = by_oid.get(attr.oid)
        value = attr.value if isinstance(attr.value, str) else attr.value.decode("utf-8", "replace")
        if name is None:
            others.append(attr.oid.dotted_string)
        else:
            have.setdefault(name, []).append(value)
    return have, others


def check_enrollment_csr(data: bytes, enrollment_data: dict[str, object]) -> CheckedEnrollmentCsr:
    """The CSR if KSeF would take it for the identity `enrollment_data` describes; otherwise every problem,
    each naming its attribute (`csr.subject.<name>`), the key (`csr.key`) or the signature (`csr.signature`)."""
    csr = load_csr(data)
    problems = ProblemCollector()
    wanted = _wanted(enrollment_data)
    have, others = _have(csr)
    for name in sorted(set(wanted) | set(have)):
        want, got = wanted.get(name), have.get(name)
        if want is None:
            problems.add(f"csr.subject.{name}", f"KSeF does not give {name} for this identity; the CSR has "
                                                f"{got!r}: remove it")
        elif got is None:
            problems.add(f"csr.subject.{name}", f"missing: KSeF requires {want!r}")
        elif sorted(got) != sorted(want):
            problems.add(f"csr.subject.{name}", f"is {got!r}, KSeF requires {want!r}")
    for oid in others:
        problems.add("csr.subject", f"attribute {oid} is not one KSeF gives: remove it")
    key = csr.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        kind = f"RSA {key.key_size}"
        if key.key_size != 2048:
            problems.add("csr.key", f"an RSA key must have 2048 bits for KSeF, this has {key.key_size}")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        kind = f"EC {key.curve.name}"
        if key.curve.name != "secp256r1":
            problems.add("csr.key", f"an EC key must be on P-256 (secp256r1) for KSeF, this is on {key.curve.name}")
    else:
        kind = type(key).__name__
        problems.add("csr.key", "KSeF takes RSA 2048 or EC P-256 keys only")
    algorithm = csr.signature_hash_algorithm
    if not isinstance(algorithm, _HASHES):
        problems.add("csr.signature", f"signed with {getattr(algorithm, 'name', 'no hash')}; KSeF takes "
                                      "SHA-1, SHA-256, SHA-384 or SHA-512")
    elif not csr.is_signature_valid:
        problems.add("csr.signature", "the CSR's self-signature does not verify (not made with its own key)")
    problems.raise_if_any()
    return CheckedEnrollmentCsr(csr.public_bytes(serialization.Encoding.DER),
                                "EC P-256" if kind == "EC secp256r1" else kind)


def enrollment_request(checked: CheckedEnrollmentCsr, name: str, certificate_type: str,
                       valid_from: datetime | None = None) -> dict[str, str]:
    """The body of `POST /certificates/enrollments` (EnrollCertificateRequest)."""
    problems = ProblemCollector()
    if not _NAME.match(name or ""):
        problems.add("certificateName", "5 to 100 letters (Polish ones too), digits, spaces, '_' or '-'")
    if certificate_type not in CERTIFICATE_TYPES:
        problems.add("certificateType", f"one of {', '.join(CERTIFICATE_TYPES)}, got {certificate_type!r}")
    if valid_from is not None and valid_from.tzinfo is None:
        problems.add("validFrom", "give a time zone (KSeF reads date-times with an offset)")
    problems.raise_if_any()
    body = {"certificateName": name, "certificateType": certificate_type,
            "csr": base64.b64encode(checked.der).decode("ascii")}
    if valid_from is not None:
        body["validFrom"] = valid_from.isoformat()
    return body
