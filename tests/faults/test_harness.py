"""The fault harness proves itself on a probe workflow: a worker killed at an activity boundary, the dev
server restarted on its SQLite file, and SMTP and PostgreSQL cut away for a while — each job ends as it would
have without the fault, each e-mail sent once."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle

from devstack.smtp_sink import Mailbox
from tests.faults.harness import FaultStack, new_task_queue
from tests.faults.probe import FaultProbeWorkflow, ProbeInput
from tests.helpers import wait_until

pytestmark = [pytest.mark.faults, pytest.mark.integration]
PROBE = "tests.faults.probe:FaultProbeWorkflow"


def probe_mail(mailbox: Mailbox, to: str) -> list[str]:
    return sorted(str(m["Subject"]) for m in mailbox.to(to))


async def test_worker_killed_after_an_activity(stack: FaultStack, db: str, mailbox: Mailbox) -> None:
    settings = stack.settings(new_task_queue())
    first = stack.start_worker(settings, kill_at="send_email:after", extra_workflows=PROBE)
    client = await stack.client(settings)
    to = f"{uuid.uuid4().hex[:8]}@example.it"
    handle = await client.start_workflow(FaultProbeWorkflow.run, ProbeInput(uuid.uuid4().hex, to),
                                         id=f"probe-{uuid.uuid4()}", task_queue=settings.temporal_task_queue)
    await asyncio.to_thread(first.wait, 60)
    assert first.returncode == -9  # it really died at the boundary
    stack.start_worker(settings, kill_at="send_email:after", extra_workflows=PROBE)
    assert await asyncio.wait_for(handle.result(), 90) == "done"
    assert probe_mail(mailbox, to) == ["probe first", "probe second"]  # each once
    stack.stop_workers()


async def test_dev_server_restarted_mid_run(stack: FaultStack, db: str, mailbox: Mailbox) -> None:
    settings = stack.settings(new_task_queue())
    stack.start_worker(settings, extra_workflows=PROBE)
    client = await stack.client(settings)
    to = f"{uuid.uuid4().hex[:8]}@example.it"
    handle = await client.start_workflow(FaultProbeWorkflow.run, ProbeInput(uuid.uuid4().hex, to, pause_seconds=8),
                                         id=f"probe-{uuid.uuid4()}", task_queue=settings.temporal_task_queue)
    await asyncio.to_thread(wait_until, lambda: len(mailbox.to(to)) == 1, 60, 0.2, "the first e-mail")
    stack.server.stop()
    stack.server.start()  # same SQLite file: the timer and the run survive
    client = await stack.client(settings)
    result = await asyncio.wait_for(client.get_workflow_handle(handle.id).result(), 120)
    assert result == "done"
    assert probe_mail(mailbox, to) == ["probe first", "probe second"]
    stack.stop_workers()


async def failed_on_the_outage(handle: WorkflowHandle[Any, Any]) -> None:
    while True:
        pending = (await handle.describe()).raw_description.pending_activities
        if pending and pending[0].attempt > 1 and pending[0].last_failure.message:
            return
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("outage", ["smtp", "database"])
async def test_dependency_down_for_a_while(stack: FaultStack, db: str, mailbox: Mailbox, outage: str) -> None:
    settings = stack.settings(new_task_queue())
    proxy = {"smtp": stack.smtp_proxy, "database": stack.db_proxy}[outage]
    stack.start_worker(settings, extra_workflows=PROBE)
    client = await stack.client(settings)
    to = f"{uuid.uuid4().hex[:8]}@example.it"
    proxy.down()
    try:
        handle = await client.start_workflow(FaultProbeWorkflow.run, ProbeInput(uuid.uuid4().hex, to),
                                             id=f"probe-{uuid.uuid4()}", task_queue=settings.temporal_task_queue)
        # Until the worker really met the outage: a pending attempt that failed on it (a fixed sleep was not
        # enough when the worker process started slowly, and the test then proved nothing).
        await asyncio.wait_for(failed_on_the_outage(handle), 60)
        assert mailbox.to(to) == []
    finally:
        proxy.up()
    assert await asyncio.wait_for(handle.result(), 90) == "done"
    assert probe_mail(mailbox, to) == ["probe first", "probe second"]
    # No e-mail left during the outage, and not for want of trying: the first send's started event (Temporal
    # keeps the last attempt's) counts the attempts and carries the failure the outage caused.
    started = [e.activity_task_started_event_attributes for e in (await handle.fetch_history()).events
               if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED]
    assert started[0].attempt > 1, f"the worker never met the {outage} outage"
    assert started[0].last_failure.message, "the retried attempt carries no failure"
    assert started[1].attempt == 1  # the second e-mail, after the outage, went at once
    stack.stop_workers()


def test_the_harness_leaves_its_logs(stack: FaultStack) -> None:
    assert Path(stack.server.data_dir / "temporal.db").exists()
