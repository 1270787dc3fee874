"""The download from KSeF (#14.4): a customer's received invoices into the passive cycle.

    take (pages of KSeF's metadata, new invoices verified and stored, the cursor with them) ──►
      hand over (an InvoiceReceiveWorkflow per invoice taken: e-mailed, shown, conserved) ──►
        a range: again until its end; a scheduled round: again until caught up with KSeF's HWM

One workflow for both: `ksef-download-<customer key>-<download id>` for a range asked for
(`einvoice ksef download --from --to`), and the rounds of the customer's Temporal Schedule
(`ksef-download-<customer key>`, every N minutes, overlap SKIP, catch-up window one interval). Its input is the
download's id only: the cursor is in the database, written with the invoices it covers, so a retried activity,
a restarted worker or a new round starts where the last commit left off (never skipping, never taking twice:
activities/ksef_download.py). The passive-cycle workflows are children that outlive it (ABANDON) with ids of
their own invoice, refused by Temporal a second time (REJECT_DUPLICATE), and marked started afterwards.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

from workflows.common import (
    LOCAL_ATTEMPT_TIMEOUT,
    LOCAL_TOTAL_TIMEOUT,
    RETRY_FAST,
    initial_search_attributes,
    publish_status,
)

with workflow.unsafe.imports_passed_through():
    from activities.ksef_download import KsefDownloadActivities
    from models.invoices_io import INBOX
    from models.ksef_download_io import (
        HandedOver,
        HandoverBatch,
        KsefDownloadInput,
        KsefDownloadResult,
        KsefRoundReport,
    )
    from workflows.invoice_receive import InvoiceReceiveWorkflow

# A call reads at most 20 pages (activities.ksef_download.MAX_PAGES_PER_CALL), each heartbeating after every
# invoice; KSeF's limits (64 invoices an hour) are waited out as retries with its Retry-After, not inside.
TAKE_ATTEMPT_TIMEOUT = timedelta(minutes=15)
# A worker that died mid-round is noticed within 20 s (as customer_sync's rounds) and the round retried from the
# cursor, instead of a minute: the take is never silent that long. It heartbeats after every invoice and page,
# every 5 s of a wait (a Retry-After, our rate budget), and one KSeF request lasts at most its 15 s timeout
# (activities.ksef_download.REQUEST_TIMEOUT). Only the timeout changes: recorded histories replay as they are.
TAKE_HEARTBEAT_TIMEOUT = timedelta(seconds=20)
TAKE_TOTAL_TIMEOUT = timedelta(days=3)
RETRY_TAKE = RetryPolicy(initial_interval=timedelta(seconds=5), backoff_coefficient=2.0,
                         maximum_interval=timedelta(minutes=10),
                         non_retryable_error_types=["KsefDownloadRefused"])
CALLS_PER_RUN = 50  # then continue as new (the history stays small over a long range)
# A range whose end is past KSeF's HWM asks again this long after (the HWM follows now within minutes)
RANGE_HWM_WAIT = timedelta(minutes=2)


@workflow.defn(name="KsefDownloadWorkflow")
class KsefDownloadWorkflow:
    def __init__(self) -> None:
        self._result = KsefDownloadResult()

    @workflow.query(name="status")
    def status(self) -> KsefDownloadResult:
        return self._result

    async def _hand_over(self, inp: KsefDownloadInput) -> None:
        while True:
            batch: HandoverBatch = await workflow.execute_local_activity_method(
                KsefDownloadActivities.pending, inp, start_to_close_timeout=LOCAL_ATTEMPT_TIMEOUT,
                schedule_to_close_timeout=LOCAL_TOTAL_TIMEOUT, retry_policy=RETRY_FAST)
            if not batch.starts:
                return
            for start in batch.starts:
                try:
                    await workflow.start_child_workflow(
                        InvoiceReceiveWorkflow.run, start.input, id=start.workflow_id,
                        parent_close_policy=ParentClosePolicy.ABANDON,
                        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                        search_attributes=initial_search_attributes(start.customer_key, start.document_key, INBOX))
                except WorkflowAlreadyStartedError:
                    pass  # started before a crash, not yet marked: it runs once
            await workflow.execute_local_activity_method(
                KsefDownloadActivities.handed_over, HandedOver(inp.download_id, [s.invoice_id for s in batch.starts]),
                start_to_close_timeout=LOCAL_ATTEMPT_TIMEOUT, schedule_to_close_timeout=LOCAL_TOTAL_TIMEOUT,
                retry_policy=RETRY_FAST)
            self._result.handed_over += len(batch.starts)
            if not batch.more:
                return

    @workflow.run
    async def run(self, inp: KsefDownloadInput) -> KsefDownloadResult:
        publish_status("downloading")
        await self._hand_over(inp)  # what an earlier run took and did not hand over
        for _ in range(CALLS_PER_RUN):
            try:
                report: KsefRoundReport = await workflow.execute_activity_method(
                    KsefDownloadActivities.take, inp, start_to_close_timeout=TAKE_ATTEMPT_TIMEOUT,
                    heartbeat_timeout=TAKE_HEARTBEAT_TIMEOUT, schedule_to_close_timeout=TAKE_TOTAL_TIMEOUT,
                    retry_policy=RETRY_TAKE)
            except ActivityError:
                publish_status("failed")  # the reason is the activity's failure, shown in the UI
                raise
            self._result.taken += report.taken
            self._result.rounds += 1
            await self._hand_over(inp)
            if report.finished or (report.caught_up and not inp.range):
                self._result.finished = report.finished
                publish_status("finished" if report.finished else "caught-up")
                return self._result
            if report.caught_up:  # a range reaching past KSeF's HWM: its last part is not closed yet
                publish_status("awaiting-hwm")
                await workflow.sleep(RANGE_HWM_WAIT)
        workflow.continue_as_new(KsefDownloadInput(inp.download_id, inp.range, inp.rounds_done + CALLS_PER_RUN))
