"""Apply a customer's change feed to the local copy: page by page, each page and the cursor after it in one
local transaction, so a sync killed anywhere resumes from the last committed page with nothing lost or
applied twice (applying an entry is an upsert or a delete of the whole row: idempotent anyway).

Documents are downloaded while their page is applied and checked against the SHA-256 their entry names. A
file the server no longer has (404) was deleted after its entry was written: its tombstone follows later in
the feed, so nothing is stored for it now. A cursor the server refuses with 410 (older than the retention)
is replaced by a resync: the snapshot's rows replace the local tables in one transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
from sqlalchemy import Connection, Engine, delete, insert, select, update

from sync.schema import TABLES, columns_of, metadata, sync_state


class SyncError(Exception):
    pass


@dataclass
class Outcome:
    applied: int = 0  # entries applied
    pages: int = 0
    files: int = 0  # documents downloaded
    resynced: bool = False
    behind: int = 0  # what the server still had after the last page (0: caught up)
    cursor: str | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat()


def prepare(engine: Engine) -> None:
    """Create the local schema if it is not there (idempotent)."""
    metadata.create_all(engine)


class FeedSource(Protocol):
    """What a sync reads: `Feed` over HTTP on a customer's server; inside our stack, the worker reads our
    database directly (activities/customer_sync.py)."""

    vat: str

    def page(self, after: str | None, limit: int) -> dict[str, Any] | None: ...

    def snapshot(self) -> dict[str, Any]: ...

    def file(self, file_id: str, sha256: str) -> bytes | None: ...


class Feed:
    """The portal's feed over HTTP, for one customer (any httpx.Client: the tests pass the app's own)."""

    def __init__(self, http: httpx.Client, vat: str):
        self.http, self.vat = http, vat

    def _get(self, path: str, **params: Any) -> httpx.Response:
        r = self.http.get(f"/customers/{self.vat}{path}", params={k: v for k, v in params.items() if v is not None})
        return r

    def page(self, after: str | None, limit: int) -> dict[str, Any] | None:
        """A page, or None when the cursor expired (410: resync)."""
        r = self._get("/feed", after=after, limit=limit)
        if r.status_code == 410:
            return None
        if r.status_code != 200:
            raise SyncError(f"feed of {self.vat}: HTTP {r.status_code}: {r.text[:300]}")
        page: dict[str, Any] = r.json()
        return page

    def snapshot(self) -> dict[str, Any]:
        r = self._get("/snapshot")
        if r.status_code != 200:
            raise SyncError(f"snapshot of {self.vat}: HTTP {r.status_code}: {r.text[:300]}")
        snap: dict[str, Any] = r.json()
        return snap

    def file(self, file_id: str, sha256: str) -> bytes | None:
        """The document's bytes, checked; None when the server no longer has it (a tombstone follows)."""
        r = self._get(f"/files/{file_id}")
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise SyncError(f"file {file_id} of {self.vat}: HTTP {r.status_code}: {r.text[:300]}")
        digest = hashlib.sha256(r.content).hexdigest()
        if digest != sha256:
            raise SyncError(f"file {file_id} of {self.vat}: SHA-256 {digest} of what was downloaded differs "
                            f"from {sha256} its entry names; nothing of this page was applied")
        return r.content


def _apply(conn: Connection, feed: FeedSource, changes: list[tuple[str, str, str, dict[str, Any] | None]]) -> int:
    """Apply (kind, key, op, data) changes in their order; the documents stored.

    Only the last change of each key counts (each entry carries the whole row, or is a tombstone), so a page
    is applied per table as one DELETE of the keys it touches and one multi-row INSERT of the rows that
    remain: two statements a table instead of two a row. A kind this client does not keep (a newer server)
    is ignored, not an error. A file the server no longer has is not stored (its tombstone follows later).
    """
    final: dict[str, dict[str, dict[str, Any] | None]] = {}
    for kind, key, op, data in changes:
        if kind in TABLES:
            final.setdefault(kind, {})[key] = None if op == "delete" else data
    files = 0
    for kind, rows in final.items():
        table = TABLES[kind]
        keys = list(rows)
        for i in range(0, len(keys), _CHUNK):
            conn.execute(delete(table).where(table.c.key.in_(keys[i:i + _CHUNK])))
        values: list[dict[str, Any]] = []
        for key, data in rows.items():
            if data is None:
                continue
            value: dict[str, Any] = {"key": key, "data": json.dumps(data, sort_keys=True), **columns_of(kind, data)}
            if kind == "file":
                content = feed.file(key, str(data["sha256"]))
                if content is None:
                    continue
                value["content"] = content
                files += 1
            values.append(value)
        for i in range(0, len(values), _CHUNK):
            conn.execute(insert(table), values[i:i + _CHUNK])
    return files


_CHUNK = 500  # keys per DELETE ... IN, rows per INSERT


