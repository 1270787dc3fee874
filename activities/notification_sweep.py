"""Redeliver stored SDI notifications that never reached their invoice workflow (the sweep's one activity).

A notification is stored before its workflow is signalled; when Temporal was unreachable at that moment
and the SDI does not deliver it again, only this brings it to the workflow.

Idempotency: the signal carries the notification's name and the workflow keeps the first of each name; the
row is settled (`signaled`) only after Temporal took the signal or said the workflow is gone, so a crash in
between signals it once more next time, which changes nothing. A workflow that no longer exists is not
retried: the row is settled as late (reported by name, kept as a file of the invoice, not applied).

An async activity: it signals through the worker's own Temporal client; the database work runs in a thread.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from core.db import session_scope
from core.settings import Settings
from core.temporal import connect
from models import invoices as db
from models.files import read_file
from models.invoices_io import (
    NOTIFICATION_SIGNAL,
    NotificationRef,
    RedeliverReport,
    RedeliverRequest,
    notification_ref,
)

log = logging.getLogger("einvoice.notification_sweep")


class NotificationSweepActivities:
    def __init__(self, settings: Settings, client: Client | None = None):
        """`client`: the worker's own; without one, a client is made from the settings on first use."""
        self.settings = settings
        self._client = client

    async def _temporal(self) -> Client:
        if self._client is None:
            self._client = await connect(self.settings)
        return self._client

    @activity.defn(name="invoice_redeliver_notifications")
    async def redeliver(self, req: RedeliverRequest) -> RedeliverReport:
        """Signal each stuck notification of one page (stored before `stored_before`, not settled) to its
        invoice workflow again, and settle it: delivered, or late when the workflow is gone."""
        stored_before = datetime.fromisoformat(req.stored_before)
        page = await asyncio.to_thread(self._stuck_page, stored_before, req.limit)
        activity.heartbeat(f"{len(page)} stuck")
        report = RedeliverReport(examined=len(page))
        if not page:
            return report
        client = await self._temporal()
        for stuck, ref in page:
            try:
                await client.get_workflow_handle(stuck.workflow_id).signal(NOTIFICATION_SIGNAL, ref)
                report.delivered.append(stuck.name)
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise  # Temporal in trouble: the activity is retried, nothing was settled for this one
                log.warning("notification %s is late: workflow %s no longer exists; kept, not applied",
                            stuck.name, stuck.workflow_id)
                report.late.append(stuck.name)
            await asyncio.to_thread(self._settle, stuck.id)
            activity.heartbeat(stuck.name)
        return report

    def _stuck_page(self, stored_before: datetime, limit: int) -> list[tuple[db.StuckNotification, NotificationRef]]:
        """The page and, for each, the signal the endpoint would have sent (read back from the stored file,
        verified when it arrived)."""
        from domain.sdi import messages

        out: list[tuple[db.StuckNotification, NotificationRef]] = []
        with session_scope(self.settings.database_url) as session:
            for stuck in db.stuck_notifications(session, stored_before, limit):
                _, content = read_file(session, stuck.file_id)
                n = messages.read_notification(content, validate=False, field_name=stuck.name)
                out.append((stuck, notification_ref(stuck.invoice_id, stuck.name, stuck.file_id, n)))
        return out

    def _settle(self, notification_id: int) -> None:
        with session_scope(self.settings.database_url) as session:
            db.mark_signaled(session, notification_id)
