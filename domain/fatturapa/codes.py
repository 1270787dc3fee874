"""Italian tax identifiers as the SDI checks them: partita IVA (11 digits) and codice fiscale (16 characters
for a person, or 11 digits for a company, where it equals the partita IVA algorithm).

ASCII only: digits are 0-9 (not `\\d`, which takes other scripts' digits) and a codice fiscale is checked
before `upper()` could turn a non-ASCII letter into an ASCII one."""

from __future__ import annotations

import re

_PIVA = re.compile(r"[0-9]{11}")
# 16-character codice fiscale; "omocodia" replaces digits with LMNPQRSTUV in the numeric positions.
_CF16 = re.compile(r"[A-Z]{6}[0-9LMNPQRSTUV]{2}[A-EHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]")
_ODD = {
    **dict(zip("0123456789", (1, 0, 5, 7, 9, 13, 15, 17, 19, 21), strict=True)),
    **dict(
        zip(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            (1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23),
            strict=True,
        )
    ),
}
# Characters in even positions count as their value: 0-9 for a digit, 0-25 for a letter.
_EVEN = {
    **{str(d): d for d in range(10)},
    **{letter: n for n, letter in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ")},
}
# The partita IVA check digit (`domain.identifiers.partita_iva_check_digit`, a Luhn variant) worked out on the
# ASCII bytes, as it runs for every invoice: a digit in an odd position counts as it is, one in an even position
# doubled, less 9 when that passes 9 (the translation below); each byte is ord("0") more than its digit.
_DOUBLED = bytes.maketrans(b"0123456789", b"0246813579")
_ZERO = ord("0")


def is_partita_iva(value: str) -> bool:
    if not _PIVA.fullmatch(value):
        return False
    digits = value.encode("ascii")
    total = sum(digits[0:10:2]) + sum(digits[1:10:2].translate(_DOUBLED)) - 10 * _ZERO
    return (10 - total % 10) % 10 == digits[10] - _ZERO


def is_codice_fiscale(value: str) -> bool:
    """A personal (16 characters, with its check letter) or a numeric (11 digits) codice fiscale."""
    if not value.isascii():
        return False
    value = value.upper()
    if _PIVA.fullmatch(value):
        return is_partita_iva(value)
    if not _CF16.fullmatch(value):
        return False
    total = sum(map(_ODD.__getitem__, value[0:15:2])) + sum(map(_EVEN.__getitem__, value[1:15:2]))
    return chr(ord("A") + total % 26) == value[15]


def is_valid_id_codice(country: str, code: str) -> bool:
    """An IdFiscaleIVA: for Italy a partita IVA (or, for a transmitter, also a codice fiscale); other
    countries' numbers are only checked for shape by the schema."""
    if country != "IT":
        return True
    return is_partita_iva(code)
