"""The notification sweep (issue #13 item 3): a notification stored while Temporal was unreachable, which the
SDI never delivers again, is signalled by the sweep and applied once; a second sweep does nothing; one for
a workflow that is gone is settled as late instead of being retried forever.

On a real dev server, with our TrasmissioneFatture code (`receive_notification`) and a fake SDI channel.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from temporalio.client import Client, ScheduleHandle, ScheduleIntervalSpec, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.notification_sweep import NotificationSweepActivities
from core.db import session_scope
from core.settings import Settings
from domain.errors import InvalidInput
from domain.sdi import messages, soap
from models import invoices as invdb
from models.invoices import SdiNotification
from models.invoices_io import NotificationSweepInput, RedeliverReport, RedeliverRequest
from starters.invoices import get_invoice, receive_notification, send_invoice
from tests.helpers import assert_eventually, free_port, new_worker, record_history
from tests.identity_support import operator
from tests.invoices_support import (
    VAT,
    FakeSdi,
    ensure_customer,
    fresh_progressives,
    invoice,
    invoice_activities,
    invoice_workflows,
)
from workers.schedules import ensure_notification_sweep_schedule
from workflows.invoice_send import InvoiceSendWorkflow
from workflows.notification_sweep import SCHEDULE_ID, NotificationSweepWorkflow


def _own(settings: Settings, tmp_path: Path) -> Settings:
    """This test's task queue and SDI signing certificate (written by the signer below)."""
    return settings.model_copy(update={"data_dir": tmp_path / "data", "sdi_signer_cert": str(tmp_path / "sdi.pem"),
                                       "temporal_task_queue": f"tq-sweep-{uuid.uuid4()}"})


def _away(settings: Settings) -> Settings:
    """The same settings with Temporal unreachable (nothing listens on that port)."""
    return settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}"})


class Sdi:
    """What the SDI calls our TrasmissioneFatture endpoint with: signed notifications in their envelopes."""

    def __init__(self, settings: Settings):
        from sdisim.main import xades_signer

        self.sign = xades_signer(settings.sdi_signer_cert_path)

    def rc(self, sdi_id: int, file_name: str) -> tuple[str, bytes]:
        now = datetime.now(UTC)
        data = messages.build_rc(sdi_id, file_name, now, now, "ABC1234", "Beta", "1", self.sign)
        return self._envelope("RicevutaConsegna", sdi_id, file_name, "RC", data)

    def dt(self, sdi_id: int, file_name: str) -> tuple[str, bytes]:
        data = messages.build_dt(sdi_id, file_name, "decorsi i termini", "2", self.sign)
        return self._envelope("NotificaDecorrenzaTermini", sdi_id, file_name, "DT", data)

    @staticmethod
    def _envelope(operation: str, sdi_id: int, file_name: str, kind: str, data: bytes) -> tuple[str, bytes]:
        name = messages.notification_file_name(file_name, kind)
        return name, soap.build_trasmissione(operation, soap.FileSdI(sdi_id, name, data))


def _row(settings: Settings, name: str) -> SdiNotification:
    with session_scope(settings.database_url) as session:
        row = session.scalar(select(SdiNotification).where(SdiNotification.name == name))
        assert row is not None, name
        session.expunge(row)
        return row


async def _stored_while_temporal_is_away(settings: Settings, body: bytes, name: str) -> None:
    """The SDI delivers once; Temporal cannot be reached, so the endpoint answers a fault and the SDI (here)
    never tries again. The notification is stored, not settled."""
    with pytest.raises(RuntimeError, match="connect"):
        await receive_notification(_away(settings), body)
    assert not _row(settings, name).signaled


async def _sweep(client: Client, settings: Settings, stuck_after_seconds: int = 0,
                 record_as: str | None = None) -> RedeliverReport:
    workflow_id = f"sweep-{uuid.uuid4()}"
    report = await client.execute_workflow(NotificationSweepWorkflow.run, NotificationSweepInput(stuck_after_seconds),
                                           id=workflow_id, task_queue=settings.temporal_task_queue)
    if record_as:
        await record_history(client, workflow_id, record_as)
    return report


