"""The download from KSeF (#14.4), from Python and the HTTP API: a range of a customer's received invoices now,
and the incremental download on a Temporal Schedule (schedule, see, pause and resume, remove).

Taking the invoices is reading them (`ksef.download`: the customer's users, operators, an accountant granted
read); keeping a schedule of it is the customer's service configuration (`ksef.schedule`); seeing downloads
and the schedule is `ksef.read`. Every round acts for the user who asked and asks the policy again
(activities/ksef_download.py), so a deactivated user or a withdrawn grant stops the next round.

The rounds log in to KSeF with the KSeF token the customer gave us (activities/ksef_download.py): a download row
holds no credential.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from temporalio.client import Client, ScheduleHandle
from temporalio.service import RPCError, RPCStatusCode

from core.db import session_scope
from core.search_keys import SearchKeys
from core.settings import Settings
from core.temporal import RPC_TIMEOUT, connect
from domain.errors import InvalidInput, NotFound, ProblemCollector
from domain.ksef.download import to_ms
from domain.policy import Principal
from models.base import as_utc, utcnow
from models.ksef_download import SCHEDULE, KsefDownload
from models.ksef_download_io import KsefDownloadInput
from models.tenant import get_tenant_row
from starters.acting import STARTER, acting
from workers.schedules import (
    MIN_KSEF_MINUTES,
    delete_schedule,
    ensure_schedule,
    ksef_download_schedule,
    ksef_download_schedule_id,
    set_paused,
)
from workflows.common import initial_search_attributes
from workflows.ksef_download import KsefDownloadWorkflow

SUBJECT = "Subject2"  # the customer as the buyer: the invoices it received
MAX_RANGE = timedelta(days=2 * 366)  # a range asked for at once (KSeF answers it in windows of 90 days)


@dataclass
class DownloadView:
    """A download as `GET /customers/{vat}/ksef/downloads` and `einvoice ksef download` show it."""

    id: int
    vat: str
    name: str
    workflow_id: str | None
    range_from: str | None
    range_to: str | None
    covered_until: str  # every invoice KSeF stored permanently before this instant is taken
    taken: int
    last_run_at: str | None
    last_success_at: str | None
    last_taken: int
    last_error: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DownloadSchedule:
    """What `GET /customers/{vat}/ksef/schedule` and `einvoice ksef schedule` show."""

    vat: str
    schedule_id: str
    every_minutes: int
    paused: bool
    note: str
    download: DownloadView
    next_runs: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _iso(value: Any) -> str | None:
    return as_utc(value).isoformat() if value is not None else None


def _range_workflow_id(settings: Settings, vat: str, download_id: int) -> str:
    return f"ksef-download-{SearchKeys(settings).customer(vat)}-{download_id}"


def _view(settings: Settings, vat: str, row: KsefDownload) -> DownloadView:
    ranged = row.name != SCHEDULE
    return DownloadView(
        id=row.id, vat=vat, name=row.name, workflow_id=_range_workflow_id(settings, vat, row.id) if ranged else None,
        range_from=_iso(row.range_from), range_to=_iso(row.range_to),
        covered_until=as_utc(row.date_from).isoformat(), taken=row.taken, last_run_at=_iso(row.last_run_at),
        last_success_at=_iso(row.last_success_at), last_taken=row.last_taken, last_error=row.last_error)


def _polish(vat: str) -> str:
    if not vat.startswith("PL"):
        raise InvalidInput.one("vat", f"{vat} is not a Polish customer: KSeF holds the invoices of a NIP (PL...)")
    return vat.removeprefix("PL")


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise InvalidInput.one(name, "a date and time with its offset (or a date, read in Europe/Warsaw)")
    return value.astimezone(UTC)


async def download_range(settings: Settings, vat: str, date_from: datetime, date_to: datetime,
                         client: Client | None = None, *, as_user: Principal,
                         surface: str = STARTER) -> DownloadView:
    """Take the customer's received invoices that KSeF stored permanently in [date_from, date_to) (date_to now
    at the latest): a workflow
    of its own (`ksef-download-<customer key>-<id>`), which goes on until the range is taken, waiting for
    KSeF's high-water mark to pass a range's end that is still recent."""
    with acting(settings, as_user, "ksef.download", f"KSeF download of {vat}", surface) as act:
        act.check(vat)
        # a range ends now at the latest (today "to the end of the day" is today so far): what KSeF stores later
        # is the schedule's
        # at KSeF's precision (milliseconds), so the cursor reaches the end exactly
        start, end = to_ms(_aware(date_from, "from")), to_ms(min(_aware(date_to, "to"), utcnow()))
        found = ProblemCollector()
        if end <= start:
            found.add("to", "after from (and from not in the future)")
        if end - start > MAX_RANGE:
            found.add("from", f"at most {MAX_RANGE.days} days before to (ask for several ranges)")
        found.raise_if_any()
        client = client or await connect(settings)
        with session_scope(settings.database_url) as session:
            tenant = get_tenant_row(session, vat)
            _polish(tenant.vat_number)
            count = len(session.scalars(select(KsefDownload.id).where(KsefDownload.tenant_id == tenant.id)).all())
            row = KsefDownload(tenant_id=tenant.id, name=f"range-{count + 1}", subject_type=SUBJECT,
                               requested_by=as_user.user_id, range_to=end, date_from=start, range_from=start,
                               page_offset=0, at_hwm=False, taken=0, last_taken=0)
            session.add(row)
            session.flush()
            keys = SearchKeys(settings)
            wf_id = _range_workflow_id(settings, tenant.vat_number, row.id)
            # the row commits only once Temporal took the workflow: a refusal leaves nothing behind
            await client.start_workflow(
                KsefDownloadWorkflow.run, KsefDownloadInput(row.id, True), id=wf_id,
                task_queue=settings.temporal_task_queue, rpc_timeout=RPC_TIMEOUT,
                search_attributes=initial_search_attributes(keys.customer(tenant.vat_number), keys.document(wf_id),
                                                            "downloading"))
            return _view(settings, tenant.vat_number, row)


async def list_downloads(settings: Settings, vat: str, *, as_user: Principal,
                         surface: str = STARTER) -> list[DownloadView]:
    with acting(settings, as_user, "ksef.read", f"KSeF downloads of {vat}", surface) as act:
        act.check(vat)
        with session_scope(settings.database_url) as session:
            tenant = get_tenant_row(session, vat)
            rows = session.scalars(select(KsefDownload).where(KsefDownload.tenant_id == tenant.id)
                                   .order_by(KsefDownload.id)).all()
            return [_view(settings, tenant.vat_number, r) for r in rows]


# ------------------------------------------------------------------ the schedule


def _handle(client: Client, settings: Settings, vat: str) -> ScheduleHandle:
    return client.get_schedule_handle(ksef_download_schedule_id(SearchKeys(settings).customer(vat)))


async def _describe(settings: Settings, client: Client, vat: str, row: KsefDownload) -> DownloadSchedule:
    handle = _handle(client, settings, vat)
    desc = await handle.describe(rpc_timeout=RPC_TIMEOUT)
    return DownloadSchedule(vat=vat, schedule_id=handle.id, every_minutes=row.every_minutes or 0,
                            paused=desc.schedule.state.paused, note=desc.schedule.state.note or "",
                            download=_view(settings, vat, row),
                            next_runs=[t.isoformat() for t in desc.info.next_action_times[:3]])


async def schedule_download(settings: Settings, vat: str, every_minutes: int = 30, since: datetime | None = None,
                            client: Client | None = None, *, as_user: Principal,
                            surface: str = STARTER) -> DownloadSchedule:
    """Download the customer's received invoices every `every_minutes` (at least 15, as KSeF asks), from
    `since` (default: now) on; a schedule that exists keeps its cursor (only the interval changes) and a paused
    one stays paused."""
    with acting(settings, as_user, "ksef.schedule", f"KSeF download schedule of {vat}", surface) as act:
        act.check(vat)
        if every_minutes < MIN_KSEF_MINUTES:
            raise InvalidInput.one("every", f"{every_minutes} minutes: at least {MIN_KSEF_MINUTES} between rounds "
                                            "(KSeF's limits, przyrostowe-pobieranie-faktur.md)")
        start = _aware(since, "since") if since is not None else utcnow()
        client = client or await connect(settings)
        with session_scope(settings.database_url) as session:
            tenant = get_tenant_row(session, vat)
            _polish(tenant.vat_number)
            row = session.scalar(select(KsefDownload).where(KsefDownload.tenant_id == tenant.id,
                                                            KsefDownload.name == SCHEDULE))
            if row is None:
                row = KsefDownload(tenant_id=tenant.id, name=SCHEDULE, subject_type=SUBJECT, date_from=start,
                                   range_from=start, page_offset=0, at_hwm=False, taken=0, last_taken=0)
                session.add(row)
            row.requested_by = as_user.user_id
            row.every_minutes = every_minutes
            session.flush()
            handle = _handle(client, settings, tenant.vat_number)
            paused, note = False, f"scheduled by {as_user.label}"
            try:
                state = (await handle.describe(rpc_timeout=RPC_TIMEOUT)).schedule.state
                paused, note = state.paused, state.note or note
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
            await ensure_schedule(client, handle.id, ksef_download_schedule(
                settings, row.id, SearchKeys(settings).customer(tenant.vat_number), every_minutes, paused, note))
            return await _describe(settings, client, tenant.vat_number, row)


def _scheduled(session: Any, vat: str) -> tuple[str, KsefDownload]:
    tenant = get_tenant_row(session, vat)
    row = session.scalar(select(KsefDownload).where(KsefDownload.tenant_id == tenant.id,
                                                    KsefDownload.name == SCHEDULE))
    if row is None or row.every_minutes is None:
        raise NotFound(f"no KSeF download is scheduled for {tenant.vat_number}")
    return tenant.vat_number, row


async def describe_download_schedule(settings: Settings, vat: str, client: Client | None = None, *,
                                     as_user: Principal, surface: str = STARTER) -> DownloadSchedule:
    with acting(settings, as_user, "ksef.read", f"KSeF download schedule of {vat}", surface) as act:
        act.check(vat, missing=f"no KSeF download is scheduled for {vat}")
        with session_scope(settings.database_url) as session:
            vat_number, row = _scheduled(session, vat)
        return await _describe(settings, client or await connect(settings), vat_number, row)


async def pause_download_schedule(settings: Settings, vat: str, paused: bool, note: str = "",
                                  client: Client | None = None, *, as_user: Principal,
                                  surface: str = STARTER) -> DownloadSchedule:
    """Pause (`paused=True`) or resume the rounds; the note says who and why (the Temporal UI shows it). A
    resumed schedule catches up from its cursor: nothing is skipped while paused."""
    verb = "pause" if paused else "resume"
    with acting(settings, as_user, "ksef.schedule", f"{verb} KSeF download of {vat}", surface) as act:
        act.check(vat, missing=f"no KSeF download is scheduled for {vat}")
        with session_scope(settings.database_url) as session:
            vat_number, row = _scheduled(session, vat)
        client = client or await connect(settings)
        await set_paused(_handle(client, settings, vat_number), paused, as_user.label, note)
        return await _describe(settings, client, vat_number, row)


async def unschedule_download(settings: Settings, vat: str, client: Client | None = None, *, as_user: Principal,
                              surface: str = STARTER) -> None:
    """Remove the schedule; its row keeps its cursor (scheduling again goes on from there, skipping nothing)."""
    with acting(settings, as_user, "ksef.schedule", f"remove KSeF download schedule of {vat}", surface) as act:
        act.check(vat, missing=f"no KSeF download is scheduled for {vat}")
        client = client or await connect(settings)
        with session_scope(settings.database_url) as session:
            vat_number, row = _scheduled(session, vat)
            await delete_schedule(_handle(client, settings, vat_number))
            row.every_minutes = None
