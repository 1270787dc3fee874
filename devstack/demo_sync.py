"""The sync step of `make demo` (#15): the customer's copy in a local SQLite file, twice — as a customer's own
server keeps it (`einvoice sync`, the standalone client over the HTTP feed), and inside our stack (a Temporal
Schedule per customer, one round triggered now) — and what the copy holds."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, func, select

from core.search_keys import SearchKeys
from core.settings import Settings
from core.temporal import connect
from devstack import demo_http as http
from sync.client import Feed, sync_once
from sync.schema import TABLES

console = Console()


def api_client(settings: Settings, token: str) -> httpx.Client:
    """The HTTP client the standalone sync uses (a test points it at the app in-process)."""
    return httpx.Client(base_url=settings.public_base_url, headers={"Authorization": f"Bearer {token}"},
                        timeout=30)


def _holdings(path: Path) -> Table:
    engine = create_engine(f"sqlite:///{path}")
    table = Table("Table", "Rows", "e.g.")
    try:
        with engine.connect() as conn:
            for t in TABLES.values():
                count = conn.execute(select(func.count()).select_from(t)).scalar_one()
                sample = conn.execute(select(t.c.key).limit(3)).scalars().all()
                table.add_row(t.name, str(count), ", ".join(map(str, sample)))
    finally:
        engine.dispose()
    return table


def _trigger(settings: Settings, schedule_id: str) -> None:
    async def go() -> None:
        client = await connect(settings)
        await client.get_schedule_handle(schedule_id).trigger()

    asyncio.run(go())


def step_sync(settings: Settings, ctx: dict[str, object]) -> None:
    console.rule("[bold]7. Sync: the customer's own copy in a local database (change feed)")
    vat = str(ctx["vat"])
    token = str(ctx["operator_token"])
    http.act_as(token)
    work = (settings.data_dir / "demo-sync").resolve()
    work.mkdir(parents=True, exist_ok=True)

    own = work / f"{vat}-own-server.db"
    with api_client(settings, token) as api:
        out = sync_once(create_engine(f"sqlite:///{own}"), Feed(api, vat))
    console.print(f"einvoice sync --vat {vat} --database-url sqlite:///{own}: {out.applied} changes applied"
                  f"{' after a snapshot' if out.resynced else ''}, {out.files} documents downloaded and checked "
                  f"(SHA-256), {out.behind} behind; cursor {out.cursor}")
    console.print(_holdings(own))

    scheduled = work / f"{vat}-in-stack.db"
    base = settings.public_base_url
    resp = http.put(f"{base}/customers/{vat}/sync-schedule", timeout=30,
                    json={"database_url": f"sqlite:///{scheduled}", "every_minutes": 30})
    resp.raise_for_status()
    sched = resp.json()
    _trigger(settings, sched["schedule_id"])
    for _ in range(120):
        shown = http.get(f"{base}/customers/{vat}/sync-schedule", timeout=30).json()
        if shown["last_run_at"]:
            break
        time.sleep(0.5)
    else:
        raise RuntimeError("the scheduled sync round did not run within a minute: is the worker up?")
    console.print(f"PUT /customers/{vat}/sync-schedule: schedule {sched['schedule_id']} every 30 minutes "
                  f"(overlap: skip); one round triggered now: {shown['last_applied']} applied, "
                  f"{shown['last_behind']} behind{', error ' + shown['last_error'] if shown['last_error'] else ''}")
    console.print(f"  the copy: {scheduled}; pause it with `einvoice sync pause --vat {vat}`")
    ui = f"{settings.temporal_ui_url}/namespaces/{settings.temporal_namespace}"
    console.print(f"  in the Temporal UI: {ui}/schedules/{sched['schedule_id']} (its rounds carry CustomerKey "
                  f"{SearchKeys(settings).customer(vat)})")
