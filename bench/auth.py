"""What identity costs a request: the same routes with the access guard (bearer token looked up by its hash,
the user's grants read, `may`, an audit entry appended to the hash chain) and with the guard replaced by a
no-op, interleaved in one process on the same database.

Routes: a read (`GET /tenants/{vat}`) and an invoice submission (`POST /invoices`: upload, schema and content
checks, database rows; the Temporal start is a stub that answers at once, so the ratio is about our code, not
the server). In-process ASGI (httpx + TestClient, no sockets); the embedded stack's SQLite in a temporary
directory, or BENCH_DATABASE_URL (e.g. PostgreSQL, where appends take an advisory lock). Goal: median
latency +15% at most for each. Mutual TLS (the handshake, the certificate check) is measured in bench/tls.py.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROUNDS = 400
GOAL = 1.15


class _StubTemporal:
    async def start_workflow(self, *args: Any, **kwargs: Any) -> None:
        return None


def _no_guard(settings: Any, user: Any) -> Callable[[], AsyncIterator[Any]]:
    """The guard replaced: the routes get the operator as their caller, already checked; nothing is looked
    up, asked or audited."""
    from api.access import Access

    async def bare() -> AsyncIterator[Any]:
        yield Access(settings, "bench", user, checked=True)

    return bare


def run(log: Callable[[str], None] = print) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from api.access import guard
    from api.main import create_app
    from core.db import session_scope
    from core.settings import Settings
    from devstack.demo_invoices import demo_invoice
    from domain.credentials import hash_password, new_token, token_digest
    from models import identity as ident
    from models.tenant import add_tenant, set_enabled

    vat = "IT02038490237"
    with tempfile.TemporaryDirectory() as tmp:
        url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{Path(tmp) / 'bench.db'}"
        settings = Settings(DATA_DIR=tmp, DATABASE_URL=url)
        checked, bare = create_app(settings), create_app(settings, run_migrations=False)
        for app in (checked, bare):
            app.state.temporal = _StubTemporal()
        with session_scope(url) as session:
            add_tenant(session, vat, "Bench S.p.A.", "bench@pec.example.it", None)
            set_enabled(session, vat, True)
            user = ident.add_user(session, f"ops-{os.getpid()}@bench.example", "ops", "operator",
                                  hash_password("not used here at all"), "bench")
            token = new_token(settings.secret_key.get_secret_value())
            ident.add_token(session, user, token_digest(token), "bench", timedelta(hours=2))
            principal = ident.principal_of(session, user)
        bare.dependency_overrides[guard] = _no_guard(settings, principal)
        headers = {"Authorization": f"Bearer {token}"}
        clients = {"checked": TestClient(checked, headers=headers), "bare": TestClient(bare)}
        times: dict[str, dict[str, list[float]]] = {k: {"read": [], "submit": []} for k in clients}
        for i in range(ROUNDS):
            for name in (("checked", "bare") if i % 2 else ("bare", "checked")):
                http = clients[name]
                start = time.perf_counter()
                r = http.get(f"/tenants/{vat}")
                times[name]["read"].append(time.perf_counter() - start)
                assert r.status_code == 200, r.text
                number = f"B{i}{name[0]}"
                start = time.perf_counter()
                r = http.post("/invoices", data={"vat": vat, "sign": "none"},
                              files={"file": (f"{number}.xml", demo_invoice(vat, number), "application/xml")})
                times[name]["submit"].append(time.perf_counter() - start)
                assert r.status_code == 201, r.text
        medians = {n: {k: statistics.median(v) * 1000 for k, v in t.items()} for n, t in times.items()}
        ratios = {k: medians["checked"][k] / medians["bare"][k] for k in ("read", "submit")}
        missed = [k for k, r in ratios.items() if r > GOAL]
        log(f"medians (ms): {medians}; ratios {ratios}")
        database = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
        summary = (f"read {medians['checked']['read']:.2f} ms = {ratios['read']:.2f}× without checks "
                   f"({medians['bare']['read']:.2f} ms); invoice submission {medians['checked']['submit']:.1f} ms = "
                   f"{ratios['submit']:.2f}× ({medians['bare']['submit']:.1f} ms); goal ≤ {GOAL}×: "
                   f"{'met' if not missed else 'missed: ' + ', '.join(missed)} ({database}, in-process); "
                   "mutual TLS: see `tls`")
        return {"summary": summary, "rounds": ROUNDS, "database": database, "median_ms": medians,
                "ratios": ratios, "goal": GOAL, "missed": missed}
