"""An activity interceptor that SIGKILLs its own worker at a chosen activity boundary, once.

FAULT_KILL_AT="send_email:after,store_invoice:before" names the points; FAULT_STATE_DIR keeps a marker per
point so the restarted worker passes it. "before": the task was handed to the worker, nothing done yet.
"after": the activity's side effect is done and committed, but its result never reaches Temporal, which
retries it after its start-to-close timeout — the case idempotency keys are for.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor


def _points() -> set[str]:
    return {p.strip() for p in os.environ.get("FAULT_KILL_AT", "").split(",") if p.strip()}


def maybe_die(activity_type: str, when: str) -> None:
    point = f"{activity_type}:{when}"
    if point not in _points():
        return
    marker = Path(os.environ["FAULT_STATE_DIR"]) / f"{activity_type}.{when}.killed"
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.fsync(fd)
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)


class _Inbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        name = activity.info().activity_type
        maybe_die(name, "before")
        result = await super().execute_activity(input)
        maybe_die(name, "after")
        return result


class KillAtBoundary(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Inbound(next)
