"""The local copy's schema: what a customer's accounting software reads.

One table per kind of object, each keyed by the feed's `key`, with the columns worth querying and the whole
row as the feed sent it in `data` (JSON); `sync_state` holds the cursor, written in the same transaction as
the changes it covers, and the lag and errors `einvoice sync status` shows.

| table | key | columns |
|---|---|---|
| `profile` | VAT number | name, pec, sdi_code, enabled |
| `invoices` | invoice id (SDI file stem) | direction, state, number, doc_date, counterparty_name, |
|  |  | counterparty_vat, total, currency, sdi_id, updated_at |
| `notifications` | notification id | invoice_id, kind, name, sdi_id |
| `files` | file id | owner_kind, owner_id, role, name, mime_type, size, sha256, |
|  |  | content (the bytes, checked against sha256) |
| `certificates` | operation id | kind, state, serial, expires_at, revoked_at |
| `contracts` | order id | status, amount_cents, accepted_at, closed_at |
| `sync_state` | customer VAT | cursor, synced_at, last_success_at, last_error, last_error_at, behind, |
|  |  | oldest_pending_at, resyncs |
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, LargeBinary, MetaData, String, Table, Text

metadata = MetaData()

# feed kind → (table, typed columns: name → type); every table also has key (PK) and data (JSON text)
KINDS: dict[str, tuple[str, dict[str, type]]] = {
    "profile": ("profile", {"name": String, "pec": String, "sdi_code": String, "enabled": Integer}),
    "invoice": ("invoices", {"direction": String, "state": String, "number": String, "doc_date": String,
                             "counterparty_name": String, "counterparty_vat": String, "total": String,
                             "currency": String, "sdi_id": BigInteger, "updated_at": String}),
    "notification": ("notifications", {"invoice_id": String, "kind": String, "name": String,
                                       "sdi_id": BigInteger}),
    "file": ("files", {"owner_kind": String, "owner_id": String, "role": String, "name": String,
                       "mime_type": String, "size": Integer, "sha256": String}),
    "certificate": ("certificates", {"kind": String, "state": String, "serial": String, "expires_at": String,
                                     "revoked_at": String}),
    "contract": ("contracts", {"status": String, "amount_cents": Integer, "accepted_at": String,
                               "closed_at": String}),
}

TABLES: dict[str, Table] = {}
for _kind, (_name, _cols) in KINDS.items():
    extra = [Column("content", LargeBinary)] if _kind == "file" else []
    TABLES[_kind] = Table(_name, metadata, Column("key", String(120), primary_key=True),
                          *[Column(c, t) for c, t in _cols.items()], *extra, Column("data", Text, nullable=False))

sync_state = Table(
    "sync_state", metadata,
    Column("vat", String(16), primary_key=True),
    Column("cursor", String(60)),  # None: never synced (start from the snapshot)
    Column("synced_at", String(40)),  # when the cursor last moved
    Column("last_success_at", String(40)),
    Column("last_error", Text),
    Column("last_error_at", String(40)),
    Column("behind", Integer, default=0),  # changes the server still had after the last page
    Column("oldest_pending_at", String(40)),  # when the oldest change not yet applied was made
    Column("resyncs", Integer, default=0),
)


def columns_of(kind: str, data: dict[str, object]) -> dict[str, object]:
    """The typed columns of a row, from the feed's data."""
    out: dict[str, object] = {}
    for col in KINDS[kind][1]:
        value = data.get(col)
        out[col] = int(value) if isinstance(value, bool) else value
    return out
