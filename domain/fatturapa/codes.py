"""Italian tax identifiers as the SDI checks them: partita IVA (11 digits) and codice fiscale (16 characters
for a person, or 11 digits for a company, where it equals the partita IVA algorithm)."""

from __future__ import annotations

import re

from domain.identifiers import partita_iva_check_digit

_PIVA = re.compile(r"^\d{11}$")
# 16-character codice fiscale; "omocodia" replaces digits with LMNPQRSTUV in the numeric positions.
_CF16 = re.compile(r"^[A-Z]{6}[0-9LMNPQRSTUV]{2}[A-EHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]$")
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


def is_partita_iva(value: str) -> bool:
    return bool(_PIVA.match(value)) and int(value[10]) == partita_iva_check_digit(value[:10])


def _even(ch: str) -> int:
    return int(ch) if ch.isdigit() else ord(ch) - ord("A")


def is_codice_fiscale(value: str) -> bool:
    """A personal (16 characters, with its check letter) or a numeric (11 digits) codice fiscale."""
    value = value.upper()
    if _PIVA.match(value):
        return is_partita_iva(value)
    if not _CF16.match(value):
        return False
    total = sum(_ODD[c] if i % 2 == 0 else _even(c) for i, c in enumerate(value[:15]))
    return chr(ord("A") + total % 26) == value[15]


def is_valid_id_codice(country: str, code: str) -> bool:
    """An IdFiscaleIVA: for Italy a partita IVA (or, for a transmitter, also a codice fiscale); other
    countries' numbers are only checked for shape by the schema."""
    if country != "IT":
        return True
    return is_partita_iva(code)
