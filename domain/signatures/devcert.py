"""Throw-away signing identities for development, the local SDI and tests: never for real invoices.

`dev_signer` makes a fresh key and a certificate signed by a fresh (or given) issuer, with the validity
period asked for, so tests can build expired or not-yet-valid certificates as easily as good ones.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from domain.signatures.keystore import Signer, SigningKey


def _name(common_name: str, serial: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "IT"), x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if serial:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    return x509.Name(attrs)


def _new_key(key_type: str) -> SigningKey:
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def dev_signer(
    common_name: str = "Test signer",
    *,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    key_type: str = "rsa",
    issuer: Signer | None = None,
    tax_id: str | None = None,
) -> Signer:
    """A signer whose certificate is issued by `issuer` (or self-issued by a fresh test CA)."""
    now = datetime.now(UTC)
    not_before = not_before or now - timedelta(days=1)
    not_after = not_after or now + timedelta(days=365)
    if issuer is None:
        ca_key = _new_key("ec")
        ca_name = _name(f"{common_name} test CA")
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(min(not_before, now) - timedelta(days=1))
            .not_valid_after(max(not_after, now) + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        issuer = Signer(ca_key, ca_cert)
    key = _new_key(key_type)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, f"TINIT-{tax_id}" if tax_id else None))
        .issuer_name(issuer.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=True, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(issuer.private_key, hashes.SHA256())
    )
    return Signer(key, cert, (issuer.certificate,))


def to_pkcs12(signer: Signer, alias: str, password: bytes) -> bytes:
    """A PKCS#12 bundle of the signer, for a `FileKeyStore` directory."""
    return pkcs12.serialize_key_and_certificates(
        alias.encode(), signer.private_key, signer.certificate, list(signer.chain),
        serialization.BestAvailableEncryption(password),
    )
