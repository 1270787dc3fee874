"""The change feed (#15): every change to a customer's invoices (states, notifications, files), certificates,
contract and profile, as ordered entries a sync client pages through with a cursor.

Entries are written by an `after_flush` hook on every Session, on the same connection and so in the same
transaction as the change itself (an outbox): a change and its entry commit together or not at all. A
deletion writes a tombstone (`op = "delete"`). Each entry carries the row as it was after that change
(`data`), never file contents nor secrets; a file's bytes are downloaded by id and checked against the
SHA-256 its entry names.

Why a reader never skips an entry (README "Change feed"):
- PostgreSQL: each entry stores its transaction id (`pg_current_xact_id()`, 64-bit, never wraps) and a
  reader returns only entries whose xid is below the xmin of its own snapshot, ordered by (xid, seq). Every
  transaction below xmin has finished; every later transaction gets a larger xid. So a transaction that
  commits late holds the watermark back instead of being passed: the cursor (xid, seq) never moves past a
  row that could still appear. (A sequence or a timestamp is taken before commit, and transactions commit
  out of order: a reader would pass id 4 while id 3 is uncommitted and never see 3.)
- SQLite: one writer holds the database lock from its first write to its commit, so AUTOINCREMENT ids are
  handed out in commit order; the cursor is the id alone.
A cursor naming an xid the database has not reached yet (a restore into a new cluster resets xids) or one
older than the retention horizon is refused (`CursorExpired`, HTTP 410): the client resyncs from a snapshot.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    delete,
    event,
    func,
    insert,
    select,
    text,
    tuple_,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, Timestamp, as_utc, utcnow

MAX_SEQ = 2**63 - 1
PUT, DELETE = "put", "delete"
KINDS = ("profile", "invoice", "notification", "file", "certificate", "contract")


class FeedEntry(Base):
    __tablename__ = "feed_entries"
    __table_args__ = (Index("ix_feed_entries_tenant_position", "tenant_id", "xid", "seq"),
                      Index("ix_feed_entries_created_at", "created_at"),
                      {"sqlite_autoincrement": True})

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=True)
    xid: Mapped[int | None] = mapped_column(BigInteger)  # PostgreSQL: the writing transaction; SQLite: None
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # KINDS
    key: Mapped[str] = mapped_column(String(120))
    op: Mapped[str] = mapped_column(String(6))  # put | delete
    data: Mapped[str | None] = mapped_column(Text)  # JSON of the row after the change; None for a tombstone
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)


class FeedHorizon(Base):
    """Per customer, the newest position pruned away: a cursor at or before it has lost entries (410)."""

    __tablename__ = "feed_horizons"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    xid: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(BigInteger)
    pruned_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)


class CursorExpired(Exception):
    """The cursor cannot be continued: resync from the snapshot."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class BadCursor(ValueError):
    pass


# --- what each tracked table exports -------------------------------------------------------------------

# Columns never exported: file bytes (downloaded by id), acceptance nonces, foreign keys internal to us.
_HIDDEN = {"content", "accepted_nonce", "tenant_id", "id"}


def _value(v: Any) -> Any:
    if isinstance(v, datetime):
        return as_utc(v).isoformat()
    if isinstance(v, date):
        return v.isoformat()
    return v


def row_data(obj: Any) -> dict[str, Any]:
    """The exported columns of a tracked row (the entry's `data`, and the snapshot's rows)."""
    out = {c.key: _value(getattr(obj, c.key)) for c in obj.__table__.columns if c.key not in _HIDDEN}
    if type(obj).__name__ in ("StoredFile", "SdiNotification"):
        out["id"] = obj.id  # a file and a notification are known by their id
    return out


