"""Customer identifiers: Italian partita IVA, Polish NIP, SDI codice destinatario, PEC address.

A VAT number is always written with its country prefix (`IT` + 11 digits, `PL` + 10 digits) so one
column identifies customers of both exchanges. Each check names the field it is about.

Identifiers are ASCII: digits are 0-9 only (`\\d` and `str.isdigit` also take other scripts' digits, so
`IT` + Arabic-Indic digits would be a second customer beside the same partita IVA in ASCII), and a value is
refused before `upper()` could turn a non-ASCII letter into an ASCII one (dotless `ı` into `I`).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from domain.errors import InvalidInput, ProblemCollector

_IT = re.compile(r"[0-9]{11}")
_PL = re.compile(r"[0-9]{10}")
_SDI_CODE = re.compile(r"[A-Z0-9]{7}")
_PA_OFFICE_CODE = re.compile(r"[A-Z0-9]{6}")
# What a writer may put between the characters of a VAT number: ASCII blanks, dots, hyphens.
_SEPARATORS = re.compile(r"[\s.-]", re.ASCII)
# Deliberately simple: one @, a dotted domain, no spaces. Deliverability is the SMTP server's call.
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_NIP_WEIGHTS = (6, 5, 7, 2, 3, 4, 5, 6, 7)

# codice destinatario for a recipient who receives by PEC (or has not registered a channel).
SDI_CODE_BY_PEC = "0000000"


def partita_iva_check_digit(first_ten: str) -> int:
    """The 11th digit of an Italian partita IVA (Luhn variant on the first ten)."""
    total = 0
    for i, ch in enumerate(first_ten):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def nip_check_digit(first_nine: str) -> int | None:
    """The 10th digit of a Polish NIP; None when the weighted sum gives 10 (no valid NIP has it)."""
    rest = sum(int(c) * w for c, w in zip(first_nine, _NIP_WEIGHTS, strict=True)) % 11
    return None if rest == 10 else rest


@dataclass(frozen=True)
class VatNumber:
    country: str  # "IT" or "PL"
    number: str  # digits only

    def __str__(self) -> str:
        return f"{self.country}{self.number}"


def parse_vat_number(raw: str, field: str = "vat") -> VatNumber:
    """Normalise and check a VAT number with its country prefix; raise InvalidInput naming `field`."""
    value = _SEPARATORS.sub("", raw or "")
    if not value.isascii():
        raise InvalidInput.one(field, f"VAT number must be ASCII letters and digits 0-9, got {raw!r}")
    value = value.upper()
    country, digits = value[:2], value[2:]
    if country == "IT":
        if not _IT.fullmatch(digits):
            raise InvalidInput.one(field, f"Italian partita IVA must be IT + 11 digits 0-9, got {raw!r}")
        if int(digits[10]) != partita_iva_check_digit(digits[:10]):
            raise InvalidInput.one(field, f"Italian partita IVA {raw!r} has a wrong check digit")
        return VatNumber("IT", digits)
    if country == "PL":
        if not _PL.fullmatch(digits):
            raise InvalidInput.one(field, f"Polish NIP must be PL + 10 digits 0-9, got {raw!r}")
        if nip_check_digit(digits[:9]) != int(digits[9]):
            raise InvalidInput.one(field, f"Polish NIP {raw!r} has a wrong check digit")
        return VatNumber("PL", digits)
    raise InvalidInput.one(field, f"VAT number must start with IT or PL, got {raw!r}")


def check_email(raw: str, field: str) -> str:
    value = (raw or "").strip()
    if len(value) > 254 or not _EMAIL.match(value):
        raise InvalidInput.one(field, f"not a valid e-mail address: {raw!r}")
    return value


def check_sdi_code(raw: str, field: str = "sdi_code") -> str:
    """codice destinatario: 7 characters for businesses (0000000 = by PEC), 6 for a PA office (codice
    ufficio, IPA)."""
    value = (raw or "").strip(string.whitespace)
    code = value.upper() if value.isascii() else ""
    if not (_SDI_CODE.fullmatch(code) or _PA_OFFICE_CODE.fullmatch(code)):
        raise InvalidInput.one(
            field, f"SDI recipient code must be 7 ASCII letters/digits A-Z 0-9 (6 for a PA office), got {raw!r}"
        )
    return code


@dataclass(frozen=True)
class CustomerIdentity:
    vat: VatNumber
    name: str
    pec: str
    sdi_code: str | None


def check_customer(vat: str, name: str, pec: str, sdi_code: str | None) -> CustomerIdentity:
    """Validate a new customer's data; every wrong field is reported at once."""
    problems = ProblemCollector()
    parsed: VatNumber | None = None
    try:
        parsed = parse_vat_number(vat)
    except InvalidInput as err:
        problems.problems.extend(err.problems)
    clean_name = (name or "").strip()
    if not clean_name:
        problems.add("name", "the company name (denominazione) is required")
    elif len(clean_name) > 80:
        problems.add("name", "the company name may be at most 80 characters (FatturaPA Denominazione)")
    clean_pec = ""
    try:
        clean_pec = check_email(pec, "pec")
    except InvalidInput as err:
        problems.problems.extend(err.problems)
    code: str | None = None
    if parsed is not None and parsed.country == "PL":
        if sdi_code:
            problems.add("sdi_code", "a Polish customer (KSeF) has no SDI recipient code")
    elif parsed is not None:
        try:
            code = check_sdi_code(sdi_code or SDI_CODE_BY_PEC)
        except InvalidInput as err:
            problems.problems.extend(err.problems)
    problems.raise_if_any()
    assert parsed is not None
    return CustomerIdentity(parsed, clean_name, clean_pec, code)
