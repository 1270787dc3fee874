"""Downloads name files from our own names (#18.6): a stored name that came from an upload cannot inject
anything into Content-Disposition."""

from __future__ import annotations

import pytest

from api.main import create_app
from api.routes.invoices import content_disposition
from core.db import session_scope
from core.settings import Settings
from models import invoices as inv_db
from tests.identity_support import operator_client
from tests.invoices_support import VAT, ensure_customer


@pytest.mark.parametrize(("name", "expected"), [
    ("IT01234567897_00001.xml", 'attachment; filename="IT01234567897_00001.xml"'),
    ('a"; filename*=UTF-8\'\'evil.exe', 'attachment; filename="a___filename__UTF-8__evil.exe"'),
    ("fattura\r\nSet-Cookie: x=1.xml", 'attachment; filename="fattura__Set-Cookie__x_1.xml"'),
    ("../../etc/passwd", 'attachment; filename="_.._etc_passwd"'),
    ("\"\"\"", 'attachment; filename="ours-original"'),
    ("fattura-è.xml", 'attachment; filename="fattura-_.xml"'),
])
def test_a_stored_name_becomes_a_plain_filename(name: str, expected: str) -> None:
    assert content_disposition("attachment", name, "ours-original") == expected


def test_an_uploaded_name_with_quotes_and_newlines_is_served_safely(settings: Settings, db: str) -> None:
    ensure_customer(settings, VAT)
    hostile = 'original-x"; evil=1\r\nX-Injected: yes.xml'
    new = inv_db.NewInvoice(id="inv-dl-1", direction="out", file_name=f"{VAT}_00009.xml", transmitter_id=VAT,
                            sign_mode="none", key_alias=None, format="FPR12", counterparty_name="C",
                            counterparty_vat=None, recipient_code="0000000", number="9", doc_date="2026-12-01",
                            total="1.00", currency="EUR", documents=1, workflow_id="wf-dl-1")
    with session_scope(settings.database_url) as session:
        invoice_id = inv_db.add_invoice(session, VAT, new, [f"{VAT}:9:2026"],
                                        [("original", hostile, "application/xml", b"<x/>")]).id
    with operator_client(create_app(settings, run_migrations=False), settings) as http:
        r = http.get(f"/invoices/{invoice_id}/download/original")
    assert r.status_code == 200 and r.content == b"<x/>"
    assert r.headers["content-disposition"] == 'attachment; filename="original-x___evil_1__X-Injected__yes.xml"'
    assert "x-injected" not in r.headers and r.headers["x-content-type-options"] == "nosniff"
