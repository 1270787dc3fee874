"""Hostile XML on every entry point of the invoice area: refused, and nothing written.

Entity expansion ("billion laughs"), external entities (XXE: a local file, a URL), a DOCTYPE alone — in an
uploaded invoice (HTTP), in SOAP envelopes to our TrasmissioneFatture and RicezioneFatture endpoints, and in
a notification file inside a well-formed envelope. Also: a notification signed by another key than the SDI's,
or tampered with after signing, is refused.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.main import create_app
from core.db import session_scope
from core.settings import Settings
from domain.errors import InvalidInput
from domain.sdi import messages, soap
from domain.xmlsafe import parse_untrusted
from models.files import StoredFile
from models.invoices import Invoice, SdiNotification
from tests.identity_support import operator_client
from tests.invoices_support import VAT, ensure_customer, invoice

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<lolz>&lol4;</lolz>"""
XXE_FILE = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><r>&xxe;</r>"""
XXE_URL = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "http://127.0.0.1:1/x">]><r>&xxe;</r>"""
DOCTYPE_ONLY = b"""<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:1/r.dtd"><r/>"""
UTF16_XXE = XXE_FILE.replace(b'version="1.0"', b'version="1.0" encoding="UTF-16"').decode().encode("utf-16")
PAYLOADS = {"billion-laughs": LAUGHS, "xxe-file": XXE_FILE, "xxe-url": XXE_URL, "doctype": DOCTYPE_ONLY,
            "utf16-xxe": UTF16_XXE}


def _invoice_with(payload: bytes) -> bytes:
    """The payload's DOCTYPE in front of a real invoice, its entity used inside a field."""
    doc = invoice("X1")
    head, _, rest = payload.partition(b"?>")
    dtd = rest[: rest.index(b"]>") + 2] if b"]>" in rest else rest[: rest.index(b">") + 1]
    ref = b"&lol4;" if b"lol4" in payload else b"&xxe;" if b"xxe" in payload else b""
    body = doc.split(b"?>", 1)[1].replace(b"<Numero>X1</Numero>", b"<Numero>X1" + ref + b"</Numero>")
    return b'<?xml version="1.0" encoding="UTF-8"?>' + dtd + body


def _counts(settings: Settings) -> tuple[int, int, int]:
    with session_scope(settings.database_url) as s:
        return (s.scalar(select(func.count()).select_from(Invoice)) or 0,
                s.scalar(select(func.count()).select_from(StoredFile)) or 0,
                s.scalar(select(func.count()).select_from(SdiNotification)) or 0)


@pytest.fixture
def api(settings: Settings, db: str) -> Iterator[TestClient]:
    app = create_app(settings, run_migrations=False)
    app.state.temporal = object()  # never reached: every request below is refused before Temporal
    with operator_client(app, settings) as client:
        yield client


@pytest.mark.parametrize("name", list(PAYLOADS))
def test_safe_parser_refuses(name: str) -> None:
    with pytest.raises(InvalidInput):
        parse_untrusted(PAYLOADS[name], "doc", 1 << 20)


@pytest.mark.parametrize("name", ["billion-laughs", "xxe-file", "xxe-url", "doctype"])
def test_invoice_upload_refused_without_side_effects(api: TestClient, settings: Settings, name: str) -> None:
    ensure_customer(settings)
    before = _counts(settings)
    resp = api.post("/invoices", data={"vat": VAT}, files={"file": ("x.xml", _invoice_with(PAYLOADS[name]))})
    assert resp.status_code == 422, resp.text
    assert "root:" not in resp.text  # nothing of /etc/passwd comes back
    assert _counts(settings) == before


def test_oversized_upload_refused(api: TestClient, settings: Settings) -> None:
    from domain.fatturapa import MAX_FILE_SIZE

    ensure_customer(settings)
    resp = api.post("/invoices", data={"vat": VAT}, files={"file": ("x.xml", b" " * (MAX_FILE_SIZE + 1))})
    assert resp.status_code == 422 and resp.json()["problems"][0]["code"] == "00003"
    assert _counts(settings) == (0, 0, 0)


@pytest.mark.parametrize("endpoint", ["/sdi/TrasmissioneFatture", "/sdi/RicezioneFatture"])
@pytest.mark.parametrize("name", list(PAYLOADS))
def test_soap_endpoints_refuse_hostile_envelopes(api: TestClient, settings: Settings, endpoint: str,
                                                 name: str) -> None:
    resp = api.post(endpoint, content=PAYLOADS[name], headers={"Content-Type": "text/xml"})
    assert resp.status_code == 500 and b"soapenv:Client" in resp.content
    assert b"root:" not in resp.content
    assert _counts(settings) == (0, 0, 0)


