"""The in-stack sync of a customer's copy (#15.2), from Python and the HTTP API: schedule it, pause and
resume it, see it, remove it.

Scheduling names a database the worker will write to (a file on our servers or a host on the network), so
it is the intermediary's decision: operators only (`sync.schedule`). Pausing and resuming belong to the
customer's service configuration (`sync.pause`: its users, an accountant granted configuration); reading the
schedule is `sync.read`. The rounds act for the operator who scheduled them and ask the policy each time
(activities/customer_sync.py).

The target row and the schedule change together: the row is written in a transaction that commits only once
Temporal took the schedule, so a refused URL or an unreachable Temporal leaves both as they were.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from temporalio.client import Client, ScheduleHandle
from temporalio.service import RPCError, RPCStatusCode

from core.db import session_scope
from core.search_keys import SearchKeys
from core.secrets import seal
from core.settings import Settings
from core.temporal import RPC_TIMEOUT, connect
from domain.errors import InvalidInput, NotFound
from domain.policy import Principal
from models.base import as_utc
from models.sync_targets import SyncTarget
from models.tenant import get_tenant_row
from starters.acting import STARTER, acting
from sync.urls import BadDatabaseUrl, check_database_url, label_of
from workers.schedules import (
    MIN_SYNC_MINUTES,
    customer_sync_schedule,
    customer_sync_schedule_id,
    delete_schedule,
    ensure_schedule,
    set_paused,
)


@dataclass
class SyncSchedule:
    """What `GET /customers/{vat}/sync-schedule` and `einvoice sync schedule` show."""

    vat: str
    schedule_id: str
    database: str  # the URL, password masked
    every_minutes: int
    paused: bool
    note: str
    next_runs: list[str] = field(default_factory=list)
    recent_runs: list[dict[str, Any]] = field(default_factory=list)
    last_run_at: str | None = None
    last_success_at: str | None = None
    last_applied: int = 0
    last_behind: int = 0
    last_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _iso(value: Any) -> str | None:
    return as_utc(value).isoformat() if value is not None else None


def _handle(client: Client, settings: Settings, vat: str) -> ScheduleHandle:
    return client.get_schedule_handle(customer_sync_schedule_id(SearchKeys(settings).customer(vat)))


async def _describe(settings: Settings, client: Client, vat: str, target: SyncTarget) -> SyncSchedule:
    handle = _handle(client, settings, vat)
    desc = await handle.describe(rpc_timeout=RPC_TIMEOUT)
    info = desc.info
    return SyncSchedule(
        vat=vat, schedule_id=handle.id, database=target.database_label, every_minutes=target.every_minutes,
        paused=desc.schedule.state.paused, note=desc.schedule.state.note or "",
        next_runs=[t.isoformat() for t in info.next_action_times[:3]],
        recent_runs=[{"workflow_id": a.action.workflow_id, "started_at": a.started_at.isoformat()}
                     for a in info.recent_actions[-5:] if hasattr(a.action, "workflow_id")],
        last_run_at=_iso(target.last_run_at), last_success_at=_iso(target.last_success_at),
        last_applied=target.last_applied, last_behind=target.last_behind, last_error=target.last_error)


async def schedule_sync(settings: Settings, vat: str, database_url: str, every_minutes: int = 30,
                        client: Client | None = None, *, as_user: Principal, surface: str = STARTER) -> SyncSchedule:
    """Create the customer's sync schedule, or change its database or interval (a paused one stays paused)."""
    with acting(settings, as_user, "sync.schedule", f"sync schedule of {vat}", surface) as act:
        act.check(vat)
        try:
            url = check_database_url(database_url, absolute_sqlite=True)
        except BadDatabaseUrl as err:
            raise InvalidInput.one("database_url", str(err)) from err
        if every_minutes < MIN_SYNC_MINUTES:
            raise InvalidInput.one("every", f"{every_minutes} minutes: at least {MIN_SYNC_MINUTES} between rounds")
        client = client or await connect(settings)
        with session_scope(settings.database_url) as session:
            tenant = get_tenant_row(session, vat)
            target = session.scalar(select(SyncTarget).where(SyncTarget.tenant_id == tenant.id))
            if target is None:
                target = SyncTarget(tenant_id=tenant.id)
                session.add(target)
            target.database_url_sealed = seal(settings, url.render_as_string(hide_password=False))
            target.database_label = label_of(url)[:300]
            target.every_minutes = every_minutes
            target.scheduled_by = as_user.user_id
            session.flush()
            handle = _handle(client, settings, tenant.vat_number)
            paused, note = False, f"scheduled by {as_user.label}"
            try:
                state = (await handle.describe(rpc_timeout=RPC_TIMEOUT)).schedule.state
                paused, note = state.paused, state.note or note
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
            schedule = customer_sync_schedule(settings, target.id, SearchKeys(settings).customer(tenant.vat_number),
                                              every_minutes, paused, note)
            await ensure_schedule(client, handle.id, schedule)
            return await _describe(settings, client, tenant.vat_number, target)


def _target(session: Any, vat: str) -> tuple[str, SyncTarget]:
    tenant = get_tenant_row(session, vat)
    target = session.scalar(select(SyncTarget).where(SyncTarget.tenant_id == tenant.id))
    if target is None:
        raise NotFound(f"no sync is scheduled for {tenant.vat_number}")
    return tenant.vat_number, target


async def describe_sync(settings: Settings, vat: str, client: Client | None = None, *, as_user: Principal,
                        surface: str = STARTER) -> SyncSchedule:
    with acting(settings, as_user, "sync.read", f"sync schedule of {vat}", surface) as act:
        act.check(vat, missing=f"no sync is scheduled for {vat}")
        with session_scope(settings.database_url) as session:
            vat_number, target = _target(session, vat)
        return await _describe(settings, client or await connect(settings), vat_number, target)


async def pause_sync(settings: Settings, vat: str, paused: bool, note: str = "", client: Client | None = None, *,
                     as_user: Principal, surface: str = STARTER) -> SyncSchedule:
    """Pause (`paused=True`) or resume the rounds; the note says who and why, shown in the Temporal UI too."""
    verb = "pause" if paused else "resume"
    with acting(settings, as_user, "sync.pause", f"{verb} sync of {vat}", surface) as act:
        act.check(vat, missing=f"no sync is scheduled for {vat}")
        with session_scope(settings.database_url) as session:
            vat_number, target = _target(session, vat)
        client = client or await connect(settings)
        await set_paused(_handle(client, settings, vat_number), paused, as_user.label, note)
        return await _describe(settings, client, vat_number, target)


async def unschedule_sync(settings: Settings, vat: str, client: Client | None = None, *, as_user: Principal,
                          surface: str = STARTER) -> None:
    """Remove the schedule, then the target (a round already running finds no target and stops)."""
    with acting(settings, as_user, "sync.schedule", f"remove sync schedule of {vat}", surface) as act:
        act.check(vat, missing=f"no sync is scheduled for {vat}")
        client = client or await connect(settings)
        with session_scope(settings.database_url) as session:
            vat_number, target = _target(session, vat)
            await delete_schedule(_handle(client, settings, vat_number))
            session.delete(target)
