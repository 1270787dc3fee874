"""The KSeF certificate step of `make demo` (#14.2): a Polish customer whose seal (a self-signed development seal,
as KSeF's test environment takes them) stays on its machine and signs the KSeF login of its requests there, its
KSeF token given to us, a CSR whose subject is not the signer's refused naming each attribute, then an offline
certificate enrolled at the local KSeF through the same certificate workflow, and the customer's list."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from rich.console import Console

from core.settings import Settings
from devstack import demo_http as http
from domain.signatures.keystore import Signer
from domain.signatures.xades import sign_xades

console = Console()
DEMO_NIP = "5265877635"  # the KSeF documentation's example seller
DEMO_PL_VAT = f"PL{DEMO_NIP}"
DEMO_COMPANY = "Firma Demo sp z o o"
ORGANIZATION_IDENTIFIER = x509.ObjectIdentifier("2.5.4.97")


def _subject(common_name: str = DEMO_COMPANY) -> x509.Name:
    """The seal's subject, which is also what /certificates/enrollments/data dictates for the CSR."""
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, DEMO_COMPANY),
                      x509.NameAttribute(ORGANIZATION_IDENTIFIER, f"VATPL-{DEMO_NIP}"),
                      x509.NameAttribute(NameOID.COUNTRY_NAME, "PL")])


def ensure_demo_seal(settings: Settings) -> Path:
    """The demo customer's company seal, made once, on "the customer's machine" (`DATA_DIR/demo-customer`, never
    our key store: we hold no key of a customer's); it signs the KSeF login of its certificate requests there."""
    path = settings.data_dir.resolve() / "demo-customer" / "seal.p12"
    if path.exists():
        return path
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(_subject()).issuer_name(_subject()).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365)).sign(key, hashes.SHA256()))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pkcs12.serialize_key_and_certificates(b"seal", key, cert, None, serialization.NoEncryption()))
    return path


def _signed_login(settings: Settings, signer: Signer) -> bytes:
    """As `einvoice cert request --ksef-seal` does it: our API hands out KSeF's challenge and the AuthTokenRequest,
    the customer signs it on its machine."""
    todo = http.post(f"{settings.public_base_url}/customers/{DEMO_PL_VAT}/ksef/auth-requests", timeout=30)
    todo.raise_for_status()
    return sign_xades(todo.json()["xml"].encode(), signer)


def ensure_demo_token(settings: Settings) -> None:
    """The demo customer's KSeF token, as a customer does it: generated in KSeF (here the local KSeF's control
    endpoint stands for the customer's own login to KSeF) and given to us (`PUT /customers/{vat}/ksef-token`,
    kept sealed): the worker sends and downloads with it, never with a key of the customer's."""
    api, ksef = settings.public_base_url, settings.ksef_url.removesuffix("/v2")
    if http.get(f"{api}/customers/{DEMO_PL_VAT}/ksef-token", timeout=10).json().get("set"):
        return
    made = http.post(f"{ksef}/control/ksef-tokens", timeout=10, json={"value": DEMO_NIP})
    made.raise_for_status()
    http.put(f"{api}/customers/{DEMO_PL_VAT}/ksef-token", timeout=10,
             json={"token": made.json()["token"]}).raise_for_status()
    console.print(f"{DEMO_PL_VAT} gave us its KSeF token (InvoiceWrite, InvoiceRead): kept sealed, never shown")


def _csr(common_name: str = DEMO_COMPANY) -> bytes:
    return (x509.CertificateSigningRequestBuilder().subject_name(_subject(common_name))
            .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256()).public_bytes(serialization.Encoding.PEM))


def step_ksef_certificates(settings: Settings, ctx: dict[str, object]) -> None:
    console.rule("[bold]3b. KSeF certificates for a Polish customer (the local KSeF as the authority)")
    api = settings.public_base_url
    added = http.post(f"{api}/tenants", timeout=10,
                      json={"vat": DEMO_PL_VAT, "name": DEMO_COMPANY, "pec": "biuro@firma-demo.example.pl"})
    if added.status_code != 409:  # 409: there from an earlier run
        added.raise_for_status()
    seal = ensure_demo_seal(settings)
    signer = Signer.from_pkcs12(seal.read_bytes(), None)
    console.print(f"customer {DEMO_PL_VAT}; its seal stays on its machine ({seal}): it signs the KSeF login of each "
                  "certificate request there, we never see the key")
    ensure_demo_token(settings)  # following the enrollment: the customer's KSeF token
    wrong = http.post(f"{api}/tenants/{DEMO_PL_VAT}/certificates", timeout=60, data={"kind": "offline"},
                      files={"csr": ("wrong.csr", _csr("Ktos Inny")),
                             "ksef_auth_request": ("auth.xml", _signed_login(settings, signer))})
    console.print(f"a CSR whose subject is not the signer's (what KSeF's /certificates/enrollments/data dictates) "
                  f"is refused before anything is written or sent: {wrong.status_code} {wrong.json()['detail']}")
    resp = http.post(f"{api}/tenants/{DEMO_PL_VAT}/certificates", timeout=120, data={"kind": "offline", "wait": "true"},
                     files={"csr": ("firma.csr", _csr()),
                            "ksef_auth_request": ("auth.xml", _signed_login(settings, signer))})
    resp.raise_for_status()
    cert = resp.json()
    console.print(f"POST {api}/tenants/{DEMO_PL_VAT}/certificates (kind offline) → {resp.status_code}: workflow "
                  f"cert-{cert['operation_id']} went zlecony do autoryzacji → zaakceptowany w trakcie autoryzacji "
                  f"→ {cert['state_label']}, KSeF serial {cert['serial']}, issued by {cert['issuer']}")
    listed = http.get(f"{api}/tenants/{DEMO_PL_VAT}/certificates", timeout=10).json()
    console.print(f"offline certificate of {DEMO_PL_VAT}: {listed['offline_certificate']}")
    ctx["ksef_certificate"] = cert["operation_id"]
