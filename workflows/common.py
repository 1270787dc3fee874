"""What every workflow shares: search attribute keys, retry policies, timeouts, status helpers.

Workflow-safe: imports nothing heavy, touches no I/O.

Retry convention (named so every `execute_activity` says which it uses):
- `RETRY_FAST`     local side effects (DB, SMTP, S3): quick backoff, unlimited attempts, the activity's
                   own schedule-to-close bounds it. Business refusals are `ApplicationError(non_retryable)`.
- `RETRY_EXTERNAL` a remote authority (SDI, CA, KSeF) that may be down for hours: slower backoff.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributePair, TypedSearchAttributes

# The keys live in core (below us and the client); re-exported for the workflows that set them.
from core.search_attributes import BUSINESS_STATUS as BUSINESS_STATUS
from core.search_attributes import CUSTOMER_KEY as CUSTOMER_KEY
from core.search_attributes import DOCUMENT_ID as DOCUMENT_ID

RETRY_FAST = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)
RETRY_EXTERNAL = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
)

# Per attempt, and in all (so a dependency down for a day is waited out, not failed on). Attempts are short
# on purpose: a worker that dies mid-activity is noticed only when the attempt times out, then retried.
LOCAL_ATTEMPT_TIMEOUT = timedelta(seconds=10)
LOCAL_TOTAL_TIMEOUT = timedelta(hours=24)
EXTERNAL_ATTEMPT_TIMEOUT = timedelta(seconds=30)
EXTERNAL_TOTAL_TIMEOUT = timedelta(days=3)


def initial_search_attributes(customer_key: str, document_key: str, status: str) -> TypedSearchAttributes:
    """Set at workflow start (costs no extra history event, unlike an upsert). The keys are the opaque ones of
    `core.search_keys` (computed outside the workflow: they need the secret), never a VAT number."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(CUSTOMER_KEY, customer_key),
            SearchAttributePair(DOCUMENT_ID, document_key),
            SearchAttributePair(BUSINESS_STATUS, status),
        ]
    )


def own_search_attributes(status: str) -> TypedSearchAttributes:
    """Inside a workflow: this run's own keys with a new status, for a continue-as-new or a child (a workflow
    never computes a key itself: it has no secret)."""
    attrs = workflow.info().typed_search_attributes
    pairs: list[SearchAttributePair[str]] = [
        SearchAttributePair(key, value) for key in (CUSTOMER_KEY, DOCUMENT_ID) if (value := attrs.get(key))]
    return TypedSearchAttributes([*pairs, SearchAttributePair(BUSINESS_STATUS, status)])


def publish_status(status: str) -> None:
    """Inside a workflow: make the business status searchable in the UI (skipped when unchanged)."""
    if workflow.info().typed_search_attributes.get(BUSINESS_STATUS) != status:
        workflow.upsert_search_attributes([BUSINESS_STATUS.value_set(status)])
