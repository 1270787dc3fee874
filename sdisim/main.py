"""`einvoice sdi-sim`: run the local SDI under uvicorn, signing its notifications with its own key.

The key pair (RSA 2048, self-signed "Sistema di Interscambio (local)") is made at the first start and kept in
the state dir when there is one (`--state-dir`; `einvoice dev up`: `DATA_DIR/sdisim`), as the real SDI keeps its
certificate: a notification signed before a restart and delivered after it is still the SDI's. Without a state
dir it is made afresh at every start. Only its certificate is written out (`--signer-cert`), so the
intermediary can check that notifications come from this SDI (setting SDI_SIGNER_CERT).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from sdisim.app import SimConfig, create_app
from sdisim.state import IN_MEMORY


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


SIGNER_KEY = "signer-key.pem"  # in the state dir: the simulator's own key and certificate
SIGNER_CERT = "signer-cert.pem"
STATE_FILE = "state.sqlite"


def kept_signer_material(state_dir: Path) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """The key pair kept in `state_dir`, made and kept there at the first start."""
    key_path, cert_path = state_dir / SIGNER_KEY, state_dir / SIGNER_CERT
    if key_path.exists() and cert_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{key_path} does not hold the local SDI's RSA key")
        return key, x509.load_pem_x509_certificate(cert_path.read_bytes())
    key, cert = make_signer_material()
    state_dir.mkdir(parents=True, exist_ok=True)
    for path, data, mode in (
            (cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644),
            (key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()), 0o600)):
        partial = path.with_suffix(".partial")  # the key last and renamed whole: both files or a new pair
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        partial.replace(path)
    return key, cert


def xades_signer(signer_cert_out: Path | None = None, state_dir: Path | None = None) -> Callable[[bytes], bytes]:
    """A function that signs a notification (XAdES-BES enveloped) with the simulator's key: the one kept in
    `state_dir`, or a fresh one."""
    import domain.fatturapa  # noqa: F401  (imported first: domain.signatures and domain.fatturapa import each other)
    from domain.signatures import Signer, sign_xades

    key, cert = kept_signer_material(state_dir) if state_dir is not None else make_signer_material()
    signer = Signer(key, cert)
    if signer_cert_out is not None:
        signer_cert_out.parent.mkdir(parents=True, exist_ok=True)
        signer_cert_out.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def sign(xml: bytes) -> bytes:
        return sign_xades(xml, signer)

    return sign


def serve(host: str, port: int, config: SimConfig, signer_cert_out: Path | None,
          tls_cert: str | None = None, tls_key: str | None = None, tls_ca: str | None = None,
          state_dir: Path | None = None) -> None:
    """Serve the local SDI; with `state_dir` it keeps its state and key there (see `sdisim.state`)."""
    import ssl

    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = create_app(config, xades_signer(signer_cert_out, state_dir),
                     state_dir / STATE_FILE if state_dir is not None else IN_MEMORY)
    kwargs: dict[str, object] = {}
    if tls_cert:
        kwargs.update(ssl_certfile=tls_cert, ssl_keyfile=tls_key)
        if tls_ca:  # mutual TLS: the transmitter must present a certificate issued by this CA
            kwargs.update(ssl_ca_certs=tls_ca, ssl_cert_reqs=ssl.CERT_REQUIRED)
    uvicorn.run(app, host=host, port=port, log_level="info", **kwargs)  # type: ignore[arg-type]
