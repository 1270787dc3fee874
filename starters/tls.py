"""The intermediary's own client certificate, for operators over mutual TLS (api/tls.py).

Over mutual TLS every authenticated request needs a client certificate, so the first one cannot be asked for
over the API: this asks for it where the database and Temporal are (`einvoice tls issue`, e.g. `docker
compose exec api ...`), through the same certificate workflow as any customer's (same checks, expiry
reminders, revocation). The key is made here and written next to the certificate, never sent anywhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select
from temporalio.client import Client

from core.db import session_scope
from core.settings import Settings
from domain.certificates import ACTIVE
from domain.errors import Conflict
from domain.identifiers import parse_vat_number
from models.tenant import Tenant, add_tenant
from starters.acting import CLI, LOCAL_ADMIN
from starters.certificates import download_certificate, request_certificate


@dataclass(frozen=True)
class IssuedFiles:
    operation_id: str
    cert: Path
    key: Path


async def issue_client_certificate(settings: Settings, vat: str, out_dir: Path, name: str = "", pec: str = "",
                                   actor: str = "cli:tls", client: Client | None = None,
                                   task_queue: str | None = None, wait_seconds: float = 120.0) -> IssuedFiles:
    """A client certificate for customer `vat` (the customer made first from `name` and `pec` when missing),
    through the certificate workflow: `<out_dir>/<vat>.pem` and `<vat>.key` (mode 0600). Conflict when the
    authority refused or did not decide within `wait_seconds`. An admin action where the database is: it acts
    as the local administrator (`starters.acting.LOCAL_ADMIN`, surface "cli")."""
    vat_number = str(parse_vat_number(vat))
    with session_scope(settings.database_url) as session:
        if session.scalar(select(Tenant.id).where(Tenant.vat_number == vat_number)) is None:
            add_tenant(session, vat_number, name, pec, None, actor)  # InvalidInput names a missing field
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, vat_number[:2]),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, name or vat_number),
                         x509.NameAttribute(NameOID.SERIAL_NUMBER, vat_number),
                         x509.NameAttribute(NameOID.COMMON_NAME, f"{vat_number} mutual TLS")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    result = await request_certificate(settings, vat_number, csr.public_bytes(serialization.Encoding.PEM),
                                       as_user=LOCAL_ADMIN, surface=CLI, client=client, task_queue=task_queue,
                                       wait=True, wait_seconds=wait_seconds)
    op = result.certificate.operation_id
    if result.certificate.state != ACTIVE:
        raise Conflict(f"certificate {op} is {result.certificate.state} after {wait_seconds:.0f}s "
                       f"({result.certificate.error or 'the authority has not decided'}); follow it with "
                       f"einvoice cert status, nothing was written")
    _, der = download_certificate(settings, vat_number, op, as_user=LOCAL_ADMIN, surface=CLI)
    out_dir.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = out_dir / f"{vat_number}.pem", out_dir / f"{vat_number}.key"
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    cert_path.write_bytes(x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM))
    return IssuedFiles(op, cert_path, key_path)
