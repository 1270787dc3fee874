"""The Temporal Schedules the worker keeps: created at worker start, or brought to the current settings.

Here rather than in starters/ so the worker makes its schedules without importing client code; the CLI
(`einvoice archive schedule`) reaches the same functions through starters/archive.py.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from core.settings import Settings
from core.temporal import RPC_TIMEOUT
from domain.errors import InvalidInput
from models.conservation_io import VerifyInput
from models.invoices_io import NotificationSweepInput
from workflows import archive_verify, notification_sweep


async def ensure_schedule(client: Client, schedule_id: str, schedule: Schedule) -> str:
    """Create the schedule, or replace an existing one's definition with this one: "created" | "updated"."""
    try:
        await client.create_schedule(schedule_id, schedule)
        return "created"
    except ScheduleAlreadyRunningError:
        def update(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(schedule_id).update(update)
        return "updated"


async def set_paused(handle: ScheduleHandle, paused: bool, by: str, note: str = "") -> None:
    """Pause or resume a schedule, the note (who, and why) shown in the Temporal UI."""
    text = f"{'pause' if paused else 'resume'}d by {by}" + (f": {note[:200]}" if note else "")
    if paused:
        await handle.pause(note=text, rpc_timeout=RPC_TIMEOUT)
    else:
        await handle.unpause(note=text, rpc_timeout=RPC_TIMEOUT)


async def delete_schedule(handle: ScheduleHandle) -> None:
    """Delete a schedule; one already gone is no error (a removal retried, or one deleted in the UI)."""
    try:
        await handle.delete(rpc_timeout=RPC_TIMEOUT)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise


def _every(interval: timedelta, action: ScheduleActionStartWorkflow) -> Schedule:
    """One run per interval; a run still going when the next is due makes that one skipped, not queued."""
    return Schedule(action=action, spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=interval)]),
                    policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP))


async def ensure_archive_verify_schedule(client: Client, settings: Settings, every_days: int | None = None) -> str:
    """The periodic verification of the whole archive (ARCHIVE_VERIFY_EVERY_DAYS, or `every_days`)."""
    days = every_days or settings.archive_verify_every_days
    if days < 1:
        raise InvalidInput.one("every_days", "at least 1")
    action = ScheduleActionStartWorkflow(
        archive_verify.ArchiveVerifyWorkflow.run, VerifyInput(), id="archive-verify-scheduled",
        task_queue=settings.temporal_task_queue,
    )
    return await ensure_schedule(client, archive_verify.SCHEDULE_ID, _every(timedelta(days=days), action))


async def ensure_notification_sweep_schedule(client: Client, settings: Settings) -> str:
    """The notification sweep, every NOTIFICATION_SWEEP_MINUTES, for notifications stuck longer than
    NOTIFICATION_STUCK_MINUTES."""
    action = ScheduleActionStartWorkflow(
        notification_sweep.NotificationSweepWorkflow.run,
        NotificationSweepInput(stuck_after_seconds=settings.notification_stuck_minutes * 60),
        id="notification-sweep-scheduled", task_queue=settings.temporal_task_queue,
    )
    every = timedelta(minutes=settings.notification_sweep_minutes)
    return await ensure_schedule(client, notification_sweep.SCHEDULE_ID, _every(every, action))


def customer_sync_schedule_id(customer_key: str) -> str:
    """`sync-<customer key>`: no VAT number in an id (README "Personal data in Temporal")."""
    return f"sync-{customer_key}"


def customer_sync_schedule(settings: Settings, target_id: int, customer_key: str, every_minutes: int,
                           paused: bool = False, note: str = "") -> Schedule:
    """A customer's sync rounds: every `every_minutes`, a round still running makes the next one skipped, and
    rounds missed while Temporal or the worker was down are made only within one interval (one round catches
    up everything, so a burst of late rounds would add nothing)."""
    from temporalio.client import ScheduleState
    from temporalio.common import SearchAttributePair, TypedSearchAttributes

    from core.search_attributes import CUSTOMER_KEY
    from models.sync_io import CustomerSyncInput
    from workflows.customer_sync import CustomerSyncWorkflow

    if every_minutes < MIN_SYNC_MINUTES:
        raise InvalidInput.one("every", f"at least {MIN_SYNC_MINUTES} minutes between rounds")
    every = timedelta(minutes=every_minutes)
    action = ScheduleActionStartWorkflow(
        CustomerSyncWorkflow.run, CustomerSyncInput(target_id), id=f"sync-{customer_key}-round",
        task_queue=settings.temporal_task_queue,
        typed_search_attributes=TypedSearchAttributes([SearchAttributePair(CUSTOMER_KEY, customer_key)]),
    )
    return Schedule(action=action, spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
                    policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=every),
                    state=ScheduleState(paused=paused, note=note))


MIN_SYNC_MINUTES = 5


# KSeF asks for at least 15 minutes between incremental downloads of one subject type
# (przyrostowe-pobieranie-faktur.md, "Minimalny interwał")
MIN_KSEF_MINUTES = 15


def ksef_download_schedule_id(customer_key: str) -> str:
    """`ksef-download-<customer key>`: no VAT number in an id."""
    return f"ksef-download-{customer_key}"


def ksef_download_schedule(settings: Settings, download_id: int, customer_key: str, every_minutes: int,
                           paused: bool = False, note: str = "") -> Schedule:
    """A customer's incremental KSeF download (#14.4): a round every `every_minutes`; a round still running
    makes the next one skipped, and rounds missed while Temporal or the worker was down are made only within one
    interval (a round catches up from the cursor, so one late round takes everything)."""
    from temporalio.client import ScheduleState
    from temporalio.common import SearchAttributePair, TypedSearchAttributes

    from core.search_attributes import CUSTOMER_KEY
    from models.ksef_download_io import KsefDownloadInput
    from workflows.ksef_download import KsefDownloadWorkflow

    if every_minutes < MIN_KSEF_MINUTES:
        raise InvalidInput.one("every", f"at least {MIN_KSEF_MINUTES} minutes between rounds")
    every = timedelta(minutes=every_minutes)
    action = ScheduleActionStartWorkflow(
        KsefDownloadWorkflow.run, KsefDownloadInput(download_id), id=f"ksef-download-{customer_key}-round",
        task_queue=settings.temporal_task_queue,
        typed_search_attributes=TypedSearchAttributes([SearchAttributePair(CUSTOMER_KEY, customer_key)]),
    )
    return Schedule(action=action, spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
                    policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=every),
                    state=ScheduleState(paused=paused, note=note))
