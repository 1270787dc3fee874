"""Verification of the archive: re-read every package (or a random sample), check every object's SHA-256
against the index and the database, its presence and its retention; e-mail the conservation manager
(responsabile della conservazione) when anything is missing or altered.

Runs on demand (`einvoice archive verify`, `POST /archive/verify`) and on a Temporal Schedule
(`einvoice archive schedule`, weekly by default).
"""

from __future__ import annotations

from temporalio import workflow

from workflows.common import LOCAL_ATTEMPT_TIMEOUT, LOCAL_TOTAL_TIMEOUT, RETRY_FAST, publish_status

with workflow.unsafe.imports_passed_through():
    from datetime import timedelta

    from activities.archive import ArchiveActivities
    from models.conservation_io import FaultMail, ListPackagesInput, VerifyInput, VerifyPackagesInput, VerifyReport

SCHEDULE_ID = "archive-verify-schedule"
BATCH = 20  # packages per activity: keeps each attempt short and the history small
VERIFY_ATTEMPT_TIMEOUT = timedelta(minutes=15)
HEARTBEAT_TIMEOUT = timedelta(minutes=2)  # it heartbeats per package and per chunk read


@workflow.defn(name="ArchiveVerifyWorkflow")
class ArchiveVerifyWorkflow:
    def __init__(self) -> None:
        self._report = VerifyReport()
        self._total = 0

    @workflow.run
    async def run(self, inp: VerifyInput) -> VerifyReport:
        publish_status("verifying")
        ids = await workflow.execute_activity_method(
            ArchiveActivities.list_packages, ListPackagesInput(inp.vat),
            start_to_close_timeout=LOCAL_ATTEMPT_TIMEOUT, schedule_to_close_timeout=LOCAL_TOTAL_TIMEOUT,
            retry_policy=RETRY_FAST,
        )
        if inp.sample is not None and inp.sample < len(ids):
            ids = sorted(workflow.random().sample(ids, max(inp.sample, 0)))
        self._total = len(ids)
        for start in range(0, len(ids), BATCH):
            part = await workflow.execute_activity_method(
                ArchiveActivities.verify_packages, VerifyPackagesInput(ids[start:start + BATCH]),
                start_to_close_timeout=VERIFY_ATTEMPT_TIMEOUT, heartbeat_timeout=HEARTBEAT_TIMEOUT,
                schedule_to_close_timeout=LOCAL_TOTAL_TIMEOUT,
                retry_policy=RETRY_FAST,
            )
            self._report.merge(part)
        if self._report.faults:
            publish_status("faults-found")
            if inp.notify:
                await workflow.execute_activity_method(
                    ArchiveActivities.notify_fault, FaultMail(workflow.info().workflow_id, self._report),
                    start_to_close_timeout=LOCAL_ATTEMPT_TIMEOUT, schedule_to_close_timeout=LOCAL_TOTAL_TIMEOUT,
                    retry_policy=RETRY_FAST,
                )
        else:
            publish_status("ok")
        return self._report

    @workflow.query
    def progress(self) -> dict[str, int]:
        return {"total": self._total, "checked": self._report.packages, "faults": len(self._report.faults)}
