"""KSeF's request limits (limity/limity-api.md, 2025-11-22): requests per second, minute and hour, counted per
context and IP address in sliding windows, all three at once, per endpoint. An endpoint the page does not name
has the default ("Pozostałe" 10/30/120) with a counter of its own; `/auth/challenge`, public, 60 per second per
IP address. The client keeps under them (`adapters/ksef_budget.py`) and the local KSeF enforces them."""

from __future__ import annotations

Limit = tuple[int, int, int]  # req/s, req/min, req/h

DEFAULT: Limit = (10, 30, 120)
CHALLENGE: Limit = (60, 3600, 216000)  # 60 req/s per IP; no minute or hour figure: the second's, multiplied
LIMITS: dict[tuple[str, str], Limit] = {
    ("POST", "/auth/challenge"): CHALLENGE,
    ("POST", "/invoices/query/metadata"): (8, 16, 20),
    ("POST", "/invoices/exports"): (8, 16, 20),
    ("GET", "/invoices/exports/{referenceNumber}"): (10, 60, 600),
    ("GET", "/invoices/ksef/{ksefNumber}"): (8, 16, 64),
    ("POST", "/sessions/batch"): (10, 20, 60),
    ("POST", "/sessions/batch/{referenceNumber}/close"): (10, 20, 60),
    ("POST", "/sessions/online"): (10, 30, 120),
    ("POST", "/sessions/online/{referenceNumber}/invoices"): (10, 30, 180),
    ("POST", "/sessions/online/{referenceNumber}/close"): (10, 30, 120),
    ("GET", "/sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}"): (30, 120, 1200),
    ("GET", "/sessions"): (5, 10, 60),
    ("GET", "/sessions/{referenceNumber}/invoices"): (10, 20, 200),
    ("GET", "/sessions/{referenceNumber}/invoices/failed"): (10, 20, 200),
}
SESSIONS_OTHER: Limit = (10, 120, 1200)  # "Pozostałe GET /sessions/*"


def limit_of(method: str, path: str) -> Limit:
    """The limit of one endpoint (`path`: the contract's template)."""
    if (method, path) in LIMITS:
        return LIMITS[(method, path)]
    if method == "GET" and path.startswith("/sessions/"):
        return SESSIONS_OTHER
    return DEFAULT
