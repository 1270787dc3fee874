"""The sync client (#15): a local SQLite copy equals the portal's data after a sync, a sync killed mid-page
resumes with nothing lost or doubled, a document changed after its entry was read arrives in its final form,
an expired cursor resyncs from the snapshot, and `sync status` shows the lag and the last error."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, select

from api.main import create_app
from core.db import session_scope
from core.settings import Settings
from models import feed
from models.certificates import OWNER_KIND
from models.files import StoredFile, store_file
from models.tenant import Tenant, add_tenant, get_tenant_row
from sync.client import Feed, SyncError, cursor_of, status, sync_once
from sync.schema import TABLES, sync_state
from tests.identity_support import add_user, bearer, issue_token

A = "IT02038490237"


@pytest.fixture
def portal(settings: Settings, db: str) -> Iterator[TestClient]:
    with session_scope(db) as session:
        add_tenant(session, A, "ACME S.p.A.", "acme@pec.example.it", None)
    add_user(settings, "customer", "a@test.example", A)
    token = issue_token(settings, "a@test.example")
    with TestClient(create_app(settings, run_migrations=False), raise_server_exceptions=False,
                    headers=bearer(token)) as client:
        yield client


@pytest.fixture
def local(tmp_path: Path) -> Engine:
    return create_engine(f"sqlite:///{tmp_path / 'copy.db'}")


def _add_files(db: str, owner: str, n: int, prefix: str = "f") -> None:
    with session_scope(db) as session:
        tid = get_tenant_row(session, A).id
        for i in range(n):
            store_file(session, tid, "invoice", owner, "original", f"{prefix}{i}.xml", "application/xml",
                       b"<doc n='%d' owner='%s'/>" % (i, owner.encode()))


def _local(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        return {kind: {r.key: json.loads(r.data) for r in conn.execute(select(table))}
                for kind, table in TABLES.items()}


def _source(portal: TestClient) -> dict[str, dict[str, Any]]:
    snap = portal.get(f"/customers/{A}/snapshot").json()
    return {kind: {str(r["key"]): {k: v for k, v in r.items() if k != "key"} for r in rows}
            for kind, rows in snap["rows"].items()}


def _contents_checked(engine: Engine, db: str) -> None:
    with engine.connect() as conn:
        local = {r.key: r.content for r in conn.execute(select(TABLES["file"]))}
    with session_scope(db) as session:
        assert local == {str(r.id): r.content for r in session.scalars(select(StoredFile))}


def test_a_sync_copies_the_customer_and_a_second_changes_nothing(portal: TestClient, local: Engine, db: str) -> None:
    _add_files(db, "IT02038490237_00001", 3)
    with session_scope(db) as session:
        session.scalar(select(Tenant)).name = "ACME Italia S.p.A."  # type: ignore[union-attr]
    out = sync_once(local, Feed(portal, A), limit=2)
    assert out.resynced and out.behind == 0  # a snapshot is never held back
    assert _local(local) == _source(portal) and len(_local(local)["file"]) == 3
    _contents_checked(local, db)
    again = sync_once(local, Feed(portal, A), limit=2)
    assert again.applied == 0 and _local(local) == _source(portal)
    _add_files(db, "IT02038490237_00002", 2)
    assert settle(local, Feed(portal, A), limit=1) == 2 and _local(local) == _source(portal)


def settle(local: Engine, feed_: Feed, limit: int = 500) -> int:
    """Sync rounds until the portal has nothing more for us; the entries applied. The feed's watermark is
    the database cluster's: another session's open transaction (other tests share this server) holds new
    entries back for a while, so wait for that condition, never for a fixed time."""
    applied = 0
    for _ in range(1200):
        applied += sync_once(local, feed_, limit=limit).applied
        if status(local, feed_.vat, feed_).behind == 0:
            return applied
        time.sleep(0.05)
    raise AssertionError("still behind after 60 s (a transaction left open?)")


def visible(portal: TestClient, after: str | None, n: int) -> None:
    """Wait until `n` entries after `after` are below the watermark (see settle)."""
    for _ in range(1200):
        page = Feed(portal, A).page(after, n)
        if page is not None and len(page["entries"]) >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} entries visible after 60 s")


class Killed(Exception):
    pass


class KillingFeed(Feed):
    """Dies at the `at`-th document download: in the middle of applying a page."""

    def __init__(self, http: TestClient, vat: str, at: int):
        super().__init__(http, vat)
        self.at, self.calls = at, 0

    def file(self, file_id: str, sha256: str) -> bytes | None:
        self.calls += 1
        if self.calls == self.at:
            raise Killed("killed mid-page")
        return super().file(file_id, sha256)


def test_a_sync_killed_mid_page_resumes_with_nothing_lost_or_doubled(portal: TestClient, local: Engine,
                                                                    db: str) -> None:
    sync_once(local, Feed(portal, A))  # the snapshot: the profile only
    start = cursor_of(local, A)
    _add_files(db, "IT02038490237_00001", 5)
    visible(portal, start, 5)
    with pytest.raises(Killed):
        sync_once(local, KillingFeed(portal, A, at=2), limit=5)
    assert cursor_of(local, A) == start and _local(local)["file"] == {}  # the page's half rolled back
    assert "killed mid-page" in (status(local, A).last_error or "")
    with pytest.raises(Killed):
        sync_once(local, KillingFeed(portal, A, at=4), limit=3)  # page 1 (3 files) lands, page 2 dies
    assert len(_local(local)["file"]) == 3 and cursor_of(local, A) != start
    assert settle(local, Feed(portal, A), limit=3) == 2  # only what was not yet applied: nothing twice
    assert _local(local) == _source(portal)
    _contents_checked(local, db)
    assert status(local, A).last_error is None


class ChangingFeed(Feed):
    """Between reading a page and downloading its documents, the portal deletes the certificate's file and
    stores a new one: the entry read names a file that is gone."""

    def __init__(self, http: TestClient, vat: str, db: str):
        super().__init__(http, vat)
        self.db, self.done = db, False

    def page(self, after: str | None, limit: int) -> dict[str, Any] | None:
        got = super().page(after, limit)
        if not self.done and got and any(e["kind"] == "file" for e in got["entries"]):
            self.done = True
            with session_scope(self.db) as session:
                tid = get_tenant_row(session, A).id
                feed.tombstones_for_files(session, OWNER_KIND, "op-1")
                for row in session.scalars(select(StoredFile).where(StoredFile.owner_id == "op-1")):
                    session.delete(row)
                session.flush()
                store_file(session, tid, OWNER_KIND, "op-1", "certificate", "cert.pem", "application/x-pem-file",
                           b"final")
        return got


def test_a_document_changed_after_its_entry_was_read_is_fetched_final(portal: TestClient, local: Engine,
                                                                      db: str) -> None:
    sync_once(local, Feed(portal, A))
    with session_scope(db) as session:
        store_file(session, get_tenant_row(session, A).id, OWNER_KIND, "op-1", "certificate", "cert.pem",
                   "application/x-pem-file", b"first")
    changing = ChangingFeed(portal, A, db)
    settle(local, changing, limit=10)
    assert changing.done  # the file did change between the page and its download
    with local.connect() as conn:
        contents = [r.content for r in conn.execute(select(TABLES["file"]))]
    assert contents == [b"final"]
    assert _local(local) == _source(portal)


def test_a_corrupted_download_applies_nothing_of_its_page(portal: TestClient, local: Engine, db: str) -> None:
    sync_once(local, Feed(portal, A))
    _add_files(db, "IT02038490237_00001", 2)
    visible(portal, cursor_of(local, A), 2)  # the cluster's watermark may hold them back a while (see settle)

    class Corrupt(Feed):
        def file(self, file_id: str, sha256: str) -> bytes | None:
            return super().file(file_id, "0" * 64)

    with pytest.raises(SyncError, match="SHA-256"):
        sync_once(local, Corrupt(portal, A))
    assert _local(local)["file"] == {}


def test_an_expired_cursor_resyncs_from_the_snapshot(portal: TestClient, local: Engine, db: str) -> None:
    _add_files(db, "IT02038490237_00001", 2)
    sync_once(local, Feed(portal, A))
    _add_files(db, "IT02038490237_00002", 2)
    visible(portal, cursor_of(local, A), 2)  # below the watermark: prune takes only what is (models.feed.prune)
    with session_scope(db) as session:  # everything until now falls out of the retention
        feed.prune(session, feed.utcnow() + timedelta(seconds=1))
    _add_files(db, "IT02038490237_00003", 1)
    st = status(local, A, Feed(portal, A))
    assert st.live is False  # the cursor is expired: the server cannot say how far behind it is
    out = sync_once(local, Feed(portal, A))
    assert out.resynced
    settle(local, Feed(portal, A))
    assert _local(local) == _source(portal) and len(_local(local)["file"]) == 5
    with local.connect() as conn:
        assert conn.execute(select(sync_state.c.resyncs)).scalar() == 2  # the first sync, and this one
    _contents_checked(local, db)


def test_status_shows_the_changes_and_minutes_behind(portal: TestClient, local: Engine, db: str) -> None:
    settle(local, Feed(portal, A))
    assert status(local, A, Feed(portal, A)).behind == 0
    _add_files(db, "IT02038490237_00001", 3)
    visible(portal, cursor_of(local, A), 3)
    st = status(local, A, Feed(portal, A))
    assert st.live and st.behind == 3 and st.minutes_behind >= 0 and st.last_success_at is not None
    settle(local, Feed(portal, A))
    assert status(local, A, Feed(portal, A)).behind == 0


def test_behind_is_counted_up_to_a_cap_and_says_so(portal: TestClient, local: Engine, db: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A page's count of what is left stops at models.feed.BEHIND_CAP (its cost is then flat in the client's
    lag, bench/sync.py); past it the page and `sync status` say "more than"."""
    settle(local, Feed(portal, A))
    monkeypatch.setattr(feed, "BEHIND_CAP", 3)
    _add_files(db, "IT02038490237_00001", 5)
    visible(portal, cursor_of(local, A), 5)
    page = Feed(portal, A).page(cursor_of(local, A), 1)
    assert page is not None and (page["behind"], page["behind_capped"]) == (3, True)
    st = status(local, A, Feed(portal, A))
    assert st.behind_capped and st.behind == 4  # the page's one entry and at least three more
    page = Feed(portal, A).page(cursor_of(local, A), 3)
    assert page is not None and (page["behind"], page["behind_capped"]) == (2, False)  # exact below the cap
    assert settle(local, Feed(portal, A)) == 5
    assert not status(local, A, Feed(portal, A)).behind_capped
