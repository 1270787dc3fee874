"""Verification of the archive: re-read every package (or a random sample), check every object's SHA-256
against the index and the database, its presence and its retention; e-mail the conservation manager
(responsabile della conservazione) when anything is missing or altered.

Runs on demand (`einvoice archive verify`, `POST /archive/verify`) and on a Temporal Schedule
(`einvoice archive schedule`, weekly by default).

Nothing grows with the archive: package ids come a page at a time from the database (keyset on the row id,
up to the newest row when the verification began), are verified in batches, and after `pages_per_run`
pages (or when Temporal suggests it) the workflow continues as new carrying only the cursor and the running
totals (the report keeps the first FAULTS_KEPT faults and counts all). A sample of N is drawn as the pages go
by (selection sampling: each package is chosen with probability still-wanted / still-to-see), so it is
uniform over the whole archive without ever holding its list.
"""

from __future__ import annotations

import dataclasses

from temporalio import workflow

from workflows.common import LOCAL_ATTEMPT_TIMEOUT, LOCAL_TOTAL_TIMEOUT, RETRY_FAST, publish_status

with workflow.unsafe.imports_passed_through():
    from datetime import timedelta

    from activities.archive import ArchiveActivities
    from models.conservation_io import (
        FaultMail,
        PackagePageInput,
        VerifyInput,
        VerifyPackagesInput,
        VerifyProgress,
        VerifyReport,
    )

SCHEDULE_ID = "archive-verify-schedule"
BATCH = 20  # packages per activity: keeps each attempt short and the history small
VERIFY_ATTEMPT_TIMEOUT = timedelta(minutes=15)
HEARTBEAT_TIMEOUT = timedelta(minutes=2)  # it heartbeats per package and per chunk read


@workflow.defn(name="ArchiveVerifyWorkflow")
class ArchiveVerifyWorkflow:
    def __init__(self) -> None:
        self._progress = VerifyProgress()
        self._sample: int | None = None

    @workflow.run
    async def run(self, inp: VerifyInput) -> VerifyReport:
        p = self._progress = inp.progress or VerifyProgress()
        self._sample = inp.sample
        publish_status("verifying")
        pages = 0
        while True:
            page = await workflow.execute_activity_method(
                ArchiveActivities.list_package_page, PackagePageInput(inp.vat, p.after, p.upto, inp.page_size),
                start_to_close_timeout=LOCAL_ATTEMPT_TIMEOUT, schedule_to_close_timeout=LOCAL_TOTAL_TIMEOUT,
                retry_policy=RETRY_FAST,
            )
            if p.upto is None:
                p.upto, p.total = page.upto, page.total
            ids = self._choose(page.package_ids)
            for start in range(0, len(ids), BATCH):
                part = await workflow.execute_activity_method(
                    ArchiveActivities.verify_packages, VerifyPackagesInput(ids[start:start + BATCH]),
                    start_to_close_timeout=VERIFY_ATTEMPT_TIMEOUT, heartbeat_timeout=HEARTBEAT_TIMEOUT,
                    schedule_to_close_timeout=LOCAL_TOTAL_TIMEOUT,
                    retry_policy=RETRY_FAST,
                )
                p.report.merge(part)
            p.after = page.last
            pages += 1
            if not page.more or self._sample_complete():
                break
            if pages >= inp.pages_per_run or workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(dataclasses.replace(inp, progress=p))
        report = p.report
        if not report.ok:
            publish_status("faults-found")
            if inp.notify:
                await workflow.execute_activity_method(
                    ArchiveActivities.notify_fault, FaultMail(workflow.info().workflow_id, report),
                    start_to_close_timeout=LOCAL_ATTEMPT_TIMEOUT, schedule_to_close_timeout=LOCAL_TOTAL_TIMEOUT,
                    retry_policy=RETRY_FAST,
                )
        else:
            publish_status("ok")
        return report

    def _choose(self, ids: list[str]) -> list[str]:
        """All of them, or (sampling) each with probability still-wanted / still-to-see (Knuth's algorithm S):
        exactly min(sample, total) chosen over the whole run, uniformly, whatever the page size."""
        p = self._progress
        if self._sample is None:
            p.seen += len(ids)
            p.chosen += len(ids)
            return ids
        chosen = []
        for pid in ids:
            wanted, left = self._sample - p.chosen, p.total - p.seen
            p.seen += 1
            if wanted > 0 and (left <= wanted or workflow.random().random() * left < wanted):
                chosen.append(pid)
                p.chosen += 1
        return chosen

    def _sample_complete(self) -> bool:
        return self._sample is not None and self._progress.chosen >= self._sample

    @workflow.query
    def progress(self) -> dict[str, int]:
        p = self._progress
        total = p.total if self._sample is None else min(self._sample, p.total)
        return {"total": total, "checked": p.report.packages, "faults": p.report.fault_count}
