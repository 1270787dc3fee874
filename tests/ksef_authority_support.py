"""KSeF as the certificate authority in tests: the local KSeF served by one uvicorn (real clock), a Polish
customer's seal (deposited in a key store as the worker reads it), CSRs built from what KSeF dictates, and
settings whose KSEF_URL and DATA_DIR point at them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from adapters.ksef_authority import KsefAuthorities
from core.settings import Settings
from domain.ksef.auth import signed_auth_token_request
from domain.ksef.enrollment import SUBJECT_FIELDS
from domain.signatures.keystore import PASSWORD_ENV, Signer
from domain.signatures.xades import sign_xades
from ksefsim.app import Simulator, create_app
from ksefsim.keys import load_keys
from ksefsim.scenarios import SimConfig
from tests.invoices_support import KEY_PASSWORD

NIP = "5265877635"  # the KSeF documentation's example seller
PL_VAT = f"PL{NIP}"
COMPANY = "Firma Testowa sp. z o.o."
KEYSTORE_PASSWORD = KEY_PASSWORD  # the one every test key store of the session is opened with


@dataclass
class Sim:
    url: str  # the base URL, without /v2
    sim: Simulator

    @property
    def api(self) -> str:
        return f"{self.url}/v2"

    def configure(self, **config: Any) -> None:
        self.sim.config = SimConfig(**config)

    def enrollments(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = httpx.get(f"{self.url}/control/enrollment").json()
        return found

    def certificate(self, serial: str) -> dict[str, Any]:
        [found] = [c for c in httpx.get(f"{self.url}/control/certificate").json() if c["serial"] == serial]
        return dict(found)


@contextmanager
def serve_sim(folder: Path) -> Iterator[Sim]:
    sim = Simulator(SimConfig(), folder / "state.sqlite", load_keys(folder))
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(create_app(sim), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Sim(f"http://127.0.0.1:{port}", sim)
    finally:
        server.should_exit = True
        thread.join(10)
        sim.state.close()


def seal(nip: str = NIP, name: str = COMPANY) -> Signer:
    """The customer's self-signed company seal, as KSeF's test environment takes it (VATPL-<NIP>)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
                         x509.NameAttribute(x509.ObjectIdentifier("2.5.4.97"), f"VATPL-{nip}"),
                         x509.NameAttribute(NameOID.COUNTRY_NAME, "PL")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30)).sign(key, hashes.SHA256()))
    return Signer(key, cert)


def dictated(name: str = COMPANY, nip: str = NIP) -> dict[str, str]:
    """What /certificates/enrollments/data answers for the seal above."""
    return {"commonName": name, "organizationName": name, "organizationIdentifier": f"VATPL-{nip}",
            "countryName": "PL"}


def ksef_csr(data: dict[str, str] | None = None, key: ec.EllipticCurvePrivateKey | None = None) -> bytes:
    names = [x509.NameAttribute(SUBJECT_FIELDS[k], v) for k, v in (data or dictated()).items()]
    return (x509.CertificateSigningRequestBuilder().subject_name(x509.Name(names))
            .sign(key or ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM))


def ksef_settings(settings: Settings, sim: Sim, data_dir: Path) -> Settings:
    return settings.model_copy(update={"ksef_url": sim.api, "data_dir": data_dir})


def signed_login(settings: Settings, signer: Signer | None = None, vat: str = PL_VAT) -> bytes:
    """What the customer sends with its certificate request: the AuthTokenRequest our API handed out (a
    challenge of the local KSeF, recorded for the customer), signed on its machine with its seal."""
    from starters.ksef_credentials import new_auth_request
    from tests.identity_support import operator

    todo = new_auth_request(settings, vat, as_user=operator(settings))
    return sign_xades(todo.xml.encode(), signer or seal())


def authorities(settings: Settings, signer: Signer, sim: Sim, nip: str = NIP) -> KsefAuthorities:
    """KSeF authorities as the worker builds them (the customer's KSeF token from our database: give it first,
    `give_ksef_token`), each submission's signed login made by the customer with `signer` for a fresh challenge
    (as `signed_login` and the CLI do, without the request row that carries it)."""
    def signed(_: str) -> bytes:  # signed before (a scenario of KSeF down meanwhile does not stop it)
        challenge = str(sim.sim.challenge("127.0.0.1").body["challenge"])  # type: ignore[index]
        return signed_auth_token_request(challenge, "Nip", nip, signer)

    return KsefAuthorities(settings, signed_request=signed, forget_signed=lambda _: None)

PASSWORD_VARIABLE = PASSWORD_ENV  # the key store of the offline certificates (KOD II), which stays
