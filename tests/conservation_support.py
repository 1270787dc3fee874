"""Shared by the conservation tests: a bucket of their own, a customer, and an invoice's stored files."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import select

from core.db import session_scope
from core.settings import Settings
from devstack.s3 import ensure_archive_bucket
from models.conservation_io import ConservationInput, PackageMetadata
from models.files import store_file
from models.tenant import Tenant, add_tenant

VAT = "IT02038490237"
OTHER_VAT = "IT01114601006"
SAMPLES = Path("/work/shared/standards/fatturapa/samples")


def bucket_settings(settings: Settings, **changes: object) -> Settings:
    """The session's settings with a fresh Object Lock bucket, so tests never share locked keys."""
    own = settings.model_copy(update={"s3_bucket": f"arch-{uuid.uuid4().hex[:16]}", **changes})
    ensure_archive_bucket(own)
    return own


def ensure_tenant(settings: Settings, vat: str = VAT, name: str = "ACME Forniture S.p.A.") -> int:
    with session_scope(settings.database_url) as session:
        found = session.scalar(select(Tenant.id).where(Tenant.vat_number == vat))
        if found is not None:
            return found
        add_tenant(session, vat, name, "acme@pec.acme.it", "0000000")
        return session.scalar(select(Tenant.id).where(Tenant.vat_number == vat))  # type: ignore[return-value]


def invoice_files(number: str) -> list[tuple[str, str, str, bytes]]:
    """(role, name, mime, content) of one invoice's cycle: original, signed, RC and AT notifications."""
    original = (SAMPLES / "invoices" / "IT01234567890_FPR01.xml").read_bytes().replace(
        b"<Numero>123</Numero>", f"<Numero>{number}</Numero>".encode())
    base = f"IT02038490237_{number[-5:].rjust(5, '0')}"
    signed = b"0\x82" + original  # stands in for a CAdES envelope: conservation treats it as opaque bytes
    return [
        ("original", f"{base}.xml", "application/xml", original),
        ("signed", f"{base}.xml.p7m", "application/pkcs7-mime", signed),
        ("notification", f"{base}_RC_001.xml", "application/xml",
         (SAMPLES / "notifications-pa" / "IT01234567890_11111_RC_001.xml").read_bytes()),
        ("notification", f"{base}_AT_001.xml", "application/xml",
         (SAMPLES / "notifications-pa" / "IT01234567890_11111_AT_001.xml").read_bytes()),
    ]


def add_invoice(settings: Settings, owner_id: str | None = None, number: str = "00001", vat: str = VAT,
                extra: list[tuple[str, str, str, bytes]] | None = None,
                document_date: str = "2026-03-15") -> ConservationInput:
    """Store an invoice's files as the invoice workflow does, and return the conservation request."""
    owner_id = owner_id or f"inv-{uuid.uuid4().hex[:12]}"
    tenant_id = ensure_tenant(settings, vat)
    files = invoice_files(number) + (extra or [])
    with session_scope(settings.database_url) as session:
        for role, name, mime, content in files:
            store_file(session, tenant_id, "invoice", owner_id, role, name, mime, content)
    return ConservationInput(
        tenant_vat=vat, owner_kind="invoice", owner_id=owner_id,
        metadata=PackageMetadata(
            document_number=number, document_date=document_date, document_type="TD01", sender_vat=vat,
            sender_name="ACME Forniture S.p.A.", recipient_id="IT09876543210", recipient_name="Cliente S.r.l.",
            sdi_file_name=files[1][1], sdi_id="111222333",
        ),
    )
