"""The KSeF number (numer KSeF) and the invoice's QR code link (KOD I).

The KSeF number is what KSeF gives an accepted invoice: 35 characters, `NNNNNNNNNN-YYYYMMDD-TTTTTTTTTTTT-CC`
(the seller's NIP, the date KSeF took the invoice, 12 technical hex digits, and a CRC-8 of the first 32
characters: polynomial 0x07, initial value 0x00, two uppercase hex digits). Source: `faktury/numer-ksef.md`
of the KSeF 2.0 documentation, with its example `5265877635-20250826-0100001AF629-AF`.

KOD I is the link printed on an invoice so a buyer can check it in KSeF: `<base>/invoice/<seller NIP>/
<issue date DD-MM-YYYY>/<SHA-256 of the invoice file, base64url without padding>` (`kody-qr.md`).
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime

from domain.errors import InvalidInput
from domain.identifiers import parse_vat_number

KSEF_NUMBER_LENGTH = 35
_SHAPE = re.compile(r"^([0-9]{10})-([0-9]{8})-([0-9A-F]{12})-([0-9A-F]{2})$")
# The QR code hosts per environment (kody-qr.md): test (release candidate), demo (pre-production), production.
QR_HOSTS = {"test": "https://qr-test.ksef.mf.gov.pl", "demo": "https://qr-demo.ksef.mf.gov.pl",
            "production": "https://qr.ksef.mf.gov.pl"}


def crc8(data: bytes) -> int:
    """CRC-8, polynomial 0x07, initial value 0, no reflection, no final xor (the KSeF number's check)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


@dataclass(frozen=True)
class KsefNumber:
    value: str
    seller_nip: str
    accepted_on: date
    technical: str


def parse_ksef_number(raw: str, field: str = "ksef_number") -> KsefNumber:
    """The KSeF number checked as KSeF checks it; a clear error naming what is wrong otherwise."""
    value = (raw or "").strip()
    if len(value) != KSEF_NUMBER_LENGTH:
        raise InvalidInput.one(field, f"a KSeF number has {KSEF_NUMBER_LENGTH} characters, this has {len(value)}")
    match = _SHAPE.match(value)
    if match is None:
        raise InvalidInput.one(field, "not NIP-YYYYMMDD-12 hex digits-2 hex digits (uppercase, [0-9A-F])")
    nip, day, technical, check = match.groups()
    expected = f"{crc8(value[:32].encode('ascii')):02X}"
    if check != expected:
        raise InvalidInput.one(field, f"the check digits are {check}, the CRC-8 of the number says {expected}")
    parse_vat_number("PL" + nip, field)  # the seller's NIP has its own check digit
    try:
        accepted = datetime.strptime(day, "%Y%m%d").date()
    except ValueError:
        raise InvalidInput.one(field, f"{day} is not a date (YYYYMMDD)") from None
    return KsefNumber(value, nip, accepted, technical)


def invoice_hash(xml: bytes) -> str:
    """SHA-256 of the invoice file as sent, base64url without padding (the QR code's form)."""
    return base64.urlsafe_b64encode(hashlib.sha256(xml).digest()).rstrip(b"=").decode("ascii")


def qr_invoice_link(seller_nip: str, issue_date: date, xml: bytes, environment: str = "production") -> str:
    """KOD I, the invoice's verification link. `issue_date` is the invoice's P_1."""
    if environment not in QR_HOSTS:
        raise InvalidInput.one("environment", f"one of {', '.join(QR_HOSTS)}, got {environment!r}")
    nip = str(parse_vat_number("PL" + seller_nip.removeprefix("PL"), "seller_nip"))[2:]
    return f"{QR_HOSTS[environment]}/invoice/{nip}/{issue_date.strftime('%d-%m-%Y')}/{invoice_hash(xml)}"