@asynccontextmanager
async def _worker(client: Client, settings: Settings) -> AsyncIterator[None]:
    """The invoice workflows with a fake SDI channel, and the sweep, on the test's task queue."""
    activities = [*invoice_activities(settings, FakeSdi()), NotificationSweepActivities(settings, client).redeliver]
    async with new_worker(client, settings, workflows=[*invoice_workflows(), NotificationSweepWorkflow],
                          activities=activities, task_queue=settings.temporal_task_queue):  # type: ignore[arg-type]
        yield


async def _sent(client: Client, settings: Settings, number: str) -> invdb.InvoiceView:
    ensure_customer(settings)
    fresh_progressives(settings)
    view = await send_invoice(settings, VAT, invoice(number), f"{number}.xml", client=client,
                              task_queue=settings.temporal_task_queue, conserve=False, as_user=operator(settings))

    async def sent() -> invdb.InvoiceView:
        now = get_invoice(settings, view.id, as_user=operator(settings))
        assert now.state == "sent" and now.sdi_id is not None, now.state
        return now

    return await assert_eventually(sent, timeout=30, interval=0.2)


async def test_a_notification_stored_while_temporal_was_away_is_applied_by_the_sweep_once(
        dev_env: WorkflowEnvironment, settings: Settings, db: str, tmp_path: Path) -> None:
    own = _own(settings, tmp_path)
    sdi = Sdi(own)
    client = dev_env.client
    async with _worker(client, own):
        view = await _sent(client, own, "SWEEP-1")
        assert view.sdi_id is not None
        rc_name, rc = sdi.rc(view.sdi_id, view.file_name)
        await _stored_while_temporal_is_away(own, rc, rc_name)
        handle = client.get_workflow_handle_for(InvoiceSendWorkflow.run, view.workflow_id)
        assert (await handle.query(InvoiceSendWorkflow.status)).notifications == []  # the workflow never heard

        # Not yet stuck: stored moments ago, the sweep leaves it to the endpoint's own signal.
        assert (await _sweep(client, own, stuck_after_seconds=120)).examined == 0

        report = await _sweep(client, own, record_as="notification_sweep")
        assert (report.examined, report.delivered, report.late) == (1, [rc_name], [])
        result = await asyncio.wait_for(handle.result(), 30)
        assert result.state == "delivered" and result.notifications == [rc_name]
        assert get_invoice(own, view.id, as_user=operator(own)).state == "delivered"
        assert _row(own, rc_name).signaled

        again = await _sweep(client, own)  # idempotent: nothing left to do
        assert (again.examined, again.delivered, again.late) == (0, [], [])

        # The workflow has closed (B2B, delivered); a later notification finds it gone: settled as late, once.
        dt_name, dt = sdi.dt(view.sdi_id, view.file_name)
        await _stored_while_temporal_is_away(own, dt, dt_name)
        late = await _sweep(client, own)
        assert (late.examined, late.delivered, late.late) == (1, [], [dt_name])
        assert _row(own, dt_name).signaled
        assert (await _sweep(client, own)).examined == 0  # not retried
    assert get_invoice(own, view.id, as_user=operator(own)).state == "delivered"  # the late DT applied nothing


