"""Conservation of one document (an invoice with its receipts): store its archival package on S3 under
Object Lock, then record it.

    archiving ──store package (files + index, each read back and checked)──► record in DB ──► conserved
                 │ S3 down: retried until it is back (nothing recorded meanwhile)
                 └ other bytes under a locked key, bad input: failed (non-retryable)

Started by the invoice workflow as a child when the invoice's cycle closes, with id
`conserve-<owner_kind>-<document key>` (`workflow_id_for`) so a second start is refused by Temporal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import TypedSearchAttributes
from temporalio.exceptions import ActivityError

from workflows.common import (
    LOCAL_ATTEMPT_TIMEOUT,
    LOCAL_TOTAL_TIMEOUT,
    RETRY_FAST,
    initial_search_attributes,
    publish_status,
)

with workflow.unsafe.imports_passed_through():
    from activities.archive import ArchiveActivities
    from models.conservation_io import ConservationInput, ConservationResult, StorePackageInput

# A package may hold large files: each attempt of the store activity gets this long.
STORE_ATTEMPT_TIMEOUT = timedelta(minutes=15)
# It heartbeats between files, chunks and parts: a worker lost mid-upload is noticed within this.
HEARTBEAT_TIMEOUT = timedelta(seconds=30)


def workflow_id_for(owner_kind: str, document_key: str) -> str:
    """`conserve-<owner kind>-<document key>`: the key of the owner's id (core/search_keys), never the id."""
    return f"conserve-{owner_kind}-{document_key}"


def search_attributes_for(customer_key: str, document_key: str) -> TypedSearchAttributes:
    """For the starter: CustomerKey, DocumentId, BusinessStatus (the parent's child start passes its own)."""
    return initial_search_attributes(customer_key, document_key, "archiving")


@dataclass
class ConservationState:
    status: str  # "archiving" | "recording" | "conserved" | "failed"
    package_id: str | None = None
    result: ConservationResult | None = None


@workflow.defn(name="ConservationWorkflow")
class ConservationWorkflow:
    def __init__(self) -> None:
        self._state = ConservationState("archiving")

    @workflow.run
    async def run(self, inp: ConservationInput) -> ConservationResult:
        publish_status("archiving")
        try:
            stored = await workflow.execute_activity_method(
                ArchiveActivities.store_package,
                StorePackageInput(request=inp, created_at=workflow.now().isoformat()),
                start_to_close_timeout=STORE_ATTEMPT_TIMEOUT,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                schedule_to_close_timeout=LOCAL_TOTAL_TIMEOUT,
                retry_policy=RETRY_FAST,
            )
        except ActivityError:
            # A fault (other bytes under a locked key, bad input) or S3 down beyond the total timeout:
            # nothing was recorded; operators find it by its status.
            self._state = ConservationState("failed")
            publish_status("conservation-failed")
            raise
        self._state = ConservationState("recording", stored.package_id)
        # Recording touches only our database: a local activity (one marker in the history). Its own retry
        # boundary is kept: a database outage retries the record, never the upload above.
        result = await workflow.execute_local_activity_method(
            ArchiveActivities.record_package,
            stored,
            start_to_close_timeout=LOCAL_ATTEMPT_TIMEOUT,
            schedule_to_close_timeout=LOCAL_TOTAL_TIMEOUT,
            retry_policy=RETRY_FAST,
        )
        self._state = ConservationState("conserved", result.package_id, result)
        publish_status("conserved")
        return result

    @workflow.query
    def state(self) -> ConservationState:
        return self._state
