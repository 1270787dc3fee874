"""Updates whose answer may take days, answered within a bound (#18.5).

An update whose handler waits on a retried external activity (the outcome of a received PA invoice sent to
the SDI, a revocation at the CA) may take as long as that authority stays down: up to three days. A caller
(an HTTP request above all) must not wait that long. So the update is started and waited for only until the
workflow has *accepted* it (its validator passed, it is in the history and will run to its end), then its
result is awaited for at most `wait_seconds`. Finished: the result. Not yet: `Pending`, and the caller
answers 202 with the link where the outcome will show (the invoice or certificate status).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowHandle, WorkflowUpdateRPCTimeoutOrCancelledError, WorkflowUpdateStage

from core.settings import Settings
from core.temporal import RPC_TIMEOUT


def update_wait(settings: Settings) -> timedelta:
    """The rpc_timeout of an update that waits only on our own side effects (the database, SMTP): as long as
    an HTTP request may wait. Past it the update still runs; the caller gets `WorkflowUpdateRPCTimeoutOr
    CancelledError` (HTTP 503: look at the status)."""
    return timedelta(seconds=settings.http_wait_seconds)


@dataclass(frozen=True)
class Pending:
    """Accepted by the workflow, not finished within the wait: it goes on, and its result shows later."""

    update_id: str


async def bounded_update(handle: WorkflowHandle[Any, Any], update: Any, arg: Any, wait_seconds: float,
                         result_type: type | None = None) -> Any:
    """The update's result, or `Pending` once `wait_seconds` have passed after the workflow accepted it.
    A refusal by the validator, or a failure of the handler within the wait, raises as `execute_update`
    does (`WorkflowUpdateFailedError`); Temporal not answering the start raises `RPCError` after
    RPC_TIMEOUT."""
    kw: dict[str, Any] = {"result_type": result_type} if result_type is not None else {}
    started = await handle.start_update(update, arg, wait_for_stage=WorkflowUpdateStage.ACCEPTED,
                                        rpc_timeout=RPC_TIMEOUT, **kw)
    try:
        return await asyncio.wait_for(started.result(rpc_timeout=timedelta(seconds=wait_seconds)),
                                      wait_seconds + RPC_TIMEOUT.total_seconds())
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        return Pending(started.id)