async def test_the_worker_schedule_runs_the_sweep(dev_env: WorkflowEnvironment, settings: Settings, db: str,
                                                  tmp_path: Path) -> None:
    """The schedule the worker ensures at start (idempotent) runs the sweep: here triggered at once, with the
    notification made older than NOTIFICATION_STUCK_MINUTES instead of waiting for it."""
    own = _own(settings, tmp_path).model_copy(update={"notification_sweep_minutes": 7})
    client = dev_env.client
    sdi = Sdi(own)
    try:
        assert await ensure_notification_sweep_schedule(client, own) in ("created", "updated")
        assert await ensure_notification_sweep_schedule(client, own) == "updated"
        schedule = client.get_schedule_handle(SCHEDULE_ID)
        spec = (await schedule.describe()).schedule.spec
        assert spec.intervals == [ScheduleIntervalSpec(every=timedelta(minutes=7))]
        async with _worker(client, own):
            view = await _sent(client, own, "SWEEP-2")
            assert view.sdi_id is not None
            rc_name, rc = sdi.rc(view.sdi_id, view.file_name)
            await _stored_while_temporal_is_away(own, rc, rc_name)
            with session_scope(own.database_url) as session:
                row = session.scalar(select(SdiNotification).where(SdiNotification.name == rc_name))
                assert row is not None
                row.received_at = datetime.now(UTC) - timedelta(minutes=own.notification_stuck_minutes + 1)
            await schedule.trigger()
            handle = client.get_workflow_handle_for(InvoiceSendWorkflow.run, view.workflow_id)

            async def closed() -> None:
                assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED

            await assert_eventually(closed, timeout=60, interval=0.3)
            assert (await handle.result()).state == "delivered"
            assert _row(own, rc_name).signaled
    finally:
        await client.get_schedule_handle(SCHEDULE_ID).delete()


async def test_the_worker_ensures_its_schedules_when_it_starts(dev_env: WorkflowEnvironment, settings: Settings,
                                                                tmp_path: Path) -> None:
    """`einvoice worker` (run_worker) makes the sweep's schedule, and the archive verification's, itself."""
    import signal

    from workers.main import run_worker
    from workflows import archive_verify

    own = _own(settings, tmp_path).model_copy(update={
        "temporal_address": dev_env.client.service_client.config.target_host, "notification_sweep_minutes": 9})
    client = dev_env.client
    archive_schedule = client.get_schedule_handle(archive_verify.SCHEDULE_ID)
    archive_existed = await _exists(archive_schedule)
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(own, stop))
    try:
        async def both() -> None:
            assert not worker.done(), worker
            assert await _exists(client.get_schedule_handle(SCHEDULE_ID))
            spec = (await client.get_schedule_handle(SCHEDULE_ID).describe()).schedule.spec
            assert spec.intervals == [ScheduleIntervalSpec(every=timedelta(minutes=9))]
            assert await _exists(archive_schedule)

        await assert_eventually(both, timeout=30, interval=0.3)
    finally:
        stop.set()
        await worker
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):  # run_worker's handlers: the test runner's own come back
            loop.remove_signal_handler(sig)
        await client.get_schedule_handle(SCHEDULE_ID).delete()
        if not archive_existed:
            await archive_schedule.delete()


async def _exists(schedule: ScheduleHandle) -> bool:
    try:
        await schedule.describe()
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        return False
    return True


# ---------------------------------------------------------------- the page and the activity, without a server

def _stored(settings: Settings, invoice_id: str, file_name: str, kind: str, sdi_id: int,
            minutes_ago: float) -> int:
    """A notification stored as the endpoint stores it, `minutes_ago`; returns its row id."""
    import hashlib

    from sdisim.main import xades_signer

    now, sign = datetime.now(UTC), xades_signer()
    data = (messages.build_rc(sdi_id, file_name, now, now, "ABC1234", "Beta", "1", sign) if kind == "RC"
            else messages.build_dt(sdi_id, file_name, "decorsi", "2", sign))
    name = messages.notification_file_name(file_name, kind)
    with session_scope(settings.database_url) as session:
        info = invdb.store_invoice_file(session, invoice_id, "notification", name, "application/xml", data)
        row, _ = invdb.record_notification(session, name, invoice_id, kind, sdi_id,
                                           hashlib.sha256(data).hexdigest(), info.id)
        row.received_at = now - timedelta(minutes=minutes_ago)
        return row.id


def _an_invoice(settings: Settings, stem: str) -> str:
    ensure_customer(settings)
    with session_scope(settings.database_url) as session:
        invdb.add_invoice(session, VAT, invdb.NewInvoice(
            stem, "out", f"{stem}.xml", "IT01234567897", "none", None, "FPR12", "x", None, "ABC1234", stem[-5:],
            "2026-01-01", "1.00", "EUR", 1, f"wf-{stem}", sdi_id=77, state="sent"), [stem], [])
    return f"{stem}.xml"


