"""The certificate signing request (PKCS#10 CSR) policy, smallstep-style: a list of small validators.

A customer asks for a certificate by uploading a CSR (PEM or DER). Before any workflow starts, the CSR must:
it parses (`csr.format`), its self-signature verifies — proof that the requester holds the private key
(`csr.signature`), its key is RSA >= 2048 bits or EC P-256/P-384 (`csr.key`), and its subject names the
customer's VAT number (`csr.subject`): in serialNumber (2.5.4.5) as `IT02038490237` or `TINIT-02038490237`,
in organizationIdentifier (2.5.4.97, ETSI EN 319 412-1) as `VATIT-02038490237`, or as the commonName;
`PL`/`TINPL-`/`VATPL-` likewise for a Polish NIP. Each failure is an `InvalidInput` whose field names the
check. Only public data is read: a CSR never carries the private key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from domain.errors import InvalidInput
from domain.identifiers import VatNumber, parse_vat_number

# A CSR is ~1 KiB; anything much larger is not one.
MAX_CSR_BYTES = 64 * 1024
MIN_RSA_BITS = 2048
ALLOWED_CURVES = ("secp256r1", "secp384r1")
ORGANIZATION_IDENTIFIER = x509.ObjectIdentifier("2.5.4.97")


def load_csr(data: bytes) -> x509.CertificateSigningRequest:
    """Parse a PEM or DER PKCS#10 request; `csr.format` names what is wrong."""
    if not data:
        raise InvalidInput.one("csr.format", "the CSR file is empty")
    if len(data) > MAX_CSR_BYTES:
        raise InvalidInput.one("csr.format", f"the CSR is larger than {MAX_CSR_BYTES // 1024} KiB")
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_csr(data.strip())
        return x509.load_der_x509_csr(data)
    except (ValueError, x509.InvalidVersion) as err:
        raise InvalidInput.one("csr.format", f"not a PKCS#10 certificate signing request (PEM or DER): {err}") \
            from None


def vat_names(vat: VatNumber) -> set[str]:
    """The spellings of a VAT number a subject attribute may carry (ETSI EN 319 412-1 semantics)."""
    plain = str(vat)
    return {plain, f"TIN{vat.country}-{vat.number}", f"VAT{vat.country}-{vat.number}"}


def subject_names_vat(name: x509.Name, vat: VatNumber) -> bool:
    """Does this subject (of a CSR or a certificate) name the customer's VAT number?"""
    wanted = vat_names(vat)
    serials = {str(a.value).strip().upper() for a in name.get_attributes_for_oid(NameOID.SERIAL_NUMBER)}
    org_ids = {str(a.value).strip().upper() for a in name.get_attributes_for_oid(ORGANIZATION_IDENTIFIER)}
    common = {str(a.value).strip().upper() for a in name.get_attributes_for_oid(NameOID.COMMON_NAME)}
    return bool(
        serials & {str(vat), f"TIN{vat.country}-{vat.number}"}
        or org_ids & {f"VAT{vat.country}-{vat.number}"}
        or common & wanted
    )


def describe_key(key: object) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}"
    return type(key).__name__


class CsrCheck(Protocol):
    """One rule of the policy: raises InvalidInput naming itself, or returns."""

    @property
    def name(self) -> str: ...

    def check(self, csr: x509.CertificateSigningRequest) -> None: ...


@dataclass(frozen=True)
class SignatureCheck:
    """Proof of possession: the CSR is signed by the key it carries."""

    name: str = "csr.signature"

    def check(self, csr: x509.CertificateSigningRequest) -> None:
        try:
            valid = csr.is_signature_valid
        except Exception as err:  # an unsupported algorithm or a broken structure
            raise InvalidInput.one(self.name, f"the self-signature cannot be verified: {err}") from None
        if not valid:
            raise InvalidInput.one(self.name, "the self-signature does not verify (proof of possession failed)")


@dataclass(frozen=True)
class KeyCheck:
    """RSA of at least 2048 bits, or EC on P-256 / P-384."""

    name: str = "csr.key"
    min_rsa_bits: int = MIN_RSA_BITS
    curves: tuple[str, ...] = ALLOWED_CURVES

    def check(self, csr: x509.CertificateSigningRequest) -> None:
        try:
            key = csr.public_key()
        except Exception as err:
            raise InvalidInput.one(self.name, f"unsupported public key: {err}") from None
        if isinstance(key, rsa.RSAPublicKey):
            if key.key_size < self.min_rsa_bits:
                raise InvalidInput.one(
                    self.name, f"RSA key of {key.key_size} bits; at least {self.min_rsa_bits} are required"
                )
            return
        if isinstance(key, ec.EllipticCurvePublicKey):
            if key.curve.name not in self.curves:
                raise InvalidInput.one(
                    self.name, f"EC curve {key.curve.name} is not allowed; use P-256 or P-384"
                )
            return
        raise InvalidInput.one(
            self.name, f"{describe_key(key)} keys are not allowed; use RSA >= 2048 or EC P-256/P-384"
        )


@dataclass(frozen=True)
class SubjectNamesVat:
    """The subject names the customer: serialNumber, organizationIdentifier or commonName."""

    vat: VatNumber
    name: str = "csr.subject"

    def check(self, csr: x509.CertificateSigningRequest) -> None:
        try:  # the subject is decoded lazily: a malformed one (signed all the same) surfaces here
            subject = csr.subject
            named = subject_names_vat(subject, self.vat)
        except (ValueError, TypeError) as err:
            raise InvalidInput.one(self.name, f"the subject cannot be read: {err}") from None
        if not named:
            v = self.vat
            raise InvalidInput.one(
                self.name,
                f"the subject {subject.rfc4514_string() or '(empty)'} does not name {v}: put it in "
                f"serialNumber ({v} or TIN{v.country}-{v.number}), organizationIdentifier "
                f"(VAT{v.country}-{v.number}) or the CN",
            )


def default_policy(vat: VatNumber) -> list[CsrCheck]:
    """The checks, in order: the first that fails is reported (later ones depend on earlier ones)."""
    return [SignatureCheck(), KeyCheck(), SubjectNamesVat(vat)]


@dataclass(frozen=True)
class CheckedCsr:
    """A CSR that passed the policy: public data only, safe in workflow histories."""

    pem: str
    subject: str  # RFC 4514
    key: str  # "RSA 2048", "EC secp256r1"
    sha256: str  # of the DER


def check_csr(data: bytes, vat: str, policy: Sequence[CsrCheck] | None = None) -> CheckedCsr:
    """Parse and check a CSR for the customer `vat`; raise InvalidInput naming the failed check."""
    parsed_vat = parse_vat_number(vat)
    csr = load_csr(data)
    for rule in policy if policy is not None else default_policy(parsed_vat):
        rule.check(csr)
    der = csr.public_bytes(serialization.Encoding.DER)
    return CheckedCsr(
        pem=csr.public_bytes(serialization.Encoding.PEM).decode(),
        subject=csr.subject.rfc4514_string(),
        key=describe_key(csr.public_key()),
        sha256=hashlib.sha256(der).hexdigest(),
    )
