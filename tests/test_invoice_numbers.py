"""An invoice's number is kept whole: FA(3)'s P_2 is up to 256 characters, and the `invoices` column was
FatturaPA's 20, so a KSeF invoice's number was cut to fit (migration 0015). On PostgreSQL, as in production."""

from __future__ import annotations

import uuid

from core.db import session_scope
from models import invoices as invoices_db
from models.tenant import add_tenant

PL_VAT = "PL5265877635"


def test_a_256_character_invoice_number_is_stored_whole(db: str) -> None:
    number = "FV/2026/12/" + "X" * 245
    assert len(number) == 256
    invoice_id = f"inv-{uuid.uuid4().hex}"
    with session_scope(db) as session:
        add_tenant(session, PL_VAT, "Firma Testowa", "biuro@firma.example.pl", None)
        invoices_db.add_invoice(session, PL_VAT, invoices_db.NewInvoice(
            id=invoice_id, direction="out", file_name="fv.xml", transmitter_id=PL_VAT, sign_mode="none",
            key_alias=None, format="FA(3)", counterparty_name=None, counterparty_vat=None, recipient_code=None,
            number=number, doc_date="2026-12-07", total="123.00", currency="PLN", documents=1,
            workflow_id=f"wf-{invoice_id}"), ["FA3/VAT/a-long-number"], [])
    with session_scope(db) as session:
        assert invoices_db.get_invoice_row(session, invoice_id).number == number
