"""The HTTP guard's database work (api/access.py, `_admit`; bench/README.md, `auth`): the token read on an
autocommit connection still sees a revocation or a withdrawn grant at the very next request and records the
token's last use at most once a minute; audit appends from many threads at once still make one chain (the
advisory lock and the read of the last entry share a round trip, each with its own snapshot)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from api.main import create_app
from core.db import session_scope
from core.settings import Settings
from models import audit
from models import identity as ident
from models.base import as_utc, utcnow
from models.tenant import add_tenant
from tests.identity_support import add_user, bearer, issue_token

A = "IT02038490237"


def _last_used(db: str) -> object:
    with session_scope(db) as session:
        return session.scalar(select(ident.ApiToken.last_used_at))


def test_last_use_is_written_once_a_minute_and_a_revocation_stops_the_next_request(settings: Settings,
                                                                                  db: str) -> None:
    with session_scope(db) as session:
        add_tenant(session, A, "ACME S.p.A.", "acme@pec.example.it", None)
    add_user(settings, "customer", "anna@acme.example", A)
    token = bearer(issue_token(settings, "anna@acme.example"))
    http = TestClient(create_app(settings, run_migrations=False))
    assert _last_used(db) is None
    assert http.get(f"/tenants/{A}", headers=token).status_code == 200
    first = _last_used(db)
    assert first is not None
    assert http.get(f"/tenants/{A}", headers=token).status_code == 200
    assert _last_used(db) == first  # within the minute: not written again
    old = utcnow() - timedelta(minutes=5)
    with session_scope(db) as session:
        session.execute(update(ident.ApiToken).values(last_used_at=old))
    assert http.get(f"/tenants/{A}", headers=token).status_code == 200
    now = _last_used(db)
    assert now is not None and as_utc(now) > old + timedelta(minutes=4)  # type: ignore[arg-type]
    with session_scope(db) as session:
        session.execute(update(ident.ApiToken).values(revoked_at=utcnow()))
    refused = http.get(f"/tenants/{A}", headers=token)
    assert refused.status_code == 401 and refused.json()["detail"].startswith("revoked token"), refused.text


def test_appends_from_many_threads_at_once_make_one_chain(settings: Settings, db: str) -> None:
    def append(i: int) -> None:
        with session_scope(db) as session:
            audit.append(session, f"operator:t{i % 4}@x.example", "http", "tenant.read", f"GET /t/{i}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(append, range(120)))
    with session_scope(db) as session:
        report = audit.verify_chain(session)
        links = session.scalar(select(func.count(func.distinct(audit.AuditEntry.prev_sha256))))
    assert report.ok and report.entries == 120, report
    assert links == 120  # no two entries chained to the same one
