"""The sync client and the change feed (#15.5), three figures in one run:

- **apply**: entries applied per second by `sync.client.sync_once` into a local SQLite file, against a bare
  bulk insert (the same rows built from the same entries, `executemany` INSERT, one transaction per page of
  the same size) into the same file; the entries are new invoices, as after hours offline. The feed is
  served from memory (a `Feed` with the pages the server would answer), so the ratio is about the client's
  local work, not HTTP. Rounds alternate, medians reported. Goal >= 0.5x.
- **catch-up**: the time to catch up 100,000 changes through the real route (`GET /customers/{vat}/feed`,
  the app in-process over httpx, pages of 1000) from a scratch PostgreSQL database into a fresh SQLite copy.
- **page latency**: `models.feed.read_page` (what the route runs) on PostgreSQL as one customer's feed grows to
  10k, 100k and 1M entries: the first page of a client starting from the beginning (its `behind` counts every
  entry after it), a page in the middle, and the empty page of a caught-up client. Goal: flat, not linear.

The PostgreSQL database is a scratch one made and dropped here (BENCH_PG_ADMIN, default the local trust
server); entries are written as the flush hook writes them (one transaction per 10,000, each with its own
xid) by INSERT ... SELECT generate_series, which is far quicker than building them through the ORM.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

GOAL_APPLY = 0.5
PAGE = 500
VAT = "IT02038490237"
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


def invoice_data(i: int) -> dict[str, Any]:
    """An invoice row as the feed exports it (models.feed.row_data of an Invoice)."""
    return {"direction": "out", "file_name": f"IT02038490237_{i:05X}.xml"[-24:], "transmitter_id": "IT02038490237",
            "sign_mode": "cades", "key_alias": None, "format": "FPR12", "state": "delivered", "sdi_id": 1000 + i,
            "counterparty_name": f"Cliente {i} S.r.l.", "counterparty_vat": "IT01234567890",
            "recipient_code": "0000000", "number": f"{i}/2026", "doc_date": "2026-12-01", "total": "1220.00",
            "currency": "EUR", "documents": 1, "detail": None, "workflow_id": f"invoice-IT02038490237-{i}",
            "created_at": "2026-12-01T10:00:00+00:00", "updated_at": "2026-12-01T10:05:00+00:00",
            "created_by": "user:1", "warnings": "[]"}


def entries(n: int) -> list[dict[str, Any]]:
    """n changes as the feed sends them after hours offline: n invoices, each new."""
    return [{"cursor": f"0.{i + 1}", "kind": "invoice", "key": f"inv-{i}", "op": "put", "data": invoice_data(i),
             "at": "2026-12-01T10:05:00+00:00"} for i in range(n)]


class MemoryFeed:
    """The pages the server would answer for `entries`, from memory (duck-typed sync.client.Feed)."""

    def __init__(self, items: list[dict[str, Any]]):
        self.vat, self.items = VAT, items

    def snapshot(self) -> dict[str, Any]:
        return {"cursor": "0.0", "rows": {}}

    def page(self, after: str | None, limit: int) -> dict[str, Any]:
        start = int((after or "0.0").split(".")[1])
        chunk = self.items[start:start + limit]
        return {"entries": chunk, "cursor": chunk[-1]["cursor"] if chunk else (after or "0.0"),
                "more": len(chunk) == limit, "behind": max(len(self.items) - start - len(chunk), 0)}

    def file(self, file_id: str, sha256: str) -> bytes | None:
        raise AssertionError("no documents in this benchmark")


def _apply_round(path: Path, items: list[dict[str, Any]]) -> tuple[float, float]:
    """(client seconds, bulk insert seconds) into the same SQLite file, tables emptied before each."""
    from sqlalchemy import create_engine, delete, insert

    from sync.client import prepare, sync_once
    from sync.schema import TABLES, columns_of, sync_state

    engine = create_engine(f"sqlite:///{path}")
    prepare(engine)

    def empty() -> None:
        with engine.begin() as conn:
            conn.execute(delete(TABLES["invoice"]))
            conn.execute(delete(sync_state))

    empty()
    began = time.perf_counter()
    out = sync_once(engine, MemoryFeed(items), limit=PAGE)  # type: ignore[arg-type]
    client = time.perf_counter() - began
    assert out.applied == len(items), out
    empty()
    # the floor: the same rows (as the local schema stores them: the typed columns and the JSON) built from
    # the same entries and bulk-inserted, one transaction per page of the same size
    began = time.perf_counter()
    for i in range(0, len(items), PAGE):
        rows = [{"key": e["key"], "data": json.dumps(e["data"], sort_keys=True), **columns_of("invoice", e["data"])}
                for e in items[i:i + PAGE]]
        with engine.begin() as conn:
            conn.execute(insert(TABLES["invoice"]), rows)
    bulk = time.perf_counter() - began
    engine.dispose()
    return client, bulk


def bench_apply(n: int, rounds: int, log: Callable[[str], None]) -> dict[str, Any]:
    items = entries(n)
    clients, bulks = [], []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "copy.db"
        for r in range(rounds):
            c, b = _apply_round(path, items)
            clients.append(c)
            bulks.append(b)
            log(f"   apply round {r + 1}: client {n / c:.0f}/s, bulk insert {n / b:.0f}/s")
    c, b = statistics.median(clients), statistics.median(bulks)
    return {"entries": n, "page": PAGE, "rounds": rounds, "client_per_second": round(n / c),
            "bulk_insert_per_second": round(n / b), "ratio": round(b / c, 3), "goal_ratio": GOAL_APPLY}


@contextmanager
def scratch_pg() -> Iterator[str]:
    from sqlalchemy import create_engine, text

    from core.db import dispose_all, migrate

    name = f"einvoice_bench_sync_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    try:
        migrate(url)
        yield url
    finally:
        dispose_all()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


_GROW = """
INSERT INTO feed_entries (xid, tenant_id, kind, key, op, data, created_at)
SELECT pg_current_xact_id()::text::bigint, :tenant, 'invoice', 'inv-' || g, 'put',
       json_build_object('direction', 'out', 'state', 'delivered', 'number', g || '/2026',
                         'doc_date', '2026-12-01', 'counterparty_name', 'Cliente ' || g || ' S.r.l.',
                         'counterparty_vat', 'IT01234567890', 'total', '1220.00', 'currency', 'EUR',
                         'sdi_id', 1000 + g, 'updated_at', '2026-12-01T10:05:00+00:00')::text, now()