@pytest.mark.parametrize("name", list(PAYLOADS))
def test_hostile_notification_inside_a_valid_envelope_is_refused(api: TestClient, settings: Settings,
                                                                 name: str) -> None:
    body = soap.build_trasmissione("RicevutaConsegna", soap.FileSdI(1, "IT01234567897_00001_RC_001.xml",
                                                                    PAYLOADS[name]))
    resp = api.post("/sdi/TrasmissioneFatture", content=body)
    assert resp.status_code == 500 and b"soapenv:Client" in resp.content
    assert _counts(settings) == (0, 0, 0)


def test_hostile_invoice_delivered_by_ricezione_is_refused(api: TestClient, settings: Settings) -> None:
    mt = messages.build_mt(7, "IT01234567897_00001.xml", "0000000", "FPR12", "1")
    body = soap.build_ricevi_fatture(soap.FileSdIConMetadati(7, "IT01234567897_00001.xml",
                                                             _invoice_with(XXE_FILE), "IT01234567897_00001_MT_001.xml",
                                                             mt))
    resp = api.post("/sdi/RicezioneFatture", content=body)
    assert resp.status_code == 500 and b"soapenv:Client" in resp.content
    assert _counts(settings) == (0, 0, 0)


def _signed_rc(sign) -> bytes:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    return messages.build_rc(42, "IT01234567897_00001.xml", now, now, "0000000", "Dest", "1", sign)


def test_notification_signed_by_another_key_or_tampered_is_refused(api: TestClient, settings: Settings,
                                                                   tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sdisim.main import xades_signer

    sdi_cert = settings.sdi_signer_cert_path
    real_sdi = xades_signer(sdi_cert)  # writes the SDI's certificate where the endpoint looks for it
    try:
        impostor = xades_signer(None)
        forged = soap.build_trasmissione("RicevutaConsegna", soap.FileSdI(42, "IT01234567897_00001_RC_001.xml",
                                                                          _signed_rc(impostor)))
        resp = api.post("/sdi/TrasmissioneFatture", content=forged)
        assert resp.status_code == 500 and b"SDI" in resp.content
        genuine = _signed_rc(real_sdi)
        tampered = genuine.replace(b"<MessageId>1</MessageId>", b"<MessageId>2</MessageId>")
        body = soap.build_trasmissione("RicevutaConsegna", soap.FileSdI(42, "IT01234567897_00001_RC_001.xml",
                                                                        tampered))
        resp = api.post("/sdi/TrasmissioneFatture", content=body)
        assert resp.status_code == 500 and b"soapenv:Client" in resp.content
        assert _counts(settings) == (0, 0, 0)
    finally:
        sdi_cert.unlink(missing_ok=True)


def test_base64_layer_is_checked(api: TestClient) -> None:
    env = soap.build_trasmissione("RicevutaConsegna", soap.FileSdI(1, "IT01234567897_00001_RC_001.xml", b"x"))
    broken = env.replace(base64.b64encode(b"x"), b"!!!!")
    resp = api.post("/sdi/TrasmissioneFatture", content=broken)
    assert resp.status_code == 500


def test_huge_upload_refused_before_parsing(api: TestClient, settings: Settings) -> None:
    from domain.fatturapa import MAX_FILE_SIZE

    ensure_customer(settings)
    resp = api.post("/invoices", data={"vat": VAT}, files={"file": ("x.xml", b"<" * (MAX_FILE_SIZE + 300 * 1024))})
    assert resp.status_code == 413 and resp.json()["problems"][0]["code"] == "00003"
    assert _counts(settings) == (0, 0, 0)


def test_no_trusted_sdi_certificate_means_no_notification_is_trusted(settings: Settings, tmp_path: Path) -> None:
    """Without SDI_SIGNER_CERT a notification validly signed by anyone must not move an invoice."""
    from domain.signatures import sign_xades
    from domain.signatures.devcert import dev_signer
    from starters.invoices import _check_sdi_signature

    signed = sign_xades(b"<Notifica><Id>1</Id></Notifica>", dev_signer("Chiunque"))
    unconfigured = settings.model_copy(update={"sdi_signer_cert": str(tmp_path / "missing.pem")})
    with pytest.raises(InvalidInput, match="not configured"):
        _check_sdi_signature(unconfigured, signed, "File")