def _save_cursor(conn: Connection, vat: str, cursor: str, behind: int, pending_at: str | None,
                 resynced: bool = False) -> None:
    now = _now()
    values: dict[str, Any] = {"cursor": cursor, "synced_at": now, "behind": behind, "oldest_pending_at": pending_at}
    row = conn.execute(select(sync_state.c.resyncs).where(sync_state.c.vat == vat)).first()
    if resynced:
        values["resyncs"] = (row[0] or 0) + 1 if row else 1
    if row is None:
        conn.execute(insert(sync_state).values(vat=vat, **values))
    else:
        conn.execute(update(sync_state).where(sync_state.c.vat == vat).values(**values))


def cursor_of(engine: Engine, vat: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(sync_state.c.cursor).where(sync_state.c.vat == vat)).scalar()


def resync(engine: Engine, feed: FeedSource) -> tuple[str, int]:
    """Replace the local copy with the snapshot, in one transaction; (cursor, files downloaded)."""
    snap = feed.snapshot()
    with engine.begin() as conn:
        for table in TABLES.values():
            conn.execute(delete(table))
        files = _apply(conn, feed, [(kind, str(row["key"]), "put", {k: v for k, v in row.items() if k != "key"})
                                    for kind, rows in snap["rows"].items() for row in rows])
        _save_cursor(conn, feed.vat, snap["cursor"], 0, None, resynced=True)
    return snap["cursor"], files


ProgressHook = Callable[[int, int], None]  # (applied so far, total known so far)


def sync_once(engine: Engine, feed: FeedSource, limit: int = 500, on_page: ProgressHook | None = None,
              max_pages: int | None = None) -> Outcome:
    """Catch up: apply pages until the server has nothing more (or `max_pages`)."""
    prepare(engine)
    out = Outcome()
    try:
        cursor = cursor_of(engine, feed.vat)
        if cursor is None:
            cursor, out.files = resync(engine, feed)
            out.resynced = True
        while max_pages is None or out.pages < max_pages:
            page = feed.page(cursor, limit)
            if page is None:
                cursor, files = resync(engine, feed)
                out.resynced, out.files = True, out.files + files
                continue
            entries = page["entries"]
            pending_at = None
            with engine.begin() as conn:
                out.files += _apply(conn, feed, [(e["kind"], e["key"], e["op"], e["data"]) for e in entries])
                _save_cursor(conn, feed.vat, page["cursor"], page["behind"], pending_at)
            cursor = page["cursor"]
            out.applied += len(entries)
            out.pages += 1
            out.behind = page["behind"]
            if on_page:
                on_page(out.applied, out.applied + out.behind)
            if not page["more"]:
                break
        out.cursor = cursor
    except Exception as err:
        record_error(engine, feed.vat, f"{type(err).__name__}: {err}")
        raise
    with engine.begin() as conn:
        conn.execute(update(sync_state).where(sync_state.c.vat == feed.vat).values(
            last_success_at=_now(), last_error=None))
    return out


def record_error(engine: Engine, vat: str, message: str) -> None:
    with engine.begin() as conn:
        if conn.execute(update(sync_state).where(sync_state.c.vat == vat).values(
                last_error=message[:2000], last_error_at=_now())).rowcount == 0:
            conn.execute(insert(sync_state).values(vat=vat, last_error=message[:2000], last_error_at=_now(),
                                                   behind=0, resyncs=0))


@dataclass
class Status:
    vat: str
    cursor: str | None
    behind: int  # changes not yet applied
    minutes_behind: float  # since the oldest change not yet applied was made (0 when caught up)
    last_success_at: str | None
    last_error: str | None
    last_error_at: str | None
    resyncs: int
    live: bool  # asked the server now (else: as of the last sync)
    behind_capped: bool = False  # the server stopped counting: at least `behind` changes are left


def status(engine: Engine, vat: str, feed: FeedSource | None = None) -> Status:
    """The lag: asked of the server when `feed` is given, else what the last sync saw."""
    prepare(engine)
    with engine.connect() as conn:
        row = conn.execute(select(sync_state).where(sync_state.c.vat == vat)).mappings().first()
    state: dict[str, Any] = dict(row) if row else {"cursor": None, "behind": 0, "oldest_pending_at": None,
                                   "last_success_at": None, "last_error": None, "last_error_at": None,
                                   "resyncs": 0}
    behind, pending_at, live, capped = int(state["behind"] or 0), state["oldest_pending_at"], False, False
    if feed is not None and state["cursor"] is not None:
        page = feed.page(state["cursor"], 1)
        if page is not None:
            behind = page["behind"] + len(page["entries"])
            capped = bool(page.get("behind_capped"))  # the server counts up to a cap: "at least"
            pending_at = page["entries"][0]["at"] if page["entries"] else None
            live = True
    minutes = 0.0
    if behind and pending_at:
        minutes = (datetime.now(UTC) - datetime.fromisoformat(pending_at)).total_seconds() / 60
    return Status(vat, state["cursor"], behind, round(minutes, 1), state["last_success_at"], state["last_error"],
                  state["last_error_at"], int(state["resyncs"] or 0), live, capped)
