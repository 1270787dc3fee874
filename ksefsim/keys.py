"""The local KSeF's own keys: the ministry's two RSA encryption keys (KsefTokenEncryption and
SymmetricKeyEncryption, published at `/security/public-key-certificates`), its test CA (which issues the KSeF
certificates it enrolls) and the key that signs its UPOs. Made at the first start and kept in the state dir
(PEM, keys 0600) so what it issued or signed before a restart stays its own; without a state dir, fresh ones."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ministerstwo Finansów (local simulator)"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _self_signed(key: PrivateKey, cn: str, ca: bool) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn)).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
               .not_valid_after(now + timedelta(days=3650))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
            critical=True)
    return builder.sign(key, hashes.SHA256())


@dataclass(frozen=True, repr=False)
class SimKeys:
    token_key: rsa.RSAPrivateKey = field(repr=False)
    token_cert: x509.Certificate
    symmetric_key: rsa.RSAPrivateKey = field(repr=False)
    symmetric_cert: x509.Certificate
    ca_key: ec.EllipticCurvePrivateKey = field(repr=False)
    ca_cert: x509.Certificate
    upo_key: ec.EllipticCurvePrivateKey = field(repr=False)
    upo_cert: x509.Certificate


_PARTS = {"token": ("KSeF token encryption (local)", "rsa", False),
          "symmetric": ("KSeF symmetric key encryption (local)", "rsa", False),
          "ca": ("KSeF test CA (local)", "ec", True),
          "upo": ("KSeF UPO (local)", "ec", False)}


def _new(kind: str) -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _write(path: Path, data: bytes, mode: int) -> None:
    partial = path.with_suffix(".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    partial.replace(path)


def load_keys(state_dir: Path | None) -> SimKeys:
    made: dict[str, tuple[PrivateKey, x509.Certificate]] = {}
    for part, (cn, kind, ca) in _PARTS.items():
        key_path = state_dir / f"{part}-key.pem" if state_dir else None
        cert_path = state_dir / f"{part}-cert.pem" if state_dir else None
        if key_path is not None and cert_path is not None and key_path.exists() and cert_path.exists():
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
                raise ValueError(f"{key_path} does not hold a key of the local KSeF")
            made[part] = (key, x509.load_pem_x509_certificate(cert_path.read_bytes()))
            continue
        key = _new(kind)
        cert = _self_signed(key, cn, ca)
        if key_path is not None and cert_path is not None:
            key_path.parent.mkdir(parents=True, exist_ok=True)
            _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)  # the key last: both or anew
            _write(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()), 0o600)
        made[part] = (key, cert)

    def rsa_of(part: str) -> rsa.RSAPrivateKey:
        key = made[part][0]
        assert isinstance(key, rsa.RSAPrivateKey)
        return key

    def ec_of(part: str) -> ec.EllipticCurvePrivateKey:
        key = made[part][0]
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key

    return SimKeys(rsa_of("token"), made["token"][1], rsa_of("symmetric"), made["symmetric"][1],
                   ec_of("ca"), made["ca"][1], ec_of("upo"), made["upo"][1])
