"""A small workflow for proving the harness itself: two e-mails around a timer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.mail import EmailRequest
    from workflows.common import LOCAL_ATTEMPT_TIMEOUT, LOCAL_TOTAL_TIMEOUT, RETRY_FAST


@dataclass
class ProbeInput:
    key: str
    to: str
    pause_seconds: int = 1


@workflow.defn(name="FaultProbe")
class FaultProbeWorkflow:
    @workflow.run
    async def run(self, inp: ProbeInput) -> str:
        for step in ("first", "second"):
            await workflow.execute_activity(
                "send_email", EmailRequest(f"{inp.key}:{step}", inp.to, f"probe {step}", "body"),
                start_to_close_timeout=LOCAL_ATTEMPT_TIMEOUT, schedule_to_close_timeout=LOCAL_TOTAL_TIMEOUT,
                retry_policy=RETRY_FAST,
            )
            if step == "first":
                await workflow.sleep(timedelta(seconds=inp.pause_seconds))
        return "done"
