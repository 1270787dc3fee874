"""`einvoice sdi-sim`: run the local SDI under uvicorn, signing its notifications with its own key.

The key pair is made at start (RSA 2048, self-signed "Sistema di Interscambio (local)") and only its
certificate is written out (`--signer-cert`), so the intermediary can check that notifications come from
this SDI (setting SDI_SIGNER_CERT).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from sdisim.app import SimConfig, create_app


def make_signer_material() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "IT"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Agenzia delle Entrate (local simulator)"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Sistema di Interscambio (local)"),
    ])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def xades_signer(signer_cert_out: Path | None = None) -> Callable[[bytes], bytes]:
    """A function that signs a notification (XAdES-BES enveloped) with a fresh simulator key."""
    import domain.fatturapa  # noqa: F401  (imported first: domain.signatures and domain.fatturapa import each other)
    from domain.signatures import Signer, sign_xades

    key, cert = make_signer_material()
    signer = Signer(key, cert)
    if signer_cert_out is not None:
        signer_cert_out.parent.mkdir(parents=True, exist_ok=True)
        signer_cert_out.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def sign(xml: bytes) -> bytes:
        return sign_xades(xml, signer)

    return sign


def serve(host: str, port: int, config: SimConfig, signer_cert_out: Path | None,
          tls_cert: str | None = None, tls_key: str | None = None, tls_ca: str | None = None) -> None:
    import ssl

    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = create_app(config, xades_signer(signer_cert_out))
    kwargs: dict[str, object] = {}
    if tls_cert:
        kwargs.update(ssl_certfile=tls_cert, ssl_keyfile=tls_key)
        if tls_ca:  # mutual TLS: the transmitter must present a certificate issued by this CA
            kwargs.update(ssl_ca_certs=tls_ca, ssl_cert_reqs=ssl.CERT_REQUIRED)
    uvicorn.run(app, host=host, port=port, log_level="info", **kwargs)  # type: ignore[arg-type]
