"""KSeF's pure parts (#14 groundwork): the KSeF number's CRC-8, the QR code link, the interactive session's
encryption, and the request shapes checked against the vendored contract `open-api.json`."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidInput
from domain.ksef.numbers import crc8, invoice_hash, parse_ksef_number, qr_invoice_link
from domain.ksef.session_crypto import MAX_INVOICE_BYTES, SessionKey, send_invoice_request, unwrap_key

SPEC = Path(__file__).resolve().parent.parent / "domain" / "ksef" / "spec" / "open-api.json"
# Every KSeF number in the official documentation's pages and examples (grep of standards/ksef).
DOCUMENTED = ["5265877635-20250626-010080DD2B5E-26", "5265877635-20250826-0100001AF629-AF",
              "5265877635-20250916-010040741B3E-46", "5265877635-20250916-0100C002FF3E-D5",
              "5265877635-20250916-02000009FF3E-FB", "5265877635-20250916-020000583241-84",
              "5265877635-20250916-0200A0D6723E-C2", "5265877635-20250925-010020A0A242-0A",
              "5555555555-20250828-010080615740-E4"]


@cache
def spec() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SPEC.read_text(encoding="utf-8"))
    return data


def schema_of(name: str) -> tuple[set[str], set[str]]:
    s = spec()["components"]["schemas"][name]
    return set(s["properties"]), set(s.get("required", []))


def test_the_vendored_contract_is_the_one_its_provenance_names() -> None:
    digest = hashlib.sha256(SPEC.read_bytes()).hexdigest()
    assert digest in (SPEC.parent / "PROVENANCE.md").read_text()
    assert (spec()["info"]["title"], spec()["info"]["version"]) == ("KSeF API TE", "v2")


@pytest.mark.parametrize("number", DOCUMENTED)
def test_every_documented_ksef_number_is_valid(number: str) -> None:
    parsed = parse_ksef_number(number)
    assert parsed.value == number and parsed.seller_nip == number[:10] and parsed.accepted_on.year == 2025


@pytest.mark.parametrize(("raw", "named"), [
    ("5265877635-20250826-0100001AF629-AE", "CRC-8 of the number says AF"),
    ("5265877635-20250826-0100001AF629", "35 characters"),
    ("5265877635-20250826-0100001af629-AF", "uppercase"),
    ("5265877636-20250826-0100001AF629-" + f"{crc8(b'5265877636-20250826-0100001AF629'):02X}", "check digit"),
    ("5265877635-20251326-0100001AF629-" + f"{crc8(b'5265877635-20251326-0100001AF629'):02X}", "not a date"),
])
def test_a_wrong_ksef_number_is_refused_naming_why(raw: str, named: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_ksef_number(raw)
    assert named.lower() in str(err.value.problems).lower(), err.value.problems


@given(st.integers(0, 31), st.sampled_from("0123456789ABCDEF-"))
def test_any_one_character_changed_is_caught(position: int, char: str) -> None:
    number = DOCUMENTED[1]
    changed = number[:position] + char + number[position + 1:]
    if changed == number:
        return
    with pytest.raises(InvalidInput):
        parse_ksef_number(changed)


def test_the_qr_link_of_an_invoice() -> None:
    xml = b"<Faktura/>"
    link = qr_invoice_link("1111111111", date(2026, 2, 1), xml, "test")
    expected_hash = base64.urlsafe_b64encode(hashlib.sha256(xml).digest()).decode().rstrip("=")
    assert link == f"https://qr-test.ksef.mf.gov.pl/invoice/1111111111/01-02-2026/{expected_hash}"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", invoice_hash(xml))  # the documentation's example has 43 too
    with pytest.raises(InvalidInput):
        qr_invoice_link("1111111112", date(2026, 2, 1), xml)  # a wrong NIP check digit
    with pytest.raises(InvalidInput):
        qr_invoice_link("1111111111", date(2026, 2, 1), xml, "staging")


@pytest.fixture(scope="module")
def ministry() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_the_session_key_is_wrapped_and_an_invoice_sent_as_the_contract_says(ministry: rsa.RSAPrivateKey) -> None:
    session = SessionKey.new()
    info = session.encryption_info(ministry.public_key())
    properties, required = schema_of("EncryptionInfo")
    assert required <= set(info) <= properties
    assert unwrap_key(ministry, info) == session  # the local KSeF's side gets the same key and IV

    xml = "<Faktura>zażółć gęślą jaźń</Faktura>".encode()
    body = send_invoice_request(session, xml)
    properties, required = schema_of("SendInvoiceRequest")
    assert required <= set(body) <= properties
    encrypted = base64.b64decode(str(body["encryptedInvoiceContent"]))
    assert body["invoiceSize"] == len(xml) and body["encryptedInvoiceSize"] == len(encrypted)
    assert body["invoiceHash"] == base64.b64encode(hashlib.sha256(xml).digest()).decode()
    assert body["encryptedInvoiceHash"] == base64.b64encode(hashlib.sha256(encrypted).digest()).decode()
    assert len(encrypted) % 16 == 0 and encrypted != xml
    assert session.decrypt(encrypted) == xml
    assert session.key.hex() not in repr(session)  # never in a log line


def test_another_key_cannot_read_it_and_says_so(ministry: rsa.RSAPrivateKey) -> None:
    encrypted = SessionKey.new().encrypt(b"<Faktura/>" * 10)
    with pytest.raises(InvalidInput) as err:
        SessionKey.new().decrypt(encrypted)
    assert "padding" in str(err.value.problems) or "blocks" in str(err.value.problems)


@pytest.mark.parametrize(("xml", "named"), [
    (b"", "empty"), (b"\xef\xbb\xbf<Faktura/>", "byte-order mark"), (b"x" * (MAX_INVOICE_BYTES + 1), "at most"),
])
def test_an_invoice_ksef_would_refuse_is_refused_before_sending(xml: bytes, named: str) -> None:
    with pytest.raises(InvalidInput) as err:
        send_invoice_request(SessionKey.new(), xml)
    assert named in str(err.value.problems)


def test_a_short_ministry_key_is_refused() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(InvalidInput):
        SessionKey.new().encryption_info(weak.public_key())
