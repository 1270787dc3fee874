"""The change feed (#15): entries commit with their change, a reader never skips nor repeats one while
transactions commit out of order (PostgreSQL), expired cursors are 410, and only the customer and those it
granted read see its feed. The sync client's own tests are tests/test_sync.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from api.main import create_app
from core.db import get_engine, session_scope
from core.settings import Settings
from domain.permissions import ALL, INVOICES_WRITE, READ
from models import feed
from models import identity as ident
from models.audit import AuditEntry
from models.files import StoredFile, store_file
from models.tenant import Tenant, add_tenant, get_tenant_row
from tests.identity_support import add_user, bearer, issue_token

A, B = "IT02038490237", "IT01234567897"


def _tenant_id(url: str, vat: str = A) -> int:
    with session_scope(url) as session:
        return get_tenant_row(session, vat).id


def _drain(url: str, tenant_id: int, cursor: str | None, limit: int = 3) -> tuple[str | None, list[feed.Entry]]:
    out: list[feed.Entry] = []
    while True:
        with Session(get_engine(url)) as session, session.begin():
            page = feed.read_page(session, tenant_id, cursor, limit)
        out += page.entries
        cursor = page.cursor
        if not page.more:
            return cursor, out


def _caught_up(url: str, tenant_id: int, cursor: str | None, limit: int = 3) -> tuple[str | None, list[feed.Entry]]:
    """Drain until every committed entry of the customer is below the watermark. The watermark is the
    cluster's: another session's open transaction (other tests share this server) holds it back for a while,
    which delays entries and never loses them; so wait for that condition, never for a fixed time."""
    out: list[feed.Entry] = []
    for _ in range(1200):
        cursor, got = _drain(url, tenant_id, cursor, limit)
        out += got
        with get_engine(url).connect() as conn:
            held = conn.execute(text(
                "SELECT count(*) FROM feed_entries WHERE tenant_id = :t AND xid >= "
                "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"), {"t": tenant_id}).scalar()
        if not held:
            cursor, got = _drain(url, tenant_id, cursor, limit)
            return cursor, out + got
        time.sleep(0.05)
    raise AssertionError("the watermark did not pass this test's entries in 60 s (a transaction left open?)")


def _source_files(url: str, tenant_id: int) -> dict[str, dict[str, object]]:
    with session_scope(url) as session:
        return {str(r.id): feed.row_data(r) for r in session.scalars(
            select(StoredFile).where(StoredFile.tenant_id == tenant_id))}


def _apply(copy: dict[str, dict[str, object]], entries: list[feed.Entry]) -> None:
    for e in entries:
        if e.kind != "file":
            continue
        if e.op == feed.DELETE:
            copy.pop(e.key, None)
        else:
            assert e.data is not None
            copy[e.key] = e.data


def test_an_entry_commits_with_its_change_and_a_deletion_leaves_a_tombstone(db: str) -> None:
    with session_scope(db) as session:
        add_tenant(session, A, "ACME S.p.A.", "acme@pec.example.it", None)
    tid = _tenant_id(db)
    with pytest.raises(RuntimeError), session_scope(db) as session:  # rolled back: neither file nor entry
        store_file(session, tid, "test", "o1", "x", "gone.txt", "text/plain", b"never")
        raise RuntimeError("abort")
    with session_scope(db) as session:
        info = store_file(session, tid, "test", "o1", "x", "kept.txt", "text/plain", b"kept")
        session.get(Tenant, tid).name = "ACME Italia S.p.A."  # type: ignore[union-attr]
    with session_scope(db) as session:
        session.delete(session.get(StoredFile, info.id))
    _, entries = _caught_up(db, tid, None)
    assert [(e.kind, e.op) for e in entries] == [("profile", "put"), ("file", "put"), ("profile", "put"),
                                                 ("file", "delete")]
    assert entries[1].data is not None and entries[1].data["sha256"] == info.sha256
    assert "content" not in entries[1].data and entries[2].data["name"] == "ACME Italia S.p.A."  # type: ignore[index]
    assert all(e.key == str(info.id) for e in entries if e.kind == "file")


def test_a_sequence_cursor_skips_a_late_commit_and_the_watermark_does_not(db: str) -> None:
    """The positive control: the property test below would catch a reader that trusted the sequence."""
    with session_scope(db) as session:
        add_tenant(session, A, "ACME S.p.A.", "acme@pec.example.it", None)
    tid = _tenant_id(db)
    cursor, _ = _caught_up(db, tid, None)
    engine = get_engine(db)
    early, late = Session(engine), Session(engine)
    store_file(early, tid, "test", "early", "x", "a.txt", "text/plain", b"a")  # takes its seq first
    store_file(late, tid, "test", "late", "x", "b.txt", "text/plain", b"b")
    late.commit()  # commits first: its seq is higher than the uncommitted one's
    with engine.connect() as conn:
        naive_seen = conn.execute(text("SELECT max(seq) FROM feed_entries WHERE tenant_id = :t"), {"t": tid}).scalar()
    cursor, first = _drain(db, tid, cursor)
    assert first == []  # held back: `early` is still running below the watermark
    early.commit()
    early.close(), late.close()
    with engine.connect() as conn:
        skipped = conn.execute(text("SELECT count(*) FROM feed_entries WHERE tenant_id = :t AND seq > :s"),
                               {"t": tid, "s": naive_seen}).scalar()
    assert skipped == 0  # a reader at the highest committed seq would never see `early`'s entry
    _, rest = _caught_up(db, tid, cursor)
    assert sorted(e.data["owner_id"] for e in rest if e.data) == ["early", "late"]  # type: ignore[index]


def test_prune_never_raises_the_horizon_past_a_running_transaction(db: str) -> None:
    """Else the running transaction's entry commits behind the horizon: a client past it never sees it, and a
    snapshot taken meanwhile names a cursor at or before the horizon (the client resyncs again and again)."""
    with session_scope(db) as session:
        add_tenant(session, A, "ACME S.p.A.", "acme@pec.example.it", None)
    tid = _tenant_id(db)
    _caught_up(db, tid, None)
    engine = get_engine(db)
    early = Session(engine)
    store_file(early, tid, "test", "early", "x", "a.txt", "text/plain", b"a")  # running: holds the watermark
    with session_scope(db) as session:
        store_file(session, tid, "test", "late", "x", "b.txt", "text/plain", b"b")
    with session_scope(db) as session:
        feed.prune(session, feed.utcnow() + timedelta(seconds=1))
        snap = feed.snapshot(session, tid)
        horizon = session.get(feed.FeedHorizon, tid)
        assert horizon is not None and feed.Cursor(horizon.xid, horizon.seq) < feed.Cursor.decode(snap["cursor"])
    early.commit()
    early.close()
    _, rest = _caught_up(db, tid, snap["cursor"])  # no 410: the snapshot's cursor is past the horizon
    assert sorted(e.data["owner_id"] for e in rest if e.data) == ["early", "late"]  # type: ignore[index]


# One transaction: (files it adds, whether it deletes one committed before, whether it rolls back).
TXN = st.tuples(st.integers(1, 3), st.booleans(), st.booleans())


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(txns=st.lists(TXN, min_size=2, max_size=5), order=st.randoms(use_true_random=False),
       syncs=st.integers(1, 6), limit=st.integers(1, 4))
def test_concurrent_writers_committing_out_of_order_never_make_a_reader_skip_or_repeat(
        pg_tenant: int, txns: list[tuple[int, bool, bool]], order: object, syncs: int, limit: int) -> None:
    url, tid = _PG["url"], pg_tenant
    engine = get_engine(url)
    with session_scope(url) as session:  # a clean slate for this example, and some files to delete
        session.execute(delete(StoredFile).where(StoredFile.tenant_id == tid))
        session.execute(delete(feed.FeedEntry).where(feed.FeedEntry.tenant_id == tid))
        old = [store_file(session, tid, "test", "old", "x", f"old{i}.txt", "text/plain", b"%d" % i).id
               for i in range(len(txns))]
    cursor, first = _caught_up(url, tid, None, limit)
    copy: dict[str, dict[str, object]] = {}
    _apply(copy, first)
    seen = {e.cursor for e in first}
    # events: open (write) each transaction, finish it (commit or roll back), and syncs, in a random order
    # where each transaction is written before it finishes
    events = [("write", i) for i in range(len(txns))] + [("finish", i) for i in range(len(txns))] + \
        [("sync", -1)] * syncs
    order.shuffle(events)  # type: ignore[attr-defined]
    for i in range(len(txns)):
        w, f = events.index(("write", i)), events.index(("finish", i))
        if f < w:
            events[w], events[f] = events[f], events[w]
    sessions: dict[int, Session] = {}
    try:
        for what, i in events:
            if what == "write":
                adds, deletes, _ = txns[i]
                s = sessions[i] = Session(engine)
                for j in range(adds):
                    store_file(s, tid, "test", f"t{i}", "x", f"f{j}.txt", "text/plain", b"t%d-%d" % (i, j))
                if deletes:
                    s.delete(s.get(StoredFile, old[i]))
                s.flush()
            elif what == "finish":
                s = sessions.pop(i)
                s.rollback() if txns[i][2] else s.commit()
                s.close()
            else:
                cursor, got = _drain(url, tid, cursor, limit)
                assert not seen & {e.cursor for e in got}, "an entry was returned twice"
                seen |= {e.cursor for e in got}
                _apply(copy, got)
    finally:
        for s in sessions.values():
            s.rollback()
            s.close()
    cursor, got = _caught_up(url, tid, cursor, limit)
    assert not seen & {e.cursor for e in got}
    _apply(copy, got)
    assert copy == _source_files(url, tid)


_PG: dict[str, str] = {}


@pytest.fixture
def pg_tenant(db: str) -> int:
    with session_scope(db) as session:
        add_tenant(session, A, "ACME S.p.A.", "acme@pec.example.it", None)
    _PG["url"] = db
    return _tenant_id(db)


# --- over HTTP ---------------------------------------------------------------------------------------------

@pytest.fixture
def http(settings: Settings, db: str) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with session_scope(db) as session:
        add_tenant(session, A, "ACME S.p.A.", "acme@pec.example.it", None)
        add_tenant(session, B, "Beta S.r.l.", "beta@pec.example.it", None)
    add_user(settings, "customer", "a@test.example", A)
    add_user(settings, "customer", "b@test.example", B)
    add_user(settings, "accountant", "reader@test.example")
    add_user(settings, "accountant", "writer@test.example")
    with session_scope(db) as session:
        for email, perms in (("reader@test.example", [READ]), ("writer@test.example", [INVOICES_WRITE])):
            view = ident.open_link(session, A, email, ident.INVITED, "test", perms)
            ident.accept_link(session, ident.get_link(session, view.id), "test")
    tokens = {e.split("@")[0]: issue_token(settings, e) for e in
              ("a@test.example", "b@test.example", "reader@test.example", "writer@test.example")}
    with session_scope(db) as session:
        store_file(session, get_tenant_row(session, A).id, "test", "o", "x", "doc.xml", "application/xml", b"<a/>")
    with TestClient(create_app(settings, run_migrations=False), raise_server_exceptions=False) as client:
        yield client, tokens


def test_the_customer_and_an_accountant_with_read_see_the_feed_others_do_not(
        http: tuple[TestClient, dict[str, str]], db: str) -> None:
    client, tokens = http
    for who in ("a", "reader"):
        r = client.get(f"/customers/{A}/feed", headers=bearer(tokens[who]))
        assert r.status_code == 200, r.text
        assert {e["kind"] for e in r.json()["entries"]} == {"profile", "file"}
    r = client.get(f"/customers/{A}/feed", headers=bearer(tokens["b"]))
    assert r.status_code == 404 and f"no customer {A}" in r.text
    r = client.get(f"/customers/{A}/feed", headers=bearer(tokens["writer"]))  # granted write, not read
    assert r.status_code == 403 and r.json()["detail"]["permission"] == READ
    file_key = next(e["key"] for e in client.get(f"/customers/{A}/feed", headers=bearer(tokens["a"])).json()["entries"]
                    if e["kind"] == "file")
    assert client.get(f"/customers/{B}/files/{file_key}", headers=bearer(tokens["b"])).status_code == 404
    r = client.get(f"/customers/{A}/files/{file_key}", headers=bearer(tokens["reader"]))
    assert r.status_code == 200 and r.content == b"<a/>" and len(r.headers["x-content-sha256"]) == 64
    assert ALL  # the permission names the matrix test uses


def test_one_audit_entry_per_call(http: tuple[TestClient, dict[str, str]], db: str) -> None:
    client, tokens = http
    with session_scope(db) as session:
        before = session.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1)) or 0
    assert client.get(f"/customers/{A}/feed?limit=1", headers=bearer(tokens["a"])).status_code == 200
    with session_scope(db) as session:
        new = list(session.scalars(select(AuditEntry).where(AuditEntry.id > before)))
    assert [(e.action, e.outcome, e.customer_vat) for e in new] == [("feed.read", "ok", A)]


def test_a_cursor_older_than_the_retention_is_410_naming_the_snapshot(
        http: tuple[TestClient, dict[str, str]], db: str) -> None:
    client, tokens = http
    first = client.get(f"/customers/{A}/feed?limit=1", headers=bearer(tokens["a"])).json()
    _caught_up(db, _tenant_id(db), None)  # below the watermark: prune takes only what is
    with session_scope(db) as session:
        pruned = feed.prune(session, feed.utcnow() + timedelta(seconds=1))
    assert pruned >= 2
    for after in (first["cursor"], None):  # the start is gone too
        r = client.get(f"/customers/{A}/feed", params={"after": after}, headers=bearer(tokens["a"]))
        assert r.status_code == 410, r.text
        assert r.json()["resync"] == f"/customers/{A}/snapshot" and "retention" in r.json()["detail"]
    snap = client.get(f"/customers/{A}/snapshot", headers=bearer(tokens["a"])).json()
    assert [r["name"] for r in snap["rows"]["file"]] == ["doc.xml"]
    after = client.get(f"/customers/{A}/feed", params={"after": snap["cursor"]}, headers=bearer(tokens["a"]))
    assert after.status_code == 200 and after.json()["entries"] == []
    assert client.get(f"/customers/{A}/feed?after=x", headers=bearer(tokens["a"])).status_code == 422
    future = client.get(f"/customers/{A}/feed?after=999999999999.1", headers=bearer(tokens["a"]))
    assert future.status_code == 410 and "not reached" in future.json()["detail"]