FROM generate_series(:first, :last) AS g
"""


def grow(url: str, tenant_id: int, have: int, want: int, batch: int = 10_000) -> None:
    """Append entries `have`+1..`want` for the customer, one transaction (one xid) per `batch`."""
    from sqlalchemy import text

    from core.db import get_engine

    engine = get_engine(url)
    for first in range(have + 1, want + 1, batch):
        with engine.begin() as conn:
            conn.execute(text(_GROW), {"tenant": tenant_id, "first": first, "last": min(first + batch - 1, want)})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE feed_entries"))


def _tenant(url: str) -> int:
    from core.db import session_scope
    from models.tenant import add_tenant, get_tenant_row

    with session_scope(url) as session:
        add_tenant(session, VAT, "Bench S.p.A.", "bench@pec.example.it", None)
    with session_scope(url) as session:
        return get_tenant_row(session, VAT).id


def _median_ms(fn: Callable[[], Any], times: int = 15) -> float:
    fn()  # warm
    samples = []
    for _ in range(times):
        began = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - began)
    return round(statistics.median(samples) * 1000, 2)


def page_latency(url: str, tenant_id: int, size: int, limit: int = 200) -> dict[str, Any]:
    from sqlalchemy import func, select

    from core.db import session_scope
    from models import feed

    with session_scope(url) as session:
        ordered = select(feed.FeedEntry.xid, feed.FeedEntry.seq).where(feed.FeedEntry.tenant_id == tenant_id) \
            .order_by(feed.FeedEntry.xid, feed.FeedEntry.seq)
        middle = session.execute(ordered.offset(size // 2).limit(1)).one()
        tail = session.execute(ordered.order_by(None).order_by(feed.FeedEntry.xid.desc(), feed.FeedEntry.seq.desc())
                               .limit(1)).one()
        count = session.scalar(select(func.count()).select_from(feed.FeedEntry)
                               .where(feed.FeedEntry.tenant_id == tenant_id))
    assert count is not None and count >= size, (count, size)
    cursors = {"first": None, "middle": f"{middle[0]}.{middle[1]}", "caught_up": f"{tail[0]}.{tail[1]}"}

    def read(after: str | None) -> Callable[[], int]:
        def one() -> int:
            with session_scope(url) as session:
                return len(feed.read_page(session, tenant_id, after, limit).entries)
        return one

    # The watermark is the cluster's: another session's open transaction holds new entries back for a while.
    for _ in range(600):
        if read(cursors["middle"])() == limit:
            break
        time.sleep(0.1)
    else:
        raise RuntimeError("the feed stayed held back for 60 s: a transaction left open on the cluster?")

    return {"entries": size, "limit": limit} | {f"{k}_ms": _median_ms(read(v)) for k, v in cursors.items()}


def catch_up(url: str, tenant_id: int, n: int, log: Callable[[str], None]) -> dict[str, Any]:
    """A copy synced while the feed was empty goes offline; n changes later it catches up through the HTTP
    route (pages of 1000) into its SQLite file."""
    from datetime import timedelta

    from fastapi.testclient import TestClient
    from sqlalchemy import create_engine

    from api.main import create_app
    from core.db import session_scope
    from core.settings import Settings
    from domain.credentials import hash_password, new_token, token_digest
    from models import identity as ident
    from sync.client import Feed, status, sync_once

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(DATA_DIR=tmp, DATABASE_URL=url)
        with session_scope(url) as session:
            user = ident.add_user(session, "bench@sync.example", "bench", "customer",
                                  hash_password("not used here at all"), "bench", vat=VAT)
            token = new_token(settings.secret_key.get_secret_value())
            ident.add_token(session, user, token_digest(token), "bench", timedelta(hours=2))
        local = create_engine(f"sqlite:///{Path(tmp) / 'copy.db'}")
        with TestClient(create_app(settings, run_migrations=False),
                        headers={"Authorization": f"Bearer {token}"}) as http:
            feed_ = Feed(http, VAT)
            assert sync_once(local, feed_).resynced  # the first sync: the snapshot (the profile)
            grow(url, tenant_id, 0, n)
            began = time.perf_counter()
            out = sync_once(local, feed_, limit=1000)
            seconds = time.perf_counter() - began
            behind = status(local, VAT, feed_).behind
        local.dispose()
    log(f"   catch-up: {out.applied} changes in {seconds:.1f}s ({out.pages} pages), {behind} left")
    return {"changes": n, "applied": out.applied, "pages": out.pages, "seconds": round(seconds, 2),
            "per_second": round(out.applied / seconds), "behind_after": behind}


def empty_feed(url: str, tenant_id: int) -> None:
    from sqlalchemy import text

    from core.db import get_engine

    with get_engine(url).begin() as conn:
        conn.execute(text("DELETE FROM feed_entries WHERE tenant_id = :t"), {"t": tenant_id})


def run(quick: bool = False, log: Callable[[str], None] = print) -> dict[str, Any]:
    apply = bench_apply(20_000 if quick else 100_000, 3, log)
    log(f"   apply: {apply}")
    sizes = [10_000, 100_000] if quick else [10_000, 100_000, 1_000_000]
    latency = []
    with scratch_pg() as url:
        tenant_id = _tenant(url)
        catch = catch_up(url, tenant_id, 100_000, log)
        empty_feed(url, tenant_id)
        have = 0
        for size in sizes:
            began = time.perf_counter()
            grow(url, tenant_id, have, size)
            have = size
            latency.append(page_latency(url, tenant_id, size))
            log(f"   page latency {latency[-1]} (grown in {time.perf_counter() - began:.0f}s)")
    first = [row["first_ms"] for row in latency]
    middle = [row["middle_ms"] for row in latency]
    tail = [row["caught_up_ms"] for row in latency]
    growth = {k: round(v[-1] / v[0], 1) for k, v in (("first", first), ("middle", middle), ("caught_up", tail))}
    missed = [] if apply["ratio"] >= GOAL_APPLY else [f"apply ≥ {GOAL_APPLY}×"]
    flat = {k: g <= 3 for k, g in growth.items()}
    missed += [f"flat {k} page" for k, ok in flat.items() if not ok]
    sizes_txt = "/".join(f"{s // 1000}k" if s < 1_000_000 else "1M" for s in sizes)
    return {"apply": apply, "catch_up": catch, "page_latency": latency,
            "latency_growth_smallest_to_largest": growth, "quick": quick,
            "summary": (f"applied {apply['client_per_second']}/s = {apply['ratio']}× a bare bulk insert "
                        f"({apply['bulk_insert_per_second']}/s, SQLite; goal ≥ {GOAL_APPLY}×); 100,000 changes "
                        f"caught up in {catch['seconds']} s over HTTP; feed page at {sizes_txt} entries "
                        f"(PostgreSQL): first {'/'.join(str(x) for x in first)} ms, middle "
                        f"{'/'.join(str(x) for x in middle)} ms, caught-up "
                        f"{'/'.join(str(x) for x in tail)} ms"
                        f"{'; missed: ' + ', '.join(missed) if missed else ''}")}