def _tracked() -> dict[type, tuple[str, Any, Any]]:
    """Model class → (kind, key of a row, tenant id of a row: a callable or None to look it up)."""
    from models.certificates import Certificate
    from models.contracts import ContractOrder
    from models.files import StoredFile
    from models.invoices import Invoice, SdiNotification
    from models.tenant import Tenant

    return {
        Tenant: ("profile", lambda o: o.vat_number, lambda o: o.id),
        Invoice: ("invoice", lambda o: o.id, lambda o: o.tenant_id),
        SdiNotification: ("notification", lambda o: str(o.id), None),  # its invoice's customer
        StoredFile: ("file", lambda o: str(o.id), lambda o: o.tenant_id),
        Certificate: ("certificate", lambda o: o.operation_id, lambda o: o.tenant_id),
        ContractOrder: ("contract", lambda o: o.order_id, lambda o: o.tenant_id),
    }


_TRACKED: dict[type, tuple[str, Any, Any]] = {}


def _spec(obj: Any) -> tuple[str, Any, Any] | None:
    if not _TRACKED:
        _TRACKED.update(_tracked())
    return _TRACKED.get(type(obj))


def _notification_tenant(conn: Connection, invoice_id: str | None) -> int | None:
    if invoice_id is None:
        return None
    return conn.execute(text("SELECT tenant_id FROM invoices WHERE id = :i"), {"i": invoice_id}).scalar()


def _xid_expr(conn: Connection) -> Any:
    return text("pg_current_xact_id()::text::bigint") if conn.dialect.name == "postgresql" else None


def append(conn: Connection, entries: Iterable[tuple[int, str, str, str, dict[str, Any] | None]]) -> None:
    """Write entries (tenant id, kind, key, op, data) on `conn`: inside the caller's transaction."""
    rows = [{"tenant_id": t, "kind": k, "key": key, "op": op,
             "data": None if data is None else json.dumps(data, sort_keys=True, default=str),
             "created_at": utcnow()} for t, k, key, op, data in entries]
    if not rows:
        return
    stmt = insert(FeedEntry)
    xid = _xid_expr(conn)
    if xid is not None:
        stmt = stmt.values(xid=xid)
    conn.execute(stmt, rows)


def _after_flush(session: Session, _ctx: Any) -> None:
    entries: list[tuple[int, str, str, str, dict[str, Any] | None]] = []
    conn = session.connection()
    changed = [(o, PUT) for o in session.new] + [(o, PUT) for o in session.dirty
                                                   if session.is_modified(o, include_collections=False)]
    for obj, op in changed + [(o, DELETE) for o in session.deleted]:
        spec = _spec(obj)
        if spec is None:
            continue
        kind, key_of, tenant_of = spec
        tenant = tenant_of(obj) if tenant_of else _notification_tenant(conn, obj.invoice_id)
        if tenant is None:
            continue  # a notification about no invoice of ours: nobody's feed
        entries.append((tenant, kind, key_of(obj), op, row_data(obj) if op == PUT else None))
    append(conn, entries)


event.listen(Session, "after_flush", _after_flush)


def tombstones_for_files(session: Session, owner_kind: str, owner_id: str) -> None:
    """Before a bulk DELETE of stored files (which bypasses the flush): their tombstones."""
    from models.files import StoredFile

    rows = session.execute(select(StoredFile.id, StoredFile.tenant_id).where(
        StoredFile.owner_kind == owner_kind, StoredFile.owner_id == owner_id)).all()
    append(session.connection(), [(t, "file", str(i), DELETE, None) for i, t in rows])


# --- cursors ----------------------------------------------------------------------------------------------

@dataclass(frozen=True, order=True)
class Cursor:
    """A position: every entry at or before (xid, seq) has been returned. SQLite's xid is always 0."""

    xid: int
    seq: int

    def encode(self) -> str:
        return f"{self.xid}.{self.seq}"

    @classmethod
    def decode(cls, value: str | None) -> Cursor:
        if not value:
            return START
        xid, sep, seq = value.partition(".")
        if not sep or not xid.isdigit() or not seq.isdigit():
            raise BadCursor(f"cursor {value[:40]!r} is not one this feed handed out (expected XID.SEQ)")
        return cls(int(xid), int(seq))


