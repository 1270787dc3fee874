"""SDI file names (nome file): `IT<transmitter id>_<progressive>.xml` or `.xml.p7m`.

The name is the country code of the transmitter (trasmittente), its tax id (a partita IVA or codice fiscale),
an underscore, and a 5-character alphanumeric progressive (progressivo univoco) that must never repeat for
the same transmitter. A name that breaks these rules is refused by the SDI with code 00001; a repeated name
with 00002 (checked by the caller, who knows which names were used).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from domain.errors import InvalidInput

PROGRESSIVE_LENGTH = 5
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_PROGRESSIVE = re.compile(r"^[A-Za-z0-9]{5}$")
_TRANSMITTER = re.compile(r"^([A-Z]{2})([A-Za-z0-9]{1,28})$")
_FILE_NAME = re.compile(r"^([A-Z]{2})([A-Za-z0-9]{1,28})_([A-Za-z0-9]{5})(\.xml\.p7m|\.xml|\.zip)$", re.IGNORECASE)
EXTENSIONS = {None: ".xml", "none": ".xml", "cades": ".xml.p7m", "xades": ".xml"}


class SdiFileName(NamedTuple):
    country: str  # "IT"
    id: str  # the transmitter's tax id (IdCodice)
    progressive: str  # 5 alphanumeric characters
    ext: str  # ".xml", ".xml.p7m" or ".zip" (lower case)

    def __str__(self) -> str:
        return f"{self.country}{self.id}_{self.progressive}{self.ext}"


def sdi_file_name(transmitter_id: str, progressive: str, signature: str | None) -> str:
    """The file name for an invoice: `transmitter_id` is "IT" + the tax id; `signature` is "cades"
    (the file is a .xml.p7m), "xades" or None (a plain .xml)."""
    m = _TRANSMITTER.match(transmitter_id or "")
    if not m:
        raise InvalidInput.one("transmitter_id", f"must be a country code + tax id, got {transmitter_id!r}", "00001")
    if not _PROGRESSIVE.match(progressive or ""):
        raise InvalidInput.one("progressive", f"must be 5 letters/digits, got {progressive!r}", "00001")
    if signature not in EXTENSIONS:
        raise InvalidInput.one("signature", f"must be cades, xades or none, got {signature!r}")
    return f"{m.group(1)}{m.group(2).upper()}_{progressive.upper()}{EXTENSIONS[signature]}"


def parse_sdi_file_name(name: str) -> SdiFileName:
    """Split a received file name into its parts; refuse a name that breaks the SDI rules (00001)."""
    m = _FILE_NAME.match(name or "")
    if not m:
        raise InvalidInput.one(
            "file_name",
            f"{name!r} is not an SDI file name (IT<tax id>_<5 letters/digits>.xml, .xml.p7m or .zip)",
            "00001",
        )
    return SdiFileName(m.group(1), m.group(2).upper(), m.group(3).upper(), m.group(4).lower())


def next_progressive(last: str | None) -> str:
    """The progressive after `last` (None: the first one), counting in base 36 with digits then letters:
    00001, 00002, … 00009, 0000A, … 0000Z, 00010, … ZZZZZ (60,466,175 files per transmitter)."""
    if last is None:
        return "0" * (PROGRESSIVE_LENGTH - 1) + "1"
    if not _PROGRESSIVE.match(last):
        raise InvalidInput.one("progressive", f"must be 5 letters/digits, got {last!r}")
    value = int(last.upper(), 36) + 1
    if value >= 36**PROGRESSIVE_LENGTH:
        raise InvalidInput.one("progressive", "the progressive of this transmitter is exhausted (ZZZZZ)")
    digits = []
    for _ in range(PROGRESSIVE_LENGTH):
        value, rest = divmod(value, 36)
        digits.append(_ALPHABET[rest])
    return "".join(reversed(digits))
