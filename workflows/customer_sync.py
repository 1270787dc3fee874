"""One round of a customer's in-stack sync (#15.2): run by the customer's Temporal Schedule every N minutes.

The round is one activity that pages through the feed until caught up; a crash anywhere resumes from the
last page the copy committed (the cursor is stored with the page), so retries are safe. The schedule skips
a round while the previous one still runs (overlap SKIP) and, after an outage, makes one catch-up round at
most (its catch-up window is one interval): one round catches up everything anyway.

A round refused by the policy (the scheduling user lost `feed.read`) fails at once and says why; the next
round asks again.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from workflows.common import publish_status

with workflow.unsafe.imports_passed_through():
    from activities.customer_sync import CustomerSyncActivities
    from models.sync_io import CustomerSyncInput, CustomerSyncReport

# A round of 100,000 entries takes about 12-20 s (bench/sync.py); 30 minutes leaves room for documents and
# a slow target. The heartbeat comes after each page (500 entries, well under a second): a worker that died
# mid-round is noticed within 20 s and the round retried on another, from the copy's own cursor.
ROUND_ATTEMPT_TIMEOUT = timedelta(minutes=30)
ROUND_HEARTBEAT_TIMEOUT = timedelta(seconds=20)
# Retries stop before the next round is due anyway (the shortest interval is 5 minutes); the round after
# starts over from the copy's own cursor.
ROUND_TOTAL_TIMEOUT = timedelta(hours=1)
RETRY_ROUND = RetryPolicy(initial_interval=timedelta(seconds=5), backoff_coefficient=2.0,
                          maximum_interval=timedelta(minutes=2), non_retryable_error_types=["SyncRefused"])


@workflow.defn(name="CustomerSyncWorkflow")
class CustomerSyncWorkflow:
    @workflow.run
    async def run(self, inp: CustomerSyncInput) -> CustomerSyncReport:
        publish_status("syncing")
        try:
            report = await workflow.execute_activity_method(
                CustomerSyncActivities.apply_feed, inp,
                start_to_close_timeout=ROUND_ATTEMPT_TIMEOUT, heartbeat_timeout=ROUND_HEARTBEAT_TIMEOUT,
                schedule_to_close_timeout=ROUND_TOTAL_TIMEOUT, retry_policy=RETRY_ROUND,
            )
        except ActivityError:
            publish_status("failed")  # the reason is the activity's failure, shown in the UI
            raise
        publish_status("caught-up" if report.behind == 0 else "behind")
        return report