START = Cursor(0, 0)


def _watermark(session: Session) -> tuple[int, int] | None:
    """PostgreSQL: (xmin, xmax) of this statement's snapshot; None on SQLite (single writer)."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    row = session.execute(text("SELECT pg_snapshot_xmin(s)::text::bigint, pg_snapshot_xmax(s)::text::bigint "
                               "FROM pg_current_snapshot() AS s")).one()
    return int(row[0]), int(row[1])


@dataclass(frozen=True)
class Entry:
    cursor: str
    kind: str
    key: str
    op: str
    data: dict[str, Any] | None
    at: str

    def to_json(self) -> dict[str, Any]:
        return {"cursor": self.cursor, "kind": self.kind, "key": self.key, "op": self.op, "data": self.data,
                "at": self.at}


@dataclass(frozen=True)
class Page:
    entries: list[Entry]
    cursor: str  # where the next page starts (the last entry's, or the one given when empty)
    more: bool  # a full page: more may follow at once
    behind: int  # entries after this page (the client's lag, in changes), counted up to BEHIND_CAP
    behind_capped: bool = False  # more than BEHIND_CAP are left: `behind` says "at least"

    def to_json(self) -> dict[str, Any]:
        return {"entries": [e.to_json() for e in self.entries], "cursor": self.cursor, "more": self.more,
                "behind": self.behind, "behind_capped": self.behind_capped}


# `behind` is counted up to here: past it the count says "more than" and costs no more, so a page costs the
# same whatever the client's lag (bench/sync.py measured an uncapped count at 83 ms for a client 1M behind).
BEHIND_CAP = 10_000


def _check_cursor(session: Session, tenant_id: int, cur: Cursor, mark: tuple[int, int] | None) -> None:
    if mark is not None and cur.xid >= mark[1]:
        raise CursorExpired(f"cursor {cur.encode()} names transaction {cur.xid}, which this database has not "
                            "reached (restored elsewhere?)")
    horizon = session.get(FeedHorizon, tenant_id)
    if horizon is not None and cur <= Cursor(horizon.xid, horizon.seq):
        raise CursorExpired(f"cursor {cur.encode()} is older than the feed's retention (entries up to "
                            f"{Cursor(horizon.xid, horizon.seq).encode()} were pruned at "
                            f"{as_utc(horizon.pruned_at).isoformat()})")


def read_page(session: Session, tenant_id: int, after: str | None, limit: int) -> Page:
    """The entries after `after`, at most `limit`, that no still-running transaction can precede."""
    cur = Cursor.decode(after)
    mark = _watermark(session)
    _check_cursor(session, tenant_id, cur, mark)
    # PostgreSQL: every entry has its xid, and the bare column lets the (tenant_id, xid, seq) index answer
    # both the page and the count after it (a coalesce() made each a scan of the customer's whole feed, a
    # page at 100k entries 4x slower than at 10k: bench/sync.py). SQLite: xid is always NULL, read as 0.
    xid_col = FeedEntry.xid if mark is not None else func.coalesce(FeedEntry.xid, 0)
    cond = [FeedEntry.tenant_id == tenant_id, tuple_(xid_col, FeedEntry.seq) > tuple_(cur.xid, cur.seq)]
    if mark is not None:
        cond.append(FeedEntry.xid < mark[0])
    rows = session.scalars(select(FeedEntry).where(*cond).order_by(xid_col, FeedEntry.seq).limit(limit)).all()
    entries = [Entry(Cursor(r.xid or 0, r.seq).encode(), r.kind, r.key, r.op,
                     None if r.data is None else json.loads(r.data), as_utc(r.created_at).isoformat())
               for r in rows]
    last = entries[-1].cursor if entries else cur.encode()
    end = Cursor.decode(last)
    left = select(FeedEntry.seq).where(
        FeedEntry.tenant_id == tenant_id, tuple_(xid_col, FeedEntry.seq) > tuple_(end.xid, end.seq)
    ).limit(BEHIND_CAP + 1).subquery()
    behind = int(session.scalar(select(func.count()).select_from(left)) or 0)
    return Page(entries, last, len(entries) == limit, min(behind, BEHIND_CAP), behind > BEHIND_CAP)


def snapshot(session: Session, tenant_id: int) -> dict[str, Any]:
    """Every current row of the customer's tracked tables, and the cursor the feed continues from.

    On PostgreSQL the caller runs it in one REPEATABLE READ transaction: the rows and the watermark are of
    the same snapshot. Every entry below its xmin is reflected in the rows; entries from xmin on are replayed
    after it (each carries the whole row, so replaying one already reflected changes nothing in the end).
    """
    mark = _watermark(session)
    if mark is None:
        seq = session.scalar(select(func.max(FeedEntry.seq)).where(FeedEntry.tenant_id == tenant_id)) or 0
        cursor = Cursor(0, seq)
    else:
        cursor = Cursor(mark[0] - 1, MAX_SEQ)
    rows: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
    for model, (kind, key_of, _tenant_of) in (_TRACKED or _tracked()).items():
        if kind == "notification":
            from models.invoices import Invoice, SdiNotification
            q = select(SdiNotification).join(Invoice, Invoice.id == SdiNotification.invoice_id).where(
                Invoice.tenant_id == tenant_id)
        elif kind == "profile":
            q = select(model).where(model.id == tenant_id)  # type: ignore[attr-defined]
        else:
            q = select(model).where(model.tenant_id == tenant_id)  # type: ignore[attr-defined]
        if kind == "file":
            from models.files import StoredFile
            q = select(*[c for c in StoredFile.__table__.columns if c.key != "content"]).where(
                StoredFile.tenant_id == tenant_id)
            for r in session.execute(q).mappings():
                rows[kind].append({str(k): _value(v) for k, v in r.items() if k not in _HIDDEN - {"id"}}
                                  | {"key": str(r["id"])})
            continue
        for obj in session.scalars(q):
            rows[kind].append(row_data(obj) | {"key": key_of(obj)})
    return {"cursor": cursor.encode(), "rows": rows}


def prune(session: Session, before: datetime) -> int:
    """Delete entries older than `before` (the retention), raising each customer's horizon; their count.

    On PostgreSQL only entries below this snapshot's watermark go: a horizon above a transaction still
    running would let that transaction's entries commit behind it (a client past the horizon would never
    see them), and a snapshot's cursor (its xmin - 1) would fall at or before the horizon, so a client
    resyncing while that transaction runs would be sent back to the snapshot again and again."""
    xid_col = func.coalesce(FeedEntry.xid, 0)
    done = 0
    mark = _watermark(session)
    old = [FeedEntry.created_at < before] + ([FeedEntry.xid < mark[0]] if mark is not None else [])
    tenants = list(session.scalars(select(FeedEntry.tenant_id).where(*old).distinct()))
    for tenant_id in tenants:
        last = session.execute(select(xid_col, FeedEntry.seq).where(FeedEntry.tenant_id == tenant_id, *old)
            .order_by(xid_col.desc(), FeedEntry.seq.desc()).limit(1)).one()
        horizon = session.get(FeedHorizon, tenant_id)
        top = Cursor(int(last[0]), int(last[1]))
        if horizon is None:
            session.add(FeedHorizon(tenant_id=tenant_id, xid=top.xid, seq=top.seq, pruned_at=utcnow()))
        elif Cursor(horizon.xid, horizon.seq) < top:
            horizon.xid, horizon.seq, horizon.pruned_at = top.xid, top.seq, utcnow()
        result = session.execute(delete(FeedEntry).where(
            FeedEntry.tenant_id == tenant_id,
            tuple_(xid_col, FeedEntry.seq) <= tuple_(top.xid, top.seq)))
        done += getattr(result, "rowcount", 0) or 0
    return done