def test_a_page_holds_only_old_unsettled_notifications_of_our_sent_invoices(settings: Settings, db: str) -> None:
    name = _an_invoice(settings, "IT01234567897_000S1")
    old = _stored(settings, "IT01234567897_000S1", name, "RC", 77, minutes_ago=10)
    _stored(settings, "IT01234567897_000S1", name, "DT", 77, minutes_ago=0)  # too young
    with session_scope(settings.database_url) as session:
        fileless, _ = invdb.record_notification(session, "IT01234567897_000S1_NE_001.xml", "IT01234567897_000S1",
                                                   "NE", 77, "0" * 64, None)  # no file: never signalled
        foreign, _ = invdb.record_notification(session, "IT09999999999_00001_RC_001.xml", None, "RC", 5, "1" * 64,
                                               None)  # about no invoice of ours
        for row in (fileless, foreign):
            row.received_at = datetime.now(UTC) - timedelta(hours=1)
    cutoff = datetime.now(UTC) - timedelta(minutes=2)
    with session_scope(settings.database_url) as session:
        page = invdb.stuck_notifications(session, cutoff, 10)
        assert [(s.id, s.workflow_id) for s in page] == [(old, "wf-IT01234567897_000S1")]
        invdb.mark_signaled(session, old)
        assert invdb.stuck_notifications(session, cutoff, 10) == []
        for limit in (0, 1001):
            with pytest.raises(InvalidInput, match="limit"):
                invdb.stuck_notifications(session, cutoff, limit)
        with pytest.raises(InvalidInput, match="stored_before"):
            invdb.stuck_notifications(session, cutoff.replace(tzinfo=None), 10)


class _Temporal:
    """Stands in for the worker's client: every signal fails with `status`, or is kept."""

    def __init__(self, status: RPCStatusCode | None = None):
        self.status = status
        self.signals: list[tuple[str, str]] = []

    def get_workflow_handle(self, workflow_id: str) -> _Temporal:
        self._target = workflow_id
        return self

    async def signal(self, name: str, arg: object) -> None:
        if self.status is not None:
            raise RPCError("stub", self.status, b"")
        self.signals.append((self._target, getattr(arg, "name", "")))


async def test_temporal_failing_settles_nothing_and_a_gone_workflow_is_settled_late(settings: Settings,
                                                                                     db: str) -> None:
    name = _an_invoice(settings, "IT01234567897_000S2")
    row_id = _stored(settings, "IT01234567897_000S2", name, "RC", 77, minutes_ago=10)
    req = RedeliverRequest((datetime.now(UTC) - timedelta(minutes=2)).isoformat(), 10)
    env = ActivityEnvironment()

    failing = NotificationSweepActivities(settings, _Temporal(RPCStatusCode.UNAVAILABLE))  # type: ignore[arg-type]
    with pytest.raises(RPCError):
        await env.run(failing.redeliver, req)
    with session_scope(settings.database_url) as session:
        assert not session.get(SdiNotification, row_id).signaled  # type: ignore[union-attr]

    up = _Temporal()
    report = await env.run(NotificationSweepActivities(settings, up).redeliver, req)  # type: ignore[arg-type]
    assert report.delivered == ["IT01234567897_000S2_RC_001.xml"] and up.signals == [
        ("wf-IT01234567897_000S2", "IT01234567897_000S2_RC_001.xml")]

    name3 = _an_invoice(settings, "IT01234567897_000S3")
    _stored(settings, "IT01234567897_000S3", name3, "RC", 77, minutes_ago=10)
    gone = NotificationSweepActivities(settings, _Temporal(RPCStatusCode.NOT_FOUND))  # type: ignore[arg-type]
    report = await env.run(gone.redeliver, req)
    assert (report.delivered, report.late) == ([], ["IT01234567897_000S3_RC_001.xml"])
    assert (await env.run(gone.redeliver, req)).examined == 0
