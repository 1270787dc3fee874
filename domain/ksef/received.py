"""An invoice downloaded from KSeF, verified before it is stored (#14.4): pure code.

First that the bytes are the ones KSeF numbered: their SHA-256 must be the `invoiceHash` of its metadata, or
the download is corrupt and is fetched again (`CorruptDownload`, never stored). Then what the hub checks of any
received invoice (`domain.ksef.fa3.check_received_fa3`): well-formed and safe (`domain.xmlsafe`: size
bounded, no DOCTYPE, no entity), an FA(3) `Faktura`, valid against the vendored FA(3) schema, KSeF's checks
beyond it and the totals. An invoice KSeF holds is legally received whatever we think of it,
so those findings never refuse it: they are kept as the invoice's warnings, as for an invoice the SDI delivers.
"""

from __future__ import annotations

import base64
import hashlib

from domain.errors import InvalidInput, Problem
from domain.ksef.fa3 import check_received_fa3


class CorruptDownload(ValueError):
    """The bytes downloaded are not those KSeF's metadata names (their hash differs): fetch them again."""


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def verify_received(xml: bytes, invoice_hash: str, ksef_number: str) -> tuple[Problem, ...]:
    """The hub's findings on a downloaded invoice (warnings); `CorruptDownload` when it is not KSeF's."""
    got = sha256_b64(xml)
    if got != invoice_hash:
        raise CorruptDownload(f"invoice {ksef_number}: SHA-256 {got} of the bytes downloaded differs from "
                              f"{invoice_hash} that KSeF's metadata names")
    try:
        summary = check_received_fa3(xml)
    except InvalidInput as err:  # not read as FA(3) at all: kept, with why
        return tuple(Problem(p.field, f"not read as an FA(3) invoice: {p.message}", p.code or "hub:xml")
                     for p in err.problems)
    return summary.warnings
