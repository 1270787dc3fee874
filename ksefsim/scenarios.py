# ruff: noqa: E501
"""The local KSeF's scenario rules: what an outcome other than success is triggered by.

| what | how |
|---|---|
| an invoice rejected with a code | its number (P_2) starts `ODRZUC-<code>-` (410 … 550); or the real checks fail |
| an enrollment refused / in error | config `{"enrollments": ["refuse", "error"]}` (one per coming request), or the real rules (the key certified for another subject, the limit reached) |
| a CSR refused at once | a subject other than enrollments/data says, a key or signature KSeF does not take (21405, 25010, 25011) |
| UPO late | `upo_delay` seconds after the session closed (the session stays 170 meanwhile) |
| slow processing | `auth_delay`, `enrollment_delay`, `invoice_delay` seconds in status 100/150 |
| 429 storm | `{"storm": {"count": N, "retry_after": S}}`: the next N requests answer 429, Retry-After S |
| service down | `{"down": true}`: every request answers 503 |
| limits | limity-api.md's times `limits_multiplier` (10, as on the test environment; 0: none) |
| an invoice numbered late | `hwm_lag` seconds between the HWM and now; `POST /control/invoices` with `late` (< `hwm_lag`) seconds: its PermanentStorage date that far back, shown only from now on |
| a truncated metadata query | `metadata_limit` records per set of filters (10,000 in KSeF), then `isTruncated` |
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# InvoiceStatusInfo codes (open-api.json SessionInvoiceStatusResponse.status).
INVOICE_CODES = {
    200: "Sukces",
    405: "Przetwarzanie anulowane z powodu błędu sesji",
    410: "Nieprawidłowy zakres uprawnień",
    415: "Brak możliwości wysyłania faktury z załącznikiem",
    430: "Błąd weryfikacji pliku faktury",
    435: "Błąd odszyfrowania pliku",
    440: "Duplikat faktury",
    450: "Błąd weryfikacji semantyki dokumentu faktury",
    500: "Nieznany błąd (500)",
    550: "Operacja została anulowana przez system",
}
_FORCED = re.compile(r"^ODRZUC-(\d{3})-")


def forced_invoice_code(invoice_number: str) -> int | None:
    """The code an invoice numbered `ODRZUC-<code>-…` is rejected with (a scenario), else None."""
    m = _FORCED.match(invoice_number or "")
    if m is None or int(m.group(1)) not in INVOICE_CODES or m.group(1) == "200":
        return None
    return int(m.group(1))


@dataclass
class SimConfig:
    auth_delay: float = 0.0  # seconds an authentication stays 100 (in progress)
    enrollment_delay: float = 0.0  # seconds an enrollment stays 100 (przyjęty do realizacji)
    invoice_delay: float = 0.0  # seconds an invoice stays 150 (trwa przetwarzanie)
    upo_delay: float = 0.0  # seconds after closing before the session's UPO (170 meanwhile)
    access_ttl: float = 15 * 60.0  # an access token's life
    refresh_ttl: float = 7 * 24 * 3600.0
    enrollments: list[str] = field(default_factory=list)  # outcomes of the coming enrollments: refuse | error
    storm: dict[str, float] = field(default_factory=dict)  # {"count": N, "retry_after": S}
    down: bool = False
    limits_multiplier: float = 10.0
    hwm_lag: float = 0.0  # seconds the PermanentStorage high-water mark stays behind now (hwm.md)
    metadata_limit: int = 10_000  # records per set of metadata filters before isTruncated
