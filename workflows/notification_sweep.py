"""The notification sweep: SDI notifications stored but never delivered to their invoice workflow (Temporal
was unreachable when the SDI called us, and the SDI did not call again) are signalled again.

Runs on a Temporal Schedule (every NOTIFICATION_SWEEP_MINUTES, ensured when the worker starts; overlapping
runs are skipped). A notification counts as stuck when it is still not settled `stuck_after_seconds` after
it was stored, so the sweep does not race the endpoint's own signal. Pages of PAGE, at most MAX_PAGES per
run: a backlog larger than that is taken up by the next run.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.common import LOCAL_ATTEMPT_TIMEOUT, RETRY_FAST, publish_status

with workflow.unsafe.imports_passed_through():
    from activities.notification_sweep import NotificationSweepActivities
    from models.invoices_io import NotificationSweepInput, RedeliverReport, RedeliverRequest

SCHEDULE_ID = "notification-sweep-schedule"
PAGE = 100
MAX_PAGES = 10
# One page signals up to PAGE workflows; it heartbeats after each. Retries stop after an hour: the next
# scheduled run starts over.
REDELIVER_ATTEMPT_TIMEOUT = timedelta(minutes=2)
REDELIVER_TOTAL_TIMEOUT = timedelta(hours=1)
HEARTBEAT_TIMEOUT = LOCAL_ATTEMPT_TIMEOUT


@workflow.defn(name="NotificationSweepWorkflow")
class NotificationSweepWorkflow:
    @workflow.run
    async def run(self, inp: NotificationSweepInput) -> RedeliverReport:
        # The cut-off comes from the workflow's clock: recorded in history, the same for every retry.
        stored_before = (workflow.now() - timedelta(seconds=max(inp.stuck_after_seconds, 0))).isoformat()
        report = RedeliverReport()
        for _ in range(MAX_PAGES):
            page = await workflow.execute_activity_method(
                NotificationSweepActivities.redeliver, RedeliverRequest(stored_before, PAGE),
                start_to_close_timeout=REDELIVER_ATTEMPT_TIMEOUT, heartbeat_timeout=HEARTBEAT_TIMEOUT,
                schedule_to_close_timeout=REDELIVER_TOTAL_TIMEOUT, retry_policy=RETRY_FAST,
            )
            report.merge(page)
            if page.examined < PAGE:
                break
        if report.late:
            publish_status("late-notifications")
        return report
