"""The certificate tests' old flake, reproduced on demand instead of by a busy machine.

On the time-skipping test server a `status` query that arrives while the workflow continues as new is
handed to the run that is closing; the worker's answer is refused ("workflow execution already
completed") and the caller waits out its RPC deadline, with time skipping stuck for the rest of the
module. A loaded machine opened that window by chance, at whatever hour the machine was busy (see
DEVELOPING.md). `SlowContinueAsNewRunner` opens it every time, so `Rig.active` is tested against it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from devstack.smtp_sink import Mailbox
from tests.certificates_support import PEC, Rig, make_rig
from tests.helpers import assert_eventually
from tests.slow_runner import SlowContinueAsNewRunner

CONTINUE_AS_NEW_DELAY = 3.0  # seconds each continue-as-new task is held back: the window a query could hit


@pytest.fixture
async def slow_rig(time_env: WorkflowEnvironment, settings: Settings, db: str, mailbox: Mailbox,
                   tmp_path: Path) -> AsyncIterator[Rig]:
    async with make_rig(time_env, settings, db, mailbox, tmp_path,
                        workflow_runner=SlowContinueAsNewRunner(CONTINUE_AS_NEW_DELAY),
                        debug_mode=True) as made:  # debug_mode: the held-back task is not a deadlock
        yield made


async def test_active_waits_out_a_continue_as_new_in_flight(slow_rig: Rig) -> None:
    op = await slow_rig.request()

    async def issued_mail_sent() -> None:  # the run's last activity: its next task continues as new
        assert slow_rig.mailbox.find(to=PEC, kind="cert-issued")

    await assert_eventually(issued_mail_sent)
    status = await asyncio.wait_for(slow_rig.active(op), timeout=60)
    assert status.state == "active" and status.serial
    # and time skipping still works afterwards: the first reminder arrives
    assert (await asyncio.wait_for(slow_rig.result(op), timeout=120)).state == "expired"
